// Transactional messages end to end: the C++ TransactionProducer against a `holdfast standalone`
// process with short check timers (check every 300 ms, first check 1.5 s after birth, 3 checks at
// most). Commit, rollback, unknown-then-commit and unknown-then-rollback on check-back; no check for
// an ended transaction; END_TRANSACTION validation and replays from a raw remoting client; racing
// commits delivered once; no check (and no check count spent) while no producer of the group is
// connected; check-max moves the message to TRANS_CHECK_MAX_TIME_TOPIC, listed and resolvable by
// `holdfast admin tx`.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "client_test_env.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/transaction_producer.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/message.h"
#include "transport/remoting_client.h"

namespace holdfast {
namespace {

namespace ct = client_test;
namespace ts = test_support;
namespace rc = remoting::response_code;
using remoting::RemotingCommand;
using namespace std::chrono_literals;

// `holdfast admin tx ...` with the given arguments.
ct::CommandOutput admin_tx(const std::string& args) { return ct::run_command(ct::holdfast_binary() + " admin tx " + args); }

// Decisions a test hands to its listener, by message body.
class Script {
 public:
  void set(const std::string& body, LocalTransactionState execute, LocalTransactionState check) {
    std::lock_guard<std::mutex> lock(mu_);
    execute_[body] = execute;
    check_[body] = check;
  }
  void set_check(const std::string& body, LocalTransactionState check) {
    std::lock_guard<std::mutex> lock(mu_);
    check_[body] = check;
  }
  LocalTransactionState on_execute(const Message& m) {
    std::lock_guard<std::mutex> lock(mu_);
    ++executed_[m.body];
    auto it = execute_.find(m.body);
    return it == execute_.end() ? LocalTransactionState::kUnknown : it->second;
  }
  LocalTransactionState on_check(const ReceivedMessage& m) {
    std::lock_guard<std::mutex> lock(mu_);
    ++checked_[m.body];
    check_ids_[m.body] = m.msg_id;
    auto it = check_.find(m.body);
    return it == check_.end() ? LocalTransactionState::kUnknown : it->second;
  }
  int executed(const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    return executed_[body];
  }
  int checked(const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    return checked_[body];
  }
  std::string check_id(const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    return check_ids_[body];
  }

 private:
  std::mutex mu_;
  std::map<std::string, LocalTransactionState> execute_, check_;
  std::map<std::string, int> executed_, checked_;
  std::map<std::string, std::string> check_ids_;
};

class TransactionE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(ct::make_temp_dir("hf_tx_e2e"));
    ns_port_ = ts::free_port();
    broker_port_ = ts::free_port();
    server_ = new ct::HoldfastProcess(ct::standalone(
        *dir_, ns_port_, broker_port_,
        {"transactionCheckInterval=300", "transactionTimeOut=1500", "transactionCheckMax=3"}));
    ASSERT_EQ(server_->start(), "");
  }
  static void TearDownTestSuite() {
    if (server_) server_->stop();
    delete server_;
    server_ = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
  }
  static std::string ns() { return "127.0.0.1:" + std::to_string(ns_port_); }
  static std::string broker() { return "127.0.0.1:" + std::to_string(broker_port_); }

  void SetUp() override {
    topic_ = std::string("TxE2E_") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
             std::to_string(::getpid());
    group_ = "tx_group_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(ct::create_topic(broker(), topic_, 2), "");
    ASSERT_EQ(ct::wait_route(ns(), topic_, 1), 1u);
    PullConsumerOptions co;
    co.name_servers = {ns()};
    co.group = "tx_reader";
    auto c = PullConsumer::start(co);
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    consumer_ = std::move(c).value();
  }
  void TearDown() override {
    if (producer_) producer_->shutdown();
    if (consumer_) consumer_->shutdown();
  }

  std::unique_ptr<TransactionProducer> start_producer(Script* script, const std::string& instance = "") {
    TransactionProducerOptions o;
    o.producer.name_servers = {ns()};
    o.producer.group = group_;
    o.producer.instance_name = instance;
    o.producer.heartbeat_broker_interval_ms = 1000;
    TransactionListener l;
    l.execute = [script](const Message& m, const std::string&, const std::string&) { return script->on_execute(m); };
    l.check = [script](const ReceivedMessage& m) { return script->on_check(m); };
    auto p = TransactionProducer::start(o, l);
    EXPECT_TRUE(p.ok()) << p.error().to_string();
    return p.ok() ? std::move(p).value() : nullptr;
  }

  // Every delivered message of the topic, by body.
  std::map<std::string, int> deliveries() {
    std::map<std::string, int> out;
    for (const auto& m : ct::pull_all(*consumer_, topic_)) {
      ++out[m.body];
      EXPECT_EQ(m.properties.count("REAL_TOPIC"), 0u) << m.body;
      EXPECT_EQ(m.properties.count("TRAN_MSG"), 0u) << m.body;
      if (m.body != "plain") {
        EXPECT_EQ(m.sys_flag & 0xC, 0x8) << m.body;  // COMMIT type
      }
      EXPECT_EQ(m.msg_id, m.properties.at("UNIQ_KEY"));
    }
    return out;
  }

  // Polls until pred() holds (up to `limit`); returns pred().
  template <typename Pred>
  static bool eventually(Pred pred, std::chrono::milliseconds limit = 15s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return pred();
  }

  // The list's `section` ("pending" or "checkMax"), by value (a reference into the temporary
  // document would dangle in a range-for).
  static nlohmann::json list_transactions(const char* section) {
    nlohmann::json doc = list_document();
    return doc.contains(section) ? doc[section] : nlohmann::json::array();
  }
  static nlohmann::json list_document() {
    transport::RemotingClient client;
    auto r = client.invoke_sync(broker(), RemotingCommand::make_request(remoting::request_code::kHoldfastTransactionList), 5000);
    client.shutdown();
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    if (!r.is_ok()) return nlohmann::json::object();
    EXPECT_EQ(r->code, rc::kSuccess) << r->remark.value_or("");
    if (r->code != rc::kSuccess) return nlohmann::json::object();
    return nlohmann::json::parse(r->body);
  }

  Outcome<TransactionSendResult> send(TransactionProducer& p, const std::string& body) {
    Message m(topic_, body, "TagTx");
    m.keys = {"order-" + body};
    return p.send_in_transaction(m, "arg");
  }

  static inline std::string* dir_ = nullptr;
  static inline uint16_t ns_port_ = 0;
  static inline uint16_t broker_port_ = 0;
  static inline ct::HoldfastProcess* server_ = nullptr;
  std::string topic_;
  std::string group_;
  std::unique_ptr<PullConsumer> consumer_;
  std::unique_ptr<TransactionProducer> producer_;
};

TEST_F(TransactionE2ETest, CommitDeliversOnceRollbackNeverAndNeitherIsChecked) {
  Script script;
  producer_ = start_producer(&script);
  ASSERT_TRUE(producer_);
  script.set("commit-me", LocalTransactionState::kCommit, LocalTransactionState::kRollback);
  script.set("roll-me-back", LocalTransactionState::kRollback, LocalTransactionState::kCommit);

  // The half is stored but invisible while the local transaction runs.
  auto r = send(*producer_, "commit-me");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->send.status, SendStatus::kSendOk);
  EXPECT_EQ(r->local_state, LocalTransactionState::kCommit);
  EXPECT_TRUE(r->end_sent);
  EXPECT_EQ(r->send.transaction_id, r->send.msg_id);
  EXPECT_EQ(r->send.queue.topic, topic_);
  auto rb = send(*producer_, "roll-me-back");
  ASSERT_TRUE(rb.ok()) << rb.error().to_string();
  EXPECT_EQ(rb->local_state, LocalTransactionState::kRollback);

  ASSERT_TRUE(eventually([&] { return deliveries()["commit-me"] == 1; }));
  // Several check rounds past the timeout: neither is checked, the rollback never arrives, the
  // commit stays single.
  std::this_thread::sleep_for(2500ms);
  auto d = deliveries();
  EXPECT_EQ(d["commit-me"], 1);
  EXPECT_EQ(d.count("roll-me-back"), 0u);
  EXPECT_EQ(script.checked("commit-me"), 0);
  EXPECT_EQ(script.checked("roll-me-back"), 0);
  EXPECT_EQ(script.executed("commit-me"), 1);
  auto pending = list_transactions("pending");
  for (const auto& p : pending) EXPECT_NE(p["producerGroup"], group_) << p.dump();
}

TEST_F(TransactionE2ETest, UnknownThenCheckBackCommitsOrRollsBack) {
  Script script;
  producer_ = start_producer(&script);
  ASSERT_TRUE(producer_);
  script.set("later-commit", LocalTransactionState::kUnknown, LocalTransactionState::kCommit);
  script.set("later-rollback", LocalTransactionState::kUnknown, LocalTransactionState::kRollback);
  auto a = send(*producer_, "later-commit");
  auto b = send(*producer_, "later-rollback");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->local_state, LocalTransactionState::kUnknown);
  // Not delivered before the check answers.
  EXPECT_EQ(deliveries().count("later-commit"), 0u);
  ASSERT_TRUE(eventually([&] { return deliveries()["later-commit"] == 1; }));
  ASSERT_TRUE(eventually([&] { return script.checked("later-rollback") >= 1; }));
  EXPECT_EQ(script.check_id("later-commit"), a->send.msg_id);
  // Once answered, neither is checked again nor delivered again.
  std::this_thread::sleep_for(1500ms);
  const int commit_checks = script.checked("later-commit");
  const int rollback_checks = script.checked("later-rollback");
  std::this_thread::sleep_for(2000ms);
  EXPECT_EQ(script.checked("later-commit"), commit_checks);
  EXPECT_EQ(script.checked("later-rollback"), rollback_checks);
  auto d = deliveries();
  EXPECT_EQ(d["later-commit"], 1);
  EXPECT_EQ(d.count("later-rollback"), 0u);
}

TEST_F(TransactionE2ETest, MalformedAndReplayedEndTransactionChangeNothing) {
  Script script;
  producer_ = start_producer(&script);
  ASSERT_TRUE(producer_);
  // Unknown with a check that keeps answering unknown: the half stays pending for this test.
  script.set("held", LocalTransactionState::kUnknown, LocalTransactionState::kUnknown);
  auto held = send(*producer_, "held");
  ASSERT_TRUE(held.ok());
  HostAddress host;
  int64_t log_offset = 0;
  ASSERT_TRUE(decode_offset_message_id(held->send.offset_msg_id, &host, &log_offset));

  transport::RemotingClient raw;
  auto end = [&](std::string group, int64_t table, int64_t log, int32_t kind) {
    RemotingCommand r = RemotingCommand::make_request(remoting::request_code::kEndTransaction);
    r.set_ext("producerGroup", group);
    r.set_ext_int("tranStateTableOffset", table);
    r.set_ext_int("commitLogOffset", log);
    r.set_ext_int("commitOrRollback", kind);
    r.set_ext_bool("fromTransactionCheck", false);
    r.set_ext("msgId", held->send.msg_id);
    auto resp = raw.invoke_sync(broker(), std::move(r), 5000);
    EXPECT_TRUE(resp.is_ok());
    return resp.is_ok() ? *resp : RemotingCommand{};
  };
  auto expect_refused = [&](RemotingCommand resp, const std::string& fragment) {
    EXPECT_EQ(resp.code, rc::kSystemError) << resp.remark.value_or("");
    EXPECT_NE(resp.remark.value_or("").find(fragment), std::string::npos) << resp.remark.value_or("");
  };
  const int64_t table = held->send.queue_offset;
  expect_refused(end("someone_else", table, log_offset, 8), "does not own");
  expect_refused(end(group_, table + 1000, log_offset, 8), "does not match");
  expect_refused(end(group_, table, log_offset + 1, 8), "no message at commit-log offset");
  expect_refused(end(group_, table, int64_t{1} << 50, 8), "no message at commit-log offset");
  expect_refused(end(group_, table, log_offset, 5), "commitOrRollback must be");
  {
    RemotingCommand r = RemotingCommand::make_request(remoting::request_code::kEndTransaction);
    r.set_ext("producerGroup", group_);
    auto resp = raw.invoke_sync(broker(), std::move(r), 5000);
    ASSERT_TRUE(resp.is_ok());
    EXPECT_EQ(resp->code, rc::kSystemError);
  }
  // A plain message's offset is not a half message.
  {
    ProducerOptions po;
    po.name_servers = {ns()};
    po.group = "tx_plain";
    auto plain = Producer::start(po);
    ASSERT_TRUE(plain.ok());
    auto sent = (*plain)->send(Message(topic_, "plain", ""));
    ASSERT_TRUE(sent.ok());
    HostAddress h;
    int64_t plain_offset = 0;
    ASSERT_TRUE(decode_offset_message_id(sent->offset_msg_id, &h, &plain_offset));
    expect_refused(end(group_, sent->queue_offset, plain_offset, 8), "not a half message");
    (*plain)->shutdown();
  }
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(deliveries().count("held"), 0u);
  EXPECT_EQ(end(group_, table, log_offset, 0).code, rc::kSuccess);  // UNKNOW: no change

  // Two commits racing from two connections, then replays: delivered once.
  transport::RemotingClient raw2;
  std::thread other([&] {
    RemotingCommand r = RemotingCommand::make_request(remoting::request_code::kEndTransaction);
    r.set_ext("producerGroup", group_);
    r.set_ext_int("tranStateTableOffset", table);
    r.set_ext_int("commitLogOffset", log_offset);
    r.set_ext_int("commitOrRollback", 8);
    (void)raw2.invoke_sync(broker(), std::move(r), 5000);
  });
  auto first = end(group_, table, log_offset, 8);
  other.join();
  EXPECT_EQ(first.code, rc::kSuccess) << first.remark.value_or("");
  auto again = end(group_, table, log_offset, 8);
  EXPECT_EQ(again.code, rc::kSuccess);
  EXPECT_NE(again.remark.value_or("").find("already committed"), std::string::npos) << again.remark.value_or("");
  expect_refused(end(group_, table, log_offset, 12), "already committed");
  ASSERT_TRUE(eventually([&] { return deliveries()["held"] == 1; }));
  std::this_thread::sleep_for(1500ms);  // check rounds: no more copies, no more checks after the commit
  const int checks = script.checked("held");
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(script.checked("held"), checks);
  EXPECT_EQ(deliveries()["held"], 1);
  raw.shutdown();
  raw2.shutdown();
}

TEST_F(TransactionE2ETest, NoProducerConnectedMeansNoCheckAndNoCountThenAnotherProducerAnswers) {
  Script first;
  first.set("orphan", LocalTransactionState::kUnknown, LocalTransactionState::kUnknown);
  {
    auto p = start_producer(&first, "first");
    ASSERT_TRUE(p);
    auto r = send(*p, "orphan");
    ASSERT_TRUE(r.ok());
    p->shutdown();  // unregisters: the group has no producer now
  }
  // Many check rounds pass with nobody to ask: the count stays 0 and nothing is discarded.
  std::this_thread::sleep_for(3000ms);
  EXPECT_EQ(first.checked("orphan"), 0);
  bool found = false;
  for (const auto& p : list_transactions("pending")) {
    if (p["producerGroup"] == group_) {
      found = true;
      EXPECT_EQ(p["checkTimes"], 0) << p.dump();
      EXPECT_EQ(p["topic"], topic_);
    }
  }
  EXPECT_TRUE(found);
  // Another producer of the group (as after a restart of the application) answers the check.
  Script second;
  second.set_check("orphan", LocalTransactionState::kCommit);
  producer_ = start_producer(&second, "second");
  ASSERT_TRUE(producer_);
  ASSERT_TRUE(eventually([&] { return deliveries()["orphan"] == 1; }));
  EXPECT_GE(second.checked("orphan"), 1);
}

TEST_F(TransactionE2ETest, CheckMaxMovesToCheckMaxTopicListedAndResolvableByAdmin) {
  Script script;
  producer_ = start_producer(&script);
  ASSERT_TRUE(producer_);
  script.set("never-decided", LocalTransactionState::kUnknown, LocalTransactionState::kUnknown);
  auto r = send(*producer_, "never-decided");
  ASSERT_TRUE(r.ok());
  nlohmann::json entry;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& m : list_transactions("checkMax")) {
          if (m["transactionId"] == r->send.msg_id) {
            entry = m;
            return true;
          }
        }
        return false;
      },
      20s));
  EXPECT_EQ(script.checked("never-decided"), 3);
  EXPECT_EQ(entry["topic"], topic_);
  EXPECT_EQ(entry["producerGroup"], group_);
  EXPECT_EQ(entry["committed"], false);
  for (const auto& p : list_transactions("pending")) EXPECT_NE(p["transactionId"], r->send.msg_id);
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(script.checked("never-decided"), 3);  // no check after the discard
  EXPECT_EQ(deliveries().count("never-decided"), 0u);

  // The operator's tools: list shows it, resolve --commit delivers it once.
  auto list = admin_tx("list -n " + ns());
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find(r->send.msg_id), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("TRANS_CHECK_MAX_TIME_TOPIC"), std::string::npos) << list.output;
  auto resolve = admin_tx("resolve -n " + ns() + " -i " + r->send.msg_id + " --commit");
  EXPECT_EQ(resolve.exit_code, 0) << resolve.output;
  ASSERT_TRUE(eventually([&] { return deliveries()["never-decided"] == 1; }));
  auto again = admin_tx("resolve -n " + ns() + " -i " + r->send.msg_id + " --commit");
  EXPECT_NE(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already committed"), std::string::npos) << again.output;
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(deliveries()["never-decided"], 1);
}

TEST_F(TransactionE2ETest, ImmunityDefersTheFirstCheckAndSpendsNoCount) {
  Script script;
  producer_ = start_producer(&script);
  ASSERT_TRUE(producer_);
  script.set("long-local-transaction", LocalTransactionState::kUnknown, LocalTransactionState::kCommit);
  Message m(topic_, "long-local-transaction", "TagTx");
  m.properties["CHECK_IMMUNITY_TIME_IN_SECONDS"] = "4";
  const auto sent_at = std::chrono::steady_clock::now();
  auto r = producer_->send_in_transaction(m, "");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  // transactionTimeOut is 1.5 s and transactionCheckMax 3 (about one more second of rounds), but the
  // producer asked for 4 s: no check, no count, no discard before then.
  std::this_thread::sleep_for(3000ms);
  EXPECT_EQ(script.checked("long-local-transaction"), 0);
  bool pending = false;
  for (const auto& p : list_transactions("pending")) {
    if (p["transactionId"] == r->send.msg_id) {
      pending = true;
      EXPECT_EQ(p["checkTimes"], 0);
      EXPECT_EQ(p["immunityMillis"], 4000);
    }
  }
  EXPECT_TRUE(pending);
  ASSERT_TRUE(eventually([&] { return deliveries()["long-local-transaction"] == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - sent_at, 3900ms);
  EXPECT_EQ(script.checked("long-local-transaction"), 1);
}

TEST_F(TransactionE2ETest, AdminResolvesAPendingTransactionByHand) {
  Script script;
  script.set("stuck", LocalTransactionState::kUnknown, LocalTransactionState::kUnknown);
  std::string id;
  {
    auto p = start_producer(&script, "gone");
    ASSERT_TRUE(p);
    auto r = send(*p, "stuck");
    ASSERT_TRUE(r.ok());
    id = r->send.msg_id;
    p->shutdown();  // the producer group is gone for good
  }
  auto show = admin_tx("show -n " + ns() + " -i " + id);
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_NE(show.output.find(topic_), std::string::npos) << show.output;
  EXPECT_NE(show.output.find(group_), std::string::npos) << show.output;
  auto rollback = admin_tx("resolve -n " + ns() + " -i " + id + " --rollback");
  EXPECT_EQ(rollback.exit_code, 0) << rollback.output;
  for (const auto& p : list_transactions("pending")) EXPECT_NE(p["transactionId"], id);
  auto commit = admin_tx("resolve -n " + ns() + " -i " + id + " --commit");
  EXPECT_NE(commit.exit_code, 0) << commit.output;  // already rolled back: refused, nothing delivered
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(deliveries().count("stuck"), 0u);
}

}  // namespace
}  // namespace holdfast
