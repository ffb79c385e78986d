// PushConsumerImpl: the PushConsumer behind include/holdfast/push_consumer.h — rebalance, one pull
// thread per owned queue, a consume pool, offsets, send-back and the consume timeout.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/executor.h"
#include "client/offset_store.h"
#include "client/process_queue.h"
#include "client/pull_consumer_impl.h"
#include "holdfast/push_consumer.h"

namespace holdfast::client {

// Threads: one housekeeping thread (rebalance every rebalance_interval_ms and on
// NOTIFY_CONSUMER_IDS_CHANGED, offset persistence every persist_offset_interval_ms, the consume
// timeout scan, delayed local re-consumption, orderly lock renewal); one pull thread per owned
// queue (orderly: it also runs the listener, so a queue's messages are consumed one batch at a
// time in order); consume_thread_count pool threads running the concurrent listener.
//
// Invariant (offsets): the store is only told a queue's committable offset (its lowest message in
// flight) while the queue is owned; dropping a queue persists that offset and forgets it, under
// offset_mu_, so a late listener return on a dropped queue can never move the group's offset. A
// queue taken over from another member has no offset in the store until its pull thread re-read
// the group's offset after the hand-over grace, so no persist can write back a stale start offset
// over the previous owner's final commit.
class PushConsumerImpl final : public PushConsumer {
 public:
  static Outcome<std::unique_ptr<PushConsumer>> create(PushConsumerOptions options, ConcurrentListener concurrent,
                                                       OrderlyListener orderly);
  ~PushConsumerImpl() override;
  void shutdown() override;
  std::string client_id() const override { return pull_->client_id(); }
  std::vector<MessageQueue> assigned_queues() const override;

 private:
  struct OwnedQueue {
    MessageQueue queue;
    std::string expression;
    std::shared_ptr<ProcessQueue> process_queue = std::make_shared<ProcessQueue>();
    std::atomic<bool> stop{false};
    int64_t next_offset = 0;              // pull thread only
    // Clustering hand-over: the pull thread starts at this steady-clock time and first re-reads
    // the stored offset, so the previous owner (told of the change at the same moment) has
    // stopped and committed before this consumer reads past its committed offset.
    int64_t start_after_ms = 0;
    std::atomic<int64_t> locked_until_ms{0};  // orderly: the local lock's validity
    std::thread puller;
  };
  struct DelayedBatch {
    int64_t due_ms = 0;
    MessageQueue queue;
    std::shared_ptr<ProcessQueue> process_queue;
    std::vector<ReceivedMessage> messages;
  };

  PushConsumerImpl(PushConsumerOptions options, ConcurrentListener concurrent, OrderlyListener orderly,
                   std::unique_ptr<PullConsumerImpl> pull);
  bool clustering() const { return options_.message_model == MessageModel::kClustering; }
  bool orderly() const { return static_cast<bool>(orderly_listener_); }
  std::string retry_topic() const { return "%RETRY%" + options_.group; }
  void start();

  // --- housekeeping (push_consumer_rebalance.cc) ---
  void housekeeping_loop();
  // False when some topic could not be rebalanced (no route yet, broker unreachable): the next
  // round then comes after at most a second, not rebalance_interval_ms.
  bool rebalance();
  bool rebalance_topic(const std::string& topic, const std::string& expression);
  Outcome<std::vector<std::string>> consumer_ids(const std::vector<MessageQueue>& queues);
  // Where a newly owned queue starts: the stored offset, else consume_from_where.
  Outcome<int64_t> start_offset(const MessageQueue& queue);
  void add_queue(const MessageQueue& queue, const std::string& expression, int64_t offset, int64_t grace_ms);
  // Stops the queue's pull thread, persists its committable offset, forgets it.
  void drop_queue(std::unique_ptr<OwnedQueue> owned);
  void persist_offsets();
  void scan_consume_timeouts();
  void run_due_delayed_batches();
  // Orderly: LOCK_BATCH_MQ / UNLOCK_BATCH_MQ for queues of one broker; the granted queues.
  std::vector<MessageQueue> lock_queues(const std::vector<MessageQueue>& queues, bool unlock);
  void renew_locks();

  // --- pulling and consuming (push_consumer_impl.cc) ---
  void pull_loop(OwnedQueue* owned);
  // Waits up to ms, returning early (false) when the queue stops.
  bool pause(const OwnedQueue& owned, int64_t ms) const;
  void submit_concurrent(const MessageQueue& queue, const std::shared_ptr<ProcessQueue>& pq,
                         std::vector<ReceivedMessage> messages);
  void consume_concurrent(const MessageQueue& queue, const std::shared_ptr<ProcessQueue>& pq,
                          std::vector<ReceivedMessage> messages);
  // Runs the orderly listener over pulled messages on the pull thread; false when the queue stopped
  // (or lost its lock) before all were consumed.
  bool consume_orderly(OwnedQueue* owned, std::vector<ReceivedMessage> messages);
  // Removes finished messages and tells the store the queue's new committable offset (if owned).
  void finish(const MessageQueue& queue, ProcessQueue& pq, const std::vector<int64_t>& offsets);

  // --- send-back (push_consumer_send_back.cc) ---
  // CONSUMER_SEND_MSG_BACK, then the retry-topic send; false when both failed.
  bool send_back(const ReceivedMessage& message, int32_t delay_level);
  Outcome<void> send_back_rpc(const ReceivedMessage& message, int32_t delay_level);
  Outcome<void> send_to_retry_topic(const ReceivedMessage& message);

  const PushConsumerOptions options_;
  const ConcurrentListener concurrent_listener_;
  const OrderlyListener orderly_listener_;
  const std::unique_ptr<PullConsumerImpl> pull_;
  std::unique_ptr<OffsetStore> offset_store_;
  std::unique_ptr<Executor> consume_pool_;

  mutable std::mutex mu_;  // guards queues_, delayed_, stop_, rebalance_requested_
  std::condition_variable cv_;
  std::map<MessageQueue, std::unique_ptr<OwnedQueue>> queues_;
  std::vector<DelayedBatch> delayed_;
  bool stop_ = false;
  bool rebalance_requested_ = true;
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> shut_down_{false};
  std::mutex rebalance_mu_;  // one rebalance at a time (housekeeping vs shutdown)
  std::mutex offset_mu_;     // see the offsets invariant above
  std::thread housekeeping_;
};

}  // namespace holdfast::client
