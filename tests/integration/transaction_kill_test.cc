// Transactions across kill -9 (label crash), against `holdfast standalone` with short check timers.
//  - the broker killed between the half send and END_TRANSACTION (the end is lost): after the
//    restart the check-back ends it from the application's record: a commit is delivered once, a
//    rollback never;
//  - the broker killed and restarted three times while check rounds run over 30 pending
//    transactions: every committed one is delivered exactly once, no rolled-back one ever, and
//    nothing stays pending;
//  - the producer process killed after its local transaction committed but before END_TRANSACTION
//    left: another process of the same group answers the check-back and the message is delivered
//    once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "client_test_env.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/transaction_producer.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "transport/remoting_client.h"

namespace holdfast {
namespace {

namespace ct = client_test;
namespace ts = test_support;
using namespace std::chrono_literals;

// The application's durable decisions, by message body (what check answers from).
class Ledger {
 public:
  void decide(const std::string& body, LocalTransactionState s) {
    std::lock_guard<std::mutex> lock(mu_);
    decided_[body] = s;
  }
  LocalTransactionState lookup(const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = decided_.find(body);
    return it == decided_.end() ? LocalTransactionState::kUnknown : it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, LocalTransactionState> decided_;
};

class TransactionKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ct::make_temp_dir("hf_tx_kill");
    ns_port_ = ts::free_port();
    broker_port_ = ts::free_port();
    server_ = std::make_unique<ct::HoldfastProcess>(ct::standalone(
        dir_, ns_port_, broker_port_, {"transactionCheckInterval=300", "transactionTimeOut=500", "transactionCheckMax=50"}));
    ASSERT_EQ(server_->start(), "");
    topic_ = std::string("TxKill_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(ct::create_topic(broker(), topic_, 2), "");
    ASSERT_EQ(ct::wait_route(ns(), topic_, 1), 1u);
  }
  void TearDown() override {
    if (producer_) producer_->shutdown();
    if (server_) server_->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string ns() const { return "127.0.0.1:" + std::to_string(ns_port_); }
  std::string broker() const { return "127.0.0.1:" + std::to_string(broker_port_); }

  void restart_broker() {
    server_->kill9();
    ASSERT_EQ(server_->start(), "");
  }

  std::unique_ptr<TransactionProducer> start_producer(const std::string& group, Ledger* ledger,
                                                      std::function<LocalTransactionState(const Message&)> execute) {
    TransactionProducerOptions o;
    o.producer.name_servers = {ns()};
    o.producer.group = group;
    o.producer.heartbeat_broker_interval_ms = 500;
    o.producer.send_msg_timeout_ms = 10000;
    TransactionListener l;
    l.execute = [execute](const Message& m, const std::string&, const std::string&) { return execute(m); };
    l.check = [ledger](const ReceivedMessage& m) { return ledger->lookup(m.body); };
    auto p = TransactionProducer::start(o, l);
    EXPECT_TRUE(p.ok()) << p.error().to_string();
    return p.ok() ? std::move(p).value() : nullptr;
  }

  // Delivered messages of the topic by body (a fresh consumer each time: nothing cached).
  std::map<std::string, int> deliveries() {
    PullConsumerOptions co;
    co.name_servers = {ns()};
    co.group = "tx_kill_reader";
    auto c = PullConsumer::start(co);
    std::map<std::string, int> out;
    if (!c.ok()) return out;
    for (const auto& m : ct::pull_all(**c, topic_)) ++out[m.body];
    (*c)->shutdown();
    return out;
  }

  size_t pending_count() {
    transport::RemotingClient client;
    auto r = client.invoke_sync(broker(), remoting::RemotingCommand::make_request(
                                              remoting::request_code::kHoldfastTransactionList), 5000);
    client.shutdown();
    if (!r.is_ok() || r->code != remoting::response_code::kSuccess) return SIZE_MAX;
    auto doc = nlohmann::json::parse(r->body, nullptr, false);
    return doc.is_object() && doc.contains("pending") ? doc["pending"].size() : SIZE_MAX;
  }

  template <typename Pred>
  static bool eventually(Pred pred, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return pred();
  }

  std::string dir_;
  uint16_t ns_port_ = 0;
  uint16_t broker_port_ = 0;
  std::unique_ptr<ct::HoldfastProcess> server_;
  std::string topic_;
  std::unique_ptr<TransactionProducer> producer_;
};

TEST_F(TransactionKillTest, BrokerKilledBetweenHalfAndEnd) {
  Ledger ledger;
  producer_ = start_producer("tx_kill_between", &ledger, [&](const Message& m) {
    // The local transaction commits (or rolls back) in the application, then the broker dies
    // before the end can reach it.
    const auto decision = m.body == "kept" ? LocalTransactionState::kCommit : LocalTransactionState::kRollback;
    ledger.decide(m.body, decision);
    server_->kill9();
    return decision;
  });
  ASSERT_TRUE(producer_);
  auto kept = producer_->send_in_transaction(Message(topic_, "kept", "T"), "");
  ASSERT_TRUE(kept.ok()) << kept.error().to_string();
  EXPECT_EQ(kept->send.status, SendStatus::kSendOk);
  ASSERT_EQ(server_->start(), "");
  auto dropped = producer_->send_in_transaction(Message(topic_, "dropped", "T"), "");
  ASSERT_TRUE(dropped.ok()) << dropped.error().to_string();
  ASSERT_EQ(server_->start(), "");
  ASSERT_TRUE(eventually([&] { return deliveries()["kept"] == 1; }, 30s));
  ASSERT_TRUE(eventually([&] { return pending_count() == 0; }, 30s));
  std::this_thread::sleep_for(1500ms);
  auto d = deliveries();
  EXPECT_EQ(d["kept"], 1);
  EXPECT_EQ(d.count("dropped"), 0u);
}

TEST_F(TransactionKillTest, BrokerKilledDuringCheckRounds) {
  Ledger ledger;
  producer_ = start_producer("tx_kill_rounds", &ledger, [](const Message&) { return LocalTransactionState::kUnknown; });
  ASSERT_TRUE(producer_);
  constexpr int kCount = 30;
  for (int i = 0; i < kCount; ++i) {
    const std::string body = "tx-" + std::to_string(i);
    auto r = producer_->send_in_transaction(Message(topic_, body, "T"), "");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ledger.decide(body, i % 2 == 0 ? LocalTransactionState::kCommit : LocalTransactionState::kRollback);
  }
  std::mt19937 rng(static_cast<uint32_t>(::getpid()));
  for (int kill = 0; kill < 3; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(450 + rng() % 600));
    restart_broker();
  }
  ASSERT_TRUE(eventually(
      [&] {
        auto d = deliveries();
        for (int i = 0; i < kCount; i += 2) {
          if (d["tx-" + std::to_string(i)] < 1) return false;
        }
        return true;
      },
      60s));
  ASSERT_TRUE(eventually([&] { return pending_count() == 0; }, 30s));
  std::this_thread::sleep_for(1500ms);
  auto d = deliveries();
  for (int i = 0; i < kCount; ++i) {
    const std::string body = "tx-" + std::to_string(i);
    EXPECT_EQ(d[body], i % 2 == 0 ? 1 : 0) << body;
  }
}

TEST_F(TransactionKillTest, ProducerKilledAfterLocalCommitBeforeEnd) {
  const std::string db = dir_ + "/orders.db";
  const std::string helper = ts::self_dir() + "/tx_producer_process";
  ts::ChildProcess dying;
  ASSERT_EQ(dying.start({helper, "send-and-die", ns(), topic_, "tx_kill_producer", db, "order-42"}), "");
  std::string err;
  const std::string line = dying.wait_for_line("committed ", 30000, &err);
  ASSERT_NE(line, "") << err;
  const std::string id = line.substr(std::string("committed ").size());
  dying.kill9();  // it killed itself right after the line; this reaps it
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(deliveries().count("order-42"), 0u);  // no end reached the broker

  ts::ChildProcess checker;
  ASSERT_EQ(checker.start({helper, "checker", ns(), "tx_kill_producer", db}), "");
  ASSERT_NE(checker.wait_for_line("ready", 30000, &err), "") << err;
  ASSERT_NE(checker.wait_for_line("checked " + id + " COMMIT", 30000, &err), "") << err;
  ASSERT_TRUE(eventually([&] { return deliveries()["order-42"] == 1; }, 30s));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(deliveries()["order-42"], 1);
  checker.terminate(10000);
}

}  // namespace
}  // namespace holdfast
