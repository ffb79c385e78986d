// HeartbeatData: what a client tells the broker in HEART_BEAT (facts §2.6) — its id, its producer
// groups, and per consumer group how it consumes and what it subscribes to. The decoder is
// lenient, because the body comes from several client families: Java's fastjson, Go, and
// Node.js clients that send JSON.stringify output (fields may be missing, numbers may be strings).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace holdfast::broker {

struct SubscriptionData {
  std::string topic;
  std::string sub_string = "*";       // "*", "TagA || TagB", or an SQL92 expression
  std::vector<std::string> tags_set;
  std::vector<int64_t> code_set;      // Java hashCodes of the tags
  int64_t sub_version = 0;
  std::string expression_type = "TAG";
  bool class_filter_mode = false;

  bool operator==(const SubscriptionData&) const = default;
};

struct ConsumerData {
  std::string group_name;
  std::string consume_type;        // CONSUME_ACTIVELY, CONSUME_PASSIVELY, CONSUME_POP
  std::string message_model;       // CLUSTERING, BROADCASTING
  std::string consume_from_where;  // CONSUME_FROM_LAST_OFFSET, ...
  std::vector<SubscriptionData> subscriptions;
  bool unit_mode = false;
};

struct HeartbeatData {
  std::string client_id;  // "ip@instanceName"
  std::vector<std::string> producer_groups;
  std::vector<ConsumerData> consumers;
};

// Decodes a HEART_BEAT body. Unknown keys are ignored; missing keys take the defaults above;
// numbers and booleans may arrive as strings. Fails (InvalidArgument, readable) only when the
// body is not JSON, is not an object, or a group entry has no groupName.
Result<HeartbeatData> parse_heartbeat_data(std::string_view body);

}  // namespace holdfast::broker
