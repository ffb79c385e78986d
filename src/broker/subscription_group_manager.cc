// Subscription-group table: subscriptionGroup.json codec, auto-creation and persistence.
#include "broker/subscription_group_manager.h"

#include "base/logging.h"

namespace holdfast::broker {

using nlohmann::json;

json subscription_group_json(const SubscriptionGroupConfig& c) {
  return json{{"brokerId", c.broker_id},
              {"consumeBroadcastEnable", c.consume_broadcast_enable},
              {"consumeEnable", c.consume_enable},
              {"consumeFromMinEnable", c.consume_from_min_enable},
              {"groupName", c.group_name},
              {"notifyConsumerIdsChangedEnable", c.notify_consumer_ids_changed_enable},
              {"retryMaxTimes", c.retry_max_times},
              {"retryQueueNums", c.retry_queue_nums},
              {"whichBrokerWhenConsumeSlowly", c.which_broker_when_consume_slowly}};
}

Result<SubscriptionGroupConfig> subscription_group_from_json(const json& value, std::string_view key_name) {
  if (!value.is_object()) return Status::invalid_argument("subscription group config is not an object");
  SubscriptionGroupConfig c;
  HF_ASSIGN_OR_RETURN(c.group_name, string_field(value, "groupName", std::string(key_name)));
  HF_ASSIGN_OR_RETURN(c.consume_enable, bool_field(value, "consumeEnable", c.consume_enable));
  HF_ASSIGN_OR_RETURN(c.consume_from_min_enable, bool_field(value, "consumeFromMinEnable", c.consume_from_min_enable));
  HF_ASSIGN_OR_RETURN(c.consume_broadcast_enable,
                      bool_field(value, "consumeBroadcastEnable", c.consume_broadcast_enable));
  HF_ASSIGN_OR_RETURN(c.retry_queue_nums, int32_field(value, "retryQueueNums", c.retry_queue_nums));
  HF_ASSIGN_OR_RETURN(c.retry_max_times, int32_field(value, "retryMaxTimes", c.retry_max_times));
  HF_ASSIGN_OR_RETURN(c.broker_id, int_field(value, "brokerId", c.broker_id));
  HF_ASSIGN_OR_RETURN(c.which_broker_when_consume_slowly,
                      int_field(value, "whichBrokerWhenConsumeSlowly", c.which_broker_when_consume_slowly));
  HF_ASSIGN_OR_RETURN(c.notify_consumer_ids_changed_enable,
                      bool_field(value, "notifyConsumerIdsChangedEnable", c.notify_consumer_ids_changed_enable));
  return c;
}

Status validate_subscription_group(const SubscriptionGroupConfig& c) {
  const std::string& g = c.group_name;
  bool ok = !g.empty() && g.size() <= static_cast<size_t>(kMaxGroupNameLength);
  for (char ch : g) {
    ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '%' ||
                ch == '|' || ch == '-' || ch == '_');
  }
  if (!ok) {
    return Status::invalid_argument("illegal consumer group name '" + g.substr(0, 300) +
                                    "': 1 to 255 characters of [%|a-zA-Z0-9_-] are allowed");
  }
  if (c.retry_queue_nums < 0 || c.retry_max_times < 0) {
    return Status::invalid_argument("group " + g + ": retryQueueNums and retryMaxTimes must not be negative");
  }
  return Status::ok();
}

SubscriptionGroupManager::SubscriptionGroupManager(Env* env, Options options)
    : env_(env), options_(std::move(options)) {
  version_.timestamp = env_->now_ms();
}

Status SubscriptionGroupManager::load() {
  std::map<std::string, SubscriptionGroupConfig> loaded;
  std::optional<DataVersion> loaded_version;
  HF_RETURN_IF_ERROR(load_config_file(env_, options_.path, [&](const std::string& text) -> Status {
    HF_ASSIGN_OR_RETURN(json doc, parse_json(text, "subscription group file"));
    if (!doc.is_object()) return Status::corruption("subscription group file is not a JSON object");
    std::map<std::string, SubscriptionGroupConfig> table;
    auto it = doc.find("subscriptionGroupTable");
    if (it != doc.end() && !it->is_null()) {
      if (!it->is_object()) return Status::corruption("subscriptionGroupTable is not an object");
      for (const auto& [name, value] : it->items()) {
        auto c = subscription_group_from_json(value, name);
        if (!c.is_ok()) return Status::corruption("group " + name + ": " + c.status().message());
        table[name] = std::move(c).value();
        table[name].group_name = name;
      }
    }
    DataVersion v;
    if (auto dv = doc.find("dataVersion"); dv != doc.end()) {
      auto parsed = data_version_from_json(*dv);
      if (!parsed.is_ok()) return Status::corruption(parsed.status().message());
      v = *parsed;
    }
    loaded = std::move(table);
    loaded_version = v;
    return Status::ok();
  }));
  std::lock_guard<std::mutex> lock(mu_);
  table_ = std::move(loaded);
  if (loaded_version) version_ = *loaded_version;
  logger("broker")->info("subscription groups: {} loaded from {}", table_.size(), options_.path);
  return Status::ok();
}

std::optional<SubscriptionGroupConfig> SubscriptionGroupManager::find(const std::string& group) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = table_.find(group);
  if (it == table_.end()) return std::nullopt;
  return it->second;
}

std::vector<SubscriptionGroupConfig> SubscriptionGroupManager::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SubscriptionGroupConfig> out;
  out.reserve(table_.size());
  for (const auto& [name, c] : table_) out.push_back(c);
  return out;
}

DataVersion SubscriptionGroupManager::data_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

json SubscriptionGroupManager::wrapper_locked() const {
  json table = json::object();
  for (const auto& [name, c] : table_) table[name] = subscription_group_json(c);
  return json{{"dataVersion", data_version_json(version_)}, {"subscriptionGroupTable", std::move(table)}};
}

Status SubscriptionGroupManager::commit_locked(const std::string& group,
                                               const std::optional<SubscriptionGroupConfig>& previous) {
  const DataVersion old_version = version_;
  version_.next(env_->now_ms());
  Status st = persist_config_file(env_, options_.path, dump_pretty(wrapper_locked()));
  if (st.is_ok()) return st;
  version_ = old_version;
  if (previous) {
    table_[group] = *previous;
  } else {
    table_.erase(group);
  }
  logger("broker")->error("subscription groups not persisted to {}: {}", options_.path, st.to_string());
  return st;
}

void SubscriptionGroupManager::notify_changed() {
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(listener_mu_);
    listener = listener_;
  }
  if (listener) listener();
}

void SubscriptionGroupManager::set_change_listener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  listener_ = std::move(listener);
}

Status SubscriptionGroupManager::update(SubscriptionGroupConfig config) {
  HF_RETURN_IF_ERROR(validate_subscription_group(config));
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<SubscriptionGroupConfig> previous;
    if (auto it = table_.find(config.group_name); it != table_.end()) previous = it->second;
    const std::string name = config.group_name;
    table_[name] = std::move(config);
    HF_RETURN_IF_ERROR(commit_locked(name, previous));
    logger("broker")->info("subscription group {} {}", name, previous ? "updated" : "created");
  }
  notify_changed();
  return Status::ok();
}

Status SubscriptionGroupManager::remove(const std::string& group) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = table_.find(group);
    if (it == table_.end()) return Status::not_found("subscription group " + group + " does not exist on this broker");
    std::optional<SubscriptionGroupConfig> previous = it->second;
    table_.erase(it);
    HF_RETURN_IF_ERROR(commit_locked(group, previous));
    logger("broker")->info("subscription group {} deleted", group);
  }
  notify_changed();
  return Status::ok();
}

Result<SubscriptionGroupConfig> SubscriptionGroupManager::find_or_create(const std::string& group) {
  SubscriptionGroupConfig config;
  config.group_name = group;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = table_.find(group); it != table_.end()) return it->second;
    if (!options_.auto_create_subscription_group) {
      return Status::not_found("subscription group [" + group.substr(0, 300) +
                               "] does not exist on this broker and autoCreateSubscriptionGroup is off");
    }
    HF_RETURN_IF_ERROR(validate_subscription_group(config));
    table_[group] = config;
    HF_RETURN_IF_ERROR(commit_locked(group, std::nullopt));
    logger("broker")->info("subscription group {} created automatically", group);
  }
  notify_changed();
  return config;
}

std::string SubscriptionGroupManager::encode_wrapper_json() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dump_compact(wrapper_locked());
}

}  // namespace holdfast::broker
