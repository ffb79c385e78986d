// Queue locks for orderly consumption: who gets a queue, renewal, expiry after 60 s on a fake
// clock, unlock by the holder only, and the LOCK_BATCH_MQ / UNLOCK_BATCH_MQ bodies over loopback.
#include "broker/rebalance_lock_manager.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "transport/remoting_client.h"

namespace holdfast::broker {
namespace {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

class RebalanceLockManagerTest : public ::testing::Test {
 protected:
  int64_t now_ = 1700000000000;
  RebalanceLockManager locks_{[this] { return now_; }};
  const LockedQueue q0_{"Orders", "broker-a", 0}, q1_{"Orders", "broker-a", 1};
};

TEST_F(RebalanceLockManagerTest, AFreeQueueGoesToTheFirstClientOnly) {
  EXPECT_EQ(locks_.try_lock_batch("cg", {q0_, q1_}, "c1"), (std::vector<LockedQueue>{q0_, q1_}));
  EXPECT_TRUE(locks_.try_lock_batch("cg", {q0_, q1_}, "c2").empty());
  EXPECT_TRUE(locks_.is_locked("cg", q0_, "c1"));
  EXPECT_FALSE(locks_.is_locked("cg", q0_, "c2"));
  // Another group has its own locks.
  EXPECT_EQ(locks_.try_lock_batch("other", {q0_}, "c2").size(), 1u);
  // The holder renews.
  EXPECT_EQ(locks_.try_lock_batch("cg", {q1_}, "c1"), std::vector<LockedQueue>{q1_});
}

TEST_F(RebalanceLockManagerTest, ALockExpiresSixtySecondsAfterItsLastRenewal) {
  locks_.try_lock_batch("cg", {q0_, q1_}, "c1");
  now_ += 30000;
  locks_.try_lock_batch("cg", {q1_}, "c1");  // renews q1 only
  now_ += 30000;                            // q0: exactly 60 s, still held
  EXPECT_TRUE(locks_.try_lock_batch("cg", {q0_}, "c2").empty());
  EXPECT_TRUE(locks_.group_has_locks("cg"));
  now_ += 1;
  EXPECT_FALSE(locks_.is_locked("cg", q0_, "c1"));
  EXPECT_EQ(locks_.try_lock_batch("cg", {q0_, q1_}, "c2"), std::vector<LockedQueue>{q0_});
  EXPECT_TRUE(locks_.is_locked("cg", q1_, "c1"));
  now_ += 60001;
  EXPECT_FALSE(locks_.group_has_locks("cg"));
  EXPECT_FALSE(locks_.group_has_locks("nobody"));
}

TEST_F(RebalanceLockManagerTest, OnlyTheHolderUnlocks) {
  locks_.try_lock_batch("cg", {q0_}, "c1");
  locks_.unlock_batch("cg", {q0_}, "c2");
  EXPECT_TRUE(locks_.is_locked("cg", q0_, "c1"));
  locks_.unlock_batch("cg", {q0_}, "c1");
  EXPECT_FALSE(locks_.is_locked("cg", q0_, "c1"));
  EXPECT_EQ(locks_.try_lock_batch("cg", {q0_}, "c2").size(), 1u);
}

TEST(LockBatchBody, DecodesTheJavaBodyAndRejectsBadOnes) {
  auto r = decode_lock_batch_request(
      R"({"clientId":"10.0.0.1@1","consumerGroup":"cg","mqSet":[{"brokerName":"broker-a","queueId":3,"topic":"Orders"}],"onlyThisBroker":true})");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->consumer_group, "cg");
  EXPECT_EQ(r->client_id, "10.0.0.1@1");
  EXPECT_TRUE(r->only_this_broker);
  ASSERT_EQ(r->queues.size(), 1u);
  EXPECT_EQ(r->queues[0], (LockedQueue{"Orders", "broker-a", 3}));
  EXPECT_FALSE(decode_lock_batch_request("not json").is_ok());
  EXPECT_FALSE(decode_lock_batch_request(R"({"clientId":"c"})").is_ok());
  EXPECT_FALSE(decode_lock_batch_request(R"({"clientId":"c","consumerGroup":"g","mqSet":[{"topic":"t"}]})").is_ok());
  EXPECT_EQ(encode_lock_batch_response({{"T", "b", 1}}),
            R"({"lockOKMQSet":[{"brokerName":"b","queueId":1,"topic":"T"}]})");
  EXPECT_EQ(encode_lock_batch_response({}), R"({"lockOKMQSet":[]})");
}

TEST_F(RebalanceLockManagerTest, LockAndUnlockOverLoopback) {
  transport::RemotingServer server{transport::ServerOptions{}};
  locks_.register_to(server);
  ASSERT_TRUE(server.start().is_ok());
  const std::string addr = "127.0.0.1:" + std::to_string(server.port());
  transport::RemotingClient client;
  auto request = [&](int32_t code, const std::string& client_id) {
    RemotingCommand r = RemotingCommand::make_request(code);
    r.body = R"({"consumerGroup":"cg","clientId":")" + client_id +
             R"(","onlyThisBroker":false,"mqSet":[{"topic":"Orders","brokerName":"broker-a","queueId":0},)"
             R"({"topic":"Orders","brokerName":"broker-a","queueId":1}]})";
    auto resp = client.invoke_sync(addr, std::move(r), 3000);
    EXPECT_TRUE(resp.is_ok());
    return resp.is_ok() ? *resp : RemotingCommand{};
  };
  RemotingCommand first = request(req::kLockBatchMq, "c1");
  ASSERT_EQ(first.code, rc::kSuccess);
  auto body = nlohmann::json::parse(first.body);
  EXPECT_EQ(body["lockOKMQSet"].size(), 2u);
  EXPECT_EQ(body["lockOKMQSet"][1]["queueId"], 1);
  RemotingCommand second = request(req::kLockBatchMq, "c2");
  EXPECT_TRUE(nlohmann::json::parse(second.body)["lockOKMQSet"].empty());
  EXPECT_EQ(request(req::kUnlockBatchMq, "c1").code, rc::kSuccess);
  EXPECT_EQ(nlohmann::json::parse(request(req::kLockBatchMq, "c2").body)["lockOKMQSet"].size(), 2u);
  RemotingCommand bad = RemotingCommand::make_request(req::kLockBatchMq);
  bad.body = "{";
  auto resp = client.invoke_sync(addr, std::move(bad), 3000);
  ASSERT_TRUE(resp.is_ok());
  EXPECT_EQ(resp->code, rc::kSystemError);
  client.shutdown();
  server.stop();
}

}  // namespace
}  // namespace holdfast::broker
