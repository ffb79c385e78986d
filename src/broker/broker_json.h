// JSON helpers shared by the broker's admin and client-management bodies. Bodies off the hot path
// (heartbeats, admin requests, configuration files) go through nlohmann::json; what this header
// adds is the one shape standard JSON cannot express: a MessageQueue used as a map key, which
// Java's fastjson writes as an object literal (facts §12.4), e.g.
//   {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"maxOffset":3,...}}}
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace holdfast::broker {

// A JSON string literal (quotes and escapes included) for `s`.
inline std::string json_string(std::string_view s) { return nlohmann::json(std::string(s)).dump(); }

// The MessageQueue object as fastjson writes it: fields in alphabetical order, no whitespace.
inline std::string message_queue_json(std::string_view topic, std::string_view broker_name, int32_t queue_id) {
  std::string out = "{\"brokerName\":";
  out += json_string(broker_name);
  out += ",\"queueId\":";
  out += std::to_string(queue_id);
  out += ",\"topic\":";
  out += json_string(topic);
  out += "}";
  return out;
}

}  // namespace holdfast::broker
