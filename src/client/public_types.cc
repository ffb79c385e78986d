// The small free functions of the public headers: names, to_string, the hash selector.
#include <cstdlib>

#include "base/hash.h"
#include "holdfast/message.h"
#include "holdfast/outcome.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"

namespace holdfast {

std::string MessageQueue::to_string() const { return topic + "@" + broker_name + ":" + std::to_string(queue_id); }

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case ErrorCode::kTimeout:
      return "TIMEOUT";
    case ErrorCode::kNoRoute:
      return "NO_ROUTE";
    case ErrorCode::kConnection:
      return "CONNECTION";
    case ErrorCode::kBroker:
      return "BROKER";
    case ErrorCode::kShutdown:
      return "SHUTDOWN";
    case ErrorCode::kBusy:
      return "BUSY";
  }
  return "UNKNOWN";
}

std::string Error::to_string() const {
  std::string s = error_code_name(code);
  if (code == ErrorCode::kBroker) s += "(" + std::to_string(response_code) + ")";
  s += ": " + message;
  if (retryable) s += " [retryable]";
  return s;
}

const char* send_status_name(SendStatus status) {
  switch (status) {
    case SendStatus::kSendOk:
      return "SEND_OK";
    case SendStatus::kFlushDiskTimeout:
      return "FLUSH_DISK_TIMEOUT";
    case SendStatus::kFlushSlaveTimeout:
      return "FLUSH_SLAVE_TIMEOUT";
    case SendStatus::kSlaveNotAvailable:
      return "SLAVE_NOT_AVAILABLE";
  }
  return "UNKNOWN";
}

const char* pull_status_name(PullStatus status) {
  switch (status) {
    case PullStatus::kFound:
      return "FOUND";
    case PullStatus::kNoNewMessage:
      return "NO_NEW_MSG";
    case PullStatus::kNoMatchedMessage:
      return "NO_MATCHED_MSG";
    case PullStatus::kOffsetIllegal:
      return "OFFSET_ILLEGAL";
  }
  return "UNKNOWN";
}

MessageQueueSelector select_queue_by_hash() {
  // Java String.hashCode of arg, as the Java client's hash selector uses, so C++ and Java
  // producers of one ordered topic agree on the queue of a key.
  return [](const std::vector<MessageQueue>& queues, const Message&, const std::string& arg) {
    const int64_t h = std::llabs(static_cast<int64_t>(java_string_hash(arg)));
    return queues[static_cast<size_t>(h % static_cast<int64_t>(queues.size()))];
  };
}

}  // namespace holdfast
