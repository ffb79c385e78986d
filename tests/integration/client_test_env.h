// Shared by the client integration tests: `holdfast` child processes (standalone, name server,
// broker) started and restarted on fixed ports, and a helper that pulls a whole topic.
#pragma once

#include <signal.h>

#include <gtest/gtest.h>
#include <unistd.h>


#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "broker_test_support.h"
#include "client/client_instance.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/push_consumer.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "transport/remoting_client.h"

namespace holdfast::client_test {

namespace ts = test_support;

inline std::string holdfast_binary() { return ts::self_dir() + "/holdfast"; }

inline std::string make_temp_dir(const char* name) {
  std::string tmpl = std::string("/tmp/") + name + "_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

inline int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

using test_support::CommandOutput;
using test_support::run_command;

// A `holdfast` subcommand that prints `ready` when it serves; restartable with the same argv.
class HoldfastProcess {
 public:
  HoldfastProcess(std::vector<std::string> args, std::string ready) : ready_(std::move(ready)) {
    argv_.push_back(holdfast_binary());
    for (auto& a : args) argv_.push_back(std::move(a));
  }
  // Starts and waits for the ready line; "" or an error text.
  std::string start(int64_t timeout_ms = 30000) {
    proc_ = std::make_unique<ts::ChildProcess>();
    std::string err = proc_->start(argv_);
    if (!err.empty()) return err;
    if (proc_->wait_for_line(ready_, timeout_ms, &err).empty()) return "no '" + ready_ + "' line: " + err;
    return "";
  }
  void kill9() {
    if (proc_ && proc_->running()) proc_->kill9();
  }
  void stop() {
    if (proc_ && proc_->running()) proc_->terminate(10000);
  }
  bool running() const { return proc_ && proc_->running(); }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  // Waits up to timeout_ms for the process to exit by itself: its wait status, or -1.
  int wait_exit(int64_t timeout_ms) { return proc_ ? proc_->wait_exit(timeout_ms) : -1; }
  // SIGSTOP / SIGCONT: the process freezes (its sockets stay open) and resumes.
  void pause() {
    if (running()) ::kill(proc_->pid(), SIGSTOP);
  }
  void resume() {
    if (running()) ::kill(proc_->pid(), SIGCONT);
  }

 private:
  std::vector<std::string> argv_;
  std::string ready_;
  std::unique_ptr<ts::ChildProcess> proc_;
};

// A push consumer of `topic` (from the first offset) with timers short enough for tests that
// kill brokers under it: rebalance, route refresh and offset persistence every second or faster.
inline PushConsumerOptions fast_push_options(const std::string& ns_addr, const std::string& group,
                                             const std::string& instance, const std::string& topic) {
  PushConsumerOptions o;
  o.name_servers = {ns_addr};
  o.group = group;
  o.instance_name = instance;
  o.subscriptions = {{topic, "*"}};
  o.consume_from_where = ConsumeFromWhere::kFirstOffset;
  o.rebalance_interval_ms = 1000;
  o.persist_offset_interval_ms = 500;
  o.long_poll_ms = 1000;
  o.poll_name_server_interval_ms = 1000;
  o.consume_thread_count = 2;
  o.call_timeout_ms = 2000;
  o.pull_exception_delay_ms = 200;
  return o;
}

// `holdfast namesrv` on 127.0.0.1:port.
inline HoldfastProcess name_server(uint16_t port) {
  return HoldfastProcess({"namesrv", "--host", "127.0.0.1", "--port", std::to_string(port)}, "Holdfast name server on");
}

// `holdfast broker` on 127.0.0.1:port in `cluster`, registering with ns_addr, data in dir.
inline HoldfastProcess broker_process(const std::string& name, const std::string& cluster, uint16_t port,
                                      const std::string& ns_addr, const std::string& dir,
                                      std::vector<std::string> overrides = {}) {
  std::vector<std::string> args{"broker", "--host", "127.0.0.1", "brokerName=" + name, "brokerClusterName=" + cluster,
                                "listenPort=" + std::to_string(port), "namesrvAddr=" + ns_addr,
                                "storePathRootDir=" + dir, "brokerIP1=127.0.0.1", "autoCreateTopicEnable=true"};
  for (auto& o : ts::test_broker_settings(port, overrides)) args.push_back(std::move(o));
  return HoldfastProcess(std::move(args), "Holdfast broker on");
}

// `holdfast standalone` on 127.0.0.1 with fixed ports and data dir.
inline HoldfastProcess standalone(const std::string& data, uint16_t ns_port, uint16_t broker_port,
                                  std::vector<std::string> overrides = {}) {
  std::vector<std::string> args{"standalone",      "--data", data, "--host", "127.0.0.1", "--namesrv-port",
                                std::to_string(ns_port), "--broker-port", std::to_string(broker_port)};
  for (auto& o : ts::test_broker_settings(broker_port, overrides)) args.push_back(std::move(o));
  return HoldfastProcess(std::move(args), "Holdfast standalone:");
}

// A test suite sharing one `holdfast standalone` (started in SetUpTestSuite, stopped in
// TearDownTestSuite), with a fresh producer and pull consumer for each test.
class StandaloneSuite : public ::testing::Test {
 protected:
  static void start_server(const char* dir_name, std::vector<std::string> overrides = {}) {
    dir_ = new std::string(make_temp_dir(dir_name));
    const uint16_t ns = ts::free_port();
    const uint16_t broker = ts::free_port();
    server_ = new HoldfastProcess(standalone(*dir_, ns, broker, std::move(overrides)));
    const std::string err = server_->start();
    ASSERT_EQ(err, "");
    ns_addr_ = new std::string("127.0.0.1:" + std::to_string(ns));
  }
  static void stop_server() {
    if (server_) server_->stop();
    delete server_;
    server_ = nullptr;
    std::error_code ec;
    if (dir_) std::filesystem::remove_all(*dir_, ec);
  }
  void start_clients(const std::string& producer_group, const std::string& consumer_group) {
    ProducerOptions po;
    po.name_servers = {*ns_addr_};
    po.group = producer_group;
    auto p = Producer::start(po);
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    producer_ = std::move(p).value();
    PullConsumerOptions co;
    co.name_servers = {*ns_addr_};
    co.group = consumer_group;
    auto c = PullConsumer::start(co);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    consumer_ = std::move(c).value();
  }
  void TearDown() override {
    if (producer_) producer_->shutdown();
    if (consumer_) consumer_->shutdown();
  }

  static inline std::string* dir_ = nullptr;
  static inline std::string* ns_addr_ = nullptr;
  static inline HoldfastProcess* server_ = nullptr;
  std::unique_ptr<Producer> producer_;
  std::unique_ptr<PullConsumer> consumer_;
};

// Every message of every readable queue of topic, from offset 0 to the end.
inline std::vector<ReceivedMessage> pull_all(PullConsumer& consumer, const std::string& topic,
                                             const std::string& subscription = "*") {
  std::vector<ReceivedMessage> out;
  // A topic auto-created by a send reaches the name server with the broker's next registration,
  // which runs right after the change but asynchronously: allow it a few seconds.
  auto queues = consumer.queues_of(topic);
  for (int i = 0; i < 100 && !queues.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    queues = consumer.queues_of(topic);
  }
  EXPECT_TRUE(queues.ok()) << queues.error().to_string();
  if (!queues.ok()) return out;
  for (const auto& q : *queues) {
    int64_t offset = 0;
    for (int guard = 0; guard < 100000; ++guard) {
      auto r = consumer.pull(q, subscription, offset, 32);
      EXPECT_TRUE(r.ok()) << q.to_string() << ": " << r.error().to_string();
      if (!r.ok()) break;
      for (auto& m : r->messages) out.push_back(std::move(m));
      if (r->status == PullStatus::kNoNewMessage || r->status == PullStatus::kOffsetIllegal) break;
      if (r->next_begin_offset <= offset) break;
      offset = r->next_begin_offset;
    }
  }
  return out;
}

// UPDATE_AND_CREATE_TOPIC (read = write = `queues`, perm 6) on the broker at addr; "" or an error.
inline std::string create_topic(const std::string& addr, const std::string& topic, int queues) {
  transport::RemotingClient admin;
  auto r = remoting::RemotingCommand::make_request(remoting::request_code::kUpdateAndCreateTopic);
  r.set_ext("topic", topic);
  r.set_ext("defaultTopic", "TBW102");
  r.set_ext_int("readQueueNums", queues);
  r.set_ext_int("writeQueueNums", queues);
  r.set_ext_int("perm", 6);
  r.set_ext("topicFilterType", "SINGLE_TAG");
  r.set_ext_int("topicSysFlag", 0);
  r.set_ext_bool("order", false);
  auto resp = admin.invoke_sync(addr, std::move(r), 5000);
  admin.shutdown();
  if (!resp.is_ok()) return resp.status().to_string();
  if (resp->code != remoting::response_code::kSuccess) return resp->remark.value_or("code " + std::to_string(resp->code));
  return "";
}

// Waits (up to 20 s) until the name server routes topic to `brokers` broker names; the number seen.
inline size_t wait_route(const std::string& ns_addr, const std::string& topic, size_t brokers) {
  client::ClientInstanceOptions o;
  o.name_servers = {ns_addr};
  o.instance_name = "route_probe";
  auto probe = client::ClientInstance::acquire(o);
  if (!probe.is_ok()) return 0;
  size_t seen = 0;
  for (int i = 0; i < 200 && seen < brokers; ++i) {
    auto route = (*probe)->fetch_route(topic, 3000);
    seen = route.is_ok() ? route->queue_datas.size() : 0;
    if (seen < brokers) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return seen;
}

}  // namespace holdfast::client_test

namespace holdfast::client_test {

// pull_all repeated until it returns at least `expected` messages or timeout_ms passes: the broker
// makes a message pullable once its dispatcher has indexed it, a moment after the send's answer.
inline std::vector<ReceivedMessage> pull_until(PullConsumer& consumer, const std::string& topic, size_t expected,
                                               const std::string& subscription = "*", int64_t timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto got = pull_all(consumer, topic, subscription);
    if (got.size() >= expected || std::chrono::steady_clock::now() >= deadline) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Polls max_offset until it reaches `at_least` (dispatch lag), returning the last value seen.
inline int64_t wait_max_offset(PullConsumer& consumer, const MessageQueue& q, int64_t at_least,
                               int64_t timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int64_t v = -1;
  for (;;) {
    auto r = consumer.max_offset(q);
    if (r.ok()) v = *r;
    if (v >= at_least || std::chrono::steady_clock::now() >= deadline) return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace holdfast::client_test
