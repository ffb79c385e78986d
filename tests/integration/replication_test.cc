// Master–slave replication with real processes: `holdfast namesrv`, a SYNC_MASTER and a SLAVE
// `holdfast broker` of one broker group (both SYNC_FLUSH), the C++ producer and pull consumer.
//
// What must hold:
//  - every SEND_OK message is on the slave: after kill -9 of the master and the removal of its
//    data folder, a fresh consumer reads every acknowledged message from the slave;
//  - with the slave down, sends answer SLAVE_NOT_AVAILABLE at once (nothing is claimed replicated
//    that is not) and consumers of the master do not see those messages; once the slave is back
//    it catches up from where it was, sends are SEND_OK again and everything becomes readable;
//  - a slave killed with kill -9 in the middle of a transfer, restarted, holds a byte-for-byte
//    prefix of the master's log (checked over the whole replicated range after clean stops).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "client_test_env.h"
#include "env/env.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/push_consumer.h"
#include "remoting/remoting_command.h"
#include "storage/message_store.h"
#include "transport/remoting_client.h"

namespace holdfast {
namespace {

namespace ct = client_test;
using namespace std::chrono_literals;

constexpr int64_t kSegmentBytes = 64LL * 1024 * 1024;

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ct::make_temp_dir("hf_replication");
    ASSERT_FALSE(dir_.empty());
    const uint16_t ns_port = ct::ts::free_port();
    ns_addr_ = "127.0.0.1:" + std::to_string(ns_port);
    ns_ = std::make_unique<ct::HoldfastProcess>(ct::name_server(ns_port));
    ASSERT_EQ(ns_->start(), "");
    master_port_ = ct::ts::free_port();
    uint16_t ha = ct::ts::free_port();
    while (ha == master_port_) ha = ct::ts::free_port();
    master_ha_port_ = ha;
    slave_port_ = ct::ts::free_port();
    master_ = std::make_unique<ct::HoldfastProcess>(ct::broker_process(
        "rep", "RepCluster", master_port_, ns_addr_, dir_ + "/master",
        {"brokerRole=SYNC_MASTER", "flushDiskType=SYNC_FLUSH", "haListenPort=" + std::to_string(master_ha_port_),
         "mappedFileSizeCommitLog=" + std::to_string(kSegmentBytes), "slaveTimeout=3000"}));
    slave_ = std::make_unique<ct::HoldfastProcess>(ct::broker_process(
        "rep", "RepCluster", slave_port_, ns_addr_, dir_ + "/slave",
        {"brokerRole=SLAVE", "brokerId=1", "flushDiskType=SYNC_FLUSH",
         "haListenPort=" + std::to_string(ct::ts::free_port()),
         "mappedFileSizeCommitLog=" + std::to_string(kSegmentBytes)}));
    ASSERT_EQ(master_->start(), "");
    ASSERT_EQ(slave_->start(), "");
    topic_ = "Rep_" + std::to_string(::getpid());
    ASSERT_EQ(ct::create_topic(master_addr(), topic_, 4), "");
    ASSERT_EQ(ct::wait_route(ns_addr_, topic_, 1), 1u);
    ProducerOptions po;
    po.name_servers = {ns_addr_};
    po.group = "rep_producer";
    po.send_msg_timeout_ms = 3000;
    auto p = Producer::start(po);
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    producer_ = std::move(p).value();
    // The slave is connected once a send is acknowledged by it.
    ASSERT_TRUE(wait_send_ok(20s)) << "the slave never acknowledged a send";
  }

  void TearDown() override {
    if (producer_) producer_->shutdown();
    if (slave_) slave_->stop();
    if (master_) master_->stop();
    if (ns_) ns_->stop();
    std::error_code ec;
    if (!HasFailure()) std::filesystem::remove_all(dir_, ec);
  }

  std::string master_addr() const { return "127.0.0.1:" + std::to_string(master_port_); }
  std::string slave_addr() const { return "127.0.0.1:" + std::to_string(slave_port_); }

  // A broker's confirmed commit-log offset from HOLDFAST_HA_STATUS (-1 when it does not answer).
  static int64_t confirmed_offset(const std::string& addr) {
    transport::RemotingClient client;
    auto resp = client.invoke_sync(
        addr, remoting::RemotingCommand::make_request(remoting::request_code::kHoldfastHaStatus), 2000);
    client.shutdown();
    if (!resp.is_ok() || resp->code != remoting::response_code::kSuccess) return -1;
    const std::string key = "\"confirmedOffset\":";
    const size_t at = resp->body.find(key);
    if (at == std::string::npos) return -1;
    return std::atoll(resp->body.c_str() + at + key.size());
  }

  // Sends until one is SEND_OK (recorded) or the timeout passes.
  bool wait_send_ok(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string body = "probe-" + std::to_string(probe_++);
      auto r = producer_->send(Message(topic_, body));
      if (r.ok() && r->status == SendStatus::kSendOk) {
        acked_.insert(body);
        return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::unique_ptr<PullConsumer> consumer(const std::string& group) {
    PullConsumerOptions co;
    co.name_servers = {ns_addr_};
    co.group = group;
    auto c = PullConsumer::start(co);
    EXPECT_TRUE(c.ok()) << c.error().to_string();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // Every body of the topic readable now (through whichever broker the route names). A failed
  // pull (the dead master, before the route changed) ends that queue's walk; callers retry.
  std::set<std::string> read_all(PullConsumer& c) {
    std::set<std::string> out;
    auto queues = c.queues_of(topic_);
    if (!queues.ok()) return out;
    for (const auto& q : *queues) {
      int64_t offset = 0;
      for (int guard = 0; guard < 100000; ++guard) {
        auto r = c.pull(q, "*", offset, 32);
        if (!r.ok()) break;
        for (auto& m : r->messages) out.insert(m.body);
        if (r->status != PullStatus::kFound || r->next_begin_offset <= offset) break;
        offset = r->next_begin_offset;
      }
    }
    return out;
  }

  // The first difference between the two logs over the slave's whole log, or "".
  std::string compare_logs() {
    auto open = [&](const std::string& root) {
      StoreOptions o;
      o.root_dir = root;
      o.commit_log_segment_size = kSegmentBytes;
      o.warm_segments = false;
      return MessageStore::open(Env::posix(), o);
    };
    auto m = open(dir_ + "/master");
    auto s = open(dir_ + "/slave");
    if (!m.is_ok()) return "master store: " + m.status().to_string();
    if (!s.is_ok()) return "slave store: " + s.status().to_string();
    const int64_t end = (*s)->confirmed_offset();
    if (end > (*m)->confirmed_offset()) {
      return "the slave holds " + std::to_string(end) + " bytes, the master " + std::to_string((*m)->confirmed_offset());
    }
    if (end == 0) return "the slave holds nothing";
    for (int64_t at = 0; at < end;) {
      auto a = (*m)->read_confirmed(at, 1 << 20);
      auto b = (*s)->read_confirmed(at, 1 << 20);
      if (!a.is_ok() || !b.is_ok()) return "reading at " + std::to_string(at);
      const size_t n = std::min(a->size(), b->size());
      if (n == 0) return "nothing readable at " + std::to_string(at);
      if (a->compare(0, n, *b, 0, n) != 0) return "the logs differ in [" + std::to_string(at) + ", +" + std::to_string(n) + ")";
      at += static_cast<int64_t>(n);
    }
    last_compared_ = end;
    return "";
  }

  std::string dir_, ns_addr_, topic_;
  uint16_t master_port_ = 0, master_ha_port_ = 0, slave_port_ = 0;
  std::unique_ptr<ct::HoldfastProcess> ns_, master_, slave_;
  std::unique_ptr<Producer> producer_;
  std::set<std::string> acked_;
  int probe_ = 0;
  int64_t last_compared_ = 0;
};

TEST_F(ReplicationTest, KillNineOfTheMasterLosesNoAcknowledgedMessage) {
  std::mutex mu;
  std::map<std::string, int> statuses;
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        const std::string body = "t" + std::to_string(t) + "-" + std::to_string(i) + std::string(512, 'x');
        auto r = producer_->send(Message(topic_, body));
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok()) {
          statuses["error"]++;
          continue;
        }
        statuses[send_status_name(r->status)]++;
        if (r->status == SendStatus::kSendOk) acked_.insert(body);
        sent.fetch_add(1);
      }
    });
  }
  while (sent.load() < 3000) std::this_thread::sleep_for(10ms);
  master_->kill9();
  std::error_code ec;
  std::this_thread::sleep_for(500ms);
  stop.store(true);
  for (auto& s : senders) s.join();
  std::filesystem::remove_all(dir_ + "/master", ec);  // the master's disk is gone
  ASSERT_GE(acked_.size(), 3000u);
  for (const auto& [status, n] : statuses) std::printf("  %s: %d\n", status.c_str(), n);

  // A consumer group that never consumed reads the topic through the slave.
  auto c = consumer("rep_fresh_group");
  ASSERT_TRUE(c);
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  size_t missing = acked_.size();
  while (std::chrono::steady_clock::now() < deadline) {
    seen = read_all(*c);
    missing = 0;
    for (const auto& b : acked_) missing += seen.count(b) == 0 ? 1 : 0;
    if (missing == 0) break;
    std::this_thread::sleep_for(500ms);
  }
  std::printf("  acknowledged %zu, read from the slave %zu, missing %zu\n", acked_.size(), seen.size(), missing);
  EXPECT_EQ(missing, 0u) << "acknowledged messages the slave does not hold";
  c->shutdown();
}

TEST_F(ReplicationTest, SlaveDownAnswersAtOnceAndCatchesUpWhenBack) {
  auto c = consumer("rep_gate_group");
  ASSERT_TRUE(c);
  slave_->kill9();
  std::this_thread::sleep_for(300ms);  // the master sees the connection close
  std::vector<std::string> unreplicated;
  int64_t slowest_ms = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string body = "while-slave-down-" + std::to_string(i);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = producer_->send(Message(topic_, body));
    slowest_ms = std::max<int64_t>(slowest_ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                   std::chrono::steady_clock::now() - t0).count());
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->status, SendStatus::kSlaveNotAvailable) << "a send was claimed replicated with the slave down";
    unreplicated.push_back(body);
  }
  EXPECT_LT(slowest_ms, 1000) << "SLAVE_NOT_AVAILABLE must be answered at once, not after slaveTimeout";
  // Consumers of the master never see what only the master holds.
  std::this_thread::sleep_for(300ms);
  auto visible = read_all(*c);
  for (const auto& b : unreplicated) EXPECT_EQ(visible.count(b), 0u) << b << " readable before a slave held it";

  ASSERT_EQ(slave_->start(), "");
  ASSERT_TRUE(wait_send_ok(20s)) << "sends did not become SEND_OK after the slave came back";
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  size_t missing = 0;
  do {
    visible = read_all(*c);
    missing = 0;
    for (const auto& b : unreplicated) missing += visible.count(b) == 0 ? 1 : 0;
    for (const auto& b : acked_) missing += visible.count(b) == 0 ? 1 : 0;
    if (missing == 0) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(missing, 0u) << "messages stayed unreadable after the slave caught up";
  c->shutdown();
  producer_->shutdown();
  producer_.reset();
  slave_->stop();
  master_->stop();
  EXPECT_EQ(compare_logs(), "");
}

TEST_F(ReplicationTest, SlaveKilledMidTransferHoldsAPrefixOfTheMasterLog) {
  // About 24 MB the slave does not have yet (it is stopped while they are written).
  slave_->stop();
  std::atomic<int> next{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t) + 1);
      for (int i = next.fetch_add(1); i < 3000; i = next.fetch_add(1)) {
        std::string body(8 * 1024, '\0');  // incompressible: the producer compresses bodies over 4 KiB
        for (auto& ch : body) ch = static_cast<char>(rng());
        Message m(topic_, body);
        m.keys = {"bulk-" + std::to_string(i)};
        auto r = producer_->send(m);
        EXPECT_TRUE(r.ok());
      }
    });
  }
  for (auto& s : senders) s.join();
  // Each restart catches up part of the way, then dies while bytes are still coming.
  const int64_t master_end = confirmed_offset(master_addr());
  ASSERT_GT(master_end, 24LL * 1000 * 1000);
  int mid_transfer_kills = 0;
  int64_t before = 0;  // what the slave held when it was last killed
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(slave_->start(), "");
    const int64_t target = before + (master_end - before) / 4;  // about a quarter of what is missing
    int64_t held = -1;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      held = confirmed_offset(slave_addr());
      if (held >= target) break;
      std::this_thread::sleep_for(2ms);
    }
    slave_->kill9();
    std::printf("  round %d: slave killed holding %lld of %lld bytes\n", round, static_cast<long long>(held),
                static_cast<long long>(master_end));
    if (held > before && held < master_end) ++mid_transfer_kills;
    before = std::max(before, held);
  }
  // A fast slave can take all that is missing between its start and the first poll, so a later
  // round may find nothing left to kill it in; the first round starts far behind.
  EXPECT_GE(mid_transfer_kills, 1) << "the slave was never killed in the middle of a transfer";
  ASSERT_EQ(slave_->start(), "");
  ASSERT_TRUE(wait_send_ok(60s)) << "the restarted slave did not catch up";
  producer_->shutdown();
  producer_.reset();
  slave_->stop();
  master_->stop();
  EXPECT_EQ(compare_logs(), "");
  EXPECT_GT(last_compared_, 24LL * 1000 * 1000);
}

// A push consumer group keeps consuming from the slave while the master is down, and goes on from
// its committed offsets when the master is back: nothing skipped, duplicates counted.
TEST_F(ReplicationTest, PushConsumersContinueOnTheSlaveAndResumeFromCommittedOffsets) {
  auto send_batch = [&](const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string body = prefix + std::to_string(i);
      auto r = producer_->send(Message(topic_, body));
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      ASSERT_EQ(r->status, SendStatus::kSendOk);
      acked_.insert(body);
    }
  };
  send_batch("first-", 1000);
  std::mutex mu;
  std::map<std::string, int> delivered;
  auto options = [&](const std::string& instance) {
    return ct::fast_push_options(ns_addr_, "rep_push_group", instance, topic_);
  };
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
  auto consumer = PushConsumer::start(options("push1"), listener);
  ASSERT_TRUE(consumer.ok()) << consumer.error().to_string();
  const auto started = std::chrono::steady_clock::now();
  while (seen("first-", 1000) < 300 && std::chrono::steady_clock::now() - started < 30s) std::this_thread::sleep_for(5ms);
  ASSERT_GE(seen("first-", 1000), 300);
  master_->kill9();
  const int at_kill = seen("first-", 1000);
  EXPECT_LT(at_kill, 1000) << "everything was consumed before the master died; the test proves nothing";
  EXPECT_EQ(wait_seen("first-", 1000, 60s), 1000) << "messages left unconsumed while the master was down";

  ASSERT_EQ(master_->start(), "");
  ASSERT_TRUE(wait_send_ok(30s)) << "the restarted master did not take SYNC_MASTER sends again";
  send_batch("second-", 200);
  EXPECT_EQ(wait_seen("second-", 200, 60s), 200) << "messages sent after the master came back were not consumed";
  std::this_thread::sleep_for(1500ms);  // a persist round after the last consumption
  (*consumer)->shutdown();

  // A new instance of the group starts from the committed offsets: no skip, few re-deliveries.
  int before_restart;
  {
    std::lock_guard<std::mutex> lock(mu);
    before_restart = 0;
    for (const auto& [_, n] : delivered) before_restart += n;
  }
  auto again = PushConsumer::start(options("push2"), listener);
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
  const int redelivered_after_restart = total - before_restart;
  std::printf("  consumed %d at the kill; %d deliveries of %zu messages, %d duplicates (%d after the group "
              "restarted)\n",
              at_kill, total, delivered.size(), duplicates, redelivered_after_restart);
  EXPECT_LT(redelivered_after_restart, 120) << "the group did not resume from its committed offsets";
}

TEST_F(ReplicationTest, AMasterRestartedWithAShorterLogIsRefusedAndTheSlaveKeepsItsCopy) {
  for (int i = 0; i < 300; ++i) {
    const std::string body = "before-loss-" + std::to_string(i) + std::string(1000, 'z');
    auto r = producer_->send(Message(topic_, body));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_EQ(r->status, SendStatus::kSendOk);
  }
  const int64_t end = confirmed_offset(master_addr());
  ASSERT_GT(end, 300 * 1000);
  // The master's last 64 KiB disappear, as an un-synced tail does in a power loss.
  master_->kill9();
  {
    std::fstream log(dir_ + "/master/commitlog/00000000000000000000", std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(log.good());
    log.seekp(end - 65536);
    const std::string zeros(65536, '\0');
    log.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    ASSERT_TRUE(log.good());
  }
  ASSERT_EQ(master_->start(), "");
  ASSERT_LT(confirmed_offset(master_addr()), end);

  // The slave notices before it replicates anything, keeps its log, and the master stops taking
  // sends with a remark that names the problem.
  std::string refusal;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline && refusal.empty()) {
    auto r = producer_->send(Message(topic_, "after-restart"));
    if (!r.ok() && r.error().message.find("diverged") != std::string::npos) refusal = r.error().message;
    if (refusal.empty()) std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(refusal, "") << "the master kept taking sends over a log its slave contradicts";
  EXPECT_EQ(confirmed_offset(slave_addr()), end) << "the slave's copy changed";
  auto status = ct::run_command(ct::holdfast_binary() + " admin ha status -n " + ns_addr_ + " 2>&1");
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("DIVERGED"), std::string::npos) << status.output;
}

}  // namespace
}  // namespace holdfast
