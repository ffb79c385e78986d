// TopicConfigManager: the broker's table of topics (queue counts, permissions, filter type), its
// file topics.json in RocketMQ's layout, the system topics a broker creates at start, and the
// auto-creation rule for sends to unknown topics (facts §12.3, §12.4, §8.1).
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

// Topic permission bits (PermName). A valid perm is 0 <= perm < 8.
namespace perm {
inline constexpr int32_t kPriority = 8;
inline constexpr int32_t kRead = 4;
inline constexpr int32_t kWrite = 2;
inline constexpr int32_t kInherit = 1;  // the topic may serve as an auto-create template
inline constexpr int32_t kReadWrite = kRead | kWrite;
inline constexpr int32_t kMaxValid = 7;
inline bool is_readable(int32_t p) { return (p & kRead) != 0; }
inline bool is_writable(int32_t p) { return (p & kWrite) != 0; }
inline bool is_inheritable(int32_t p) { return (p & kInherit) != 0; }
}  // namespace perm

// Reserved topic names (facts §8.1, §12.4).
inline constexpr std::string_view kAutoCreateTopicKey = "TBW102";
inline constexpr std::string_view kSelfTestTopic = "SELF_TEST_TOPIC";
inline constexpr std::string_view kBenchmarkTopic = "BenchmarkTest";
inline constexpr std::string_view kOffsetMovedEventTopic = "OFFSET_MOVED_EVENT";
inline constexpr std::string_view kScheduleTopic = "SCHEDULE_TOPIC_XXXX";
inline constexpr std::string_view kTransHalfTopic = "RMQ_SYS_TRANS_HALF_TOPIC";
inline constexpr std::string_view kTransOpHalfTopic = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
inline constexpr std::string_view kRetryTopicPrefix = "%RETRY%";
inline constexpr std::string_view kDlqTopicPrefix = "%DLQ%";
inline constexpr int32_t kScheduleQueueNums = 18;
inline constexpr int32_t kMaxTopicNameLength = 127;
inline constexpr int32_t kMaxRetryTopicNameLength = 255;  // %RETRY% / %DLQ% names
inline constexpr int32_t kMaxQueueNums = 1024;

inline std::string retry_topic(std::string_view group) { return std::string(kRetryTopicPrefix) + std::string(group); }
inline std::string dlq_topic(std::string_view group) { return std::string(kDlqTopicPrefix) + std::string(group); }

// RocketMQ's TopicConfig; the defaults are Java's field defaults.
struct TopicConfig {
  std::string topic_name;
  int32_t read_queue_nums = 16;
  int32_t write_queue_nums = 16;
  int32_t perm = perm::kReadWrite;
  std::string topic_filter_type = "SINGLE_TAG";  // or "MULTI_TAG"
  int32_t topic_sys_flag = 0;
  bool order = false;

  friend bool operator==(const TopicConfig&, const TopicConfig&) = default;
};

// {"order":..,"perm":..,"readQueueNums":..,"topicFilterType":..,"topicName":..,"topicSysFlag":..,
//  "writeQueueNums":..}
nlohmann::json topic_config_json(const TopicConfig& config);
// Reads one TopicConfig object; unknown fields (5.x "attributes", ...) are ignored and missing
// ones take the defaults. A missing topicName takes `key_name` (the table key).
Result<TopicConfig> topic_config_from_json(const nlohmann::json& value, std::string_view key_name);

// InvalidArgument with a readable message unless `topic` is 1..127 characters of [%|a-zA-Z0-9_-]
// (1..255 for %RETRY% and %DLQ% names).
Status validate_topic_name(std::string_view topic);
// Name, perm (0..7), queue counts (1..1024) and filter type; InvalidArgument naming the field.
Status validate_topic_config(const TopicConfig& config);

// resolve_for_send's errors, mapped to a send response code in this one place:
//   NotFound                 -> TOPIC_NOT_EXIST (17): unknown and not auto-creatable
//   sys_errno() == EACCES    -> NO_PERMISSION (16): the topic exists but is not writable
//   InvalidArgument          -> INVALID_PARAMETER (29): illegal topic name
//   anything else            -> SYSTEM_ERROR (1): e.g. the new topic could not be persisted
int32_t send_error_code(const Status& status);

// Owned by the broker; thread-safe (the table is a PersistedTable: one mutex around it, the file
// written under it so persisted versions never go backwards). Every successful change bumps the
// data version, persists the whole table before returning, and then calls the change listener
// (outside the lock) so the broker can re-register with the name servers.
class TopicConfigManager {
 public:
  struct Options {
    std::string path;  // <storePathRootDir>/config/topics.json
    std::string cluster_name = "DefaultCluster";
    std::string broker_name = "broker-a";
    bool auto_create_topic_enable = true;
    int32_t default_topic_queue_nums = 8;
    bool cluster_topic_enable = true;  // clusterTopicEnable: the cluster-name topic is also RW
    bool broker_topic_enable = true;   // brokerTopicEnable: the broker-name topic is also RW
  };

  TopicConfigManager(Env* env, Options options);

  // Reads topics.json (or topics.json.bak when the main file is missing or damaged), then adds
  // the system topics that are not in it. Persisted entries win over the built-in defaults.
  // Corruption when the file exists but neither copy parses.
  Status load();

  std::optional<TopicConfig> find(const std::string& topic) const;
  std::vector<TopicConfig> all() const;  // sorted by name
  DataVersion data_version() const;
  // Created at start by this broker (TBW102, SCHEDULE_TOPIC_XXXX, the cluster name, ...).
  bool is_system_topic(const std::string& topic) const;

  // Creates or replaces (validate_topic_config first). Unchanged on error.
  Status update(TopicConfig config);
  // NotFound when absent.
  Status remove(const std::string& topic);

  // The topic a send may write to:
  //  - an existing topic, if writable;
  //  - an unknown topic whose `default_topic` exists with INHERIT (TBW102 loses INHERIT when
  //    auto-creation is off): created with min(client_default_queue_nums, template write queues)
  //    read and write queues, perm = template perm without INHERIT, the template's filter type
  //    and sys flag, and persisted before returning;
  //  - an unknown %RETRY% topic: created with 1 queue, perm RW;
  //  - otherwise NotFound. See send_error_code for the error mapping.
  Result<TopicConfig> resolve_for_send(const std::string& topic, const std::string& default_topic,
                                       int32_t client_default_queue_nums);
  // Returns the topic, creating it with `queue_nums` read/write queues and `perm` when absent
  // (%RETRY%<group> and %DLQ%<group>: 1 queue, perm RW).
  Result<TopicConfig> ensure_system_style_topic(const std::string& topic, int32_t queue_nums, int32_t perm);

  // TopicConfigSerializeWrapper: {"dataVersion":{..},"topicConfigTable":{name:TopicConfig}}
  // (GET_ALL_TOPIC_CONFIG body; topics.json has the same shape, tab-indented).
  std::string encode_wrapper_json() const;
  // REGISTER_BROKER body: {"filterServerList":[],"topicConfigSerializeWrapper":<wrapper>}.
  std::string encode_register_body() const;

  void set_change_listener(std::function<void()> listener);
  const Options& options() const { return options_; }
  // Slave: becomes the master's table (GET_ALL_TOPIC_CONFIG body) when its data version differs;
  // the built-in system topics stay. Returns whether anything changed.
  Result<bool> replace_from_master(const std::string& wrapper_json);

 private:
  using Table = PersistedTable<TopicConfig>;

  std::vector<TopicConfig> builtin_system_topics() const;
  // Inserts and commits a new topic.
  Result<TopicConfig> create_locked(Table::Locked& table, TopicConfig config);

  const Options options_;
  Table table_;
  mutable std::mutex system_topics_mu_;
  std::vector<std::string> system_topics_;
};

}  // namespace holdfast::broker
