// fastjson bodies as Java brokers write them: bare numeric keys, MessageQueue object keys,
// nesting limits and malformed text; plus the admin table renderer.
#include "app/admin_json.h"

#include <gtest/gtest.h>

#include "app/admin_client.h"
#include "app/admin_format.h"

namespace holdfast::admin {
namespace {

TEST(AdminJson, StandardJsonPassesThrough) {
  auto out = fastjson_to_standard(R"({"a":[1,2.5,-3,true,null,"x\"y"],"b":{}})");
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(*out, R"({"a":[1,2.5,-3,true,null,"x\"y"],"b":{}})");
}

TEST(AdminJson, BareNumericKeysBecomeStrings) {
  auto doc = parse_fastjson(R"({"brokerAddrTable":{"b":{"brokerAddrs":{0:"10.0.0.1:10911", 1 : "10.0.0.2:10911"}}}})",
                            "cluster info");
  ASSERT_TRUE(doc.is_ok()) << doc.status().to_string();
  const auto& addrs = (*doc)["brokerAddrTable"]["b"]["brokerAddrs"];
  EXPECT_EQ(addrs["0"], "10.0.0.1:10911");
  EXPECT_EQ(addrs["1"], "10.0.0.2:10911");
}

TEST(AdminJson, MessageQueueObjectKeys) {
  const char* body =
      R"({"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":5,)"
      R"("consumerOffset":3},{"brokerName":"b","queueId":1,"topic":"t{x}"}:{"brokerOffset":2,"consumerOffset":2}}})";
  auto doc = parse_fastjson(body, "consume stats");
  ASSERT_TRUE(doc.is_ok()) << doc.status().to_string();
  ASSERT_EQ((*doc)["offsetTable"].size(), 2u);
  std::vector<MessageQueueKey> keys;
  for (auto& [key, value] : (*doc)["offsetTable"].items()) {
    auto mq = parse_message_queue_key(key);
    ASSERT_TRUE(mq.is_ok()) << mq.status().to_string();
    keys.push_back(*mq);
  }
  EXPECT_EQ(keys[0].broker_name, "b");
  EXPECT_EQ(keys[0].queue_id, 0);
  EXPECT_EQ(keys[0].topic, "t");
  EXPECT_EQ(keys[1].topic, "t{x}");
  EXPECT_EQ(keys[1].queue_id, 1);
}

TEST(AdminJson, MalformedTextNamesTheOffset) {
  for (const char* bad : {"", "{", R"({"a")", R"({"a":})", R"({"a":1,})", R"({"a":"unterminated})", "[1 2]",
                          R"({"a":1} x)", R"({:1})"}) {
    auto out = parse_fastjson(bad, "body");
    EXPECT_FALSE(out.is_ok()) << bad;
    if (!out.is_ok()) {
      EXPECT_NE(out.status().message().find("body"), std::string::npos) << out.status().message();
    }
  }
  EXPECT_FALSE(parse_message_queue_key(R"({"brokerName":"b","topic":"t"})").is_ok());
}

TEST(AdminJson, NestingIsLimited) {
  std::string deep(kMaxFastjsonDepth + 5, '[');
  deep += std::string(kMaxFastjsonDepth + 5, ']');
  auto out = fastjson_to_standard(deep);
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("deeply"), std::string::npos);
}

TEST(AdminFormat, NameServerListAndTable) {
  EXPECT_EQ(split_name_servers(" a:1; b:2 ;;"), (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(format_table({{"#A", "#Bee"}, {"long value", "x"}}), "#A          #Bee\nlong value  x\n");
  GroupStats stats;
  stats.group = "g";
  stats.queues.push_back({"T", "b", 0, 10, 4, 6, 0});
  stats.total_lag = 6;
  const std::string text = format_group_stats(stats);
  EXPECT_NE(text.find("Diff Total: 6"), std::string::npos) << text;
  EXPECT_EQ(format_timestamp_ms(0), "-");
}

}  // namespace
}  // namespace holdfast::admin
