// Push consumer processes killed and moved around: out-of-order completion then kill -9 (the
// earlier, unfinished message is delivered again after the restart), and a clustering group of
// three processes joining, leaving (SIGTERM) and dying (kill -9) under load (every message
// consumed at least once; duplicates counted and printed).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "client_test_env.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"

namespace holdfast {
namespace {

namespace ct = client_test;
using Clock = std::chrono::steady_clock;

std::map<std::string, int> read_consumed(const std::string& path) {
  std::map<std::string, int> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id;
    if (fields >> id) ++out[id];
  }
  return out;
}

class ConsumerProcess {
 public:
  ConsumerProcess(std::string ns, std::string group, std::string topic, std::string instance, std::string out,
                  std::string mode)
      : argv_{ct::ts::self_dir() + "/push_consumer_process", ns, group, topic, instance, out, mode} {}
  std::string start() {
    proc_ = std::make_unique<ct::ts::ChildProcess>();
    std::string err = proc_->start(argv_);
    if (!err.empty()) return err;
    if (proc_->wait_for_line("READY", 40000, &err).empty()) return "no READY line: " + err;
    return "";
  }
  void kill9() { proc_->kill9(); }
  int terminate() { return proc_->terminate(20000); }

 private:
  std::vector<std::string> argv_;
  std::unique_ptr<ct::ts::ChildProcess> proc_;
};

class PushConsumerKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ct::make_temp_dir("hf_push_kill");
    const uint16_t ns = ct::ts::free_port();
    const uint16_t broker = ct::ts::free_port();
    server_ = std::make_unique<ct::HoldfastProcess>(
        ct::standalone(dir_, ns, broker, {"messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s"}));
    ASSERT_EQ(server_->start(), "");
    ns_ = "127.0.0.1:" + std::to_string(ns);
    ProducerOptions po;
    po.name_servers = {ns_};
    po.group = "kill_producer";
    po.default_topic_queue_nums = 8;
    auto p = Producer::start(po);
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    producer_ = std::move(p).value();
  }
  void TearDown() override {
    if (producer_) producer_->shutdown();
    if (server_) server_->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_, ns_;
  std::unique_ptr<ct::HoldfastProcess> server_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(PushConsumerKillTest, OutOfOrderCompletionThenKill9RedeliversTheEarlierMessage) {
  const std::string topic = "KillOrder", group = "GKillOrder";
  // Everything on queue 0: three that succeed, HOLD (its listener never returns), five that succeed.
  auto first_queue = [](const std::vector<MessageQueue>& qs, const Message&, const std::string&) { return qs[0]; };
  std::set<std::string> later;
  for (int i = 0; i < 3; ++i) {
    auto r = producer_->send(Message(topic, "before-" + std::to_string(i), "T"), first_queue, "");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    later.insert(r->msg_id);
  }
  auto held = producer_->send(Message(topic, "HOLD", "T"), first_queue, "");
  ASSERT_TRUE(held.ok()) << held.error().to_string();
  ASSERT_EQ(held->queue_offset, 3);
  for (int i = 0; i < 5; ++i) {
    auto r = producer_->send(Message(topic, "after-" + std::to_string(i), "T"), first_queue, "");
    ASSERT_TRUE(r.ok());
    later.insert(r->msg_id);
  }
  const std::string out = dir_ + "/consumed.txt";
  ConsumerProcess c(ns_, group, topic, "kill-order", out, "hold");
  ASSERT_EQ(c.start(), "");
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (read_consumed(out).size() < later.size() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(read_consumed(out).size(), later.size());
  EXPECT_EQ(read_consumed(out).count(held->msg_id), 0u);
  // The committed offset stays at the unfinished message although five after it succeeded. (The
  // checker joining the group moves queues 0-3 to it for a moment; the consumer commits queue 0's
  // offset, still the unfinished message, when it lets the queue go.)
  PullConsumerOptions co;
  co.name_servers = {ns_};
  co.group = group;
  co.instance_name = "checker";
  auto checker = PullConsumer::start(co);
  ASSERT_TRUE(checker.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // > persist interval
  auto committed = (*checker)->committed_offset(held->queue);
  ASSERT_TRUE(committed.ok()) << committed.error().to_string();
  EXPECT_EQ(*committed, held->queue_offset);
  // The checker is a member of the group too (it would get half the queues): leave first.
  (*checker)->shutdown();
  c.kill9();

  ConsumerProcess again(ns_, group, topic, "kill-order", out, "normal");
  ASSERT_EQ(again.start(), "");
  const auto deadline2 = Clock::now() + std::chrono::seconds(30);
  while (read_consumed(out).count(held->msg_id) == 0 && Clock::now() < deadline2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto consumed = read_consumed(out);
  EXPECT_EQ(consumed.count(held->msg_id), 1u) << "the unfinished message was not redelivered";
  int duplicates = 0;
  for (const auto& id : later) duplicates += consumed[id] - 1;
  std::printf("after kill -9: HOLD redelivered; %d of the other 8 messages delivered twice\n", duplicates);
  EXPECT_EQ(again.terminate(), 0);
}

TEST_F(PushConsumerKillTest, ThreeProcessesJoinAndLeaveUnderLoad) {
  const std::string topic = "KillRebalance", group = "GKillRebalance";
  // Create the topic (8 queues) before the consumers start.
  ASSERT_TRUE(producer_->send(Message(topic, "warmup", "T")).ok());
  std::set<std::string> sent;
  std::mutex sent_mu;
  std::atomic<bool> sending{true};
  std::atomic<int> failures{0};
  std::thread sender([&] {
    for (int i = 0; i < 3000; ++i) {
      auto r = producer_->send(Message(topic, "load-" + std::to_string(i), "T"));
      if (r.ok()) {
        std::lock_guard<std::mutex> lock(sent_mu);
        sent.insert(r->msg_id);
      } else {
        ++failures;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(2500));
    }
    sending = false;
  });
  const std::string out1 = dir_ + "/c1.txt", out2 = dir_ + "/c2.txt", out3 = dir_ + "/c3.txt";
  ConsumerProcess c1(ns_, group, topic, "rb1", out1, "normal");
  ConsumerProcess c2(ns_, group, topic, "rb2", out2, "normal");
  ConsumerProcess c3(ns_, group, topic, "rb3", out3, "normal");
  ASSERT_EQ(c1.start(), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_EQ(c2.start(), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_EQ(c3.start(), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(c2.terminate(), 0);  // leaves gracefully
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  c1.kill9();  // dies
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ConsumerProcess c1b(ns_, group, topic, "rb1", out1, "normal");
  ASSERT_EQ(c1b.start(), "");
  sender.join();
  EXPECT_EQ(failures.load(), 0);
  std::map<std::string, int> consumed;
  const auto deadline = Clock::now() + std::chrono::seconds(90);
  size_t missing = 0;
  for (;;) {
    consumed.clear();
    for (const auto& f : {out1, out2, out3}) {
      for (const auto& [id, n] : read_consumed(f)) consumed[id] += n;
    }
    missing = 0;
    for (const auto& id : sent) missing += consumed.count(id) ? 0 : 1;
    if (missing == 0 || Clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(missing, 0u) << "messages never consumed";
  int duplicates = 0;
  for (const auto& id : sent) duplicates += std::max(0, consumed[id] - 1);
  std::printf("rebalance under load: %zu sent, %zu consumed at least once, %d duplicate deliveries\n", sent.size(),
              sent.size() - missing, duplicates);
  EXPECT_EQ(c1b.terminate(), 0);
  EXPECT_EQ(c3.terminate(), 0);
}

}  // namespace
}  // namespace holdfast
