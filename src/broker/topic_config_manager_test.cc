// TopicConfigManager on the in-memory FaultEnv: system topics, the auto-create rule, the send
// error mapping, persistence across a power loss, RocketMQ's topics.json, .bak fallback, names.
#include "broker/topic_config_manager.h"

#include <gtest/gtest.h>

#include <memory>

#include "env/fault_env.h"
#include "namesrv/route_json.h"
#include "remoting/response_code.h"

namespace holdfast::broker {
namespace {

namespace rc = remoting::response_code;

constexpr const char* kPath = "/store/config/topics.json";

class TopicConfigManagerTest : public ::testing::Test {
 protected:
  TopicConfigManager::Options options(bool auto_create = true) {
    TopicConfigManager::Options o;
    o.path = kPath;
    o.cluster_name = "DefaultCluster";
    o.broker_name = "broker-a";
    o.auto_create_topic_enable = auto_create;
    return o;
  }
  std::unique_ptr<TopicConfigManager> open(bool auto_create = true) {
    auto m = std::make_unique<TopicConfigManager>(&env_, options(auto_create));
    Status st = m->load();
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return m;
  }
  void write(const std::string& path, const std::string& text) {
    ASSERT_TRUE(env_.create_dirs("/store/config").is_ok());
    ASSERT_TRUE(write_file_atomically(&env_, path, text).is_ok());
  }

  FaultEnv env_;
};

TEST_F(TopicConfigManagerTest, SystemTopicsPresentWithDefaults) {
  auto m = open();
  struct Want {
    std::string name;
    int32_t queues;
    int32_t perm;
  };
  for (const Want& w : {Want{"SELF_TEST_TOPIC", 1, 6}, Want{"TBW102", 8, 7}, Want{"BenchmarkTest", 1024, 6},
                        Want{"DefaultCluster", 16, 7}, Want{"broker-a", 1, 7}, Want{"OFFSET_MOVED_EVENT", 1, 6},
                        Want{"SCHEDULE_TOPIC_XXXX", 18, 6}, Want{"RMQ_SYS_TRANS_HALF_TOPIC", 1, 6},
                        Want{"RMQ_SYS_TRANS_OP_HALF_TOPIC", 1, 6}}) {
    auto c = m->find(w.name);
    ASSERT_TRUE(c.has_value()) << w.name;
    EXPECT_EQ(c->read_queue_nums, w.queues) << w.name;
    EXPECT_EQ(c->write_queue_nums, w.queues) << w.name;
    EXPECT_EQ(c->perm, w.perm) << w.name;
    EXPECT_TRUE(m->is_system_topic(w.name)) << w.name;
  }
  EXPECT_EQ(m->all().size(), 9u);
  EXPECT_FALSE(m->is_system_topic("Orders"));
}

TEST_F(TopicConfigManagerTest, AutoCreateOffHasNoTbw102AndClusterTopicsFollowTheirSwitches) {
  auto o = options(false);
  o.cluster_topic_enable = false;
  o.broker_topic_enable = false;
  TopicConfigManager m(&env_, o);
  ASSERT_TRUE(m.load().is_ok());
  EXPECT_FALSE(m.find("TBW102").has_value());
  EXPECT_EQ(m.find("DefaultCluster")->perm, perm::kInherit);
  EXPECT_EQ(m.find("broker-a")->perm, perm::kInherit);
}

TEST_F(TopicConfigManagerTest, AutoCreateFromTbw102TakesMinQueuesAndDropsInherit) {
  auto m = open();
  int changes = 0;
  m->set_change_listener([&] { ++changes; });
  const DataVersion before = m->data_version();
  auto c = m->resolve_for_send("Orders", "TBW102", 4);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->read_queue_nums, 4);
  EXPECT_EQ(c->write_queue_nums, 4);
  EXPECT_EQ(c->perm, 6);
  EXPECT_EQ(changes, 1);
  EXPECT_EQ(m->data_version().counter, before.counter + 1);
  // A client asking for more queues than the template has gets the template's count.
  auto big = m->resolve_for_send("Big", "TBW102", 64);
  ASSERT_TRUE(big.is_ok());
  EXPECT_EQ(big->write_queue_nums, 8);
  // Existing topics come back unchanged, without another change.
  auto again = m->resolve_for_send("Orders", "TBW102", 16);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->write_queue_nums, 4);
  EXPECT_EQ(changes, 2);
  // Persisted before returning: a power loss right after keeps the topic.
  m.reset();
  env_.crash(CrashMode::kDropUnsynced);
  auto reopened = open();
  ASSERT_TRUE(reopened->find("Orders").has_value());
  EXPECT_EQ(reopened->find("Orders")->write_queue_nums, 4);
}

TEST_F(TopicConfigManagerTest, AutoCreateOffGivesTopicNotExist) {
  auto m = open(false);
  auto c = m->resolve_for_send("Orders", "TBW102", 4);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(send_error_code(c.status()), rc::kTopicNotExist);
  EXPECT_NE(c.status().message().find("Orders"), std::string::npos);
  EXPECT_FALSE(m->find("Orders").has_value());
}

TEST_F(TopicConfigManagerTest, PersistedTbw102DoesNotInheritOnceAutoCreateIsOff) {
  {
    auto on = open(true);
    ASSERT_TRUE(on->update(*on->find("TBW102")).is_ok());  // persists TBW102 with perm 7
  }
  auto m = open(false);
  ASSERT_TRUE(m->find("TBW102").has_value());
  EXPECT_EQ(m->find("TBW102")->perm, 7);
  auto c = m->resolve_for_send("Orders", "TBW102", 4);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(send_error_code(c.status()), rc::kTopicNotExist);
}

TEST_F(TopicConfigManagerTest, TemplateWithoutInheritOrUnknownTemplateIsNotExist) {
  auto m = open();
  EXPECT_EQ(send_error_code(m->resolve_for_send("A", "SELF_TEST_TOPIC", 4).status()), rc::kTopicNotExist);
  EXPECT_EQ(send_error_code(m->resolve_for_send("A", "NoSuchTemplate", 4).status()), rc::kTopicNotExist);
}

TEST_F(TopicConfigManagerTest, ReadOnlyTopicIsNoPermission) {
  auto m = open();
  TopicConfig c;
  c.topic_name = "ReadOnly";
  c.perm = perm::kRead;
  ASSERT_TRUE(m->update(c).is_ok());
  auto r = m->resolve_for_send("ReadOnly", "TBW102", 4);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(send_error_code(r.status()), rc::kNoPermission);
  EXPECT_EQ(send_error_code(m->resolve_for_send("bad topic", "TBW102", 4).status()), rc::kInvalidParameter);
}

TEST_F(TopicConfigManagerTest, RetryAndDlqTopicsAreCreatedWithOneQueue) {
  auto m = open(false);
  auto retry = m->resolve_for_send(retry_topic("cg"), "TBW102", 4);
  ASSERT_TRUE(retry.is_ok()) << retry.status().to_string();
  EXPECT_EQ(retry->write_queue_nums, 1);
  EXPECT_EQ(retry->perm, perm::kReadWrite);
  auto dlq = m->ensure_system_style_topic(dlq_topic("cg"), 1, perm::kReadWrite);
  ASSERT_TRUE(dlq.is_ok());
  EXPECT_EQ(dlq->topic_name, "%DLQ%cg");
  EXPECT_EQ(dlq->read_queue_nums, 1);
  // An existing topic is returned as it is.
  auto again = m->ensure_system_style_topic(dlq_topic("cg"), 3, perm::kRead);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->read_queue_nums, 1);
  EXPECT_EQ(open(false)->find("%DLQ%cg")->perm, perm::kReadWrite);
}

TEST_F(TopicConfigManagerTest, UpdateRemoveRoundTripAcrossReopen) {
  auto m = open();
  TopicConfig c;
  c.topic_name = "Orders";
  c.read_queue_nums = 3;
  c.write_queue_nums = 5;
  c.perm = 4;
  c.topic_filter_type = "MULTI_TAG";
  c.topic_sys_flag = 2;
  c.order = true;
  ASSERT_TRUE(m->update(c).is_ok());
  TopicConfig gone = c;
  gone.topic_name = "Gone";
  ASSERT_TRUE(m->update(gone).is_ok());
  ASSERT_TRUE(m->remove("Gone").is_ok());
  EXPECT_EQ(m->remove("Gone").code(), StatusCode::kNotFound);
  const DataVersion version = m->data_version();
  m.reset();
  env_.crash(CrashMode::kDropUnsynced);
  auto r = open();
  ASSERT_TRUE(r->find("Orders").has_value());
  EXPECT_EQ(*r->find("Orders"), c);
  EXPECT_FALSE(r->find("Gone").has_value());
  EXPECT_EQ(r->data_version(), version);
}

TEST_F(TopicConfigManagerTest, ParsesRocketMQTopicsJson) {
  // The layout a Java broker writes (tab-indented fastjson, 5.x extra fields).
  write(kPath,
        "{\n\t\"dataVersion\":{\n\t\t\"counter\":7,\n\t\t\"stateVersion\":0,\n\t\t\"timestamp\":1700000000123\n\t},\n"
        "\t\"topicConfigTable\":{\n"
        "\t\t\"TopicTest\":{\n\t\t\t\"attributes\":{},\n\t\t\t\"order\":false,\n\t\t\t\"perm\":6,\n"
        "\t\t\t\"readQueueNums\":4,\n\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n\t\t\t\"topicName\":\"TopicTest\",\n"
        "\t\t\t\"topicSysFlag\":0,\n\t\t\t\"writeQueueNums\":4\n\t\t},\n"
        "\t\t\"TBW102\":{\n\t\t\t\"order\":false,\n\t\t\t\"perm\":7,\n\t\t\t\"readQueueNums\":8,\n"
        "\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n\t\t\t\"topicName\":\"TBW102\",\n\t\t\t\"topicSysFlag\":0,\n"
        "\t\t\t\"writeQueueNums\":8\n\t\t},\n"
        "\t\t\"%RETRY%please_rename_unique_group_name_4\":{\n\t\t\t\"order\":false,\n\t\t\t\"perm\":6,\n"
        "\t\t\t\"readQueueNums\":1,\n\t\t\t\"topicFilterType\":\"MULTI_TAG\",\n"
        "\t\t\t\"topicName\":\"%RETRY%please_rename_unique_group_name_4\",\n\t\t\t\"topicSysFlag\":0,\n"
        "\t\t\t\"writeQueueNums\":1\n\t\t}\n\t}\n}");
  auto m = open();
  auto t = m->find("TopicTest");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->read_queue_nums, 4);
  EXPECT_EQ(t->perm, 6);
  EXPECT_EQ(m->find("%RETRY%please_rename_unique_group_name_4")->topic_filter_type, "MULTI_TAG");
  EXPECT_EQ(m->data_version().counter, 7);
  EXPECT_EQ(m->data_version().timestamp, 1700000000123);
  EXPECT_TRUE(m->find("SCHEDULE_TOPIC_XXXX").has_value());  // system topics added after loading
}

// A torn main file falls back to .bak; the next change must not copy the torn file over that good
// .bak (a crash during the change would otherwise leave no usable copy).
TEST_F(TopicConfigManagerTest, FallsBackToBakWhenMainIsCorruptAndKeepsTheGoodBak) {
  auto m = open();
  TopicConfig a;
  a.topic_name = "First";
  ASSERT_TRUE(m->update(a).is_ok());
  TopicConfig b;
  b.topic_name = "Second";
  ASSERT_TRUE(m->update(b).is_ok());  // .bak now holds the table with First only
  m.reset();
  write(kPath, "{\"topicConfigTable\":{\"First\":");  // torn main file
  auto r = open();
  EXPECT_TRUE(r->find("First").has_value());
  EXPECT_FALSE(r->find("Second").has_value());
  TopicConfig c;
  c.topic_name = "Third";
  ASSERT_TRUE(r->update(c).is_ok());
  r.reset();
  // The main file is lost: the .bak must be a table (First), never the torn text.
  write(kPath, "garbage");
  auto again = open();
  EXPECT_TRUE(again->find("First").has_value());
}

TEST_F(TopicConfigManagerTest, CorruptMainWithoutBakFailsLoad) {
  write(kPath, "{\"topicConfigTable\":{\"T\":{\"perm\":\"rw\"}}}");
  TopicConfigManager m(&env_, options());
  Status st = m.load();
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("perm"), std::string::npos) << st.message();
}

TEST_F(TopicConfigManagerTest, IllegalNamesAndValuesRejected) {
  auto m = open();
  auto with = [](std::string name) {
    TopicConfig c;
    c.topic_name = std::move(name);
    return c;
  };
  EXPECT_EQ(m->update(with("")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m->update(with("a b")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m->update(with("a/b")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(m->update(with(std::string(128, 'x'))).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(m->update(with(std::string(127, 'x'))).is_ok());
  EXPECT_TRUE(m->update(with("%RETRY%" + std::string(248, 'g'))).is_ok());  // 255
  EXPECT_EQ(m->update(with("%DLQ%" + std::string(251, 'g'))).code(), StatusCode::kInvalidArgument);  // 256
  TopicConfig bad = with("T");
  bad.perm = 8;
  EXPECT_EQ(m->update(bad).code(), StatusCode::kInvalidArgument);
  bad.perm = 6;
  bad.write_queue_nums = 0;
  EXPECT_EQ(m->update(bad).code(), StatusCode::kInvalidArgument);
  bad.write_queue_nums = 1025;
  EXPECT_EQ(m->update(bad).code(), StatusCode::kInvalidArgument);
  bad.write_queue_nums = 1;
  bad.topic_filter_type = "ANY";
  EXPECT_EQ(m->update(bad).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(m->find("T").has_value());
}

TEST_F(TopicConfigManagerTest, FailedPersistLeavesTableAndVersionUnchanged) {
  auto m = open();
  int changes = 0;
  m->set_change_listener([&] { ++changes; });
  const DataVersion before = m->data_version();
  env_.fail_next_sync();
  TopicConfig c;
  c.topic_name = "Orders";
  EXPECT_FALSE(m->update(c).is_ok());
  EXPECT_FALSE(m->find("Orders").has_value());
  EXPECT_EQ(m->data_version(), before);
  EXPECT_EQ(changes, 0);
  env_.fail_next_sync();
  auto r = m->resolve_for_send("Orders", "TBW102", 4);
  EXPECT_EQ(send_error_code(r.status()), rc::kSystemError);
  EXPECT_FALSE(m->find("Orders").has_value());
}

TEST_F(TopicConfigManagerTest, RegisterBodyIsReadByTheNameServer) {
  auto m = open();
  TopicConfig c;
  c.topic_name = "Orders";
  c.read_queue_nums = 2;
  c.write_queue_nums = 3;
  c.topic_filter_type = "MULTI_TAG";
  c.order = true;
  ASSERT_TRUE(m->update(c).is_ok());
  auto body = namesrv::decode_register_body(m->encode_register_body());
  ASSERT_TRUE(body.is_ok()) << body.status().to_string();
  EXPECT_EQ(body->topic_configs.size(), m->all().size());
  EXPECT_EQ(body->data_version.counter, m->data_version().counter);
  EXPECT_EQ(body->data_version.timestamp, m->data_version().timestamp);
  bool found = false;
  for (const auto& t : body->topic_configs) {
    if (t.topic_name != "Orders") continue;
    found = true;
    EXPECT_EQ(t.read_queue_nums, 2);
    EXPECT_EQ(t.write_queue_nums, 3);
    EXPECT_EQ(t.perm, 6);
    EXPECT_TRUE(t.order);
  }
  EXPECT_TRUE(found);
  // The wrapper is compact JSON with fastjson's alphabetical keys.
  const std::string wrapper = m->encode_wrapper_json();
  EXPECT_EQ(wrapper.rfind("{\"dataVersion\":{\"counter\":", 0), 0u) << wrapper.substr(0, 80);
  EXPECT_NE(wrapper.find("\"Orders\":{\"order\":true,\"perm\":6,\"readQueueNums\":2,\"topicFilterType\":\"MULTI_TAG\","
                         "\"topicName\":\"Orders\",\"topicSysFlag\":0,\"writeQueueNums\":3}"),
            std::string::npos);
}

}  // namespace
}  // namespace holdfast::broker
