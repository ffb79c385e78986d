// PushConsumer: the managed consumer. It joins a consumer group, is given queues by the group's
// rebalance (clustering) or reads every queue (broadcasting), pulls them in the background and
// hands the messages to a listener on its consume threads.
//
// Delivery is at least once:
//  - the offset committed for a queue is the lowest offset still in flight in this process, so a
//    crash, a kill -9 or a queue moving to another consumer redelivers unfinished messages (and
//    possibly some finished after them), never skips one;
//  - a listener that returns kReconsumeLater or throws gets the message again later (clustering:
//    through the group's retry topic %RETRY%<group>, with the broker's delay; broadcasting: the
//    failure is logged and the message is not retried, as the Java client does);
//  - consume_timeout: a message whose listener has not returned in time is sent back for retry
//    and its offset released. The listener call still running is not interrupted, so the message
//    is then processed twice (once by the late call, once by the redelivery) — a duplicate the
//    application must tolerate, as with the Java client.
//
// Thread-safe. The listener runs on consume_thread_count threads (several at once, for different
// messages); it must not call shutdown().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "holdfast/message.h"
#include "holdfast/outcome.h"

namespace holdfast {

enum class ConsumeResult { kSuccess, kReconsumeLater };
// Orderly listeners: kSuspend = retry the same messages on this queue after
// suspend_current_queue_time_ms (locally; nothing goes to the retry topic until max_reconsume_times).
enum class OrderlyConsumeResult { kSuccess, kSuspend };

enum class MessageModel { kClustering, kBroadcasting };
// Where a group with no committed offset for a queue starts (facts §10.1).
enum class ConsumeFromWhere { kLastOffset, kFirstOffset, kTimestamp };

// Up to consume_message_batch_max_size messages of one queue, in offset order. The result covers
// them all. Messages from the retry topic arrive with their original topic.
using ConcurrentListener = std::function<ConsumeResult(const std::vector<ReceivedMessage>& messages)>;
using OrderlyListener = std::function<OrderlyConsumeResult(const std::vector<ReceivedMessage>& messages)>;

struct Subscription {
  std::string topic;
  std::string expression = "*";  // "*" or "TagA || TagB"
};

struct PushConsumerOptions {
  std::string group = "DEFAULT_CONSUMER";
  std::vector<std::string> name_servers;  // empty = NAMESRV_ADDR
  std::string instance_name;              // empty = the process id
  std::vector<Subscription> subscriptions;
  MessageModel message_model = MessageModel::kClustering;
  ConsumeFromWhere consume_from_where = ConsumeFromWhere::kLastOffset;
  int64_t consume_timestamp_ms = 0;  // kTimestamp: where to start; 0 = now - 30 min
  int32_t consume_thread_count = 20;
  int32_t consume_message_batch_max_size = 1;
  int32_t pull_batch_size = 32;
  int32_t pull_threshold_for_queue = 1000;             // messages held per queue before pulls pause
  int64_t pull_threshold_size_for_queue = 100 << 20;  // body bytes held per queue
  int64_t consume_concurrently_max_span = 2000;        // max - min held offset per queue
  int64_t consume_timeout_ms = 15 * 60 * 1000;
  // Concurrent: after this many retries the broker moves the message to %DLQ%<group>. Orderly: the
  // local retries before the message is handed to the retry topic (which then means the DLQ); the
  // Java client's orderly default is unlimited — set INT32_MAX for that.
  int32_t max_reconsume_times = 16;
  int64_t suspend_current_queue_time_ms = 1000;
  int64_t rebalance_interval_ms = 20000;
  int64_t persist_offset_interval_ms = 5000;
  int64_t long_poll_ms = 15000;  // how long the broker holds a pull with no new message
  int64_t pull_exception_delay_ms = 1000;
  // Broadcasting offsets file directory: <dir>/<client id>/<group>/offsets.json.
  // Empty = $HOME/.holdfast_offsets (or /tmp/.holdfast_offsets without HOME).
  std::string local_offset_store_dir;
  int64_t poll_name_server_interval_ms = 30000;
  int64_t heartbeat_broker_interval_ms = 30000;
  int64_t call_timeout_ms = 3000;
};

class PushConsumer {
 public:
  // Exactly one of the listeners must be set. Starts pulling at once.
  static Outcome<std::unique_ptr<PushConsumer>> start(PushConsumerOptions options, ConcurrentListener listener);
  static Outcome<std::unique_ptr<PushConsumer>> start_orderly(PushConsumerOptions options, OrderlyListener listener);
  virtual ~PushConsumer() = default;

  // Stops pulling, waits for the listener calls in flight (messages not yet started are handed
  // back: their offsets are not committed), commits offsets, unregisters from the brokers.
  virtual void shutdown() = 0;
  virtual std::string client_id() const = 0;
  // The queues this consumer currently owns (clustering) or reads (broadcasting).
  virtual std::vector<MessageQueue> assigned_queues() const = 0;
};

}  // namespace holdfast
