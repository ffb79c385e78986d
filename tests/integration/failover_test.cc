// Automatic failover with real processes: etcd (Debian's /usr/bin/etcd on free loopback ports),
// `holdfast namesrv`, three `holdfast broker` members of one group with enableControllerMode
// (SYNC_MASTER, SYNC_FLUSH, minInSyncReplicas 2), and the C++ producer and pull consumer.
//
// What must hold:
//  - kill -9 of the master, again and again under load: another member serves within seconds;
//    every acknowledged message is readable afterwards; every epoch's acknowledgements come from
//    one broker only;
//  - a master paused (SIGSTOP) past its lease and resumed acknowledges nothing after it resumed,
//    and rejoins as a slave;
//  - a master cut off from etcd (a proxy the test controls) stops acknowledging, another member
//    takes over, nothing acknowledged is lost;
//  - a master killed with a tail no slave received (the slaves were killed first) comes back,
//    cuts that tail and holds a byte-for-byte prefix of the new master's log;
//  - a push consumer group consumes on across a failover and a new instance resumes from the
//    committed offsets (they follow the master);
//  - with etcd down the master keeps serving while its lease is valid, then stops acknowledging;
//    nobody is promoted; everything resumes when etcd is back.
//  - a member elected master that cannot serve as one (its HA port is taken) gives up its lease
//    and exits, so that another member is elected instead of the group staying masterless.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "client_test_env.h"
#include "env/env.h"
#include "etcd_process.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/push_consumer.h"
#include "remoting/remoting_command.h"
#include "storage/message_store.h"
#include "drill/tcp_proxy.h"
#include "transport/remoting_client.h"

namespace holdfast {
namespace {

namespace ct = client_test;
namespace ts = test_support;
using namespace std::chrono_literals;

constexpr int kMembers = 3;
constexpr int64_t kSegmentBytes = 64LL * 1024 * 1024;
constexpr int64_t kLeaseMs = 2000;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One SEND_OK as the producer saw it: which broker stored it (from the offset message id: 4 bytes
// of IPv4, 4 of port, 8 of commit-log offset, in hex) and when the answer arrived.
struct Ack {
  std::string body;
  int port = 0;
  int64_t offset = -1;
  int64_t at_us = 0;
};

bool parse_offset_msg_id(const std::string& id, int* port, int64_t* offset) {
  if (id.size() != 32) return false;
  *port = static_cast<int>(std::stoul(id.substr(8, 8), nullptr, 16));
  *offset = static_cast<int64_t>(std::stoull(id.substr(16, 16), nullptr, 16));
  return true;
}

// Producer threads sending with sync sends and retries until stopped, recording every SEND_OK.
class Workload {
 public:
  Workload(Producer* producer, std::string topic) : producer_(producer), topic_(std::move(topic)) {}
  ~Workload() { stop(); }
  void start(int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t] {
        for (int i = 0; !stop_.load(); ++i) {
          const std::string body = "t" + std::to_string(t) + "-" + std::to_string(i) + "-" + std::string(200, 'p');
          auto r = producer_->send(Message(topic_, body));
          std::unique_lock<std::mutex> l(mu_);
          if (!r.ok() || r->status != SendStatus::kSendOk) {
            ++statuses_[r.ok() ? send_status_name(r->status) : "error"];
            l.unlock();
            std::this_thread::sleep_for(5ms);  // a client backs off a little while the group fails over
            continue;
          }
          ++statuses_["SEND_OK"];
          Ack a;
          a.body = body;
          a.at_us = now_us();
          parse_offset_msg_id(r->offset_msg_id, &a.port, &a.offset);
          acks_.push_back(std::move(a));
        }
      });
    }
  }
  void stop() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::vector<Ack> acks() const {
    std::lock_guard<std::mutex> l(mu_);
    return acks_;
  }
  size_t ack_count() const {
    std::lock_guard<std::mutex> l(mu_);
    return acks_.size();
  }
  // Waits until a SEND_OK stored by a broker other than `not_port` arrives after `after_us`; its
  // arrival time, or -1 after the timeout.
  int64_t wait_ack_from_other(int not_port, int64_t after_us, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> l(mu_);
        for (auto it = acks_.rbegin(); it != acks_.rend() && it->at_us > after_us; ++it) {
          if (it->port != not_port) return it->at_us;
        }
      }
      std::this_thread::sleep_for(5ms);
    }
    return -1;
  }
  std::string summary() const {
    std::lock_guard<std::mutex> l(mu_);
    std::string s;
    for (const auto& [k, v] : statuses_) s += k + "=" + std::to_string(v) + " ";
    return s;
  }

 private:
  Producer* producer_;
  std::string topic_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::vector<Ack> acks_;
  std::map<std::string, int> statuses_;
};

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ts::EtcdProcess::available()) {
      GTEST_SKIP() << "/usr/bin/etcd is missing (Debian package etcd-server, installed by scripts/deps.sh)";
    }
    dir_ = ct::make_temp_dir("hf_failover");
    ASSERT_FALSE(dir_.empty());
    etcd_ = std::make_unique<ts::EtcdProcess>(dir_ + "/etcd");
    ASSERT_EQ(etcd_->start(), "");
    const uint16_t ns_port = ct::ts::free_port();
    ns_addr_ = "127.0.0.1:" + std::to_string(ns_port);
    ns_ = std::make_unique<ct::HoldfastProcess>(ct::name_server(ns_port));
    ASSERT_EQ(ns_->start(), "");
    std::set<uint16_t> used{ns_port, etcd_->client_port()};
    auto fresh_port = [&] {
      uint16_t p = ct::ts::free_port();
      while (used.count(p) || used.count(static_cast<uint16_t>(p + 1))) p = ct::ts::free_port();
      used.insert(p);
      return p;
    };
    for (int i = 0; i < kMembers; ++i) {
      ports_[i] = fresh_port();
      ha_ports_[i] = fresh_port();
      // Each member reaches etcd through its own proxy, so a test can cut one member off.
      proxies_[i] = std::make_unique<drill::TcpProxy>("127.0.0.1", etcd_->client_port());
      ASSERT_EQ(proxies_[i]->start(), "");
    }
    for (int i = 0; i < kMembers; ++i) {
      brokers_[i] = std::make_unique<ct::HoldfastProcess>(broker(i));
      ASSERT_EQ(brokers_[i]->start(), "") << "member " << i + 1;
    }
    ASSERT_GE(wait_master(30s), 0) << "no member was elected";
    topic_ = "Fo_" + std::to_string(::getpid());
    // Members restart their core when they learn their role: a refused connection is retried.
    for (int i = 0; i < kMembers; ++i) {
      std::string err;
      for (int attempt = 0; attempt < 100; ++attempt) {
        err = ct::create_topic(addr(i), topic_, 4);
        if (err.empty()) break;
        std::this_thread::sleep_for(100ms);
      }
      ASSERT_EQ(err, "") << "member " << i + 1;
    }
    ASSERT_EQ(ct::wait_route(ns_addr_, topic_, 1), 1u);
    ProducerOptions po;
    po.name_servers = {ns_addr_};
    po.group = "fo_producer";
    po.send_msg_timeout_ms = 3000;
    po.retry_times_when_send_failed = 4;
    auto p = Producer::start(po);
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    producer_ = std::move(p).value();
    ASSERT_TRUE(wait_in_sync(kMembers, 30s)) << "the in-sync set never held every member";
  }

  void TearDown() override {
    if (workload_) workload_->stop();
    if (producer_) producer_->shutdown();
    for (auto& b : brokers_) {
      if (b) {
        b->resume();
        b->stop();
      }
    }
    if (ns_) ns_->stop();
    for (auto& p : proxies_) {
      if (p) p->stop();
    }
    if (etcd_) etcd_->stop();
    std::error_code ec;
    if (!HasFailure() && !dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  ct::HoldfastProcess broker(int i) {
    return ct::broker_process(
        "fo", "FoCluster", ports_[i], ns_addr_, dir_ + "/member" + std::to_string(i + 1),
        {"enableControllerMode=true", "etcdEndpoints=" + proxies_[i]->address(), "brokerId=" + std::to_string(i + 1),
         "brokerRole=SYNC_MASTER", "flushDiskType=SYNC_FLUSH", "haListenPort=" + std::to_string(ha_ports_[i]),
         "controllerHeartBeatTimeoutMills=" + std::to_string(kLeaseMs), "brokerHeartbeatInterval=400",
         "syncControllerMetadataPeriod=100", "haMaxTimeSlaveNotCatchup=5000", "slaveTimeout=2000",
         "haSendHeartbeatInterval=500", "mappedFileSizeCommitLog=" + std::to_string(kSegmentBytes)});
  }

  std::string addr(int i) const { return "127.0.0.1:" + std::to_string(ports_[i]); }
  int index_of_port(int port) const {
    for (int i = 0; i < kMembers; ++i) {
      if (ports_[i] == port) return i;
    }
    return -1;
  }

  // HOLDFAST_HA_STATUS of member i (null when it does not answer).
  nlohmann::json status(int i) const {
    transport::RemotingClient client;
    auto resp = client.invoke_sync(
        addr(i), remoting::RemotingCommand::make_request(remoting::request_code::kHoldfastHaStatus), 1000);
    client.shutdown();
    if (!resp.is_ok() || resp->code != remoting::response_code::kSuccess) return nullptr;
    auto doc = nlohmann::json::parse(resp->body, nullptr, false);
    return doc.is_discarded() ? nlohmann::json(nullptr) : doc;
  }

  // The member that is master and acknowledging now, or -1.
  int master_index(int not_this = -1) const {
    for (int i = 0; i < kMembers; ++i) {
      if (i == not_this || !brokers_[i] || !brokers_[i]->running()) continue;
      const auto s = status(i);
      if (s.is_object() && s.contains("controller") && s["controller"].value("mayAcknowledge", false)) return i;
    }
    return -1;
  }
  int wait_master(std::chrono::milliseconds timeout, int not_this = -1) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const int m = master_index(not_this);
      if (m >= 0) return m;
      std::this_thread::sleep_for(100ms);
    }
    return -1;
  }
  // Waits until the master's in-sync set (as etcd records it) has `members` members.
  bool wait_in_sync(size_t members, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const int m = master_index();
      if (m >= 0) {
        const auto s = status(m);
        const auto set = s["controller"]["etcd"].value("syncset", nlohmann::json::object());
        if (set.is_object() && set.value("members", nlohmann::json::array()).size() >= members) return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // Role of member i as its failover agent reports it ("" when it does not answer).
  std::string role_of(int i) const {
    const auto s = status(i);
    return s.is_object() && s.contains("controller") ? s["controller"].value("role", std::string()) : "";
  }

  // Waits up to timeout for member i to report `role`; whether it did.
  bool wait_role(int i, const std::string& role, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (role_of(i) != role) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(100ms);
    }
    return true;
  }

  void start_workload(int threads = 4) {
    workload_ = std::make_unique<Workload>(producer_.get(), topic_);
    workload_->start(threads);
  }
  void wait_acks_grow(size_t by, std::chrono::milliseconds timeout) const {
    const size_t from = workload_->ack_count();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (workload_->ack_count() < from + by && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
  }

  // Every body of the topic readable through the route now, with how often each was read.
  std::map<std::string, int> read_all() const {
    std::map<std::string, int> out;
    PullConsumerOptions co;
    co.name_servers = {ns_addr_};
    co.group = "fo_reader_" + std::to_string(now_us());
    auto c = PullConsumer::start(co);
    if (!c.ok()) return out;
    auto queues = (*c)->queues_of(topic_);
    if (queues.ok()) {
      for (const auto& q : *queues) {
        int64_t offset = 0;
        for (int guard = 0; guard < 100000; ++guard) {
          auto r = (*c)->pull(q, "*", offset, 32);
          if (!r.ok()) break;
          for (auto& m : r->messages) out[m.body]++;
          if (r->status != PullStatus::kFound || r->next_begin_offset <= offset) break;
          offset = r->next_begin_offset;
        }
      }
    }
    (*c)->shutdown();
    return out;
  }

  // The checker: every acknowledged body is readable; duplicates counted; every epoch's
  // acknowledgements come from one broker (no two masters acknowledged for the same epoch, and
  // no broker acknowledged bytes that a later epoch replaced).
  void check_history(const std::vector<Ack>& acks) {
    std::map<std::string, int> seen;
    size_t missing = acks.size();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      seen = read_all();
      missing = 0;
      for (const auto& a : acks) missing += seen.count(a.body) == 0 ? 1 : 0;
      if (missing == 0) break;
      std::this_thread::sleep_for(500ms);
    }
    size_t duplicates = 0;
    for (const auto& [body, n] : seen) duplicates += static_cast<size_t>(n - 1);
    std::printf("  acknowledged %zu, readable %zu, missing %zu, duplicates %zu\n", acks.size(), seen.size(), missing,
                duplicates);
    EXPECT_EQ(missing, 0u) << "acknowledged messages are gone";

    std::vector<std::pair<int64_t, int64_t>> epochs;  // start offset -> epoch
    const auto epochs_deadline = std::chrono::steady_clock::now() + 20s;
    while (epochs.empty() && std::chrono::steady_clock::now() < epochs_deadline) {
      const int m = wait_master(20s);
      const auto s = m >= 0 ? status(m) : nlohmann::json();
      if (s.is_object() && s.contains("epochs")) {
        for (const auto& e : s["epochs"]) epochs.emplace_back(e[1].get<int64_t>(), e[0].get<int64_t>());
      }
      if (epochs.empty()) std::this_thread::sleep_for(100ms);
    }
    ASSERT_FALSE(epochs.empty()) << "no master answered with its epochs";
    std::map<int64_t, std::set<int>> ackers;
    for (const auto& a : acks) {
      int64_t epoch = -1;
      for (const auto& [start, e] : epochs) {
        if (start <= a.offset) epoch = e;
      }
      ackers[epoch].insert(a.port);
    }
    for (const auto& [epoch, ports] : ackers) {
      EXPECT_EQ(ports.size(), 1u) << "epoch " << epoch << " was acknowledged by " << ports.size() << " brokers";
    }
    std::printf("  %zu epochs acknowledged, each by one broker\n", ackers.size());
  }

  std::string dir_, ns_addr_, topic_;
  std::unique_ptr<ts::EtcdProcess> etcd_;
  std::unique_ptr<ct::HoldfastProcess> ns_;
  uint16_t ports_[kMembers] = {}, ha_ports_[kMembers] = {};
  std::unique_ptr<drill::TcpProxy> proxies_[kMembers];
  std::unique_ptr<ct::HoldfastProcess> brokers_[kMembers];
  std::unique_ptr<Producer> producer_;
  std::unique_ptr<Workload> workload_;
};

TEST_F(FailoverTest, KillNineOfTheMasterAgainAndAgainLosesNothing) {
  const int rounds = ct::env_int("HOLDFAST_KILL_ROUNDS", 10);
  start_workload();
  std::vector<double> failover_ms;
  for (int round = 0; round < rounds; ++round) {
    const int m = wait_master(30s);
    ASSERT_GE(m, 0) << "round " << round;
    ASSERT_TRUE(wait_in_sync(2, 30s)) << "round " << round;
    wait_acks_grow(200, 10s);
    const int64_t t0 = now_us();
    brokers_[m]->kill9();
    const int64_t first_ok = workload_->wait_ack_from_other(ports_[m], t0, 20s);
    ASSERT_GT(first_ok, 0) << "round " << round << ": no SEND_OK from another member within 20 s";
    failover_ms.push_back(static_cast<double>(first_ok - t0) / 1000.0);
    const int next = index_of_port([&] {
      for (const auto& a : workload_->acks()) {
        if (a.at_us == first_ok) return a.port;
      }
      return 0;
    }());
    std::printf("  round %d: member %d killed, member %d acknowledged after %.0f ms\n", round + 1, m + 1, next + 1,
                failover_ms.back());
    ASSERT_EQ(brokers_[m]->start(), "") << "restarting member " << m + 1;
  }
  wait_acks_grow(200, 10s);
  workload_->stop();
  std::printf("  sends: %s\n", workload_->summary().c_str());
  std::vector<double> sorted = failover_ms;
  std::sort(sorted.begin(), sorted.end());
  std::printf("  FAILOVER kill -9 to first SEND_OK on the new master over %d promotions: median %.0f ms, max %.0f ms\n",
              rounds, sorted[sorted.size() / 2], sorted.back());
  check_history(workload_->acks());
}

TEST_F(FailoverTest, PausedMasterAcknowledgesNothingAfterItResumes) {
  start_workload();
  const int m = wait_master(10s);
  ASSERT_GE(m, 0);
  wait_acks_grow(300, 10s);
  brokers_[m]->pause();
  const int64_t paused_at = now_us();
  const int next = wait_master(15s, m);
  ASSERT_GE(next, 0) << "nobody took over from the paused master";
  ASSERT_GT(workload_->wait_ack_from_other(ports_[m], paused_at, 15s), 0);
  std::this_thread::sleep_for(1s);
  brokers_[m]->resume();
  const int64_t resumed_at = now_us();
  // It must step down and follow the new master; meanwhile it acknowledges nothing.
  EXPECT_TRUE(wait_role(m, "SLAVE", 20s)) << "the resumed master did not rejoin as a slave";
  wait_acks_grow(300, 10s);
  workload_->stop();
  std::printf("  sends: %s\n", workload_->summary().c_str());
  size_t late = 0;
  for (const auto& a : workload_->acks()) late += (a.port == ports_[m] && a.at_us > resumed_at) ? 1 : 0;
  EXPECT_EQ(late, 0u) << "the old master acknowledged after it resumed";
  check_history(workload_->acks());
}

TEST_F(FailoverTest, MasterCutOffFromEtcdStopsAcknowledging) {
  start_workload();
  const int m = wait_master(10s);
  ASSERT_GE(m, 0);
  wait_acks_grow(300, 10s);
  proxies_[m]->cut();
  const int64_t cut_at = now_us();
  const int next = wait_master(15s, m);
  ASSERT_GE(next, 0) << "nobody took over from the cut-off master";
  const int64_t new_ok = workload_->wait_ack_from_other(ports_[m], cut_at, 15s);
  ASSERT_GT(new_ok, 0);
  std::this_thread::sleep_for(2s);
  // While cut off, the old master acknowledged nothing once its lease deadline had passed: every
  // acknowledgement it gave arrived before the new master's first.
  size_t overlapping = 0;
  for (const auto& a : workload_->acks()) overlapping += (a.port == ports_[m] && a.at_us >= new_ok) ? 1 : 0;
  EXPECT_EQ(overlapping, 0u) << "two masters acknowledged at the same time";
  proxies_[m]->heal();
  EXPECT_TRUE(wait_role(m, "SLAVE", 20s)) << "the old master did not rejoin as a slave after the partition healed";
  wait_acks_grow(300, 10s);
  workload_->stop();
  std::printf("  sends: %s\n", workload_->summary().c_str());
  check_history(workload_->acks());
}

TEST_F(FailoverTest, ReturningMasterCutsItsUnacknowledgedTail) {
  const int m = wait_master(10s);
  ASSERT_GE(m, 0);
  // Some acknowledged history first.
  std::vector<Ack> acked;
  for (int i = 0; i < 200; ++i) {
    auto r = producer_->send(Message(topic_, "before-" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_EQ(r->status, SendStatus::kSendOk);
    Ack a;
    a.body = "before-" + std::to_string(i);
    parse_offset_msg_id(r->offset_msg_id, &a.port, &a.offset);
    acked.push_back(a);
  }
  // The slaves die (kill -9: bytes in their sockets die with them): what the master stores now
  // reaches nobody else and is never acknowledged.
  std::vector<int> slaves;
  for (int i = 0; i < kMembers; ++i) {
    if (i != m) slaves.push_back(i);
  }
  for (int s : slaves) brokers_[s]->kill9();
  const int64_t end_before = status(m).value("confirmedOffset", int64_t{0});
  std::atomic<int> unacked_ok{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      ProducerOptions po;
      po.name_servers = {ns_addr_};
      po.group = "fo_tail_" + std::to_string(t);
      // One send each, no retry: it waits on the master until the master dies, and never reaches
      // another member.
      po.send_msg_timeout_ms = 10000;
      po.retry_times_when_send_failed = 0;
      auto p = Producer::start(po);
      if (!p.ok()) return;
      auto r = (*p)->send(Message(topic_, "tail-" + std::to_string(t)));
      if (r.ok() && r->status == SendStatus::kSendOk) unacked_ok.fetch_add(1);
      (*p)->shutdown();
    });
  }
  // The tail is durable on the master once its log grew.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (status(m).value("confirmedOffset", int64_t{0}) <= end_before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  const int64_t tail_end = status(m).value("confirmedOffset", int64_t{0});
  ASSERT_GT(tail_end, end_before) << "the master stored no tail";
  brokers_[m]->kill9();
  for (int s : slaves) ASSERT_EQ(brokers_[s]->start(), "") << "member " << s + 1;
  for (auto& t : senders) t.join();
  EXPECT_EQ(unacked_ok.load(), 0) << "a send was acknowledged although no slave received it";
  const int next = wait_master(20s, m);
  ASSERT_GE(next, 0);
  // New history on the new master, then the old master returns.
  for (int i = 0; i < 100; ++i) {
    auto r = producer_->send(Message(topic_, "after-" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    if (r->status != SendStatus::kSendOk) continue;
    Ack a;
    a.body = "after-" + std::to_string(i);
    parse_offset_msg_id(r->offset_msg_id, &a.port, &a.offset);
    acked.push_back(a);
  }
  ASSERT_EQ(brokers_[m]->start(), "");
  ASSERT_TRUE(wait_role(m, "SLAVE", 20s)) << "the old master did not rejoin as a slave";
  ASSERT_TRUE(wait_in_sync(kMembers, 30s)) << "the old master never caught up";
  const int64_t master_end = status(next).value("confirmedOffset", int64_t{0});
  const auto caught = std::chrono::steady_clock::now() + 20s;
  while (status(m).value("confirmedOffset", int64_t{0}) < master_end && std::chrono::steady_clock::now() < caught) {
    std::this_thread::sleep_for(50ms);
  }
  check_history(acked);
  // No tail message survived anywhere: none was acknowledged, and the returning master cut them.
  const auto seen = read_all();
  for (const auto& [body, n] : seen) EXPECT_NE(body.rfind("tail-", 0), 0u) << body << " survived";

  // Byte for byte: the old master's log is a prefix of the new master's.
  for (auto& b : brokers_) b->stop();
  auto open = [&](int i) {
    StoreOptions o;
    o.root_dir = dir_ + "/member" + std::to_string(i + 1);
    o.commit_log_segment_size = kSegmentBytes;
    o.warm_segments = false;
    return MessageStore::open(Env::posix(), o);
  };
  auto a = open(next);
  auto b = open(m);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  const int64_t end = (*b)->confirmed_offset();
  ASSERT_LE(end, (*a)->confirmed_offset());
  ASSERT_GT(end, end_before);
  for (int64_t at = 0; at < end;) {
    auto x = (*a)->read_confirmed(at, 1 << 20);
    auto y = (*b)->read_confirmed(at, 1 << 20);
    ASSERT_TRUE(x.is_ok() && y.is_ok());
    const size_t n = std::min(x->size(), y->size());
    ASSERT_GT(n, 0u);
    ASSERT_EQ(x->compare(0, n, *y, 0, n), 0) << "the logs differ at " << at;
    at += static_cast<int64_t>(n);
  }
  std::printf("  old master cut its tail at %lld (it had reached %lld) and holds %lld bytes of the new master's log\n",
              static_cast<long long>(end_before), static_cast<long long>(tail_end), static_cast<long long>(end));
}

TEST_F(FailoverTest, PushConsumerGroupContinuesAcrossAFailoverFromCommittedOffsets) {
  std::set<std::string> acked;
  auto send_batch = [&](const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string body = prefix + std::to_string(i);
      for (int attempt = 0; attempt < 50; ++attempt) {
        auto r = producer_->send(Message(topic_, body));
        if (r.ok() && r->status == SendStatus::kSendOk) {
          acked.insert(body);
          break;
        }
        std::this_thread::sleep_for(100ms);
      }
      ASSERT_TRUE(acked.count(body)) << body << " was never acknowledged";
    }
  };
  send_batch("first-", 1000);
  std::mutex mu;
  std::map<std::string, int> delivered;
  auto listener = [&](const std::vector<ReceivedMessage>& msgs) {
    std::this_thread::sleep_for(2ms);  // slow enough that the master dies mid-stream
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& m : msgs) delivered[m.body]++;
    return ConsumeResult::kSuccess;
  };
  auto seen = [&](const std::string& prefix, int n) {
    std::lock_guard<std::mutex> lock(mu);
    int count = 0;
    for (int i = 0; i < n; ++i) count += delivered.count(prefix + std::to_string(i)) ? 1 : 0;
    return count;
  };
  auto wait_seen = [&](const std::string& prefix, int n, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (seen(prefix, n) < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
    return seen(prefix, n);
  };
  auto consumer = PushConsumer::start(ct::fast_push_options(ns_addr_, "fo_push_group", "push1", topic_), listener);
  ASSERT_TRUE(consumer.ok()) << consumer.error().to_string();
  const auto started = std::chrono::steady_clock::now();
  while (seen("first-", 1000) < 300 && std::chrono::steady_clock::now() - started < 30s) std::this_thread::sleep_for(5ms);
  ASSERT_GE(seen("first-", 1000), 300);
  const int m = master_index();
  ASSERT_GE(m, 0);
  brokers_[m]->kill9();
  const int at_kill = seen("first-", 1000);
  EXPECT_LT(at_kill, 1000) << "everything was consumed before the master died; the test proves nothing";
  ASSERT_GE(wait_master(20s, m), 0) << "nobody took over";
  send_batch("second-", 200);
  EXPECT_EQ(wait_seen("first-", 1000, 60s), 1000) << "messages left unconsumed across the failover";
  EXPECT_EQ(wait_seen("second-", 200, 60s), 200) << "messages sent to the new master were not consumed";
  std::this_thread::sleep_for(1500ms);  // a persist round after the last consumption
  (*consumer)->shutdown();
  int before_restart = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [_, n] : delivered) before_restart += n;
  }
  // A new instance of the group starts from the offsets committed to the new master.
  auto again = PushConsumer::start(ct::fast_push_options(ns_addr_, "fo_push_group", "push2", topic_), listener);
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  std::this_thread::sleep_for(5s);
  (*again)->shutdown();
  int duplicates = 0, total = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [_, n] : delivered) {
      total += n;
      duplicates += n - 1;
    }
  }
  const int redelivered = total - before_restart;
  std::printf("  consumed %d at the kill; %d deliveries of %zu messages, %d duplicates (%d after the group "
              "restarted)\n",
              at_kill, total, delivered.size(), duplicates, redelivered);
  EXPECT_LT(redelivered, 120) << "the group did not resume from its committed offsets";
}

TEST_F(FailoverTest, EtcdDownStopsAcknowledgingWithoutPromotionAndResumes) {
  start_workload();
  const int m = wait_master(10s);
  ASSERT_GE(m, 0);
  wait_acks_grow(300, 10s);
  etcd_->kill9();
  const int64_t down_at = now_us();
  // Past the lease: no SEND_OK at all, from anyone.
  std::this_thread::sleep_for(std::chrono::milliseconds(kLeaseMs + 1500));
  const size_t frozen = workload_->ack_count();
  const int64_t frozen_at = now_us();
  std::this_thread::sleep_for(3s);
  size_t after = 0;
  for (const auto& a : workload_->acks()) after += a.at_us > frozen_at ? 1 : 0;
  EXPECT_EQ(after, 0u) << "SEND_OK while etcd was down past the lease";
  EXPECT_EQ(workload_->ack_count(), frozen);
  for (int i = 0; i < kMembers; ++i) {
    if (i != m) {
      EXPECT_NE(role_of(i), "MASTER") << "member " << i + 1 << " was promoted without etcd";
    }
  }
  size_t during_lease = 0;
  for (const auto& a : workload_->acks()) during_lease += (a.at_us > down_at && a.at_us < frozen_at) ? 1 : 0;
  std::printf("  SEND_OK after etcd went down, before the lease deadline: %zu\n", during_lease);
  ASSERT_EQ(etcd_->restart(), "");
  const int64_t back_at = now_us();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  size_t resumed = 0;
  while (resumed == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    for (const auto& a : workload_->acks()) resumed += a.at_us > back_at ? 1 : 0;
  }
  EXPECT_GT(resumed, 0u) << "sends never resumed after etcd came back";
  wait_acks_grow(300, 10s);
  workload_->stop();
  std::printf("  sends: %s\n", workload_->summary().c_str());
  check_history(workload_->acks());
}

// No fixture: one member at a time, so that the broken one is the only candidate and is elected.
TEST(FailoverGiveUpTest, ElectedMemberThatCannotServeAsMasterGivesUpTheLeaseAndExits) {
  if (!ts::EtcdProcess::available()) GTEST_SKIP() << "/usr/bin/etcd is missing (Debian package etcd-server)";
  const std::string dir = ct::make_temp_dir("hf_failover_giveup");
  ASSERT_FALSE(dir.empty());
  ts::EtcdProcess etcd(dir + "/etcd");
  ASSERT_EQ(etcd.start(), "");
  const uint16_t ns_port = ct::ts::free_port();
  const std::string ns_addr = "127.0.0.1:" + std::to_string(ns_port);
  ct::HoldfastProcess ns(ct::name_server(ns_port));
  ASSERT_EQ(ns.start(), "");

  // Member 1's HA port is held by another listener, so it cannot start as master.
  const int blocker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(blocker, 4), 0);
  ASSERT_EQ(::getsockname(blocker, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const uint16_t blocked_ha = ntohs(a.sin_port);

  auto member = [&](int id, uint16_t port, uint16_t ha) {
    return ct::broker_process(
        "giveup", "GiveUpCluster", port, ns_addr, dir + "/member" + std::to_string(id),
        {"enableControllerMode=true", "etcdEndpoints=127.0.0.1:" + std::to_string(etcd.client_port()),
         "brokerId=" + std::to_string(id), "brokerRole=SYNC_MASTER", "flushDiskType=SYNC_FLUSH",
         "haListenPort=" + std::to_string(ha), "controllerHeartBeatTimeoutMills=" + std::to_string(kLeaseMs),
         "brokerHeartbeatInterval=400", "syncControllerMetadataPeriod=100",
         "mappedFileSizeCommitLog=" + std::to_string(kSegmentBytes)});
  };
  uint16_t port1 = ct::ts::free_port();
  while (port1 == blocked_ha) port1 = ct::ts::free_port();
  ct::HoldfastProcess broken = member(1, port1, blocked_ha);
  // It may announce itself (as a slave, before its election) or fail before it does; either way
  // it must exit on its own once elected.
  (void)broken.start(15000);
  const int status = broken.wait_exit(30000);
  EXPECT_GE(status, 0) << "the member that cannot serve as master still runs (and holds the master key)";
  if (status < 0) broken.kill9();
  if (status >= 0) {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << "wait status " << status;
  }

  // It was elected (the lease-free epoch counter says 1), and its master key is gone now, at once,
  // because its lease was revoked: had it only died, the key would outlive it by the lease TTL
  // (2 s) and hold off every other member's election until then.
  auto etcd_value = [&](const std::string& name) -> nlohmann::json {
    std::string body;
    const std::string key = "/holdfast/GiveUpCluster/giveup/" + name;
    const int code = ts::http_post(etcd.client_port(), "/v3/kv/range",
                                   nlohmann::json{{"key", ts::base64_encode(key)}}.dump(), 2000, &body);
    EXPECT_EQ(code, 200) << body;
    auto doc = nlohmann::json::parse(body, nullptr, false);
    return doc.is_object() && doc.contains("kvs") ? doc["kvs"] : nlohmann::json::array();
  };
  const nlohmann::json master = etcd_value("master");
  EXPECT_TRUE(master.empty()) << "the master key outlived the member: " << master.dump();
  const nlohmann::json epoch = etcd_value("epoch");
  ASSERT_EQ(epoch.size(), 1u) << "member 1 was never elected";
  EXPECT_EQ(epoch[0].value("value", std::string()), ts::base64_encode("1"));

  ns.stop();
  etcd.stop();
  ::close(blocker);
  std::error_code ec;
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace holdfast
