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
    : options_(std::move(options)),
      table_(env, options_.path,
             Table::Schema{.table_key = "subscriptionGroupTable",
                           .file_what = "subscription group file",
                           .noun = "subscription group",
                           .entry_noun = "group",
                           .name = &SubscriptionGroupConfig::group_name,
                           .to_json = &subscription_group_json,
                           .from_json = &subscription_group_from_json}) {}

Status SubscriptionGroupManager::load() {
  return table_.load([&](Table::Locked& table) {
    logger("broker")->info("subscription groups: {} loaded from {}", table.size(), options_.path);
  });
}

std::optional<SubscriptionGroupConfig> SubscriptionGroupManager::find(const std::string& group) const {
  return table_.find(group);
}

std::vector<SubscriptionGroupConfig> SubscriptionGroupManager::all() const { return table_.all(); }

DataVersion SubscriptionGroupManager::data_version() const { return table_.data_version(); }

void SubscriptionGroupManager::set_change_listener(std::function<void()> listener) {
  table_.set_change_listener(std::move(listener));
}

Status SubscriptionGroupManager::update(SubscriptionGroupConfig config) {
  HF_RETURN_IF_ERROR(validate_subscription_group(config));
  return table_.update(std::move(config));
}

Status SubscriptionGroupManager::remove(const std::string& group) { return table_.remove(group); }

Result<SubscriptionGroupConfig> SubscriptionGroupManager::find_or_create(const std::string& group) {
  return table_.with_lock([&](Table::Locked& table) -> Result<SubscriptionGroupConfig> {
    if (const SubscriptionGroupConfig* existing = table.find(group)) return *existing;
    if (!options_.auto_create_subscription_group) {
      return Status::not_found("subscription group [" + group.substr(0, 300) +
                               "] does not exist on this broker and autoCreateSubscriptionGroup is off");
    }
    SubscriptionGroupConfig config;
    config.group_name = group;
    HF_RETURN_IF_ERROR(validate_subscription_group(config));
    HF_RETURN_IF_ERROR(table.put(config));
    logger("broker")->info("subscription group {} created automatically", group);
    return config;
  });
}

std::string SubscriptionGroupManager::encode_wrapper_json() const { return dump_compact(table_.wrapper_json()); }

}  // namespace holdfast::broker
