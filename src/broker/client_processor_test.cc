// ClientProcessor over a real loopback connection against a real store (on FaultEnv, whose fake
// clock lets retention run): heartbeats from Java and Node.js bodies, consumer lists and change
// notifications, every offset code, consume stats, and CONSUMER_SEND_MSG_BACK into the retry and
// dead-letter topics.
#include "broker/client_processor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "broker/broker_json.h"
#include "env/fault_env.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/store_test_util.h"
#include "transport/remoting_client.h"

namespace holdfast::broker {
namespace {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

constexpr char kJavaHeartbeat[] = R"({"clientID":"10.0.0.1@12345","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000123,"tagsSet":[],"topic":"TopicA"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000124,"tagsSet":[],"topic":"%RETRY%cg"}],"unitMode":false}],"producerDataSet":[{"groupName":"pg"}]})";
constexpr char kAliOnsHeartbeat[] = R"({"clientID":"10.0.0.2@7788","consumerDataSet":[{"groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"TopicA","subString":"*","classFilterMode":false,"tagsSet":[],"codeSet":[],"subVersion":1700000000999}],"unitMode":false}],"producerDataSet":[]})";

// Waits (bounded) for a condition that another thread makes true.
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class ClientProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opts = testing_util::small_options("/store");
    opts.delete_when = "00;01;02;03;04;05;06;07;08;09;10;11;12;13;14;15;16;17;18;19;20;21;22;23";
    auto s = MessageStore::open(&env_, opts);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
    offsets_ = std::make_unique<ConsumerOffsetManager>(&env_, "/store/config/consumerOffset.json");
    clients_ = std::make_unique<ClientManager>();

    ClientProcessorOptions o;
    o.broker_name = "broker-a";
    o.store_host = HostAddress::ipv4(127, 0, 0, 1, 10911);
    o.ensure_group = [this](const std::string& g) {
      std::lock_guard<std::mutex> lock(mu_);
      ensured_groups_.push_back(g);
      return g != "ghost";
    };
    o.ensure_retry_topic = [this](const std::string& g) -> Result<int32_t> {
      std::lock_guard<std::mutex> lock(mu_);
      retry_topics_.push_back("%RETRY%" + g);
      return retry_queues_;
    };
    o.ensure_dlq_topic = [this](const std::string& g) {
      std::lock_guard<std::mutex> lock(mu_);
      dlq_topics_.push_back("%DLQ%" + g);
      return Status::ok();
    };
    o.retry_max_times = [this](const std::string& g) {
      std::lock_guard<std::mutex> lock(mu_);
      return strict_groups_.count(g) ? 2 : 16;
    };
    processor_ = std::make_unique<ClientProcessor>(store_.get(), offsets_.get(), clients_.get(), o);
    processor_->register_to(server_);
    server_.set_close_listener([this](const transport::ConnectionPtr& c) { clients_->on_connection_closed(c); });
    ASSERT_TRUE(server_.start().is_ok());
    addr_ = "127.0.0.1:" + std::to_string(server_.port());
  }
  void TearDown() override {
    client_.shutdown();
    server_.stop();
    processor_.reset();
    store_.reset();
  }

  // A response header field as an owned string (a string_view into a temporary response would
  // dangle once the response is destroyed).
  static std::string field(const RemotingCommand& r, std::string_view key) {
    return std::string(r.ext(key).value_or(""));
  }
  RemotingCommand call(RemotingCommand request, transport::RemotingClient* client = nullptr) {
    auto resp = (client ? client : &client_)->invoke_sync(addr_, std::move(request), 5000);
    EXPECT_TRUE(resp.is_ok()) << resp.status().to_string();
    return resp.is_ok() ? *resp : RemotingCommand{};
  }
  RemotingCommand heartbeat(const std::string& body, remoting::LanguageCode language = remoting::LanguageCode::kJava,
                            transport::RemotingClient* client = nullptr) {
    RemotingCommand r = RemotingCommand::make_request(req::kHeartBeat);
    r.language = language;
    r.body = body;
    return call(std::move(r), client);
  }
  RemotingCommand consumer_list(const std::string& group) {
    RemotingCommand r = RemotingCommand::make_request(req::kGetConsumerListByGroup);
    r.set_ext("consumerGroup", group);
    return call(std::move(r));
  }
  RemotingCommand queue_request(int32_t code, const std::string& topic, int32_t queue_id) {
    RemotingCommand r = RemotingCommand::make_request(code);
    r.set_ext("topic", topic);
    r.set_ext_int("queueId", queue_id);
    return r;
  }
  RemotingCommand offset_request(int32_t code, const std::string& group, const std::string& topic, int32_t queue_id) {
    RemotingCommand r = queue_request(code, topic, queue_id);
    r.set_ext("consumerGroup", group);
    return r;
  }
  RemotingCommand send_back_request(int64_t offset, const std::string& group, int32_t delay_level) {
    RemotingCommand r = RemotingCommand::make_request(req::kConsumerSendMsgBack);
    r.set_ext_int("offset", offset);
    r.set_ext("group", group);
    r.set_ext_int("delayLevel", delay_level);
    r.set_ext("unitMode", "false");
    return r;
  }
  PutResult put(MessageToStore m) {
    PutResult r = store_->put(std::move(m));
    EXPECT_EQ(r.status, PutStatus::kOk) << r.remark;
    // A WAIT=false put answers before its bytes are confirmed; readers (send-back included) see
    // a record only once it is. Wait for that, bounded.
    for (int i = 0; i < 5000 && store_->confirmed_offset() <= r.physical_offset; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return r;
  }
  void settle() { store_->wait_dispatched(store_->confirmed_offset()); }
  std::vector<std::string> records(const std::string& topic, int32_t queue_id) {
    settle();
    return store_->get_messages(topic, queue_id, 0, 32).records;
  }
  // Send-back copies wait in the schedule topic, queue level - 1, until they are due.
  std::vector<std::string> parked(int32_t level) { return records(std::string(kScheduleTopicName), level - 1); }
  // The original of the send-back tests: every header field set to something recognisable.
  MessageToStore original(const std::string& props_extra = "", int32_t reconsume_times = 0) {
    MessageToStore m = testing_util::make_message("TopicA", 2, std::string("body\0with\xffnul", 14), "key-1", "TagA");
    append_property(&m.properties, "UNIQ_KEY", "0A0000010000ABCD0000000000000001");
    append_property(&m.properties, "WAIT", "true");
    m.properties += props_extra;
    m.flag = 7;
    m.born_timestamp = 1700000000042;
    m.born_host = HostAddress::ipv4(10, 1, 2, 3, 45678);
    m.reconsume_times = reconsume_times;
    return m;
  }

  FaultEnv env_;
  std::unique_ptr<MessageStore> store_;
  std::unique_ptr<ConsumerOffsetManager> offsets_;
  std::unique_ptr<ClientManager> clients_;
  std::unique_ptr<ClientProcessor> processor_;
  transport::RemotingServer server_{transport::ServerOptions{}};
  transport::RemotingClient client_;
  std::string addr_;

  std::mutex mu_;
  std::vector<std::string> ensured_groups_, retry_topics_, dlq_topics_;
  int32_t retry_queues_ = 1;
  std::set<std::string> strict_groups_;
};

TEST_F(ClientProcessorTest, JavaHeartbeatRegistersGroupsAndCreatesRetryTopic) {
  RemotingCommand resp = heartbeat(kJavaHeartbeat);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(ensured_groups_, std::vector<std::string>{"cg"});
    EXPECT_EQ(retry_topics_, std::vector<std::string>{"%RETRY%cg"});
  }
  RemotingCommand list = consumer_list("cg");
  ASSERT_EQ(list.code, rc::kSuccess);
  EXPECT_EQ(list.body, R"({"consumerIdList":["10.0.0.1@12345"]})");
  ASSERT_EQ(clients_->producers("pg").size(), 1u);
  EXPECT_EQ(clients_->producers("pg")[0].client_id, "10.0.0.1@12345");
  EXPECT_EQ(clients_->groups_subscribing("TopicA"), std::set<std::string>{"cg"});
}

// mqadmin consumerConnection / topic-consumer views: the group's connections and subscriptions,
// CONSUMER_NOT_ONLINE for a group without connections, and who consumes a topic.
TEST_F(ClientProcessorTest, ConsumerConnectionListAndTopicConsumedBy) {
  ASSERT_EQ(heartbeat(kJavaHeartbeat).code, rc::kSuccess);
  RemotingCommand req_conn = RemotingCommand::make_request(req::kGetConsumerConnectionList);
  req_conn.set_ext("consumerGroup", "cg");
  RemotingCommand conn = call(std::move(req_conn));
  ASSERT_EQ(conn.code, rc::kSuccess) << conn.remark.value_or("");
  auto body = nlohmann::json::parse(conn.body);
  ASSERT_EQ(body["connectionSet"].size(), 1u);
  EXPECT_EQ(body["connectionSet"][0]["clientId"], "10.0.0.1@12345");
  EXPECT_EQ(body["connectionSet"][0]["language"], "JAVA");
  EXPECT_NE(body["connectionSet"][0]["clientAddr"].get<std::string>().find("127.0.0.1:"), std::string::npos);
  EXPECT_EQ(body["consumeType"], "CONSUME_PASSIVELY");
  EXPECT_EQ(body["messageModel"], "CLUSTERING");
  EXPECT_EQ(body["consumeFromWhere"], "CONSUME_FROM_LAST_OFFSET");
  EXPECT_EQ(body["subscriptionTable"]["TopicA"]["subString"], "*");
  EXPECT_EQ(body["subscriptionTable"]["TopicA"]["subVersion"], 1700000000123LL);
  EXPECT_TRUE(body["subscriptionTable"].contains("%RETRY%cg"));

  RemotingCommand offline = RemotingCommand::make_request(req::kGetConsumerConnectionList);
  offline.set_ext("consumerGroup", "nobody");
  RemotingCommand none = call(std::move(offline));
  EXPECT_EQ(none.code, rc::kConsumerNotOnline);
  EXPECT_NE(none.remark.value_or("").find("nobody"), std::string::npos);

  offsets_->commit("offline_group", "TopicA", 0, 3);  // consumed before, not connected now
  RemotingCommand who = RemotingCommand::make_request(req::kQueryTopicConsumeByWho);
  who.set_ext("topic", "TopicA");
  RemotingCommand groups = call(std::move(who));
  ASSERT_EQ(groups.code, rc::kSuccess) << groups.remark.value_or("");
  EXPECT_EQ(groups.body, R"({"groupList":["cg","offline_group"]})");
}

TEST_F(ClientProcessorTest, AliOnsHeartbeatRegistersConsumer) {
  RemotingCommand resp = heartbeat(kAliOnsHeartbeat, remoting::LanguageCode::kNodeJs);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  RemotingCommand list = consumer_list("cg");
  ASSERT_EQ(list.code, rc::kSuccess);
  EXPECT_EQ(list.body, R"({"consumerIdList":["10.0.0.2@7788"]})");
  auto info = clients_->consumer_group("cg");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->channels.at(0).language, remoting::LanguageCode::kNodeJs);
}

TEST_F(ClientProcessorTest, HeartbeatSkipsGroupsThatDoNotExistAndRejectsBadBodies) {
  std::string body = kJavaHeartbeat;
  body.replace(body.find("\"groupName\":\"cg\""), 16, "\"groupName\":\"ghost\"");
  ASSERT_EQ(heartbeat(body).code, rc::kSuccess);
  RemotingCommand list = consumer_list("ghost");
  EXPECT_EQ(list.code, rc::kSystemError);
  EXPECT_NE(list.remark.value_or("").find("no consumer for this group"), std::string::npos);
  EXPECT_TRUE(retry_topics_.empty());

  RemotingCommand bad = heartbeat("{\"clientID\":");
  EXPECT_EQ(bad.code, rc::kSystemError);
  EXPECT_NE(bad.remark.value_or("").find("heartbeat body"), std::string::npos) << bad.remark.value_or("");
}

TEST_F(ClientProcessorTest, ExistingConsumerIsNotifiedWhenASecondOneJoins) {
  transport::RemotingClient first, second;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> notified;
  first.register_handler(req::kNotifyConsumerIdsChanged,
                         [&](const transport::ConnectionPtr&, RemotingCommand r, remoting::SerializeType) {
                           std::lock_guard<std::mutex> lock(mu);
                           EXPECT_TRUE(r.is_oneway());
                           notified.emplace_back(r.ext("consumerGroup").value_or("<none>"));
                           cv.notify_all();
                         });
  auto wait_for = [&](size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return notified.size() >= n; });
  };
  ASSERT_EQ(heartbeat(kJavaHeartbeat, remoting::LanguageCode::kJava, &first).code, rc::kSuccess);
  ASSERT_TRUE(wait_for(1)) << "its own arrival changes the group too";
  ASSERT_EQ(heartbeat(kAliOnsHeartbeat, remoting::LanguageCode::kNodeJs, &second).code, rc::kSuccess);
  ASSERT_TRUE(wait_for(2)) << "no NOTIFY_CONSUMER_IDS_CHANGED after the second consumer joined";
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(notified, (std::vector<std::string>{"cg", "cg"}));
  }
  RemotingCommand list = consumer_list("cg");
  EXPECT_EQ(list.body, R"({"consumerIdList":["10.0.0.1@12345","10.0.0.2@7788"]})");

  // The second one goes away: its connection closes, it leaves, and the first is told.
  second.close_connection(addr_);
  ASSERT_TRUE(eventually([&] { return clients_->consumer_ids("cg").size() == 1; }));
  EXPECT_EQ(clients_->consumer_ids("cg"), std::vector<std::string>{"10.0.0.1@12345"});
  EXPECT_TRUE(wait_for(3));
  first.shutdown();
}

TEST_F(ClientProcessorTest, UnregisterClientRemovesTheGroupRegistration) {
  ASSERT_EQ(heartbeat(kJavaHeartbeat).code, rc::kSuccess);
  RemotingCommand r = RemotingCommand::make_request(req::kUnregisterClient);
  r.set_ext("clientID", "10.0.0.1@12345");
  r.set_ext("consumerGroup", "cg");
  r.set_ext("producerGroup", "pg");
  ASSERT_EQ(call(std::move(r)).code, rc::kSuccess);
  EXPECT_EQ(consumer_list("cg").code, rc::kSystemError);
  EXPECT_TRUE(clients_->producers("pg").empty());

  RemotingCommand missing = call(RemotingCommand::make_request(req::kUnregisterClient));
  EXPECT_EQ(missing.code, rc::kSystemError);
  EXPECT_NE(missing.remark.value_or("").find("clientID"), std::string::npos);
}

TEST_F(ClientProcessorTest, ConsumerOffsetQueryAndUpdate) {
  // Nothing committed, the queue starts at 0: a new group starts from 0.
  RemotingCommand q = call(offset_request(req::kQueryConsumerOffset, "cg", "TopicA", 0));
  ASSERT_EQ(q.code, rc::kSuccess) << q.remark.value_or("");
  EXPECT_EQ(q.ext("offset").value_or(""), "0");
  // 5.x clients may ask for QUERY_NOT_FOUND instead.
  RemotingCommand strict = offset_request(req::kQueryConsumerOffset, "cg", "TopicA", 0);
  strict.set_ext("setZeroIfNotFound", "false");
  EXPECT_EQ(call(std::move(strict)).code, rc::kQueryNotFound);

  // The Java client commits oneway.
  RemotingCommand update = offset_request(req::kUpdateConsumerOffset, "cg", "TopicA", 0);
  update.set_ext_int("commitOffset", 17);
  ASSERT_TRUE(client_.invoke_oneway(addr_, std::move(update)).is_ok());
  ASSERT_TRUE(eventually([&] { return offsets_->query("cg", "TopicA", 0).has_value(); }));
  RemotingCommand sync_update = offset_request(req::kUpdateConsumerOffset, "cg", "TopicA", 1);
  sync_update.set_ext_int("commitOffset", 5);
  EXPECT_EQ(call(std::move(sync_update)).code, rc::kSuccess);

  RemotingCommand after = call(offset_request(req::kQueryConsumerOffset, "cg", "TopicA", 0));
  ASSERT_EQ(after.code, rc::kSuccess);
  EXPECT_EQ(after.ext("offset").value_or(""), "17");
  EXPECT_EQ(field(call(offset_request(req::kQueryConsumerOffset, "cg", "TopicA", 1)), "offset"), "5");
}

TEST_F(ClientProcessorTest, QueryNotFoundWhenTheQueueHeadWasRemoved) {
  const std::string body(3000, 'r');
  for (int i = 0; i < 200; ++i) put(testing_util::make_message("Old", 0, body));
  settle();
  env_.advance_clock(73LL * 3600 * 1000);  // past fileReservedTime
  ASSERT_TRUE(store_->run_housekeeping_once().is_ok());
  put(testing_util::make_message("Old", 0, body));
  ASSERT_TRUE(eventually([&] { return store_->min_offset_in_queue("Old", 0) > 0; }));
  RemotingCommand q = call(offset_request(req::kQueryConsumerOffset, "cg", "Old", 0));
  EXPECT_EQ(q.code, rc::kQueryNotFound);
  EXPECT_FALSE(q.ext("offset").has_value());
  // A committed offset is still answered.
  offsets_->commit("cg", "Old", 0, 150);
  RemotingCommand known = call(offset_request(req::kQueryConsumerOffset, "cg", "Old", 0));
  EXPECT_EQ(known.code, rc::kSuccess);
  EXPECT_EQ(known.ext("offset").value_or(""), "150");
  RemotingCommand min = call(queue_request(req::kGetMinOffset, "Old", 0));
  EXPECT_EQ(min.ext("offset").value_or(""), std::to_string(store_->min_offset_in_queue("Old", 0)));
}

TEST_F(ClientProcessorTest, QueueOffsetsAndTimes) {
  std::vector<int64_t> times;
  for (int i = 0; i < 3; ++i) {
    env_.advance_clock(1000);
    times.push_back(put(testing_util::make_message("TopicA", 1, "m" + std::to_string(i))).store_timestamp);
  }
  settle();
  EXPECT_EQ(field(call(queue_request(req::kGetMaxOffset, "TopicA", 1)), "offset"), "3");
  EXPECT_EQ(field(call(queue_request(req::kGetMinOffset, "TopicA", 1)), "offset"), "0");
  EXPECT_EQ(field(call(queue_request(req::kGetMaxOffset, "Nope", 0)), "offset"), "0");
  auto search = [&](int64_t ts) {
    RemotingCommand r = queue_request(req::kSearchOffsetByTimestamp, "TopicA", 1);
    r.set_ext_int("timestamp", ts);
    RemotingCommand resp = call(std::move(r));
    EXPECT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
    return field(resp, "offset");
  };
  EXPECT_EQ(search(times[0] - 5000), "0");
  EXPECT_EQ(search(times[1]), "1");
  EXPECT_EQ(search(times[2] + 5000), "3");
  RemotingCommand earliest = call(queue_request(req::kGetEarliestMsgStoretime, "TopicA", 1));
  ASSERT_EQ(earliest.code, rc::kSuccess);
  EXPECT_EQ(earliest.ext("timestamp").value_or(""), std::to_string(times[0]));
  EXPECT_EQ(field(call(queue_request(req::kGetEarliestMsgStoretime, "Nope", 0)), "timestamp"), "-1");
}

TEST_F(ClientProcessorTest, ConsumeStatsInFastjsonLayout) {
  std::vector<int64_t> times;
  for (int i = 0; i < 3; ++i) {
    env_.advance_clock(1000);
    times.push_back(put(testing_util::make_message("TopicA", 0, "m")).store_timestamp);
  }
  put(testing_util::make_message("TopicA", 1, "m"));
  put(testing_util::make_message("Other", 0, "m"));
  settle();
  offsets_->commit("cg", "TopicA", 0, 2);
  const std::string expected =
      "{\"consumeTps\":0.0,\"offsetTable\":{" + message_queue_json("TopicA", "broker-a", 0) +
      ":{\"brokerOffset\":3,\"consumerOffset\":2,\"lastTimestamp\":" + std::to_string(times[1]) +
      ",\"pullOffset\":2}," + message_queue_json("TopicA", "broker-a", 1) +
      ":{\"brokerOffset\":1,\"consumerOffset\":0,\"lastTimestamp\":0,\"pullOffset\":0}}}";
  RemotingCommand all = RemotingCommand::make_request(req::kGetConsumeStats);
  all.set_ext("consumerGroup", "cg");
  RemotingCommand resp = call(std::move(all));
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  EXPECT_EQ(resp.body, expected);
  RemotingCommand one = RemotingCommand::make_request(req::kGetConsumeStats);
  one.set_ext("consumerGroup", "cg");
  one.set_ext("topic", "TopicA");
  EXPECT_EQ(call(std::move(one)).body, expected);
  // Subscribed topics count even before any commit.
  ASSERT_EQ(heartbeat(kJavaHeartbeat).code, rc::kSuccess);
  RemotingCommand subscribed = RemotingCommand::make_request(req::kGetConsumeStats);
  subscribed.set_ext("consumerGroup", "cg");
  EXPECT_EQ(call(std::move(subscribed)).body, expected) << "%RETRY%cg has no queues yet, TopicA is the same";
}

TEST_F(ClientProcessorTest, SendBackParksACopyForTheRetryTopicAtLevelThreePlusReconsumeTimes) {
  MessageToStore m = original();
  const std::string original_props = m.properties;
  PutResult stored = put(m);
  RemotingCommand r = send_back_request(stored.physical_offset, "cg", 0);
  r.set_ext_int("maxReconsumeTimes", 16);
  RemotingCommand resp = call(std::move(r));
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");

  EXPECT_TRUE(records("%RETRY%cg", 0).empty()) << "the copy waits for its delay first";
  auto copies = parked(3);  // delayLevel 0 and reconsumeTimes 0: level 3
  ASSERT_EQ(copies.size(), 1u);
  RecordView copy = testing_util::view_of(copies[0]);
  EXPECT_EQ(copy.body, m.body);
  std::string expected_props = original_props;
  append_property(&expected_props, "RETRY_TOPIC", "TopicA");
  append_property(&expected_props, "ORIGIN_MESSAGE_ID", stored.msg_id);  // the stored copy's offset id
  std::string parked_props = expected_props;
  append_property(&parked_props, "DELAY", "3");
  append_property(&parked_props, "REAL_TOPIC", "%RETRY%cg");
  append_property(&parked_props, "REAL_QID", "0");
  EXPECT_EQ(copy.properties, parked_props);
  EXPECT_EQ(copy.flag, 7);
  EXPECT_EQ(copy.sys_flag, m.sys_flag);
  EXPECT_EQ(copy.born_timestamp, 1700000000042);
  EXPECT_EQ(copy.born_host, HostAddress::ipv4(10, 1, 2, 3, 45678));
  EXPECT_EQ(copy.reconsume_times, 1);
  EXPECT_EQ(copy.topic, kScheduleTopicName);
  // The original is untouched.
  auto still = store_->read_record(stored.physical_offset);
  ASSERT_TRUE(still.is_ok());
  RecordView orig = testing_util::view_of(*still);
  EXPECT_EQ(orig.topic, "TopicA");
  EXPECT_EQ(orig.properties, original_props);
  EXPECT_EQ(records("TopicA", 2).size(), 1u);
  EXPECT_TRUE(dlq_topics_.empty());

  // Sending the copy back again keeps RETRY_TOPIC and ORIGIN_MESSAGE_ID, counts up, and waits
  // one level longer (3 + 1).
  RemotingCommand again = send_back_request(copy.physical_offset, "cg", 0);
  again.set_ext("originMsgId", "IGNORED-WHEN-PRESENT-IN-PROPERTIES");
  ASSERT_EQ(call(std::move(again)).code, rc::kSuccess);
  auto second = parked(4);
  ASSERT_EQ(second.size(), 1u);
  RecordView copy2 = testing_util::view_of(second[0]);
  std::string parked_props2 = expected_props;
  append_property(&parked_props2, "DELAY", "4");
  append_property(&parked_props2, "REAL_TOPIC", "%RETRY%cg");
  append_property(&parked_props2, "REAL_QID", "0");
  EXPECT_EQ(copy2.properties, parked_props2);
  EXPECT_EQ(copy2.reconsume_times, 2);
}

TEST_F(ClientProcessorTest, SendBackUsesTheHeaderLevelAndClampsIt) {
  PutResult stored = put(original("", /*reconsume_times=*/5));
  ASSERT_EQ(call(send_back_request(stored.physical_offset, "cg", 2)).code, rc::kSuccess);
  ASSERT_EQ(parked(2).size(), 1u);
  // 3 + 5 = 8 when the consumer leaves the choice to the broker.
  ASSERT_EQ(call(send_back_request(stored.physical_offset, "cg", 0)).code, rc::kSuccess);
  ASSERT_EQ(parked(8).size(), 1u);
  // Past the last level: the last level.
  ASSERT_EQ(call(send_back_request(stored.physical_offset, "cg", 99)).code, rc::kSuccess);
  auto last = parked(18);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(find_property(testing_util::view_of(last[0]).properties, "DELAY"), "18");
}

TEST_F(ClientProcessorTest, SendBackOriginIdIsTheOffsetIdOfTheFirstStoredCopy) {
  // As RocketMQ 4.9.8: ORIGIN_MESSAGE_ID is the stored message's offset msgId (what the original
  // send returned as offsetMsgId), set only when absent; the header's originMsgId (the client's
  // UNIQ_KEY) does not replace it.
  PutResult stored = put(original());
  RemotingCommand with_header = send_back_request(stored.physical_offset, "cg", 0);
  with_header.set_ext("originMsgId", "0A0000010000ABCD0000000000000001");
  ASSERT_EQ(call(std::move(with_header)).code, rc::kSuccess);
  PutResult carried = put(original(std::string("ORIGIN_MESSAGE_ID\x01" "EARLIER-ID\x02")));
  ASSERT_EQ(call(send_back_request(carried.physical_offset, "cg", 0)).code, rc::kSuccess);
  auto copies = parked(3);
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(find_property(testing_util::view_of(copies[0]).properties, "ORIGIN_MESSAGE_ID"), stored.msg_id);
  EXPECT_EQ(stored.msg_id, offset_message_id(HostAddress::ipv4(127, 0, 0, 1, 10911), stored.physical_offset));
  EXPECT_EQ(find_property(testing_util::view_of(copies[1]).properties, "ORIGIN_MESSAGE_ID"), "EARLIER-ID");
}

TEST_F(ClientProcessorTest, SendBackOfAJavaEncodedMessageKeepsEveryPropertyIntact) {
  // The Java client 4.9.8 writes no 0x02 after the last pair. The copy must not run the next
  // property into the last value (TAGS once read "TagARETRY_TOPIC...").
  MessageToStore m = testing_util::make_message("TopicA", 1, "java");
  m.properties = std::string("KEYS\x01k1 k2\x02UNIQ_KEY\x01" "0A0000010000ABCD0000000000000009\x02WAIT\x01true\x02"
                             "user\x01v=1;x\x02TAGS\x01TagJ");
  PutResult stored = put(m);
  ASSERT_EQ(call(send_back_request(stored.physical_offset, "cg", 0)).code, rc::kSuccess);
  auto copies = parked(3);
  ASSERT_EQ(copies.size(), 1u);
  MessageProperties copy(testing_util::view_of(copies[0]).properties);
  std::vector<std::pair<std::string, std::string>> expected = {
      {"KEYS", "k1 k2"},        {"UNIQ_KEY", "0A0000010000ABCD0000000000000009"},
      {"WAIT", "true"},         {"user", "v=1;x"},
      {"TAGS", "TagJ"},         {"RETRY_TOPIC", "TopicA"},
      {"ORIGIN_MESSAGE_ID", stored.msg_id}, {"DELAY", "3"},
      {"REAL_TOPIC", "%RETRY%cg"}, {"REAL_QID", "0"}};
  EXPECT_EQ(copy.entries(), expected);
}

TEST_F(ClientProcessorTest, SendBackDropsWaitFalseSoTheCopyIsDurableBeforeTheAck) {
  MessageToStore m = testing_util::make_message("TopicA", 0, "async", "", "", /*wait=*/false);
  PutResult stored = put(m);
  ASSERT_EQ(call(send_back_request(stored.physical_offset, "cg", 0)).code, rc::kSuccess);
  auto copies = parked(3);
  ASSERT_EQ(copies.size(), 1u);
  RecordView copy = testing_util::view_of(copies[0]);
  EXPECT_TRUE(find_property(copy.properties, "WAIT").empty());
  EXPECT_EQ(find_property(copy.properties, "RETRY_TOPIC"), "TopicA");
}

TEST_F(ClientProcessorTest, SendBackAtTheLimitGoesToTheDeadLetterTopicAtOnce) {
  PutResult tired = put(original("", /*reconsume_times=*/3));
  RemotingCommand r = send_back_request(tired.physical_offset, "cg", 0);
  r.set_ext_int("maxReconsumeTimes", 3);
  ASSERT_EQ(call(std::move(r)).code, rc::kSuccess);
  auto dead = records("%DLQ%cg", 0);
  ASSERT_EQ(dead.size(), 1u);
  RecordView v = testing_util::view_of(dead[0]);
  EXPECT_EQ(v.reconsume_times, 4);
  EXPECT_EQ(v.body, std::string("body\0with\xffnul", 14));
  EXPECT_EQ(find_property(v.properties, "RETRY_TOPIC"), "TopicA");
  EXPECT_EQ(find_property(v.properties, "ORIGIN_MESSAGE_ID"), tired.msg_id);
  EXPECT_EQ(find_property(v.properties, "DELAY"), "") << "no extra delay before the DLQ";
  EXPECT_TRUE(records("%RETRY%cg", 0).empty());
  EXPECT_TRUE(parked(6).empty());
  EXPECT_EQ(dlq_topics_, std::vector<std::string>{"%DLQ%cg"});

  // Without the header, the group's limit (16 by default) applies.
  PutResult young = put(original("", /*reconsume_times=*/3));
  ASSERT_EQ(call(send_back_request(young.physical_offset, "cg", 0)).code, rc::kSuccess);
  EXPECT_EQ(parked(6).size(), 1u);
  // A negative delay level sends it straight to the DLQ.
  ASSERT_EQ(call(send_back_request(young.physical_offset, "cg", -1)).code, rc::kSuccess);
  EXPECT_EQ(records("%DLQ%cg", 0).size(), 2u);
}

TEST_F(ClientProcessorTest, SendBackUsesTheGroupsRetryMaxTimes) {
  // A group configured with retryMaxTimes 2 dies on its third failure; others keep 16.
  strict_groups_.insert("strict");
  PutResult once = put(original("", /*reconsume_times=*/1));
  ASSERT_EQ(call(send_back_request(once.physical_offset, "strict", 0)).code, rc::kSuccess);
  EXPECT_EQ(parked(4).size(), 1u);
  PutResult twice = put(original("", /*reconsume_times=*/2));
  ASSERT_EQ(call(send_back_request(twice.physical_offset, "strict", 0)).code, rc::kSuccess);
  EXPECT_EQ(records("%DLQ%strict", 0).size(), 1u);
  ASSERT_EQ(call(send_back_request(twice.physical_offset, "relaxed", 0)).code, rc::kSuccess);
  EXPECT_EQ(parked(5).size(), 1u);
}

TEST_F(ClientProcessorTest, SendBackErrors) {
  PutResult stored = put(original());
  RemotingCommand ghost = call(send_back_request(stored.physical_offset, "ghost", 0));
  EXPECT_EQ(ghost.code, rc::kSubscriptionGroupNotExist);
  EXPECT_NE(ghost.remark.value_or("").find("ghost"), std::string::npos);

  RemotingCommand nowhere = call(send_back_request(store_->confirmed_offset() + 4096, "cg", 0));
  EXPECT_EQ(nowhere.code, rc::kSystemError);
  EXPECT_NE(nowhere.remark.value_or("").find("commit log offset"), std::string::npos) << nowhere.remark.value_or("");

  retry_queues_ = 0;  // a group with no retry queues cannot take messages back; say so
  RemotingCommand no_retry = call(send_back_request(stored.physical_offset, "cg", 0));
  EXPECT_EQ(no_retry.code, rc::kSystemError);
  EXPECT_TRUE(records("%RETRY%cg", 0).empty());
}

TEST_F(ClientProcessorTest, SendBackReportsAFailedPut) {
  PutResult stored = put(original());
  env_.set_frozen(true);  // every write and sync fails with EIO: the store fences itself
  RemotingCommand resp = call(send_back_request(stored.physical_offset, "cg", 0));
  env_.set_frozen(false);
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find(put_status_name(PutStatus::kServiceNotAvailable)), std::string::npos)
      << resp.remark.value_or("");
}

TEST_F(ClientProcessorTest, MissingHeaderFieldsGiveReadableRemarks) {
  RemotingCommand no_queue = RemotingCommand::make_request(req::kQueryConsumerOffset);
  no_queue.set_ext("consumerGroup", "cg");
  no_queue.set_ext("topic", "TopicA");
  RemotingCommand resp = call(std::move(no_queue));
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_EQ(resp.remark.value_or(""), "missing header field 'queueId'");

  RemotingCommand bad_offset = offset_request(req::kUpdateConsumerOffset, "cg", "TopicA", 0);
  bad_offset.set_ext("commitOffset", "abc");
  resp = call(std::move(bad_offset));
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_NE(resp.remark.value_or("").find("commitOffset"), std::string::npos) << resp.remark.value_or("");

  RemotingCommand no_topic = RemotingCommand::make_request(req::kGetMaxOffset);
  no_topic.set_ext_int("queueId", 0);
  resp = call(std::move(no_topic));
  EXPECT_EQ(resp.remark.value_or(""), "missing header field 'topic'");

  RemotingCommand no_offset = RemotingCommand::make_request(req::kConsumerSendMsgBack);
  no_offset.set_ext("group", "cg");
  no_offset.set_ext_int("delayLevel", 0);
  resp = call(std::move(no_offset));
  EXPECT_EQ(resp.code, rc::kSystemError);
  EXPECT_EQ(resp.remark.value_or(""), "missing header field 'offset'");

  RemotingCommand no_group = RemotingCommand::make_request(req::kGetConsumerListByGroup);
  resp = call(std::move(no_group));
  EXPECT_EQ(resp.remark.value_or(""), "missing header field 'consumerGroup'");

  RemotingCommand stats = RemotingCommand::make_request(req::kGetConsumeStats);
  resp = call(std::move(stats));
  EXPECT_EQ(resp.remark.value_or(""), "missing header field 'consumerGroup'");
}

}  // namespace
}  // namespace holdfast::broker
