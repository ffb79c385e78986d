// SubscriptionGroupManager on the in-memory FaultEnv: defaults, auto-creation switch, RocketMQ's
// subscriptionGroup.json, persistence across a power loss, .bak fallback and validation.
#include "broker/subscription_group_manager.h"

#include <gtest/gtest.h>

#include <memory>

#include "env/fault_env.h"

namespace holdfast::broker {
namespace {

constexpr const char* kPath = "/store/config/subscriptionGroup.json";

class SubscriptionGroupManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<SubscriptionGroupManager> open(bool auto_create = true) {
    SubscriptionGroupManager::Options o;
    o.path = kPath;
    o.auto_create_subscription_group = auto_create;
    auto m = std::make_unique<SubscriptionGroupManager>(&env_, o);
    Status st = m->load();
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return m;
  }
  FaultEnv env_;
};

TEST_F(SubscriptionGroupManagerTest, FindOrCreateUsesDefaultsAndPersists) {
  auto m = open();
  int changes = 0;
  m->set_change_listener([&] { ++changes; });
  auto g = m->find_or_create("cg");
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  EXPECT_EQ(g->group_name, "cg");
  EXPECT_TRUE(g->consume_enable);
  EXPECT_TRUE(g->consume_from_min_enable);
  EXPECT_TRUE(g->consume_broadcast_enable);
  EXPECT_EQ(g->retry_queue_nums, 1);
  EXPECT_EQ(g->retry_max_times, 16);
  EXPECT_EQ(g->broker_id, 0);
  EXPECT_EQ(g->which_broker_when_consume_slowly, 1);
  EXPECT_TRUE(g->notify_consumer_ids_changed_enable);
  EXPECT_EQ(changes, 1);
  ASSERT_TRUE(m->find_or_create("cg").is_ok());
  EXPECT_EQ(changes, 1);  // existing: no change
  m.reset();
  env_.crash(CrashMode::kDropUnsynced);
  EXPECT_TRUE(open()->find("cg").has_value());
}

TEST_F(SubscriptionGroupManagerTest, AutoCreateOffGivesNotFound) {
  auto m = open(false);
  auto g = m->find_or_create("cg");
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(m->find("cg").has_value());
  SubscriptionGroupConfig c;
  c.group_name = "cg";
  ASSERT_TRUE(m->update(c).is_ok());
  EXPECT_TRUE(m->find_or_create("cg").is_ok());
}

TEST_F(SubscriptionGroupManagerTest, UpdateRemoveRoundTrip) {
  auto m = open();
  SubscriptionGroupConfig c;
  c.group_name = "orders-consumer";
  c.consume_enable = false;
  c.consume_broadcast_enable = false;
  c.retry_queue_nums = 2;
  c.retry_max_times = 3;
  c.broker_id = 1;
  c.which_broker_when_consume_slowly = 2;
  c.notify_consumer_ids_changed_enable = false;
  ASSERT_TRUE(m->update(c).is_ok());
  SubscriptionGroupConfig other;
  other.group_name = "other";
  ASSERT_TRUE(m->update(other).is_ok());
  ASSERT_TRUE(m->remove("other").is_ok());
  EXPECT_EQ(m->remove("other").code(), StatusCode::kNotFound);
  const DataVersion v = m->data_version();
  m.reset();
  env_.crash(CrashMode::kDropUnsynced);
  auto r = open();
  ASSERT_TRUE(r->find("orders-consumer").has_value());
  EXPECT_EQ(*r->find("orders-consumer"), c);
  EXPECT_FALSE(r->find("other").has_value());
  EXPECT_EQ(r->data_version(), v);
  EXPECT_EQ(r->all().size(), 1u);
}

TEST_F(SubscriptionGroupManagerTest, ParsesRocketMQFileAndFallsBackToBak) {
  ASSERT_TRUE(env_.create_dirs("/store/config").is_ok());
  // A 5.x file: extra fields (groupRetryPolicy, consumeTimeoutMinute) are ignored.
  ASSERT_TRUE(write_file_atomically(
                  &env_, kPath,
                  "{\n\t\"dataVersion\":{\n\t\t\"counter\":3,\n\t\t\"stateVersion\":0,\n\t\t\"timestamp\":1700000000000\n\t},\n"
                  "\t\"forbiddenTable\":{},\n\t\"subscriptionGroupTable\":{\n\t\t\"GID_A\":{\n"
                  "\t\t\t\"brokerId\":0,\n\t\t\t\"consumeBroadcastEnable\":true,\n\t\t\t\"consumeEnable\":true,\n"
                  "\t\t\t\"consumeFromMinEnable\":true,\n\t\t\t\"consumeMessageOrderly\":false,\n"
                  "\t\t\t\"consumeTimeoutMinute\":15,\n\t\t\t\"groupName\":\"GID_A\",\n"
                  "\t\t\t\"groupRetryPolicy\":{\"type\":\"CUSTOMIZED\"},\n\t\t\t\"groupSysFlag\":0,\n"
                  "\t\t\t\"notifyConsumerIdsChangedEnable\":true,\n\t\t\t\"retryMaxTimes\":5,\n"
                  "\t\t\t\"retryQueueNums\":1,\n\t\t\t\"whichBrokerWhenConsumeSlowly\":1\n\t\t}\n\t}\n}")
                  .is_ok());
  {
    auto m = open();
    ASSERT_TRUE(m->find("GID_A").has_value());
    EXPECT_EQ(m->find("GID_A")->retry_max_times, 5);
    EXPECT_EQ(m->data_version().counter, 3);
    SubscriptionGroupConfig b;
    b.group_name = "GID_B";
    ASSERT_TRUE(m->update(b).is_ok());  // the Java file becomes the .bak
  }
  ASSERT_TRUE(write_file_atomically(&env_, kPath, "{\"subscriptionGroupTable\":").is_ok());
  auto r = open();
  EXPECT_TRUE(r->find("GID_A").has_value());
  EXPECT_FALSE(r->find("GID_B").has_value());
}

TEST_F(SubscriptionGroupManagerTest, InvalidNamesRejectedAndBodyFieldsRead) {
  auto m = open();
  SubscriptionGroupConfig c;
  c.group_name = "bad group";
  EXPECT_EQ(m->update(c).code(), StatusCode::kInvalidArgument);
  c.group_name = std::string(256, 'g');
  EXPECT_EQ(m->update(c).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m->find_or_create("a:b").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(m->all().empty());
  // Tools may send numbers and booleans as strings.
  auto parsed = subscription_group_from_json(
      nlohmann::json::parse(R"({"groupName":"g","retryMaxTimes":"7","consumeEnable":"false"})"), "");
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_EQ(parsed->retry_max_times, 7);
  EXPECT_FALSE(parsed->consume_enable);
  EXPECT_TRUE(parsed->consume_from_min_enable);
  auto wrong = subscription_group_from_json(nlohmann::json::parse(R"({"groupName":"g","retryMaxTimes":[1]})"), "");
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_NE(wrong.status().message().find("retryMaxTimes"), std::string::npos);
}

}  // namespace
}  // namespace holdfast::broker
