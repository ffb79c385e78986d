// Reading the JSON bodies of admin responses, which Java brokers and name servers write with
// fastjson: map keys may be bare tokens ({0:"10.0.0.1:10911"}) or whole objects
// ({{"brokerName":"b","queueId":0,"topic":"t"}:{..}}, facts §12.4). Neither is standard JSON.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace holdfast::admin {

// Nesting deeper than this is rejected (real bodies nest about five deep).
inline constexpr int kMaxFastjsonDepth = 64;

// Rewrites fastjson text as standard JSON: every non-string object key becomes a JSON string
// holding the key's own text (a bare token as written; an object or array key normalized
// recursively and compacted, so it can be parsed again). Everything else is copied as is.
// Corruption naming the byte offset when the text is malformed.
Result<std::string> fastjson_to_standard(std::string_view text);

// fastjson_to_standard, then nlohmann::json::parse. `what` names the body in error messages.
Result<nlohmann::json> parse_fastjson(std::string_view text, std::string_view what);

// A MessageQueue map key (as produced by fastjson_to_standard) decoded into its fields.
struct MessageQueueKey {
  std::string topic;
  std::string broker_name;
  int32_t queue_id = 0;
};
Result<MessageQueueKey> parse_message_queue_key(std::string_view key);

}  // namespace holdfast::admin
