// Lenient HEART_BEAT body decoding.
#include "broker/heartbeat_data.h"

#include <nlohmann/json.hpp>

#include "broker/config_file.h"

namespace holdfast::broker {

namespace {

using nlohmann::json;

std::string string_of(const json& object, const char* key, std::string fallback) {
  const json* v = json_member(object, key);
  if (v == nullptr) return fallback;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return std::to_string(v->get<int64_t>());
  if (v->is_boolean()) return v->get<bool>() ? "true" : "false";
  return fallback;
}

// json_int64, and a float truncated toward zero.
std::optional<int64_t> int64_of(const json& v) {
  if (v.is_number_float()) return static_cast<int64_t>(v.get<double>());
  return json_int64(v);
}

int64_t int64_of(const json& object, const char* key, int64_t fallback) {
  const json* v = json_member(object, key);
  return v == nullptr ? fallback : int64_of(*v).value_or(fallback);
}

bool bool_of(const json& object, const char* key, bool fallback) {
  const json* v = json_member(object, key);
  if (v == nullptr) return fallback;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_number_integer()) return v->get<int64_t>() != 0;
  if (v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    if (s == "true" || s == "TRUE" || s == "True" || s == "1") return true;
    if (s == "false" || s == "FALSE" || s == "False" || s == "0") return false;
  }
  return fallback;
}

// Sets arrive as JSON arrays; tolerate a single value or an object of values as well.
std::vector<const json*> elements(const json& object, const char* key) {
  std::vector<const json*> out;
  const json* v = json_member(object, key);
  if (v == nullptr) return out;
  if (v->is_array() || v->is_object()) {
    for (const auto& e : *v) out.push_back(&e);
  } else {
    out.push_back(v);
  }
  return out;
}

SubscriptionData parse_subscription(const json& s) {
  SubscriptionData d;
  d.topic = string_of(s, "topic", "");
  d.sub_string = string_of(s, "subString", "*");
  for (const json* t : elements(s, "tagsSet")) {
    if (t->is_string()) d.tags_set.push_back(t->get<std::string>());
  }
  for (const json* c : elements(s, "codeSet")) {
    if (auto code = int64_of(*c)) d.code_set.push_back(*code);
  }
  d.sub_version = int64_of(s, "subVersion", 0);
  d.expression_type = string_of(s, "expressionType", "TAG");
  d.class_filter_mode = bool_of(s, "classFilterMode", false);
  return d;
}

}  // namespace

Result<HeartbeatData> parse_heartbeat_data(std::string_view body) {
  json root = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Status::invalid_argument("heartbeat body is not valid JSON");
  if (!root.is_object()) return Status::invalid_argument("heartbeat body is not a JSON object");
  HeartbeatData h;
  h.client_id = string_of(root, "clientID", "");
  for (const json* p : elements(root, "producerDataSet")) {
    std::string group = string_of(*p, "groupName", "");
    if (group.empty()) return Status::invalid_argument("heartbeat producer entry without groupName");
    h.producer_groups.push_back(std::move(group));
  }
  for (const json* c : elements(root, "consumerDataSet")) {
    ConsumerData d;
    d.group_name = string_of(*c, "groupName", "");
    if (d.group_name.empty()) return Status::invalid_argument("heartbeat consumer entry without groupName");
    d.consume_type = string_of(*c, "consumeType", "");
    d.message_model = string_of(*c, "messageModel", "CLUSTERING");
    d.consume_from_where = string_of(*c, "consumeFromWhere", "");
    d.unit_mode = bool_of(*c, "unitMode", false);
    for (const json* s : elements(*c, "subscriptionDataSet")) {
      if (!s->is_object()) continue;
      SubscriptionData sub = parse_subscription(*s);
      if (!sub.topic.empty()) d.subscriptions.push_back(std::move(sub));
    }
    h.consumers.push_back(std::move(d));
  }
  return h;
}

}  // namespace holdfast::broker
