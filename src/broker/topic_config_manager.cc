// Topic table: topics.json codec, system topics, auto-creation and persistence.
#include "broker/topic_config_manager.h"

#include <algorithm>
#include <cerrno>

#include "base/logging.h"
#include "remoting/response_code.h"

namespace holdfast::broker {

using nlohmann::json;
namespace rc = remoting::response_code;

json topic_config_json(const TopicConfig& c) {
  return json{{"order", c.order},
              {"perm", c.perm},
              {"readQueueNums", c.read_queue_nums},
              {"topicFilterType", c.topic_filter_type},
              {"topicName", c.topic_name},
              {"topicSysFlag", c.topic_sys_flag},
              {"writeQueueNums", c.write_queue_nums}};
}

Result<TopicConfig> topic_config_from_json(const json& value, std::string_view key_name) {
  if (!value.is_object()) return Status::invalid_argument("topic config is not an object");
  TopicConfig c;
  HF_ASSIGN_OR_RETURN(c.topic_name, string_field(value, "topicName", std::string(key_name)));
  HF_ASSIGN_OR_RETURN(c.read_queue_nums, int32_field(value, "readQueueNums", c.read_queue_nums));
  HF_ASSIGN_OR_RETURN(c.write_queue_nums, int32_field(value, "writeQueueNums", c.write_queue_nums));
  HF_ASSIGN_OR_RETURN(c.perm, int32_field(value, "perm", c.perm));
  HF_ASSIGN_OR_RETURN(c.topic_filter_type, string_field(value, "topicFilterType", c.topic_filter_type));
  HF_ASSIGN_OR_RETURN(c.topic_sys_flag, int32_field(value, "topicSysFlag", c.topic_sys_flag));
  HF_ASSIGN_OR_RETURN(c.order, bool_field(value, "order", c.order));
  return c;
}

Status validate_topic_name(std::string_view topic) {
  const bool long_allowed = topic.starts_with(kRetryTopicPrefix) || topic.starts_with(kDlqTopicPrefix);
  const size_t limit = long_allowed ? kMaxRetryTopicNameLength : kMaxTopicNameLength;
  bool ok = !topic.empty() && topic.size() <= limit;
  for (char c : topic) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '%' ||
                c == '|' || c == '-' || c == '_');
  }
  if (ok) return Status::ok();
  return Status::invalid_argument("illegal topic name '" + std::string(topic.substr(0, 300)) + "': 1 to " +
                                  std::to_string(limit) + " characters of [%|a-zA-Z0-9_-] are allowed");
}

Status validate_topic_config(const TopicConfig& c) {
  HF_RETURN_IF_ERROR(validate_topic_name(c.topic_name));
  if (c.perm < 0 || c.perm > perm::kMaxValid) {
    return Status::invalid_argument("perm " + std::to_string(c.perm) + " of topic " + c.topic_name +
                                    " is invalid: it must be 0..7 (read 4, write 2, inherit 1)");
  }
  for (auto [name, n] : {std::pair{"readQueueNums", c.read_queue_nums}, std::pair{"writeQueueNums", c.write_queue_nums}}) {
    if (n < 1 || n > kMaxQueueNums) {
      return Status::invalid_argument(std::string(name) + " " + std::to_string(n) + " of topic " + c.topic_name +
                                      " is out of range: it must be 1.." + std::to_string(kMaxQueueNums));
    }
  }
  if (c.topic_filter_type != "SINGLE_TAG" && c.topic_filter_type != "MULTI_TAG") {
    return Status::invalid_argument("topicFilterType '" + c.topic_filter_type.substr(0, 64) +
                                    "' is invalid: it must be SINGLE_TAG or MULTI_TAG");
  }
  return Status::ok();
}

int32_t send_error_code(const Status& status) {
  if (status.is_ok()) return rc::kSuccess;
  if (status.sys_errno() == EACCES) return rc::kNoPermission;
  switch (status.code()) {
    case StatusCode::kNotFound:
      return rc::kTopicNotExist;
    case StatusCode::kInvalidArgument:
      return rc::kInvalidParameter;
    default:
      return rc::kSystemError;
  }
}

TopicConfigManager::TopicConfigManager(Env* env, Options options)
    : options_(std::move(options)),
      table_(env, options_.path,
             Table::Schema{.table_key = "topicConfigTable",
                           .file_what = "topic config file",
                           .noun = "topic",
                           .entry_noun = "topic",
                           .name = &TopicConfig::topic_name,
                           .to_json = &topic_config_json,
                           .from_json = &topic_config_from_json}) {}

std::vector<TopicConfig> TopicConfigManager::builtin_system_topics() const {
  auto make = [](std::string_view name, int32_t queues, int32_t p) {
    TopicConfig c;
    c.topic_name = std::string(name);
    c.read_queue_nums = queues;
    c.write_queue_nums = queues;
    c.perm = p;
    return c;
  };
  std::vector<TopicConfig> out;
  out.push_back(make(kSelfTestTopic, 1, perm::kReadWrite));
  if (options_.auto_create_topic_enable) {
    const int32_t n = options_.default_topic_queue_nums;
    out.push_back(make(kAutoCreateTopicKey, n, perm::kReadWrite | perm::kInherit));
  }
  out.push_back(make(kBenchmarkTopic, 1024, perm::kReadWrite));
  // The cluster-name topic keeps TopicConfig's default 16 queues.
  out.push_back(make(options_.cluster_name, 16,
                     perm::kInherit | (options_.cluster_topic_enable ? perm::kReadWrite : 0)));
  out.push_back(make(options_.broker_name, 1,
                     perm::kInherit | (options_.broker_topic_enable ? perm::kReadWrite : 0)));
  out.push_back(make(kOffsetMovedEventTopic, 1, perm::kReadWrite));
  out.push_back(make(kScheduleTopic, kScheduleQueueNums, perm::kReadWrite));
  out.push_back(make(kTransHalfTopic, 1, perm::kReadWrite));
  out.push_back(make(kTransOpHalfTopic, 1, perm::kReadWrite));
  return out;
}

Status TopicConfigManager::load() {
  // Persisted entries win over the built-in defaults.
  return table_.load([&](Table::Locked& table) {
    std::lock_guard<std::mutex> lock(system_topics_mu_);
    system_topics_.clear();
    for (TopicConfig& c : builtin_system_topics()) {
      system_topics_.push_back(c.topic_name);
      table.add_unpersisted(std::move(c));
    }
    logger("broker")->info("topic config: {} topics loaded from {}", table.size(), options_.path);
  });
}

Result<bool> TopicConfigManager::replace_from_master(const std::string& wrapper_json) {
  return table_.replace_from(wrapper_json, [&](Table::Locked& table) {
    for (TopicConfig& c : builtin_system_topics()) table.add_unpersisted(std::move(c));
  });
}

std::optional<TopicConfig> TopicConfigManager::find(const std::string& topic) const { return table_.find(topic); }

std::vector<TopicConfig> TopicConfigManager::all() const { return table_.all(); }

DataVersion TopicConfigManager::data_version() const { return table_.data_version(); }

bool TopicConfigManager::is_system_topic(const std::string& topic) const {
  std::lock_guard<std::mutex> lock(system_topics_mu_);
  return std::find(system_topics_.begin(), system_topics_.end(), topic) != system_topics_.end();
}

void TopicConfigManager::set_change_listener(std::function<void()> listener) {
  table_.set_change_listener(std::move(listener));
}

Status TopicConfigManager::update(TopicConfig config) {
  HF_RETURN_IF_ERROR(validate_topic_config(config));
  return table_.update(std::move(config));
}

Status TopicConfigManager::remove(const std::string& topic) { return table_.remove(topic); }

Result<TopicConfig> TopicConfigManager::create_locked(Table::Locked& table, TopicConfig config) {
  HF_RETURN_IF_ERROR(table.put(config));
  logger("broker")->info("topic {} created automatically ({} queues, perm {})", config.topic_name,
                         config.write_queue_nums, config.perm);
  return config;
}

Result<TopicConfig> TopicConfigManager::resolve_for_send(const std::string& topic, const std::string& default_topic,
                                                         int32_t client_default_queue_nums) {
  HF_RETURN_IF_ERROR(validate_topic_name(topic));
  return table_.with_lock([&](Table::Locked& table) -> Result<TopicConfig> {
    if (const TopicConfig* existing = table.find(topic)) {
      if (!perm::is_writable(existing->perm)) {
        return Status(StatusCode::kAborted,
                      "the topic[" + topic + "] sending message is forbidden: perm " + std::to_string(existing->perm),
                      EACCES);
      }
      return *existing;
    }
    std::optional<TopicConfig> from_template;
    if (const TopicConfig* t = table.find(default_topic)) {
      int32_t template_perm = t->perm;
      // Invariant: with auto-creation off, TBW102 never serves as a template, even if an
      // earlier run persisted it with INHERIT.
      if (default_topic == kAutoCreateTopicKey && !options_.auto_create_topic_enable) {
        template_perm &= ~perm::kInherit;
      }
      if (perm::is_inheritable(template_perm)) {
        TopicConfig c;
        c.topic_name = topic;
        const int32_t queues = std::max(0, std::min(client_default_queue_nums, t->write_queue_nums));
        c.read_queue_nums = queues;
        c.write_queue_nums = queues;
        c.perm = template_perm & ~perm::kInherit;
        c.topic_filter_type = t->topic_filter_type;
        c.topic_sys_flag = t->topic_sys_flag;
        if (queues > 0) from_template = std::move(c);
      }
    }
    if (!from_template && topic.starts_with(kRetryTopicPrefix)) {
      TopicConfig c;
      c.topic_name = topic;
      c.read_queue_nums = 1;
      c.write_queue_nums = 1;
      c.perm = perm::kReadWrite;
      from_template = std::move(c);
    }
    if (!from_template) {
      return Status::not_found("topic[" + topic + "] not exist, apply first please! (auto-creation from default topic " +
                               default_topic + " is not allowed on this broker)");
    }
    return create_locked(table, std::move(*from_template));
  });
}

Result<TopicConfig> TopicConfigManager::ensure_system_style_topic(const std::string& topic, int32_t queue_nums,
                                                                  int32_t p) {
  TopicConfig c;
  c.topic_name = topic;
  c.read_queue_nums = queue_nums;
  c.write_queue_nums = queue_nums;
  c.perm = p;
  HF_RETURN_IF_ERROR(validate_topic_config(c));
  return table_.with_lock([&](Table::Locked& table) -> Result<TopicConfig> {
    if (const TopicConfig* existing = table.find(topic)) return *existing;
    return create_locked(table, std::move(c));
  });
}

std::string TopicConfigManager::encode_wrapper_json() const { return dump_compact(table_.wrapper_json()); }

std::string TopicConfigManager::encode_register_body() const {
  json body{{"filterServerList", json::array()}, {"topicConfigSerializeWrapper", table_.wrapper_json()}};
  return dump_compact(body);
}

}  // namespace holdfast::broker
