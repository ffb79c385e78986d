// AdminProcessor over a real loopback server against a real store: topic and group management,
// auto-creation through the send path, query by key and UNIQ_KEY, view by offset id, topic
// stats, runtime info, and readable errors for bad requests.
#include "broker/admin_processor.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "broker_test_support.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/store_test_util.h"
#include "transport/remoting_client.h"

namespace holdfast::broker {
namespace {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using nlohmann::json;
using remoting::RemotingCommand;

class AdminProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_admin_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto opts = testing_util::small_options(dir_);
    opts.commit_log_segment_size = 1 << 20;
    auto s = MessageStore::open(Env::posix(), opts);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();

    TopicConfigManager::Options topic_opts;
    topic_opts.path = dir_ + "/config/topics.json";
    topic_opts.cluster_name = "DefaultCluster";
    topic_opts.broker_name = "broker-a";
    topics_ = std::make_unique<TopicConfigManager>(Env::posix(), topic_opts);
    ASSERT_TRUE(topics_->load().is_ok());
    topics_->set_change_listener([this] { ++topic_changes_; });
    groups_ = std::make_unique<SubscriptionGroupManager>(
        Env::posix(), SubscriptionGroupManager::Options{dir_ + "/config/subscriptionGroup.json", true});
    ASSERT_TRUE(groups_->load().is_ok());

    AdminProcessorOptions admin;
    admin.store = store_.get();
    admin.topics = topics_.get();
    admin.groups = groups_.get();
    admin.broker_name = "broker-a";
    admin.cluster_name = "DefaultCluster";
    admin.broker_address = "127.0.0.1:10911";
    admin.on_topic_deleted = [this](const std::string& t) {
      deleted_.push_back(t);
      return store_->delete_topic(t);
    };
    admin.extra_runtime_info = [] { return std::map<std::string, std::string>{{"msgPutTotalTodayNow", "42"}}; };
    admin_ = std::make_unique<AdminProcessor>(admin);
    admin_->register_to(server_);
    send_ = std::make_unique<SendMessageProcessor>(store_.get(), HostAddress::ipv4(127, 0, 0, 1, 10911),
                                                   make_topic_resolver(topics_.get()));
    server_.register_handler(req::kSendMessageV2, [this](const transport::ConnectionPtr& c, RemotingCommand r,
                                                         remoting::SerializeType t) { send_->handle(c, std::move(r), t); });
    ASSERT_TRUE(server_.start().is_ok());
    addr_ = "127.0.0.1:" + std::to_string(server_.port());
  }
  void TearDown() override {
    server_.stop();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  RemotingCommand call(RemotingCommand request) {
    auto resp = client_.invoke_sync(addr_, std::move(request), 5000);
    EXPECT_TRUE(resp.is_ok()) << resp.status().to_string();
    if (!resp.is_ok()) return RemotingCommand{.code = -1};
    return std::move(resp).value();
  }
  RemotingCommand create_topic(const std::string& topic, int read, int write, int perm) {
    RemotingCommand r = RemotingCommand::make_request(req::kUpdateAndCreateTopic);
    r.set_ext("topic", topic);
    r.set_ext("defaultTopic", "TBW102");
    r.set_ext_int("readQueueNums", read);
    r.set_ext_int("writeQueueNums", write);
    r.set_ext_int("perm", perm);
    r.set_ext("topicFilterType", "SINGLE_TAG");
    r.set_ext_int("topicSysFlag", 0);
    r.set_ext_bool("order", false);
    return r;
  }
  json all_topics() {
    RemotingCommand resp = call(RemotingCommand::make_request(req::kGetAllTopicConfig));
    EXPECT_EQ(resp.code, rc::kSuccess);
    return json::parse(resp.body);
  }
  PutResult put(const std::string& topic, int queue, const std::string& body, const std::string& keys,
                const std::string& uniq_key = "") {
    MessageToStore m = testing_util::make_message(topic, queue, body, keys);
    if (!uniq_key.empty()) append_property(&m.properties, "UNIQ_KEY", uniq_key);
    PutResult r = store_->put(m);
    EXPECT_EQ(r.status, PutStatus::kOk) << r.remark;
    return r;
  }
  RemotingCommand query(const std::string& topic, const std::string& key, bool unique) {
    RemotingCommand r = RemotingCommand::make_request(req::kQueryMessage);
    r.set_ext("topic", topic);
    r.set_ext("key", key);
    r.set_ext_int("maxNum", 32);
    r.set_ext_int("beginTimestamp", 0);
    r.set_ext_int("endTimestamp", INT64_MAX);
    if (unique) r.set_ext("_UNIQUE_KEY_QUERY", "true");
    return call(std::move(r));
  }
  std::vector<RecordView> records(const std::string& body) {
    bool ok = false;
    std::vector<RecordView> out = test_support::decode_records(body, &ok);
    EXPECT_TRUE(ok) << "a returned record does not decode";
    return out;
  }

  std::string dir_;
  std::unique_ptr<MessageStore> store_;
  std::unique_ptr<TopicConfigManager> topics_;
  std::unique_ptr<SubscriptionGroupManager> groups_;
  std::unique_ptr<AdminProcessor> admin_;
  std::unique_ptr<SendMessageProcessor> send_;
  transport::RemotingServer server_{transport::ServerOptions{}};
  transport::RemotingClient client_;
  std::string addr_;
  int topic_changes_ = 0;
  std::vector<std::string> deleted_;
};

TEST_F(AdminProcessorTest, CreateTopicThenGetAllTopicConfigShowsIt) {
  RemotingCommand resp = call(create_topic("Orders", 3, 5, 6));
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  EXPECT_EQ(topic_changes_, 1);
  json all = all_topics();
  ASSERT_TRUE(all["topicConfigTable"].contains("Orders")) << all.dump();
  const json& t = all["topicConfigTable"]["Orders"];
  EXPECT_EQ(t["readQueueNums"], 3);
  EXPECT_EQ(t["writeQueueNums"], 5);
  EXPECT_EQ(t["perm"], 6);
  EXPECT_EQ(t["topicFilterType"], "SINGLE_TAG");
  EXPECT_EQ(all["dataVersion"]["counter"], topics_->data_version().counter);
  EXPECT_TRUE(all["topicConfigTable"].contains("SCHEDULE_TOPIC_XXXX"));
  // Updating changes the existing entry.
  ASSERT_EQ(call(create_topic("Orders", 8, 8, 4)).code, rc::kSuccess);
  EXPECT_EQ(all_topics()["topicConfigTable"]["Orders"]["perm"], 4);
}

TEST_F(AdminProcessorTest, CreateTopicRejectsBadHeadersWithReadableRemark) {
  RemotingCommand missing = create_topic("Orders", 3, 3, 6);
  missing.ext_fields.erase("readQueueNums");
  RemotingCommand resp = call(missing);
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find("readQueueNums"), std::string::npos) << resp.remark.value_or("");

  RemotingCommand not_int = create_topic("Orders", 3, 3, 6);
  not_int.set_ext("perm", "rw");
  resp = call(not_int);
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find("perm"), std::string::npos);

  resp = call(create_topic("Orders", 3, 3, 9));
  EXPECT_EQ(resp.code, rc::kInvalidParameter);
  EXPECT_NE(resp.remark.value_or("").find("perm 9"), std::string::npos) << resp.remark.value_or("");

  resp = call(create_topic("Orders", 3, 0, 6));
  EXPECT_EQ(resp.code, rc::kInvalidParameter);
  EXPECT_NE(resp.remark.value_or("").find("writeQueueNums"), std::string::npos);

  resp = call(create_topic("Orders", 2000, 3, 6));
  EXPECT_EQ(resp.code, rc::kInvalidParameter);

  resp = call(create_topic("bad/topic", 3, 3, 6));
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find("illegal topic name"), std::string::npos);

  resp = call(create_topic("DefaultCluster", 3, 3, 6));
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find("reserved"), std::string::npos);

  EXPECT_FALSE(topics_->find("Orders").has_value());
  EXPECT_EQ(topic_changes_, 0);
}

TEST_F(AdminProcessorTest, DeleteTopicRemovesConfigAndQueues) {
  ASSERT_EQ(call(create_topic("Orders", 2, 2, 6)).code, rc::kSuccess);
  put("Orders", 1, "stored before the delete", "");
  RemotingCommand del = RemotingCommand::make_request(req::kDeleteTopicInBroker);
  del.set_ext("topic", "Orders");
  RemotingCommand resp = call(del);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  EXPECT_FALSE(all_topics()["topicConfigTable"].contains("Orders"));
  EXPECT_EQ(store_->get_messages("Orders", 1, 0, 10).status, GetStatus::kNoMatchedLogicQueue);
  EXPECT_EQ(store_->max_offset_in_queue("Orders", 1), 0);
  EXPECT_EQ(deleted_, std::vector<std::string>{"Orders"});
  EXPECT_EQ(topic_changes_, 2);
  // Unknown topics delete successfully (and change nothing); system topics are refused.
  EXPECT_EQ(call(del).code, rc::kSuccess);
  EXPECT_EQ(topic_changes_, 2);
  RemotingCommand sys = RemotingCommand::make_request(req::kDeleteTopicInBroker);
  sys.set_ext("topic", "TBW102");
  resp = call(sys);
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_TRUE(topics_->find("TBW102").has_value());
  // Survives a restart of the manager.
  TopicConfigManager reopened(Env::posix(), topics_->options());
  ASSERT_TRUE(reopened.load().is_ok());
  EXPECT_FALSE(reopened.find("Orders").has_value());
}

TEST_F(AdminProcessorTest, SendToUnknownTopicAutoCreatesThroughResolver) {
  // Queue -1: the broker picks one.
  RemotingCommand r = test_support::send_v2("AutoTopic", -1, "hello", "", "", "");
  RemotingCommand resp = call(r);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  const json all = all_topics();
  ASSERT_TRUE(all["topicConfigTable"].contains("AutoTopic")) << all.dump();
  const json& t = all["topicConfigTable"]["AutoTopic"];
  EXPECT_EQ(t["writeQueueNums"], 4);
  EXPECT_EQ(t["readQueueNums"], 4);
  EXPECT_EQ(t["perm"], 6);
  EXPECT_EQ(topic_changes_, 1);
}

TEST_F(AdminProcessorTest, QueryByKeyAndByUniqKey) {
  put("Orders", 0, "one", "k1 shared", "7F0000010000000000000000000000A1");
  put("Orders", 1, "two", "k2 shared", "7F0000010000000000000000000000A2");
  put("Other", 0, "three", "k1");
  store_->wait_dispatched(store_->confirmed_offset());

  RemotingCommand resp = query("Orders", "k1", false);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  auto recs = records(resp.body);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].body, "one");
  EXPECT_EQ(recs[0].topic, "Orders");
  EXPECT_EQ(resp.ext("indexLastUpdateTimestamp").value_or(""), std::to_string(recs[0].store_timestamp));
  EXPECT_EQ(resp.ext("indexLastUpdatePhyoffset").value_or(""), std::to_string(store_->dispatched_offset()));

  resp = query("Orders", "shared", false);
  ASSERT_EQ(resp.code, rc::kSuccess);
  EXPECT_EQ(records(resp.body).size(), 2u);

  resp = query("Orders", "7F0000010000000000000000000000A2", true);
  ASSERT_EQ(resp.code, rc::kSuccess);
  recs = records(resp.body);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].body, "two");

  resp = query("Orders", "nope", false);
  EXPECT_EQ(resp.code, rc::kQueryNotFound);
  EXPECT_TRUE(resp.body.empty());

  RemotingCommand bad = RemotingCommand::make_request(req::kQueryMessage);
  bad.set_ext("topic", "Orders");
  bad.set_ext("key", "k1");
  resp = call(bad);
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find("maxNum"), std::string::npos) << resp.remark.value_or("");
}

TEST_F(AdminProcessorTest, ViewMessageByIdReturnsByteIdenticalRecord) {
  put("Orders", 0, "first", "a");
  PutResult second = put("Orders", 0, "second", "b");
  HostAddress host;
  int64_t offset = -1;
  ASSERT_TRUE(decode_offset_message_id(second.msg_id, &host, &offset));
  EXPECT_EQ(offset, second.physical_offset);

  RemotingCommand r = RemotingCommand::make_request(req::kViewMessageById);
  r.set_ext_int("offset", offset);
  RemotingCommand resp = call(r);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  auto stored = store_->read_record(offset);
  ASSERT_TRUE(stored.is_ok());
  EXPECT_EQ(resp.body, *stored);
  store_->wait_dispatched(store_->confirmed_offset());
  GetResult pulled = store_->get_messages("Orders", 0, 1, 1);
  ASSERT_EQ(pulled.records.size(), 1u);
  EXPECT_EQ(resp.body, pulled.records[0]);
  EXPECT_EQ(records(resp.body).at(0).body, "second");

  RemotingCommand missing = RemotingCommand::make_request(req::kViewMessageById);
  missing.set_ext_int("offset", 1 << 30);
  resp = call(missing);
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find(std::to_string(1 << 30)), std::string::npos);

  RemotingCommand garbled = RemotingCommand::make_request(req::kViewMessageById);
  garbled.set_ext("offset", "12ab");
  resp = call(garbled);
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find("offset"), std::string::npos) << resp.remark.value_or("");
}

TEST_F(AdminProcessorTest, TopicStatsUseMessageQueueKeys) {
  ASSERT_EQ(call(create_topic("Stats", 2, 2, 6)).code, rc::kSuccess);
  put("Stats", 0, "a", "");
  put("Stats", 0, "b", "");
  PutResult last = put("Stats", 0, "c", "");
  store_->wait_dispatched(store_->confirmed_offset());

  RemotingCommand r = RemotingCommand::make_request(req::kGetTopicStatsInfo);
  r.set_ext("topic", "Stats");
  RemotingCommand resp = call(r);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  EXPECT_EQ(resp.body,
            "{\"offsetTable\":{"
            "{\"brokerName\":\"broker-a\",\"queueId\":0,\"topic\":\"Stats\"}:{\"lastUpdateTimestamp\":" +
                std::to_string(last.store_timestamp) +
                ",\"maxOffset\":3,\"minOffset\":0},"
                "{\"brokerName\":\"broker-a\",\"queueId\":1,\"topic\":\"Stats\"}:{\"lastUpdateTimestamp\":0,"
                "\"maxOffset\":0,\"minOffset\":0}}}");
  EXPECT_GT(last.store_timestamp, 0);

  RemotingCommand unknown = RemotingCommand::make_request(req::kGetTopicStatsInfo);
  unknown.set_ext("topic", "Nope");
  resp = call(unknown);
  EXPECT_EQ(resp.code, rc::kTopicNotExist);
  EXPECT_NE(resp.remark.value_or("").find("Nope"), std::string::npos);
}

TEST_F(AdminProcessorTest, RuntimeInfoParsesAsJsonKvTable) {
  put("Orders", 0, "x", "");
  RemotingCommand resp = call(RemotingCommand::make_request(req::kGetBrokerRuntimeInfo));
  ASSERT_EQ(resp.code, rc::kSuccess);
  json doc = json::parse(resp.body);
  const json& table = doc.at("table");
  for (const char* key : {"brokerVersionDesc", "brokerVersion", "bootTimestamp", "runtime", "commitLogMinOffset",
                          "commitLogMaxOffset", "commitLogDiskRatio", "dispatchBehindBytes"}) {
    ASSERT_TRUE(table.contains(key)) << key;
    EXPECT_TRUE(table[key].is_string()) << key;
  }
  EXPECT_EQ(table["brokerVersionDesc"], "V4_9_8");
  EXPECT_EQ(table["commitLogMaxOffset"], std::to_string(store_->written_offset()));
  EXPECT_GT(std::stoll(table["commitLogMaxOffset"].get<std::string>()), 0);
  const double ratio = std::stod(table["commitLogDiskRatio"].get<std::string>());
  EXPECT_GE(ratio, 0.0);
  EXPECT_LE(ratio, 1.0);
  EXPECT_EQ(table["msgPutTotalTodayNow"], "42");  // from the broker's provider
}

TEST_F(AdminProcessorTest, SubscriptionGroupUpdateAndGetAll) {
  RemotingCommand r = RemotingCommand::make_request(req::kUpdateAndCreateSubscriptionGroup);
  r.body = R"({"groupName":"cg","consumeEnable":true,"consumeFromMinEnable":false,"consumeBroadcastEnable":true,)"
           R"("retryQueueNums":1,"retryMaxTimes":5,"brokerId":0,"whichBrokerWhenConsumeSlowly":1,)"
           R"("notifyConsumerIdsChangedEnable":true,"groupSysFlag":0})";
  RemotingCommand resp = call(r);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  ASSERT_TRUE(groups_->find("cg").has_value());
  EXPECT_EQ(groups_->find("cg")->retry_max_times, 5);
  EXPECT_FALSE(groups_->find("cg")->consume_from_min_enable);

  resp = call(RemotingCommand::make_request(req::kGetAllSubscriptionGroupConfig));
  ASSERT_EQ(resp.code, rc::kSuccess);
  json all = json::parse(resp.body);
  EXPECT_EQ(all["subscriptionGroupTable"]["cg"]["retryMaxTimes"], 5);
  EXPECT_TRUE(all.contains("dataVersion"));

  RemotingCommand bad = RemotingCommand::make_request(req::kUpdateAndCreateSubscriptionGroup);
  bad.body = "{\"groupName\":";
  resp = call(bad);
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find("malformed"), std::string::npos) << resp.remark.value_or("");
  bad.body = R"({"groupName":"bad name"})";
  resp = call(bad);
  EXPECT_EQ(resp.code, rc::kInvalidParameter);
  EXPECT_NE(resp.remark.value_or("").find("bad name"), std::string::npos);
}

}  // namespace
}  // namespace holdfast::broker
