// The name server over loopback: broker registration with a Java-style body, routes in both JSON
// key forms by client version, cluster info, topic list, TOPIC_NOT_EXIST, and removal of a broker
// whose connection closes.
#include "namesrv/name_server.h"

#include <gtest/gtest.h>

#include <thread>

#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "transport/remoting_client.h"

namespace holdfast::namesrv {
namespace {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

constexpr const char* kBody =
    R"({"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,"stateVersion":0,)"
    R"("timestamp":1700000000000},"topicConfigTable":{"Orders":{"order":false,"perm":6,"readQueueNums":4,)"
    R"("topicFilterType":"SINGLE_TAG","topicName":"Orders","topicSysFlag":0,"writeQueueNums":4}}}})";

RemotingCommand registration() {
  RemotingCommand r = RemotingCommand::make_request(req::kRegisterBroker);
  r.set_ext("brokerName", "broker-a");
  r.set_ext("brokerAddr", "127.0.0.1:10911");
  r.set_ext("clusterName", "DefaultCluster");
  r.set_ext("haServerAddr", "127.0.0.1:10912");
  r.set_ext("brokerId", "0");
  r.set_ext("compressed", "false");
  r.set_ext("bodyCrc32", "0");
  r.body = kBody;
  return r;
}

RemotingCommand route_query(const std::string& topic, int32_t version) {
  RemotingCommand r = RemotingCommand::make_request(req::kGetRouteinfoByTopic);
  r.version = version;
  r.set_ext("topic", topic);
  return r;
}

TEST(NameServer, RegisterRouteClusterTopicsAndRemoval) {
  NameServer ns{NameServerOptions{}};
  ASSERT_TRUE(ns.start().is_ok());
  const std::string addr = "127.0.0.1:" + std::to_string(ns.port());
  transport::RemotingClient broker;
  auto reg = broker.invoke_sync(addr, registration(), 3000);
  ASSERT_TRUE(reg.is_ok());
  ASSERT_EQ(reg->code, rc::kSuccess) << reg->remark.value_or("");

  transport::RemotingClient client;
  auto modern = client.invoke_sync(addr, route_query("Orders", 409), 3000);
  ASSERT_TRUE(modern.is_ok());
  ASSERT_EQ(modern->code, rc::kSuccess);
  EXPECT_NE(modern->body.find(R"("brokerAddrs":{"0":"127.0.0.1:10911"})"), std::string::npos) << modern->body;
  EXPECT_NE(modern->body.find(R"("readQueueNums":4)"), std::string::npos);
  auto old = client.invoke_sync(addr, route_query("Orders", 317), 3000);
  ASSERT_TRUE(old.is_ok());
  EXPECT_NE(old->body.find(R"("brokerAddrs":{0:"127.0.0.1:10911"})"), std::string::npos) << old->body;

  auto missing = client.invoke_sync(addr, route_query("Nope", 409), 3000);
  ASSERT_TRUE(missing.is_ok());
  EXPECT_EQ(missing->code, rc::kTopicNotExist);
  EXPECT_EQ(missing->remark.value_or(""), "No topic route info in name server for the topic: Nope");

  auto cluster = client.invoke_sync(addr, RemotingCommand::make_request(req::kGetBrokerClusterInfo), 3000);
  ASSERT_TRUE(cluster.is_ok());
  EXPECT_NE(cluster->body.find(R"("clusterAddrTable":{"DefaultCluster":["broker-a"]})"), std::string::npos)
      << cluster->body;
  auto topics = client.invoke_sync(addr, RemotingCommand::make_request(req::kGetAllTopicListFromNameserver), 3000);
  ASSERT_TRUE(topics.is_ok());
  EXPECT_NE(topics->body.find(R"("Orders")"), std::string::npos);

  // DELETE_TOPIC_IN_NAMESRV forgets the route; deleting again still succeeds.
  for (int round = 0; round < 2; ++round) {
    RemotingCommand del = RemotingCommand::make_request(req::kDeleteTopicInNamesrv);
    del.set_ext("topic", "Orders");
    auto deleted = client.invoke_sync(addr, del, 3000);
    ASSERT_TRUE(deleted.is_ok());
    EXPECT_EQ(deleted->code, rc::kSuccess);
  }
  EXPECT_EQ(client.invoke_sync(addr, route_query("Orders", 409), 3000)->code, rc::kTopicNotExist);
  // A registration with a new data version brings it back (the broker still has the topic).
  RemotingCommand again = registration();
  again.body.replace(again.body.find("\"counter\":1"), 11, "\"counter\":2");
  ASSERT_EQ(broker.invoke_sync(addr, again, 3000)->code, rc::kSuccess);
  EXPECT_EQ(client.invoke_sync(addr, route_query("Orders", 409), 3000)->code, rc::kSuccess);

  // The broker's connection closes: its routes go at once (not after 120 s).
  broker.close_connection(addr);
  bool gone = false;
  for (int i = 0; i < 3000 && !gone; ++i) {
    gone = client.invoke_sync(addr, route_query("Orders", 409), 3000)->code == rc::kTopicNotExist;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(gone);
}

TEST(NameServer, BadRegistrationGetsReadableError) {
  NameServer ns{NameServerOptions{}};
  ASSERT_TRUE(ns.start().is_ok());
  const std::string addr = "127.0.0.1:" + std::to_string(ns.port());
  transport::RemotingClient broker;
  RemotingCommand r = registration();
  r.body = "{\"topicConfigSerializeWrapper\":";
  auto resp = broker.invoke_sync(addr, r, 3000);
  ASSERT_TRUE(resp.is_ok());
  EXPECT_EQ(resp->code, rc::kSystemError);
  EXPECT_NE(resp->remark.value_or("").find("malformed register body"), std::string::npos) << resp->remark.value_or("");
  RemotingCommand no_id = registration();
  no_id.ext_fields = {};
  auto resp2 = broker.invoke_sync(addr, no_id, 3000);
  EXPECT_EQ(resp2->code, rc::kSystemError);
  EXPECT_NE(resp2->remark.value_or("").find("brokerId"), std::string::npos);
}

}  // namespace
}  // namespace holdfast::namesrv
