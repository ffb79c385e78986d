// Route JSON in both key forms (cross-checked against the name server's own writer) and the
// publish/subscribe queue lists derived from a route.
#include "client/topic_route.h"

#include <gtest/gtest.h>

#include "namesrv/route_json.h"

namespace holdfast::client {
namespace {

constexpr char kStandard[] =
    R"({"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.2:10911","1":"10.0.0.3:10911"},"brokerName":"b","cluster":"C",)"
    R"("enableActingMaster":false},{"brokerAddrs":{"0":"10.0.0.1:10911"},"brokerName":"a","cluster":"C"}],)"
    R"("filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2,"topicSysFlag":0,)"
    R"("writeQueueNums":3},{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]})";

constexpr char kFastjson[] =
    R"({"brokerDatas":[{"brokerAddrs":{0:"10.0.0.2:10911",1:"10.0.0.3:10911"},"brokerName":"b","cluster":"C",)"
    R"("enableActingMaster":false},{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"a","cluster":"C"}],)"
    R"("filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2,"topicSysFlag":0,)"
    R"("writeQueueNums":3},{"brokerName":"a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]})";

TEST(TopicRouteTest, BothKeyFormsDecodeTheSame) {
  auto standard = decode_topic_route(kStandard);
  auto fast = decode_topic_route(kFastjson);
  ASSERT_TRUE(standard.is_ok()) << standard.status().to_string();
  ASSERT_TRUE(fast.is_ok()) << fast.status().to_string();
  EXPECT_EQ(*standard, *fast);
  ASSERT_EQ(standard->broker_datas.size(), 2u);
  EXPECT_EQ(standard->broker_datas[0].broker_addrs.at(1), "10.0.0.3:10911");
  EXPECT_EQ(standard->find_broker("a")->master_address(), "10.0.0.1:10911");
  EXPECT_EQ(standard->queue_datas[0].write_queue_nums, 3);
}

TEST(TopicRouteTest, QuoteBareKeysLeavesStringsAlone) {
  EXPECT_EQ(quote_bare_json_keys(R"({0:"a,{1:2}",-1 : "x", "k":{ 7:[{8:"}"}]}})"),
            R"({"0":"a,{1:2}","-1" : "x", "k":{ "7":[{"8":"}"}]}})");
  EXPECT_EQ(quote_bare_json_keys(R"({"a\"b":1,"c":[1,2]})"), R"({"a\"b":1,"c":[1,2]})");
}

TEST(TopicRouteTest, NumbersAsStringsAndUnknownKeys) {
  auto r = decode_topic_route(
      R"({"queueDatas":[{"brokerName":"a","perm":"6","readQueueNums":"1","writeQueueNums":1,"x":{"y":[1]}}],)"
      R"("brokerDatas":[{"brokerName":"a","brokerAddrs":{"0":"h:1"}}],"topicQueueMappingByBroker":{}})");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->queue_datas[0].perm, 6);
  EXPECT_EQ(r->queue_datas[0].read_queue_nums, 1);
}

TEST(TopicRouteTest, MalformedIsCorruption) {
  EXPECT_FALSE(decode_topic_route("").is_ok());
  EXPECT_FALSE(decode_topic_route("[1]").is_ok());
  EXPECT_FALSE(decode_topic_route(R"({"queueDatas":[{"perm":"x"}]})").is_ok());
  EXPECT_FALSE(decode_topic_route(R"({"brokerDatas":[{"brokerAddrs":{"m":"h:1"}}]})").is_ok());
}

TEST(TopicRouteTest, NameServerWriterOutputDecodesInBothForms) {
  namesrv::TopicRouteData route;
  route.queue_datas.push_back({"a", 4, 4, 6, 0});
  namesrv::BrokerData b;
  b.cluster = "C";
  b.broker_name = "a";
  b.broker_addrs = {{0, "127.0.0.1:10911"}, {2, "127.0.0.1:10921"}};
  route.broker_datas.push_back(b);
  for (bool standard : {true, false}) {
    auto r = decode_topic_route(namesrv::encode_topic_route(route, standard));
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_EQ(r->broker_datas.size(), 1u);
    EXPECT_EQ(r->broker_datas[0].broker_addrs, b.broker_addrs);
    EXPECT_EQ(r->queue_datas[0], (QueueData{"a", 4, 4, 6, 0}));
  }
}

TEST(TopicRouteTest, PublishQueuesSortedWritableWithMasterOnly) {
  auto r = decode_topic_route(kStandard);
  ASSERT_TRUE(r.is_ok());
  TopicRouteData route = *r;
  auto pub = publish_queues("T", route);
  ASSERT_EQ(pub.size(), 7u);  // a: 4, then b: 3
  EXPECT_EQ(pub[0], (MessageQueue{"T", "a", 0}));
  EXPECT_EQ(pub[4], (MessageQueue{"T", "b", 0}));
  EXPECT_EQ(pub[6], (MessageQueue{"T", "b", 2}));
  auto sub = subscribe_queues("T", route);
  ASSERT_EQ(sub.size(), 6u);  // a: 4, b: 2
  EXPECT_EQ(sub[5], (MessageQueue{"T", "b", 1}));

  // b loses its master: no publish queues there, still readable.
  route.broker_datas[0].broker_addrs.erase(0);
  EXPECT_EQ(publish_queues("T", route).size(), 4u);
  EXPECT_EQ(subscribe_queues("T", route).size(), 6u);
  // a is read-only.
  route.queue_datas[1].perm = kPermRead;
  EXPECT_TRUE(publish_queues("T", route).empty());
}

TEST(TopicRouteTest, OrderTopicConfOverrides) {
  TopicRouteData route;
  route.order_topic_conf = "b:2;a:1";
  auto pub = publish_queues("T", route);
  ASSERT_EQ(pub.size(), 3u);
  EXPECT_EQ(pub[0], (MessageQueue{"T", "b", 0}));
  EXPECT_EQ(pub[2], (MessageQueue{"T", "a", 0}));
}

TEST(TopicRouteTest, ClusterInfoBothForms) {
  for (const char* text :
       {R"({"brokerAddrTable":{"a":{"brokerAddrs":{0:"h:1"},"brokerName":"a","cluster":"C"}},"clusterAddrTable":{"C":["a"]}})",
        R"({"brokerAddrTable":{"a":{"brokerAddrs":{"0":"h:1"},"brokerName":"a","cluster":"C"}},"clusterAddrTable":{"C":["a"]}})"}) {
    auto info = decode_cluster_info(text);
    ASSERT_TRUE(info.is_ok()) << info.status().to_string();
    EXPECT_EQ(info->broker_addr_table.at("a").master_address(), "h:1");
    EXPECT_EQ(info->cluster_addr_table.at("C"), std::vector<std::string>{"a"});
  }
}

}  // namespace
}  // namespace holdfast::client
