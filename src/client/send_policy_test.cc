// Retry, budget, broker avoidance and latency fault decisions on a fake clock; response-code
// mapping (facts §3.3, §11).
#include "client/send_policy.h"

#include <gtest/gtest.h>

#include "remoting/response_code.h"

namespace holdfast::client {
namespace {

namespace rc = remoting::response_code;

struct FakeClock {
  int64_t now = 1000;
  NowMs fn() {
    return [this] { return now; };
  }
};

remoting::RemotingCommand response(int32_t code, std::string remark = "") {
  remoting::RemotingCommand r;
  r.code = code;
  r.mark_response();
  if (!remark.empty()) r.remark = remark;
  r.set_ext("msgId", "7F0000010000271100000000000000A0");
  r.set_ext_int("queueId", 3);
  r.set_ext_int("queueOffset", 42);
  return r;
}

const MessageQueue kQueue{"T", "broker-a", 0};

TEST(SendPolicyTest, StoredStatusesAreResults) {
  struct Case {
    int32_t code;
    SendStatus status;
  } cases[] = {{rc::kSuccess, SendStatus::kSendOk},
               {rc::kFlushDiskTimeout, SendStatus::kFlushDiskTimeout},
               {rc::kFlushSlaveTimeout, SendStatus::kFlushSlaveTimeout},
               {rc::kSlaveNotAvailable, SendStatus::kSlaveNotAvailable}};
  for (const auto& c : cases) {
    auto r = map_send_response(response(c.code), kQueue, "UNIQ", "h:1");
    ASSERT_TRUE(r.ok()) << c.code;
    EXPECT_EQ(r->status, c.status);
    EXPECT_EQ(r->msg_id, "UNIQ");
    EXPECT_EQ(r->offset_msg_id, "7F0000010000271100000000000000A0");
    EXPECT_EQ(r->queue, (MessageQueue{"T", "broker-a", 3}));  // the queue the broker wrote
    EXPECT_EQ(r->queue_offset, 42);
  }
}

TEST(SendPolicyTest, MasterEpochIsReadWhenTheBrokerSendsIt) {
  auto plain = map_send_response(response(rc::kSuccess), kQueue, "UNIQ", "h:1");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->master_epoch, -1);  // RocketMQ's brokers send none
  auto with_epoch = response(rc::kSuccess);
  with_epoch.set_ext_int("masterEpoch", 12);
  auto r = map_send_response(with_epoch, kQueue, "UNIQ", "h:1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->master_epoch, 12);
}

TEST(SendPolicyTest, OtherCodesAreBrokerErrorsRetryableByTheJavaList) {
  for (int32_t code : {17, 14, 1, 2, 16, 204, 205, 1500}) {
    auto r = map_send_response(response(code, "why"), kQueue, "U", "h:1");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kBroker);
    EXPECT_EQ(r.error().response_code, code);
    EXPECT_TRUE(r.error().retryable) << code;
    EXPECT_NE(r.error().message.find("why"), std::string::npos);
  }
  for (int32_t code : {13, 29, 3, 15, 215}) {
    auto r = map_send_response(response(code), kQueue, "U", "h:1");
    ASSERT_FALSE(r.ok());
    EXPECT_FALSE(r.error().retryable) << code;
  }
}

TEST(SendPolicyTest, TransportFailuresAreRetryable) {
  Error t = transport_error(Status::timeout("no answer"), "h:1");
  EXPECT_EQ(t.code, ErrorCode::kTimeout);
  EXPECT_TRUE(t.retryable);
  Error c = transport_error(Status::aborted("closed"), "h:1");
  EXPECT_EQ(c.code, ErrorCode::kConnection);
  EXPECT_TRUE(c.retryable);
}

TEST(SendPolicyTest, JudgeAttempt) {
  auto ok = map_send_response(response(rc::kSuccess), kQueue, "U", "h");
  auto flush = map_send_response(response(rc::kFlushDiskTimeout), kQueue, "U", "h");
  auto busy = map_send_response(response(rc::kSystemBusy), kQueue, "U", "h");
  auto illegal = map_send_response(response(rc::kMessageIllegal), kQueue, "U", "h");
  Outcome<SendResult> conn = transport_error(Status::aborted("x"), "h");
  EXPECT_EQ(judge_attempt(ok, SendMode::kSync, true), AttemptVerdict::kDone);
  EXPECT_EQ(judge_attempt(flush, SendMode::kSync, false), AttemptVerdict::kDone);
  EXPECT_EQ(judge_attempt(flush, SendMode::kSync, true), AttemptVerdict::kRetry);
  EXPECT_EQ(judge_attempt(busy, SendMode::kSync, false), AttemptVerdict::kRetry);
  EXPECT_EQ(judge_attempt(busy, SendMode::kOrdered, false), AttemptVerdict::kRetry);
  EXPECT_EQ(judge_attempt(busy, SendMode::kAsync, false), AttemptVerdict::kDone);  // async: broker errors not retried
  EXPECT_EQ(judge_attempt(illegal, SendMode::kSync, false), AttemptVerdict::kDone);
  EXPECT_EQ(judge_attempt(conn, SendMode::kSync, false), AttemptVerdict::kRetry);
  EXPECT_EQ(judge_attempt(conn, SendMode::kAsync, false), AttemptVerdict::kRetry);
}

TEST(SendPolicyTest, BudgetIsTotalAcrossAttempts) {
  FakeClock clock;
  SendBudget budget(clock.fn(), 3000, 3);
  ASSERT_TRUE(budget.begin_attempt());
  clock.now += 2900;  // the first attempt took most of the budget
  EXPECT_EQ(budget.remaining_ms(), 100);
  ASSERT_TRUE(budget.begin_attempt());
  clock.now += 100;  // budget spent: no third attempt although one is left
  EXPECT_TRUE(budget.attempts_left());
  EXPECT_FALSE(budget.begin_attempt());
  Error last = transport_error(Status::timeout("no answer"), "h:1");
  Error e = final_error(last, budget, 3000);
  EXPECT_EQ(e.code, ErrorCode::kTimeout);
  EXPECT_NE(e.message.find("2 attempts"), std::string::npos) << e.message;
}

TEST(SendPolicyTest, AttemptLimit) {
  FakeClock clock;
  SendBudget budget(clock.fn(), 3000, 3);
  EXPECT_TRUE(budget.begin_attempt());
  EXPECT_TRUE(budget.begin_attempt());
  EXPECT_TRUE(budget.begin_attempt());
  EXPECT_FALSE(budget.begin_attempt());
  Error last = make_error(ErrorCode::kConnection, "refused", true);
  EXPECT_EQ(final_error(last, budget, 3000).code, ErrorCode::kConnection);  // time was left
}

TEST(SendPolicyTest, LatencyTable) {
  EXPECT_EQ(LatencyFaultTolerance::not_available_ms(10), 0);
  EXPECT_EQ(LatencyFaultTolerance::not_available_ms(100), 0);
  EXPECT_EQ(LatencyFaultTolerance::not_available_ms(549), 0);
  EXPECT_EQ(LatencyFaultTolerance::not_available_ms(550), 2000);
  EXPECT_EQ(LatencyFaultTolerance::not_available_ms(1800), 5000);
  EXPECT_EQ(LatencyFaultTolerance::not_available_ms(3000), 6000);
  EXPECT_EQ(LatencyFaultTolerance::not_available_ms(5000), 10000);
  EXPECT_EQ(LatencyFaultTolerance::not_available_ms(15000), 30000);
}

std::vector<MessageQueue> two_brokers() {
  std::vector<MessageQueue> q;
  for (const char* b : {"a", "b"}) {
    for (int i = 0; i < 4; ++i) q.push_back({"T", b, i});
  }
  return q;
}

TEST(SendPolicyTest, RetryAvoidsTheLastFailedBroker) {
  FakeClock clock;
  LatencyFaultTolerance faults(clock.fn());
  for (bool enabled : {true, false}) {
    QueueSelector sel(&faults, enabled);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(sel.select(two_brokers(), "a").broker_name, "b");
    for (int i = 0; i < 20; ++i) EXPECT_EQ(sel.select(two_brokers(), "b").broker_name, "a");
  }
  // One broker only: retry there anyway.
  QueueSelector sel(&faults, true);
  std::vector<MessageQueue> one{{"T", "a", 0}, {"T", "a", 1}};
  EXPECT_EQ(sel.select(one, "a").broker_name, "a");
}

TEST(SendPolicyTest, FailedBrokerIsIsolatedThenComesBack) {
  FakeClock clock;
  LatencyFaultTolerance faults(clock.fn());
  QueueSelector sel(&faults, true);
  faults.update("a", 0, /*failed=*/true);  // counts as 10 s latency -> 10 s away
  EXPECT_FALSE(faults.is_available("a"));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sel.select(two_brokers(), "").broker_name, "b");
  clock.now += 9999;
  EXPECT_FALSE(faults.is_available("a"));
  clock.now += 1;
  EXPECT_TRUE(faults.is_available("a"));
  int on_a = 0;
  for (int i = 0; i < 50; ++i) on_a += sel.select(two_brokers(), "").broker_name == "a";
  EXPECT_GT(on_a, 0);
}

TEST(SendPolicyTest, SlowBrokerAvoidedForTheTableTime) {
  FakeClock clock;
  LatencyFaultTolerance faults(clock.fn());
  faults.update("a", 600, false);  // 550..1800 ms -> 2 s
  EXPECT_FALSE(faults.is_available("a"));
  clock.now += 2000;
  EXPECT_TRUE(faults.is_available("a"));
  faults.update("a", 20, false);  // fast again
  EXPECT_TRUE(faults.is_available("a"));
}

TEST(SendPolicyTest, AllBrokersDownStillPicksOne) {
  FakeClock clock;
  LatencyFaultTolerance faults(clock.fn());
  QueueSelector sel(&faults, true);
  faults.update("a", 0, true);
  clock.now += 10;
  faults.update("b", 0, true);
  EXPECT_EQ(faults.least_bad({"a", "b"}), "a");
  const MessageQueue q = sel.select(two_brokers(), "a");
  EXPECT_EQ(q.broker_name, "b");  // avoids the last one even when both are isolated
}

TEST(SendPolicyTest, DisabledFaultToleranceRoundRobins) {
  FakeClock clock;
  LatencyFaultTolerance faults(clock.fn());
  faults.update("a", 0, true);
  QueueSelector sel(&faults, false);
  int on_a = 0;
  for (int i = 0; i < 8; ++i) on_a += sel.select(two_brokers(), "").broker_name == "a";
  EXPECT_EQ(on_a, 4);
}

}  // namespace
}  // namespace holdfast::client
