// Messages as producers build them and consumers receive them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace holdfast {

// One queue of a topic on one broker.
struct MessageQueue {
  std::string topic;
  std::string broker_name;
  int32_t queue_id = 0;
  friend bool operator==(const MessageQueue&, const MessageQueue&) = default;
  friend auto operator<=>(const MessageQueue&, const MessageQueue&) = default;
  std::string to_string() const;  // "topic@broker_name:queue_id"
};

// What a producer sends. `properties` holds user properties; the client adds TAGS, KEYS,
// DELAY, UNIQ_KEY, WAIT and the rest of the system properties itself.
struct Message {
  std::string topic;
  std::string body;
  std::string tags;
  std::vector<std::string> keys;
  int32_t delay_level = 0;  // 0 = deliver at once; 1..18 = the broker's messageDelayLevel entries
  int32_t flag = 0;
  bool wait_store_ok = true;  // WAIT: answer only once the broker's durability promise is met
  std::map<std::string, std::string> properties;

  Message() = default;
  Message(std::string topic_, std::string body_, std::string tags_ = "")
      : topic(std::move(topic_)), body(std::move(body_)), tags(std::move(tags_)) {}
};

// What a consumer receives: the stored message with its position and ids.
struct ReceivedMessage {
  std::string topic;
  std::string body;  // decompressed
  std::string tags;
  std::vector<std::string> keys;
  std::map<std::string, std::string> properties;  // every property, system ones included
  std::string msg_id;         // UNIQ_KEY (the producer-side id), or offset_msg_id when absent
  std::string offset_msg_id;  // store host + commit-log offset
  std::string broker_name;
  int32_t queue_id = 0;
  int64_t queue_offset = 0;
  int64_t commit_log_offset = 0;
  int32_t sys_flag = 0;
  int32_t flag = 0;
  int32_t reconsume_times = 0;
  int64_t born_timestamp_ms = 0;
  int64_t store_timestamp_ms = 0;
  std::string born_host;   // "ip:port"
  std::string store_host;  // "ip:port"
};

}  // namespace holdfast
