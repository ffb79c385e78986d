// PullConsumer: the low-level consumer. The caller chooses queues and offsets; the consumer pulls
// (optionally long-polling on the broker), and commits offsets to the broker when told to.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "holdfast/message.h"
#include "holdfast/outcome.h"

namespace holdfast {

enum class PullStatus { kFound, kNoNewMessage, kNoMatchedMessage, kOffsetIllegal };
const char* pull_status_name(PullStatus status);

struct PullResult {
  PullStatus status = PullStatus::kNoNewMessage;
  int64_t next_begin_offset = 0;
  int64_t min_offset = 0;
  int64_t max_offset = 0;
  std::vector<ReceivedMessage> messages;  // tag-filtered on the client too, as the Java client does
};

struct PullConsumerOptions {
  std::string group = "DEFAULT_CONSUMER";
  std::vector<std::string> name_servers;  // empty = NAMESRV_ADDR
  std::string instance_name;              // empty = the process id
  int64_t poll_name_server_interval_ms = 30000;
  int64_t heartbeat_broker_interval_ms = 30000;
  int64_t call_timeout_ms = 3000;
};

class PullConsumer {
 public:
  static Outcome<std::unique_ptr<PullConsumer>> start(PullConsumerOptions options);
  virtual ~PullConsumer() = default;

  // The readable queues of a topic.
  virtual Outcome<std::vector<MessageQueue>> queues_of(const std::string& topic) = 0;
  // Pulls up to max_messages from `offset`. subscription: "*" or "TagA || TagB". With
  // long_poll_ms > 0 the broker holds the pull until a message arrives or that time passes.
  virtual Outcome<PullResult> pull(const MessageQueue& queue, const std::string& subscription, int64_t offset,
                                   int32_t max_messages, int64_t long_poll_ms = 0) = 0;
  virtual Outcome<void> commit_offset(const MessageQueue& queue, int64_t offset) = 0;
  // The group's committed offset; kBroker with response_code 22 (QUERY_NOT_FOUND) when none.
  virtual Outcome<int64_t> committed_offset(const MessageQueue& queue) = 0;
  virtual Outcome<int64_t> min_offset(const MessageQueue& queue) = 0;
  virtual Outcome<int64_t> max_offset(const MessageQueue& queue) = 0;
  virtual Outcome<int64_t> offset_for_timestamp(const MessageQueue& queue, int64_t timestamp_ms) = 0;
  virtual void shutdown() = 0;
  virtual std::string client_id() const = 0;
};

}  // namespace holdfast
