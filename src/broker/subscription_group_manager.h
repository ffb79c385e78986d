// SubscriptionGroupManager: the broker's consumer-group settings (retry queues, retry limit,
// whether the group may consume) and their file subscriptionGroup.json in RocketMQ's layout
// (facts §12.4, §8.1).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "broker/config_file.h"
#include "broker/persisted_table.h"
#include "env/env.h"

namespace holdfast::broker {

inline constexpr int32_t kMaxGroupNameLength = 255;

// RocketMQ's SubscriptionGroupConfig; the defaults are Java's field defaults.
struct SubscriptionGroupConfig {
  std::string group_name;
  bool consume_enable = true;
  bool consume_from_min_enable = true;
  bool consume_broadcast_enable = true;
  int32_t retry_queue_nums = 1;
  int32_t retry_max_times = 16;
  int64_t broker_id = 0;
  int64_t which_broker_when_consume_slowly = 1;
  bool notify_consumer_ids_changed_enable = true;

  friend bool operator==(const SubscriptionGroupConfig&, const SubscriptionGroupConfig&) = default;
};

// {"brokerId":..,"consumeBroadcastEnable":..,"consumeEnable":..,"consumeFromMinEnable":..,
//  "groupName":..,"notifyConsumerIdsChangedEnable":..,"retryMaxTimes":..,"retryQueueNums":..,
//  "whichBrokerWhenConsumeSlowly":..}
nlohmann::json subscription_group_json(const SubscriptionGroupConfig& config);
// Unknown fields (5.x "groupRetryPolicy", "attributes", ...) are ignored; missing ones take the
// defaults; a missing groupName takes `key_name`.
Result<SubscriptionGroupConfig> subscription_group_from_json(const nlohmann::json& value, std::string_view key_name);
// InvalidArgument unless the name is 1..255 characters of [%|a-zA-Z0-9_-] and the counts are
// not negative.
Status validate_subscription_group(const SubscriptionGroupConfig& config);

// Owned by the broker; thread-safe (a PersistedTable, like TopicConfigManager's): every change
// bumps the data version, persists the whole table before returning and then calls the change
// listener.
class SubscriptionGroupManager {
 public:
  struct Options {
    std::string path;  // <storePathRootDir>/config/subscriptionGroup.json
    bool auto_create_subscription_group = true;
  };

  SubscriptionGroupManager(Env* env, Options options);

  // Reads the file (or its .bak); Corruption when it exists but neither copy parses.
  Status load();

  std::optional<SubscriptionGroupConfig> find(const std::string& group) const;
  std::vector<SubscriptionGroupConfig> all() const;  // sorted by name
  DataVersion data_version() const;
  // Creates or replaces (validated first). Unchanged on error.
  Status update(SubscriptionGroupConfig config);
  // NotFound when absent.
  Status remove(const std::string& group);
  // The group's settings; an unknown group is created with the defaults when
  // autoCreateSubscriptionGroup is on, else NotFound (SUBSCRIPTION_GROUP_NOT_EXIST).
  Result<SubscriptionGroupConfig> find_or_create(const std::string& group);

  // {"dataVersion":{..},"subscriptionGroupTable":{name:SubscriptionGroupConfig}}
  // (GET_ALL_SUBSCRIPTIONGROUP_CONFIG body; the file has the same shape, tab-indented).
  std::string encode_wrapper_json() const;

  void set_change_listener(std::function<void()> listener);
  // Slave: becomes the master's table (GET_ALL_SUBSCRIPTIONGROUP_CONFIG body) when its data
  // version differs. Returns whether anything changed.
  Result<bool> replace_from_master(const std::string& wrapper_json) { return table_.replace_from(wrapper_json); }
  const Options& options() const { return options_; }

 private:
  using Table = PersistedTable<SubscriptionGroupConfig>;

  const Options options_;
  Table table_;
};

}  // namespace holdfast::broker
