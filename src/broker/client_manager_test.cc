// ClientManager and the HEART_BEAT body decoder: bodies from Java and Node.js clients, group
// membership, change notifications, expiry on a fake clock, and removal on close.
#include "broker/client_manager.h"

#include <gtest/gtest.h>

#include <atomic>

#include "remoting/request_code.h"

namespace holdfast::broker {
namespace {

using remoting::RemotingCommand;

// Records what the broker sends; no socket.
class FakeConnection final : public transport::Connection {
 public:
  explicit FakeConnection(uint64_t id) : id_(id), address_("10.0.0." + std::to_string(id) + ":5000") {}
  void send_response(const RemotingCommand&, remoting::SerializeType) override {}
  void send_request(RemotingCommand, int64_t, ResponseCallback) override {}
  void send_oneway(RemotingCommand request) override {
    std::lock_guard<std::mutex> lock(mu_);
    oneways_.push_back(std::move(request));
  }
  void close() override { open_ = false; }
  bool is_open() const override { return open_; }
  uint64_t id() const override { return id_; }
  const std::string& remote_address() const override { return address_; }

  // consumerGroup of each NOTIFY_CONSUMER_IDS_CHANGED received so far; clears the record.
  std::vector<std::string> take_notifications() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& r : oneways_) {
      EXPECT_EQ(r.code, remoting::request_code::kNotifyConsumerIdsChanged);
      out.emplace_back(r.ext("consumerGroup").value_or("<none>"));
    }
    oneways_.clear();
    return out;
  }

 private:
  const uint64_t id_;
  const std::string address_;
  std::atomic<bool> open_{true};
  std::mutex mu_;
  std::vector<RemotingCommand> oneways_;
};

constexpr char kJavaHeartbeat[] = R"({"clientID":"10.0.0.1@12345","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[65,66],"expressionType":"TAG","subString":"A || B","subVersion":1700000000123,"tagsSet":["A","B"],"topic":"TopicA"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000124,"tagsSet":[],"topic":"%RETRY%cg"}],"unitMode":false}],"producerDataSet":[{"groupName":"pg"},{"groupName":"CLIENT_INNER_PRODUCER"}]})";

// What ali-ons sends: JSON.stringify of its own objects — no expressionType on plain tag
// subscriptions, unitMode possibly absent; here also numbers as strings and an unknown key.
constexpr char kAliOnsHeartbeat[] = R"({"clientID":"10.0.0.2@7788","consumerDataSet":[{"groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"TopicA","subString":"A","classFilterMode":"false","tagsSet":["A"],"codeSet":["65"],"subVersion":"1700000000999"}],"extra":{"x":1}}],"producerDataSet":[]})";

TEST(HeartbeatDataTest, ParsesJavaBody) {
  auto h = parse_heartbeat_data(kJavaHeartbeat);
  ASSERT_TRUE(h.is_ok()) << h.status().to_string();
  EXPECT_EQ(h->client_id, "10.0.0.1@12345");
  EXPECT_EQ(h->producer_groups, (std::vector<std::string>{"pg", "CLIENT_INNER_PRODUCER"}));
  ASSERT_EQ(h->consumers.size(), 1u);
  const ConsumerData& c = h->consumers[0];
  EXPECT_EQ(c.group_name, "cg");
  EXPECT_EQ(c.consume_type, "CONSUME_PASSIVELY");
  EXPECT_EQ(c.message_model, "CLUSTERING");
  EXPECT_EQ(c.consume_from_where, "CONSUME_FROM_LAST_OFFSET");
  ASSERT_EQ(c.subscriptions.size(), 2u);
  EXPECT_EQ(c.subscriptions[0].topic, "TopicA");
  EXPECT_EQ(c.subscriptions[0].sub_string, "A || B");
  EXPECT_EQ(c.subscriptions[0].tags_set, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(c.subscriptions[0].code_set, (std::vector<int64_t>{65, 66}));
  EXPECT_EQ(c.subscriptions[0].sub_version, 1700000000123);
  EXPECT_EQ(c.subscriptions[1].topic, "%RETRY%cg");
}

TEST(HeartbeatDataTest, ParsesAliOnsBodyLeniently) {
  auto h = parse_heartbeat_data(kAliOnsHeartbeat);
  ASSERT_TRUE(h.is_ok()) << h.status().to_string();
  EXPECT_EQ(h->client_id, "10.0.0.2@7788");
  EXPECT_TRUE(h->producer_groups.empty());
  ASSERT_EQ(h->consumers.size(), 1u);
  const SubscriptionData& s = h->consumers[0].subscriptions.at(0);
  EXPECT_EQ(s.topic, "TopicA");
  EXPECT_EQ(s.expression_type, "TAG");
  EXPECT_FALSE(s.class_filter_mode);
  EXPECT_EQ(s.code_set, std::vector<int64_t>{65});
  EXPECT_EQ(s.sub_version, 1700000000999);
  EXPECT_FALSE(h->consumers[0].unit_mode);
}

TEST(HeartbeatDataTest, RejectsWhatIsNotAHeartbeat) {
  EXPECT_FALSE(parse_heartbeat_data("").is_ok());
  EXPECT_FALSE(parse_heartbeat_data("{\"clientID\":").is_ok());
  EXPECT_FALSE(parse_heartbeat_data("[1]").is_ok());
  auto no_group = parse_heartbeat_data(R"({"clientID":"a","consumerDataSet":[{"consumeType":"X"}]})");
  ASSERT_FALSE(no_group.is_ok());
  EXPECT_NE(no_group.status().message().find("groupName"), std::string::npos);
  // An empty heartbeat (no groups) is valid.
  EXPECT_TRUE(parse_heartbeat_data(R"({"clientID":"a"})").is_ok());
}

class ClientManagerTest : public ::testing::Test {
 protected:
  ClientManagerTest() {
    ClientManagerOptions o;
    o.channel_expired_timeout_ms = 120000;
    o.now_ms = [this] { return now_.load(); };
    o.notify_consumer_ids_changed_enabled = [this](const std::string& g) { return g != quiet_group_; };
    manager_ = std::make_unique<ClientManager>(o);
  }
  ConsumerData consumer(const std::string& group, std::vector<std::string> topics, int64_t sub_version = 1) {
    ConsumerData d;
    d.group_name = group;
    d.consume_type = "CONSUME_PASSIVELY";
    d.message_model = "CLUSTERING";
    for (const auto& t : topics) {
      SubscriptionData s;
      s.topic = t;
      s.sub_version = sub_version;
      d.subscriptions.push_back(s);
    }
    return d;
  }

  std::atomic<int64_t> now_{1000000};
  std::string quiet_group_ = "quiet";
  std::unique_ptr<ClientManager> manager_;
};

TEST_F(ClientManagerTest, SecondConsumerJoiningNotifiesEveryMember) {
  auto a = std::make_shared<FakeConnection>(1);
  auto b = std::make_shared<FakeConnection>(2);
  EXPECT_TRUE(manager_->register_consumer(a, "10.0.0.1@1", consumer("cg", {"T"}), remoting::LanguageCode::kJava, 409));
  EXPECT_EQ(a->take_notifications(), std::vector<std::string>{"cg"});
  // The same heartbeat again changes nothing and notifies nobody.
  EXPECT_FALSE(manager_->register_consumer(a, "10.0.0.1@1", consumer("cg", {"T"}), remoting::LanguageCode::kJava, 409));
  EXPECT_TRUE(a->take_notifications().empty());
  EXPECT_TRUE(manager_->register_consumer(b, "10.0.0.2@1", consumer("cg", {"T"}), remoting::LanguageCode::kJava, 409));
  EXPECT_EQ(a->take_notifications(), std::vector<std::string>{"cg"});
  EXPECT_EQ(b->take_notifications(), std::vector<std::string>{"cg"});
  EXPECT_EQ(manager_->consumer_ids("cg"), (std::vector<std::string>{"10.0.0.1@1", "10.0.0.2@1"}));
  EXPECT_TRUE(manager_->consumer_ids("other").empty());
}

TEST_F(ClientManagerTest, SubscriptionTopicChangeNotifiesAndReplacesTheTable) {
  auto a = std::make_shared<FakeConnection>(1);
  manager_->register_consumer(a, "c1", consumer("cg", {"T1", "T2"}), remoting::LanguageCode::kJava, 0);
  a->take_notifications();
  EXPECT_EQ(manager_->groups_subscribing("T1"), std::set<std::string>{"cg"});
  EXPECT_TRUE(manager_->register_consumer(a, "c1", consumer("cg", {"T2", "T3"}, 2), remoting::LanguageCode::kJava, 0));
  EXPECT_EQ(a->take_notifications(), std::vector<std::string>{"cg"});
  auto subs = manager_->subscriptions("cg");
  ASSERT_EQ(subs.size(), 2u);
  EXPECT_EQ(subs[0].topic, "T2");
  EXPECT_EQ(subs[1].topic, "T3");
  EXPECT_TRUE(manager_->groups_subscribing("T1").empty());
  // A stale entry (older subVersion) does not overwrite a newer one.
  ConsumerData stale = consumer("cg", {"T2", "T3"}, 1);
  stale.subscriptions[0].sub_string = "old";
  EXPECT_FALSE(manager_->register_consumer(a, "c1", stale, remoting::LanguageCode::kJava, 0));
  EXPECT_EQ(manager_->subscriptions("cg")[0].sub_string, "*");
}

TEST_F(ClientManagerTest, NotificationCanBeDisabledPerGroup) {
  auto a = std::make_shared<FakeConnection>(1);
  auto b = std::make_shared<FakeConnection>(2);
  manager_->register_consumer(a, "c1", consumer("quiet", {"T"}), remoting::LanguageCode::kJava, 0);
  EXPECT_TRUE(manager_->register_consumer(b, "c2", consumer("quiet", {"T"}), remoting::LanguageCode::kJava, 0));
  EXPECT_TRUE(a->take_notifications().empty());
  EXPECT_TRUE(b->take_notifications().empty());
}

TEST_F(ClientManagerTest, SilentConnectionsExpire) {
  auto a = std::make_shared<FakeConnection>(1);
  auto b = std::make_shared<FakeConnection>(2);
  manager_->register_consumer(a, "c1", consumer("cg", {"T"}), remoting::LanguageCode::kJava, 0);
  manager_->register_producer(a, "c1", "pg", remoting::LanguageCode::kJava, 0);
  now_ += 60000;
  manager_->register_consumer(b, "c2", consumer("cg", {"T"}), remoting::LanguageCode::kJava, 0);
  a->take_notifications();
  b->take_notifications();
  now_ += 60000;  // a is silent for exactly the timeout: still alive
  EXPECT_EQ(manager_->scan_expired(now_), 0u);
  now_ += 1;
  EXPECT_EQ(manager_->scan_expired(now_), 2u) << "a's consumer and producer registrations";
  EXPECT_FALSE(a->is_open()) << "an expired connection is closed";
  EXPECT_TRUE(b->is_open());
  EXPECT_EQ(manager_->consumer_ids("cg"), std::vector<std::string>{"c2"});
  EXPECT_TRUE(manager_->producers("pg").empty());
  EXPECT_EQ(b->take_notifications(), std::vector<std::string>{"cg"}) << "the remaining member rebalances";
  now_ += 120001;
  EXPECT_EQ(manager_->scan_expired(now_), 1u);
  EXPECT_FALSE(manager_->consumer_group("cg").has_value()) << "an empty group is dropped";
}

TEST_F(ClientManagerTest, ClosedConnectionLeavesEveryGroup) {
  auto a = std::make_shared<FakeConnection>(1);
  auto b = std::make_shared<FakeConnection>(2);
  manager_->register_consumer(a, "c1", consumer("cg1", {"T"}), remoting::LanguageCode::kJava, 0);
  manager_->register_consumer(a, "c1", consumer("cg2", {"T"}), remoting::LanguageCode::kJava, 0);
  manager_->register_consumer(b, "c2", consumer("cg1", {"T"}), remoting::LanguageCode::kJava, 0);
  manager_->register_producer(a, "c1", "pg", remoting::LanguageCode::kJava, 0);
  b->take_notifications();
  manager_->on_connection_closed(a);
  EXPECT_EQ(manager_->consumer_ids("cg1"), std::vector<std::string>{"c2"});
  EXPECT_TRUE(manager_->consumer_ids("cg2").empty());
  EXPECT_EQ(manager_->consumer_groups(), std::set<std::string>{"cg1"});
  EXPECT_TRUE(manager_->producer_groups().empty());
  EXPECT_EQ(b->take_notifications(), std::vector<std::string>{"cg1"});
}

TEST_F(ClientManagerTest, UnregisterRemovesOneGroupOnly) {
  auto a = std::make_shared<FakeConnection>(1);
  manager_->register_consumer(a, "c1", consumer("cg1", {"T"}), remoting::LanguageCode::kJava, 0);
  manager_->register_consumer(a, "c1", consumer("cg2", {"T"}), remoting::LanguageCode::kJava, 0);
  manager_->register_producer(a, "c1", "pg", remoting::LanguageCode::kJava, 0);
  manager_->unregister_consumer("cg1", a);
  manager_->unregister_producer("pg", a);
  EXPECT_TRUE(manager_->consumer_ids("cg1").empty());
  EXPECT_EQ(manager_->consumer_ids("cg2"), std::vector<std::string>{"c1"});
  EXPECT_TRUE(manager_->producers("pg").empty());
}

TEST_F(ClientManagerTest, GroupSnapshotCarriesConsumerSettings) {
  auto a = std::make_shared<FakeConnection>(1);
  ConsumerData d = consumer("cg", {"T"});
  d.consume_from_where = "CONSUME_FROM_FIRST_OFFSET";
  manager_->register_consumer(a, "c1", d, remoting::LanguageCode::kNodeJs, 121);
  auto info = manager_->consumer_group("cg");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->consume_from_where, "CONSUME_FROM_FIRST_OFFSET");
  EXPECT_EQ(info->message_model, "CLUSTERING");
  ASSERT_EQ(info->channels.size(), 1u);
  EXPECT_EQ(info->channels[0].language, remoting::LanguageCode::kNodeJs);
  EXPECT_EQ(info->channels[0].version, 121);
  EXPECT_EQ(info->channels[0].last_update_ms, now_.load());
}

}  // namespace
}  // namespace holdfast::broker
