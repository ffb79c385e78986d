// Name-server route table and its JSON: registration rules, removal by unregister / connection
// close / expiry (fake clock), route contents, golden JSON in both key forms, and the register
// body reader against a hand-written Java body plus a malformed-input catalogue.
#include "namesrv/route_info_manager.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <random>
#include <thread>

#include "namesrv/route_json.h"

namespace holdfast::namesrv {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;
const std::string kMasterA = "10.0.0.1:10911";
const std::string kSlaveA = "10.0.0.2:10911";
const std::string kMasterB = "10.0.0.3:10911";

TopicConfig topic(const std::string& name, int32_t queues, int32_t perm = kPermRead | kPermWrite) {
  TopicConfig t;
  t.topic_name = name;
  t.read_queue_nums = queues;
  t.write_queue_nums = queues;
  t.perm = perm;
  return t;
}

BrokerRegistration broker(const std::string& name, const std::string& addr, int64_t id,
                          std::vector<TopicConfig> topics = {}, int64_t counter = 1) {
  BrokerRegistration r;
  r.cluster_name = "DefaultCluster";
  r.broker_name = name;
  r.broker_addr = addr;
  r.ha_server_addr = addr.substr(0, addr.find(':')) + ":10912";
  r.broker_id = id;
  r.topic_configs = std::move(topics);
  r.data_version = DataVersion{0, kT0, counter};
  return r;
}

RegisterResult register_ok(RouteInfoManager& m, const BrokerRegistration& r, int64_t now = kT0) {
  Result<RegisterResult> result = m.register_broker(r, now);
  EXPECT_TRUE(result.is_ok()) << result.status().to_string();
  return result.is_ok() ? result.value() : RegisterResult{};
}

QueueData queue(const std::string& broker_name, int32_t queues, int32_t perm = 6) {
  return QueueData{broker_name, queues, queues, perm, 0};
}

// broker-a: master + slave serving TopicTest (4 queues) and TBW102 (8 queues, RWX).
void register_group_a(RouteInfoManager& m, int64_t now = kT0) {
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("TopicTest", 4), topic("TBW102", 8, 7)}), now);
  register_ok(m, broker("broker-a", kSlaveA, 1, {topic("TopicTest", 4), topic("TBW102", 8, 7)}), now);
}

TEST(RouteInfoManager, RegisterMasterAndSlaveBuildsRoute) {
  RouteInfoManager m;
  register_group_a(m);
  std::optional<TopicRouteData> route = m.route_for_topic("TopicTest");
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->queue_datas, std::vector<QueueData>{queue("broker-a", 4)});
  ASSERT_EQ(route->broker_datas.size(), 1u);
  const BrokerData& group = route->broker_datas[0];
  EXPECT_EQ(group.cluster, "DefaultCluster");
  EXPECT_EQ(group.broker_name, "broker-a");
  EXPECT_EQ(group.broker_addrs, (std::map<int64_t, std::string>{{0, kMasterA}, {1, kSlaveA}}));
  EXPECT_FALSE(group.enable_acting_master);
  EXPECT_TRUE(route->order_topic_conf.empty());
  EXPECT_FALSE(m.route_for_topic("NoSuchTopic").has_value());
  EXPECT_EQ(m.all_topics(), (std::vector<std::string>{"TBW102", "TopicTest"}));
}

TEST(RouteInfoManager, SlaveGetsMasterAddrAndHaAddr) {
  RouteInfoManager m;
  // A slave that registers before its master learns nothing yet.
  RegisterResult early = register_ok(m, broker("broker-a", kSlaveA, 1));
  EXPECT_EQ(early.master_addr, "");
  EXPECT_EQ(early.ha_server_addr, "");
  RegisterResult master = register_ok(m, broker("broker-a", kMasterA, 0));
  EXPECT_EQ(master.master_addr, "");
  EXPECT_EQ(master.ha_server_addr, "");
  RegisterResult slave = register_ok(m, broker("broker-a", kSlaveA, 1));
  EXPECT_EQ(slave.master_addr, kMasterA);
  EXPECT_EQ(slave.ha_server_addr, "10.0.0.1:10912");
}

TEST(RouteInfoManager, DataVersionChangeUpdatesQueueDatas) {
  RouteInfoManager m;
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("TopicTest", 4)}, /*counter=*/1));
  // Same dataVersion: the table is not re-read, even if its content differs.
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("TopicTest", 16)}, 1));
  EXPECT_EQ(m.route_for_topic("TopicTest")->queue_datas, std::vector<QueueData>{queue("broker-a", 4)});
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("TopicTest", 16, 4), topic("New", 2)}, 2));
  EXPECT_EQ(m.route_for_topic("TopicTest")->queue_datas, std::vector<QueueData>{queue("broker-a", 16, 4)});
  EXPECT_EQ(m.route_for_topic("New")->queue_datas, std::vector<QueueData>{queue("broker-a", 2)});
}

TEST(RouteInfoManager, SlaveRegistrationNeverUpdatesQueueDatas) {
  RouteInfoManager m;
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("TopicTest", 4)}));
  register_ok(m, broker("broker-a", kSlaveA, 1, {topic("TopicTest", 32), topic("SlaveOnly", 1)}, 1));
  register_ok(m, broker("broker-a", kSlaveA, 1, {topic("TopicTest", 32), topic("SlaveOnly", 1)}, 9));
  EXPECT_EQ(m.route_for_topic("TopicTest")->queue_datas, std::vector<QueueData>{queue("broker-a", 4)});
  EXPECT_FALSE(m.route_for_topic("SlaveOnly").has_value());
}

TEST(RouteInfoManager, SameAddrDifferentIdReplaced) {
  RouteInfoManager m;
  register_ok(m, broker("broker-a", kMasterA, 0));
  register_ok(m, broker("broker-a", kSlaveA, 1, {topic("TopicTest", 4)}));
  // The master dies; the slave is promoted and re-registers with id 0 from the same address.
  ASSERT_TRUE(m.unregister_broker("DefaultCluster", "broker-a", kMasterA, 0));
  register_ok(m, broker("broker-a", kSlaveA, 0, {topic("TopicTest", 4)}));
  ClusterInfo info = m.cluster_info();
  EXPECT_EQ(info.broker_addr_table.at("broker-a").broker_addrs, (std::map<int64_t, std::string>{{0, kSlaveA}}));
  // As a new master at id 0 it speaks for the topics immediately.
  EXPECT_EQ(m.route_for_topic("TopicTest")->queue_datas, std::vector<QueueData>{queue("broker-a", 4)});
}

TEST(RouteInfoManager, ExpiresAfter120Seconds) {
  RouteInfoManager m;
  register_group_a(m);
  EXPECT_TRUE(m.scan_expired(kT0 + kDefaultBrokerExpiredMs).empty());  // Java: last + timeout < now
  EXPECT_EQ(m.scan_expired(kT0 + kDefaultBrokerExpiredMs + 1), (std::vector<std::string>{kMasterA, kSlaveA}));
  EXPECT_FALSE(m.route_for_topic("TopicTest").has_value());
  EXPECT_TRUE(m.all_topics().empty());
  ClusterInfo info = m.cluster_info();
  EXPECT_TRUE(info.broker_addr_table.empty());
  EXPECT_TRUE(info.cluster_addr_table.empty());
}

TEST(RouteInfoManager, ReRegistrationKeepsBrokerAlive) {
  RouteInfoManager m;
  register_group_a(m, kT0);
  register_ok(m, broker("broker-a", kMasterA, 0), kT0 + 90'000);
  // The slave missed its registrations; the master did not.
  EXPECT_EQ(m.scan_expired(kT0 + 150'000), std::vector<std::string>{kSlaveA});
  EXPECT_EQ(m.route_for_topic("TopicTest")->broker_datas[0].broker_addrs,
            (std::map<int64_t, std::string>{{0, kMasterA}}));
  EXPECT_EQ(m.scan_expired(kT0 + 90'000 + kDefaultBrokerExpiredMs + 1), std::vector<std::string>{kMasterA});
}

TEST(RouteInfoManager, MasterGoneSlaveKeepsQueueDatas) {
  RouteInfoManager m;
  register_group_a(m, kT0);
  register_ok(m, broker("broker-a", kSlaveA, 1), kT0 + 60'000);
  EXPECT_EQ(m.scan_expired(kT0 + 150'000), std::vector<std::string>{kMasterA});
  // Consumers may still read from the slave; producers skip a group without id 0 (facts §12.2).
  TopicRouteData route = m.route_for_topic("TopicTest").value();
  EXPECT_EQ(route.queue_datas, std::vector<QueueData>{queue("broker-a", 4)});
  EXPECT_EQ(route.broker_datas[0].broker_addrs, (std::map<int64_t, std::string>{{1, kSlaveA}}));
  RegisterResult orphan = register_ok(m, broker("broker-a", kSlaveA, 1), kT0 + 150'000);
  EXPECT_EQ(orphan.master_addr, "");
}

TEST(RouteInfoManager, PerBrokerHeartbeatTimeout) {
  RouteInfoManager m;
  BrokerRegistration fast = broker("broker-a", kMasterA, 0, {topic("TopicTest", 4)});
  fast.heartbeat_timeout_ms = 30'000;
  register_ok(m, fast);
  BrokerRegistration unset = broker("broker-b", kMasterB, 0, {topic("TopicTest", 4)});
  unset.heartbeat_timeout_ms = 0;  // header absent: the 120 s default
  register_ok(m, unset);
  EXPECT_TRUE(m.scan_expired(kT0 + 30'000).empty());
  EXPECT_EQ(m.scan_expired(kT0 + 30'001), std::vector<std::string>{kMasterA});
  EXPECT_TRUE(m.scan_expired(kT0 + 120'000).empty());
  EXPECT_EQ(m.scan_expired(kT0 + 120'001), std::vector<std::string>{kMasterB});
  // A hostile header timeout must not overflow the expiry arithmetic.
  BrokerRegistration forever = broker("broker-a", kMasterA, 0);
  forever.heartbeat_timeout_ms = std::numeric_limits<int64_t>::max();
  register_ok(m, forever);
  EXPECT_TRUE(m.scan_expired(kT0 + 10 * kDefaultBrokerExpiredMs).empty());
}

TEST(RouteInfoManager, ConnectionCloseRemovesBroker) {
  RouteInfoManager m;
  BrokerRegistration master = broker("broker-a", kMasterA, 0, {topic("TopicTest", 4)});
  master.connection_id = 7;
  BrokerRegistration slave = broker("broker-a", kSlaveA, 1);
  slave.connection_id = 8;
  BrokerRegistration unattached = broker("broker-b", kMasterB, 0, {topic("TopicTest", 4)});
  register_ok(m, master);
  register_ok(m, slave);
  register_ok(m, unattached);
  EXPECT_TRUE(m.remove_by_connection(0).empty());  // 0 = no connection, never matched
  EXPECT_TRUE(m.remove_by_connection(99).empty());
  EXPECT_EQ(m.remove_by_connection(8), std::vector<std::string>{kSlaveA});
  EXPECT_EQ(m.route_for_topic("TopicTest")->broker_datas[0].broker_addrs,
            (std::map<int64_t, std::string>{{0, kMasterA}}));
  EXPECT_EQ(m.remove_by_connection(7), std::vector<std::string>{kMasterA});
  EXPECT_EQ(m.route_for_topic("TopicTest")->queue_datas, std::vector<QueueData>{queue("broker-b", 4)});
  EXPECT_EQ(m.cluster_info().cluster_addr_table.at("DefaultCluster"), std::vector<std::string>{"broker-b"});
}

TEST(RouteInfoManager, TopicDisappearsWithLastBroker) {
  RouteInfoManager m;
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("Shared", 4), topic("OnlyA", 2)}));
  register_ok(m, broker("broker-b", kMasterB, 0, {topic("Shared", 4)}));
  EXPECT_FALSE(m.unregister_broker("DefaultCluster", "broker-a", "10.9.9.9:10911", 0));
  EXPECT_TRUE(m.unregister_broker("DefaultCluster", "broker-a", kMasterA, 0));
  EXPECT_FALSE(m.route_for_topic("OnlyA").has_value());
  EXPECT_EQ(m.route_for_topic("Shared")->queue_datas, std::vector<QueueData>{queue("broker-b", 4)});
  EXPECT_EQ(m.all_topics(), std::vector<std::string>{"Shared"});
  EXPECT_TRUE(m.unregister_broker("DefaultCluster", "broker-b", kMasterB, 0));
  EXPECT_TRUE(m.all_topics().empty());
  EXPECT_TRUE(m.cluster_info().cluster_addr_table.empty());
}

TEST(RouteInfoManager, DeleteTopicWholeOrPerCluster) {
  RouteInfoManager m;
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("Shared", 4), topic("OnlyA", 2)}));
  BrokerRegistration b = broker("broker-b", kMasterB, 0, {topic("Shared", 4)});
  b.cluster_name = "OtherCluster";
  register_ok(m, b);
  EXPECT_FALSE(m.delete_topic("Nope"));
  EXPECT_TRUE(m.delete_topic("OnlyA"));
  EXPECT_FALSE(m.route_for_topic("OnlyA").has_value());
  // Per cluster: only that cluster's queues go; the topic stays while another cluster serves it.
  EXPECT_FALSE(m.delete_topic("Shared", "NoSuchCluster"));
  EXPECT_TRUE(m.delete_topic("Shared", "DefaultCluster"));
  EXPECT_EQ(m.route_for_topic("Shared")->queue_datas, std::vector<QueueData>{queue("broker-b", 4)});
  EXPECT_TRUE(m.delete_topic("Shared", "OtherCluster"));
  EXPECT_TRUE(m.all_topics().empty());
  // The brokers stay registered; an unchanged re-registration does not bring the topic back.
  EXPECT_EQ(m.cluster_info().broker_addr_table.size(), 2u);
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("Shared", 4), topic("OnlyA", 2)}));
  EXPECT_FALSE(m.route_for_topic("OnlyA").has_value());
}

TEST(RouteInfoManager, TwoBrokerGroupsForOneTopicSortedByName) {
  RouteInfoManager m;
  register_ok(m, broker("broker-b", kMasterB, 0, {topic("TopicTest", 8)}));
  register_ok(m, broker("broker-a", kMasterA, 0, {topic("TopicTest", 4)}));
  TopicRouteData route = m.route_for_topic("TopicTest").value();
  EXPECT_EQ(route.queue_datas, (std::vector<QueueData>{queue("broker-a", 4), queue("broker-b", 8)}));
  ASSERT_EQ(route.broker_datas.size(), 2u);
  EXPECT_EQ(route.broker_datas[0].broker_name, "broker-a");
  EXPECT_EQ(route.broker_datas[1].broker_name, "broker-b");
  EXPECT_EQ(m.cluster_info().cluster_addr_table.at("DefaultCluster"),
            (std::vector<std::string>{"broker-a", "broker-b"}));
}

TEST(RouteInfoManager, RouteForTopicOrDefaultFallsBackToTbw102) {
  RouteInfoManager m;
  RouteSource source = RouteSource::kTopic;
  EXPECT_FALSE(m.route_for_topic_or_default("Unknown", kAutoCreateTopicKey, &source).has_value());
  register_group_a(m);
  std::optional<TopicRouteData> route = m.route_for_topic_or_default("Unknown", kAutoCreateTopicKey, &source);
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(source, RouteSource::kDefaultTopic);
  EXPECT_EQ(route->queue_datas, std::vector<QueueData>{queue("broker-a", 8, 7)});
  route = m.route_for_topic_or_default("TopicTest", kAutoCreateTopicKey, &source);
  EXPECT_EQ(source, RouteSource::kTopic);
  EXPECT_EQ(route->queue_datas, std::vector<QueueData>{queue("broker-a", 4)});
}

TEST(RouteInfoManager, InvalidRegistrationRejectedWithoutChanges) {
  RouteInfoManager m;
  BrokerRegistration r = broker("broker-a", kMasterA, 0, {topic("TopicTest", 4)});
  r.cluster_name.clear();
  EXPECT_EQ(m.register_broker(r, kT0).status().code(), StatusCode::kInvalidArgument);
  r = broker("broker-a", "", 0);
  EXPECT_EQ(m.register_broker(r, kT0).status().message(), "register broker: empty brokerAddr");
  r = broker("broker-a", kMasterA, -1);
  EXPECT_FALSE(m.register_broker(r, kT0).is_ok());
  r = broker("broker-a", kMasterA, 0, {topic("", 4)});
  EXPECT_FALSE(m.register_broker(r, kT0).is_ok());
  EXPECT_TRUE(m.cluster_info().broker_addr_table.empty());
  EXPECT_TRUE(m.all_topics().empty());
}

TEST(RouteInfoManager, ConcurrentRegistrationsAndQueries) {
  RouteInfoManager m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      const std::string name = "broker-" + std::to_string(t);
      const std::string addr = "10.0.1." + std::to_string(t) + ":10911";
      for (int i = 0; i < 200; ++i) {
        register_ok(m, broker(name, addr, 0, {topic("Shared", 4)}, i), kT0 + i);
        EXPECT_TRUE(m.route_for_topic("Shared").has_value());
        (void)m.cluster_info();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(m.route_for_topic("Shared")->queue_datas.size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// JSON

TopicRouteData route_a() {
  RouteInfoManager m;
  register_group_a(m);
  return m.route_for_topic("TopicTest").value();
}

TEST(RouteJson, TopicRouteGoldenStandardJson) {
  EXPECT_EQ(encode_topic_route(route_a(), /*standard_json=*/true),
            R"({"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a",)"
            R"("cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},)"
            R"("queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]})");
}

TEST(RouteJson, TopicRouteGoldenFastjsonKeys) {
  EXPECT_EQ(encode_topic_route(route_a(), /*standard_json=*/false),
            R"({"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a",)"
            R"("cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},)"
            R"("queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]})");
}

TEST(RouteJson, OptionalFieldsAndEmptyRoute) {
  EXPECT_EQ(encode_topic_route(TopicRouteData{}, true), R"({"brokerDatas":[],"filterServerTable":{},"queueDatas":[]})");
  TopicRouteData route;
  route.order_topic_conf = "broker-a:4;broker-b:4";
  route.broker_datas.push_back(BrokerData{"c", "b", {{0, "h:1"}}, "zone-1", false});
  EXPECT_EQ(encode_topic_route(route, false),
            R"({"brokerDatas":[{"brokerAddrs":{0:"h:1"},"brokerName":"b","cluster":"c","enableActingMaster":false,)"
            R"("zoneName":"zone-1"}],"filterServerTable":{},"orderTopicConf":"broker-a:4;broker-b:4","queueDatas":[]})");
}

TEST(RouteJson, StringEscapingPerKeyForm) {
  TopicRouteData route;
  // quote, backslash, tab, \x01, é (2 bytes), 😀 (4 bytes), then an invalid byte 0xFF.
  route.order_topic_conf = std::string("q\"b\\t\tc\x01") + "\xC3\xA9" + "\xF0\x9F\x98\x80" + "\xFF/";
  const std::string standard = encode_topic_route(route, true);
  EXPECT_NE(standard.find(R"("orderTopicConf":"q\"b\\t\tc\u0001\u00E9\uD83D\uDE00\uFFFD/")"), std::string::npos)
      << standard;
  const std::string fastjson = encode_topic_route(route, false);
  EXPECT_NE(fastjson.find("\"orderTopicConf\":\"q\\\"b\\\\t\\tc\\u0001\xC3\xA9\xF0\x9F\x98\x80\xEF\xBF\xBD/\""),
            std::string::npos)
      << fastjson;
}

TEST(RouteJson, StandardJsonRuleFollowsVersion) {
  EXPECT_FALSE(route_json_standard_for(317, false));  // rocketmq-client-go
  EXPECT_FALSE(route_json_standard_for(400, false));
  EXPECT_TRUE(route_json_standard_for(401, false));  // V4_9_4
  EXPECT_TRUE(route_json_standard_for(479, false));
  EXPECT_TRUE(route_json_standard_for(317, true));  // acceptStandardJsonOnly
}

TEST(RouteJson, ClusterInfoAndTopicListGolden) {
  RouteInfoManager m;
  register_group_a(m);
  EXPECT_EQ(encode_cluster_info(m.cluster_info(), false),
            R"({"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},)"
            R"("brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},)"
            R"("clusterAddrTable":{"DefaultCluster":["broker-a"]}})");
  EXPECT_EQ(encode_cluster_info(ClusterInfo{}, true), R"({"brokerAddrTable":{},"clusterAddrTable":{}})");
  EXPECT_EQ(encode_topic_list(m.all_topics()), R"({"topicList":["TBW102","TopicTest"]})");
  EXPECT_EQ(encode_topic_list({}), R"({"topicList":[]})");
}

// A 5.x broker's REGISTER_BROKER body as fastjson writes it (keys alphabetical), written by hand
// from facts §12.3, with the 5.x static-topic maps (Integer keys unquoted) and attributes.
constexpr const char* kJavaRegisterBody =
    R"({"filterServerList":[],"topicConfigSerializeWrapper":{)"
    R"("dataVersion":{"counter":42,"stateVersion":3,"timestamp":1700000000123},)"
    R"("mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":1700000000999},)"
    R"("topicConfigTable":{)"
    R"("TopicTest":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",)"
    R"("topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4},)"
    R"("TBW102":{"attributes":{"+message.type":"NORMAL"},"order":false,"perm":7,"readQueueNums":8,)"
    R"("topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8},)"
    R"("OrderTopic":{"attributes":{},"order":true,"perm":6,"readQueueNums":2,"topicFilterType":"MULTI_TAG",)"
    R"("topicName":"OrderTopic","topicSysFlag":1,"writeQueueNums":3}},)"
    R"("topicQueueMappingDetailMap":{"static-topic":{"bname":"broker-a","currIdMap":{0:0},"epoch":1,)"
    R"("hostedQueues":{0:[{"bname":"broker-a","gen":0,"logicOffset":0,"startOffset":0,"endOffset":-1}]},)"
    R"("scope":"__global__","topic":"static-topic","totalQueues":1}},)"
    R"("topicQueueMappingInfoMap":{}}})";

TEST(RegisterBody, DecodesJavaBody) {
  Result<RegisterBody> body = decode_register_body(kJavaRegisterBody);
  ASSERT_TRUE(body.is_ok()) << body.status().to_string();
  EXPECT_EQ(body->data_version, (DataVersion{3, 1700000000123, 42}));
  EXPECT_TRUE(body->filter_server_list.empty());
  ASSERT_EQ(body->topic_configs.size(), 3u);
  EXPECT_EQ(body->topic_configs[0], topic("TopicTest", 4));
  EXPECT_EQ(body->topic_configs[1], topic("TBW102", 8, 7));
  TopicConfig order = topic("OrderTopic", 2);
  order.write_queue_nums = 3;
  order.topic_filter_type = TopicFilterType::kMultiTag;
  order.topic_sys_flag = 1;
  order.order = true;
  EXPECT_EQ(body->topic_configs[2], order);
}

TEST(RegisterBody, DecodedBodyRegistersAndRoutes) {
  RouteInfoManager m;
  BrokerRegistration r = broker("broker-a", kMasterA, 0);
  RegisterBody body = decode_register_body(kJavaRegisterBody).value();
  r.topic_configs = body.topic_configs;
  r.data_version = body.data_version;
  register_ok(m, r);
  EXPECT_EQ(encode_topic_route(m.route_for_topic("OrderTopic").value(), true),
            R"({"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"broker-a",)"
            R"("cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},)"
            R"("queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":2,"topicSysFlag":1,"writeQueueNums":3}]})");
}

TEST(RegisterBody, ToleratesFastjsonQuirksAndDefaults) {
  // Whitespace, bare keys, integers in strings, string booleans, nulls, a missing topicName, an
  // object-literal key in an unknown map, escapes, filter servers.
  Result<RegisterBody> body = decode_register_body(R"(
    { "unknown" : [1, -2.5e3, true, false, null, {"x":{"y":[]}}],
      "topicConfigSerializeWrapper" : {
        "offsetTable" : { {"brokerName":"b","queueId":0,"topic":"t"} : {"minOffset":0} },
        "topicConfigTable" : {
          Bare1 : { "perm" : "4", "order" : "true", "readQueueNums" : null },
          "T\u00e9\ud83d\ude00" : { "topicName" : "T\u00e9\ud83d\ude00", "writeQueueNums" : 1 },
          "Lone" : { "topicName" : "L\ud800x" },
          "Skipped" : null
        },
        "dataVersion" : { "counter" : "7", "timestamp" : -1 }
      },
      "filterServerList" : [ "10.0.0.9:40000", null ]
    }
  )");
  ASSERT_TRUE(body.is_ok()) << body.status().to_string();
  EXPECT_EQ(body->data_version, (DataVersion{0, -1, 7}));
  EXPECT_EQ(body->filter_server_list, std::vector<std::string>{"10.0.0.9:40000"});
  ASSERT_EQ(body->topic_configs.size(), 3u);
  TopicConfig bare;  // Java TopicConfig defaults: 16/16, perm 6, SINGLE_TAG
  bare.topic_name = "Bare1";
  bare.perm = 4;
  bare.order = true;
  EXPECT_EQ(body->topic_configs[0], bare);
  EXPECT_EQ(body->topic_configs[1].topic_name, "T\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(body->topic_configs[1].write_queue_nums, 1);
  EXPECT_EQ(body->topic_configs[2].topic_name, "L\xEF\xBF\xBDx");  // lone surrogate -> U+FFFD
}

TEST(RegisterBody, MalformedBodiesGiveReadableErrors) {
  const std::string table = R"({"topicConfigSerializeWrapper":{"topicConfigTable":{"T":)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "offset 0: empty body"},
      {"   ", "empty body"},
      {"[]", "offset 0: expected '{'"},
      {R"({"a" 1})", "offset 5: expected ':' after object key"},
      {R"({"a":1)", "expected ',' or '}' in object"},
      {R"({"a":1,})", "expected an object key"},
      {R"({"a":[1 2]})", "expected ',' or ']' in array"},
      {R"({"a":tru})", "expected a value"},
      {R"({"a":01})", "expected ',' or '}' in object"},
      {R"({"a":1.})", "digits expected after '.'"},
      {R"({"a":"abc)", "unterminated string"},
      {"{\"a\":\"x\ny\"}", "unescaped control character in string"},
      {R"({"a":"\x"})", "invalid escape in string"},
      {R"({"a":"\u12G4"})", "invalid hex digit in \\u escape"},
      {R"({} x)", "offset 3: unexpected text after the body"},
      {table + R"({"readQueueNums":1.5}}}})", "readQueueNums is not an integer in [-2147483648, 2147483647]: '1.5'"},
      {table + R"({"perm":2147483648}}}})", "perm is not an integer"},
      {table + R"({"topicSysFlag":"abc"}}}})", "topicSysFlag is not an integer"},
      {table + R"({"order":1}}}})", "order is not a boolean"},
      {table + R"({"topicFilterType":"FOO"}}}})", "topicFilterType must be SINGLE_TAG or MULTI_TAG, got 'FOO'"},
      {table + R"({"topicName":7}}}})", "expected a string"},
      {R"({"topicConfigSerializeWrapper":{"topicConfigTable":{{"k":1}:{"perm":6}}}})",
       "topic config without a topicName"},
      {R"({"topicConfigSerializeWrapper":{"dataVersion":{"counter":99999999999999999999}}})",
       "counter is not an integer"},
      {R"({"filterServerList":[1]})", "expected a string"},
      {R"({"topicConfigSerializeWrapper":[]})", "expected '{'"},
  };
  for (const auto& [input, expected] : cases) {
    Result<RegisterBody> body = decode_register_body(input);
    ASSERT_FALSE(body.is_ok()) << "accepted: " << input;
    EXPECT_EQ(body.status().code(), StatusCode::kCorruption) << input;
    EXPECT_NE(body.status().message().find("malformed register body at offset "), std::string::npos);
    EXPECT_NE(body.status().message().find(expected), std::string::npos)
        << "input: " << input << "\nerror: " << body.status().message() << "\nexpected: " << expected;
  }
}

TEST(RegisterBody, RandomMutationsNeverCrash) {
  const std::string original = kJavaRegisterBody;
  const std::string specials = "{}[]\":,\\u0 -.en";
  const char* env = std::getenv("HOLDFAST_NAMESRV_SEED");
  const uint32_t seed = env != nullptr ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: HOLDFAST_NAMESRV_SEED=" + std::to_string(seed) + ")");
  std::mt19937 rng(seed);
  for (int round = 0; round < 3000; ++round) {
    std::string text = original;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0: text[at] = specials[rng() % specials.size()]; break;
        case 1: text.erase(at, 1 + rng() % 8); break;
        case 2: text.insert(at, 1, static_cast<char>(rng() % 256)); break;
        default: text.resize(at); break;
      }
    }
    Result<RegisterBody> body = decode_register_body(text);
    if (!body.is_ok()) {
      EXPECT_EQ(body.status().code(), StatusCode::kCorruption);
      continue;
    }
    for (const TopicConfig& config : body->topic_configs) EXPECT_FALSE(config.topic_name.empty()) << text;
  }
}

TEST(RegisterBody, NestingDepthIsLimited) {
  const auto nested = [](int levels) {
    // The top-level object is level 1; each unknown array adds one.
    return R"({"x":)" + std::string(levels - 1, '[') + std::string(levels - 1, ']') + "}";
  };
  EXPECT_TRUE(decode_register_body(nested(kMaxRegisterBodyDepth)).is_ok());
  Result<RegisterBody> too_deep = decode_register_body(nested(kMaxRegisterBodyDepth + 1));
  ASSERT_FALSE(too_deep.is_ok());
  EXPECT_NE(too_deep.status().message().find("nesting deeper than 64 levels"), std::string::npos)
      << too_deep.status().message();
  // A hostile body far deeper than the stack could take fails fast at the limit.
  EXPECT_FALSE(decode_register_body(R"({"x":)" + std::string(1'000'000, '[')).is_ok());
  EXPECT_FALSE(decode_register_body(std::string(1'000'000, '{')).is_ok());
}

}  // namespace
}  // namespace holdfast::namesrv
