// PushConsumerImpl: start/shutdown, the per-queue pull threads and the consume paths.
#include "client/push_consumer_impl.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>

#include "base/logging.h"
#include "client/clock.h"
#include "client/send_policy.h"

namespace holdfast::client {
namespace {

constexpr int64_t kFlowControlDelayMs = 50;
constexpr int64_t kRelockRetryMs = 1000;

// Runs a listener; an exception from it (logged) counts as `on_throw` (reconsume later / suspend).
template <typename Listener, typename Result>
Result call_listener(const Listener& listener, const std::vector<ReceivedMessage>& messages, Result on_throw,
                     const std::string& group) {
  try {
    return listener(messages);
  } catch (const std::exception& e) {
    logger("client")->warn("listener of group {} threw: {}", group, e.what());
  } catch (...) {
    logger("client")->warn("listener of group {} threw a non-standard exception", group);
  }
  return on_throw;
}

std::string offsets_file(const PushConsumerOptions& o, const std::string& client_id) {
  std::string dir = o.local_offset_store_dir;
  if (dir.empty()) {
    const char* home = std::getenv("HOME");
    dir = std::string(home != nullptr && *home != '\0' ? home : "/tmp") + "/.holdfast_offsets";
  }
  return dir + "/" + client_id + "/" + o.group + "/offsets.json";
}

}  // namespace

Outcome<std::unique_ptr<PushConsumer>> PushConsumerImpl::create(PushConsumerOptions options,
                                                                 ConcurrentListener concurrent,
                                                                 OrderlyListener orderly) {
  if (static_cast<bool>(concurrent) == static_cast<bool>(orderly)) {
    return make_error(ErrorCode::kInvalidArgument, "exactly one listener must be set");
  }
  if (options.group.empty()) return make_error(ErrorCode::kInvalidArgument, "consumer group is empty");
  if (options.subscriptions.empty()) return make_error(ErrorCode::kInvalidArgument, "no subscription");
  if (options.consume_thread_count <= 0 || options.consume_message_batch_max_size <= 0 ||
      options.pull_batch_size <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "consume_thread_count, consume_message_batch_max_size and pull_batch_size must be positive");
  }
  PullConsumerOptions po;
  po.group = options.group;
  po.name_servers = options.name_servers;
  po.instance_name = options.instance_name;
  po.poll_name_server_interval_ms = options.poll_name_server_interval_ms;
  po.heartbeat_broker_interval_ms = options.heartbeat_broker_interval_ms;
  po.call_timeout_ms = options.call_timeout_ms;
  auto pull = PullConsumerImpl::create(po);
  if (!pull.ok()) return pull.error();
  std::unique_ptr<PullConsumerImpl> pull_impl(static_cast<PullConsumerImpl*>(pull->release()));
  std::unique_ptr<PushConsumerImpl> c(
      new PushConsumerImpl(std::move(options), std::move(concurrent), std::move(orderly), std::move(pull_impl)));
  if (!c->clustering()) {
    auto local = std::make_unique<LocalFileOffsetStore>(offsets_file(c->options_, c->client_id()));
    if (Status st = local->load(); !st.is_ok()) {
      return make_error(ErrorCode::kInvalidArgument, "broadcasting offsets: " + st.to_string());
    }
    c->offset_store_ = std::move(local);
  }
  c->start();
  return std::unique_ptr<PushConsumer>(std::move(c));
}

PushConsumerImpl::PushConsumerImpl(PushConsumerOptions options, ConcurrentListener concurrent, OrderlyListener orderly,
                                   std::unique_ptr<PullConsumerImpl> pull)
    : options_(std::move(options)),
      concurrent_listener_(std::move(concurrent)),
      orderly_listener_(std::move(orderly)),
      pull_(std::move(pull)) {
  PullConsumerImpl* p = pull_.get();
  offset_store_ = std::make_unique<RemoteOffsetStore>(
      [p](const MessageQueue& q) { return p->stored_offset(q); },
      [p](const MessageQueue& q, int64_t offset) { return p->commit_offset(q, offset); });
  consume_pool_ = std::make_unique<Executor>(options_.consume_thread_count);
}

void PushConsumerImpl::start() {
  PushConsumerRegistration reg;
  reg.message_model = clustering() ? "CLUSTERING" : "BROADCASTING";
  switch (options_.consume_from_where) {
    case ConsumeFromWhere::kLastOffset: reg.consume_from_where = "CONSUME_FROM_LAST_OFFSET"; break;
    case ConsumeFromWhere::kFirstOffset: reg.consume_from_where = "CONSUME_FROM_FIRST_OFFSET"; break;
    case ConsumeFromWhere::kTimestamp: reg.consume_from_where = "CONSUME_FROM_TIMESTAMP"; break;
  }
  for (const auto& s : options_.subscriptions) reg.subscriptions.emplace_back(s.topic, s.expression);
  if (clustering()) reg.subscriptions.emplace_back(retry_topic(), "*");
  reg.on_consumer_ids_changed = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    rebalance_requested_ = true;
    cv_.notify_all();
  };
  // Routes first, so the heartbeat reaches the brokers serving the subscribed topics.
  for (const auto& [topic, _] : reg.subscriptions) (void)pull_->instance().route(topic);
  pull_->instance().set_push_consumer(options_.group, std::move(reg));
  housekeeping_ = std::thread([this] { housekeeping_loop(); });
}

PushConsumerImpl::~PushConsumerImpl() { shutdown(); }

void PushConsumerImpl::shutdown() {
  if (shut_down_.exchange(true)) return;
  shutting_down_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (housekeeping_.joinable()) housekeeping_.join();
  // 1. Stop pulling (every pull thread ends; a long poll is abandoned).
  std::map<MessageQueue, std::unique_ptr<OwnedQueue>> owned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    owned.swap(queues_);
    delayed_.clear();  // their messages stay in flight: handed back, not committed
  }
  for (auto& [_, q] : owned) q->stop = true;
  for (auto& [_, q] : owned) {
    if (q->puller.joinable()) q->puller.join();
  }
  // 2. Let the listener calls in flight finish; batches not started are handed back (the tasks see
  // shutting_down_ and return, leaving their offsets uncommitted).
  consume_pool_->stop();
  // 3. Commit what was consumed, release orderly locks, unregister.
  for (auto& [_, q] : owned) drop_queue(std::move(q));
  offset_store_->persist_all();
  pull_->shutdown();
}

std::vector<MessageQueue> PushConsumerImpl::assigned_queues() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MessageQueue> out;
  for (const auto& [q, _] : queues_) out.push_back(q);
  return out;
}

bool PushConsumerImpl::pause(const OwnedQueue& owned, int64_t ms) const {
  const int64_t until = steady_ms() + ms;
  while (!owned.stop) {
    const int64_t left = until - steady_ms();
    if (left <= 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, 20)));
  }
  return false;
}

void PushConsumerImpl::pull_loop(OwnedQueue* owned) {
  const MessageQueue& mq = owned->queue;
  ProcessQueue& pq = *owned->process_queue;
  bool need_offset_reload = false;
  if (owned->start_after_ms > 0) {
    // Hand-over grace (see OwnedQueue): then start from what the previous owner committed.
    // Until the read succeeds the store holds no offset for the queue (add_queue), so nothing of
    // this consumer's can overwrite the previous owner's commit.
    if (!pause(*owned, owned->start_after_ms - steady_ms())) return;
    for (;;) {
      auto stored = offset_store_->read(mq);
      if (stored.ok()) {
        if (stored->has_value()) owned->next_offset = **stored;
        break;
      }
      logger("client")->debug("offset of {} after hand-over: {}", mq.to_string(), stored.error().to_string());
      if (!pause(*owned, options_.pull_exception_delay_ms)) return;
    }
    std::lock_guard<std::mutex> lock(offset_mu_);
    if (!pq.dropped()) offset_store_->update(mq, owned->next_offset, /*allow_backwards=*/true);
  }
  while (!owned->stop) {
    if (orderly() && clustering()) {
      // Pulling an orderly queue needs the broker lock; the first pull after locking re-reads the
      // offset, since another owner may have moved it.
      if (owned->locked_until_ms.load() <= steady_ms()) {
        if (lock_queues({mq}, /*unlock=*/false).empty()) {
          if (!pause(*owned, kRelockRetryMs)) break;
          continue;
        }
        owned->locked_until_ms = steady_ms() + 30000;
        need_offset_reload = true;
      }
      if (need_offset_reload) {
        auto stored = offset_store_->read(mq);
        if (!stored.ok()) {
          if (!pause(*owned, options_.pull_exception_delay_ms)) break;
          continue;
        }
        if (stored->has_value()) owned->next_offset = **stored;
        need_offset_reload = false;
      }
    } else {
      const bool over_count = pq.message_count() > static_cast<size_t>(options_.pull_threshold_for_queue);
      const bool over_bytes = pq.message_bytes() > options_.pull_threshold_size_for_queue;
      const bool over_span = pq.offset_span() > options_.consume_concurrently_max_span;
      if (over_count || over_bytes || over_span) {
        if (!pause(*owned, kFlowControlDelayMs)) break;
        continue;
      }
    }
    const int64_t commit = clustering() ? offset_store_->cached(mq).value_or(-1) : -1;
    auto result = pull_->pull_cancellable(mq, owned->expression, owned->next_offset, options_.pull_batch_size,
                                          options_.long_poll_ms, commit, [owned] { return owned->stop.load(); });
    if (owned->stop) break;
    if (!result.ok()) {
      logger("client")->debug("pull {} failed: {}", mq.to_string(), result.error().to_string());
      if (!pause(*owned, options_.pull_exception_delay_ms)) break;
      continue;
    }
    const int64_t next = result->next_begin_offset;
    std::vector<ReceivedMessage> messages = std::move(result->messages);
    if (result->status == PullStatus::kOffsetIllegal) {
      logger("client")->warn("pull {} offset {} illegal; moving to {}", mq.to_string(), owned->next_offset, next);
      owned->next_offset = next;
      std::lock_guard<std::mutex> lock(offset_mu_);
      if (!pq.dropped()) offset_store_->update(mq, next, /*allow_backwards=*/true);
      continue;
    }
    if (result->status != PullStatus::kFound) {
      if (result->status == PullStatus::kNoNewMessage && next < owned->next_offset) {
        logger("client")->warn("pull {}: broker's next offset {} is behind {}", mq.to_string(), next,
                               owned->next_offset);
      }
    }
    owned->next_offset = next;
    if (messages.empty()) {
      // Nothing to consume up to `next` (filtered or none): with nothing held, that is committable.
      std::lock_guard<std::mutex> lock(offset_mu_);
      if (!pq.dropped() && pq.message_count() == 0 && result->status != PullStatus::kNoNewMessage) {
        offset_store_->update(mq, next);
      }
      continue;
    }
    for (auto& m : messages) {
      // Retry-topic copies reach the listener under their original topic.
      if (mq.topic == retry_topic()) {
        auto it = m.properties.find("RETRY_TOPIC");
        if (it != m.properties.end() && !it->second.empty()) m.topic = it->second;
      }
    }
    pq.put(messages);
    if (orderly()) {
      if (!consume_orderly(owned, std::move(messages))) {
        if (owned->stop) break;
        // The lock lapsed mid-way: save progress, then lock again and resume from the stored offset.
        offset_store_->persist(mq);
        owned->locked_until_ms = 0;
      }
    } else {
      submit_concurrent(mq, owned->process_queue, std::move(messages));
    }
  }
}

void PushConsumerImpl::submit_concurrent(const MessageQueue& queue, const std::shared_ptr<ProcessQueue>& pq,
                                         std::vector<ReceivedMessage> messages) {
  const size_t batch = static_cast<size_t>(options_.consume_message_batch_max_size);
  for (size_t i = 0; i < messages.size(); i += batch) {
    std::vector<ReceivedMessage> part(std::make_move_iterator(messages.begin() + static_cast<std::ptrdiff_t>(i)),
                                      std::make_move_iterator(messages.begin() + static_cast<std::ptrdiff_t>(
                                                                                     std::min(messages.size(), i + batch))));
    consume_pool_->post([this, queue, pq, part = std::move(part)]() mutable {
      consume_concurrent(queue, pq, std::move(part));
    });
  }
}

void PushConsumerImpl::finish(const MessageQueue& queue, ProcessQueue& pq, const std::vector<int64_t>& offsets) {
  pq.remove(offsets);
  std::lock_guard<std::mutex> lock(offset_mu_);
  if (pq.dropped()) return;  // no longer ours: the new owner's offset must not move
  if (auto committable = pq.committable_offset()) offset_store_->update(queue, *committable);
}

void PushConsumerImpl::consume_concurrent(const MessageQueue& queue, const std::shared_ptr<ProcessQueue>& pq,
                                          std::vector<ReceivedMessage> messages) {
  // Handed back: not started before the queue was dropped or the consumer stopped; the offsets
  // stay uncommitted, so the next owner (or the next start) gets these messages.
  pq->enter_listener();
  struct Leave {
    ProcessQueue* pq;
    ~Leave() { pq->leave_listener(); }
  } leave{pq.get()};
  if (pq->dropped() || shutting_down_) return;
  const int64_t started = steady_ms();
  for (const auto& m : messages) pq->mark_consume_start(m.queue_offset, started);
  const ConsumeResult result =
      call_listener(concurrent_listener_, messages, ConsumeResult::kReconsumeLater, options_.group);
  if (pq->dropped()) {
    // Dropped while the listener ran: a success still counts (the drop waits for this call before
    // it commits); a failure is left to the next owner, which gets the message again.
    if (result == ConsumeResult::kSuccess) {
      std::vector<int64_t> offsets;
      for (const auto& m : messages) offsets.push_back(m.queue_offset);
      pq->remove(offsets);
    }
    return;
  }
  std::vector<int64_t> done;
  std::vector<ReceivedMessage> again;
  for (auto& m : messages) {
    if (result == ConsumeResult::kSuccess || !pq->contains(m.queue_offset)) {
      // Success, or already handed back by the consume-timeout scan (not sent back twice).
      done.push_back(m.queue_offset);
    } else if (!clustering()) {
      // Broadcasting: each instance has its own copy; a failure is logged, not retried.
      logger("client")->warn("group {} (broadcasting) failed to consume {} at {}; not retried", options_.group,
                             m.msg_id, queue.to_string());
      done.push_back(m.queue_offset);
    } else if (send_back(m, 0)) {
      done.push_back(m.queue_offset);
    } else {
      ++m.reconsume_times;
      again.push_back(std::move(m));
    }
  }
  finish(queue, *pq, done);
  if (!again.empty()) {
    // Neither send-back path worked: consume again here after 5 s (the offset stays behind them).
    std::lock_guard<std::mutex> lock(mu_);
    delayed_.push_back({steady_ms() + 5000, queue, pq, std::move(again)});
    cv_.notify_all();
  }
}

bool PushConsumerImpl::consume_orderly(OwnedQueue* owned, std::vector<ReceivedMessage> messages) {
  const size_t batch = static_cast<size_t>(options_.consume_message_batch_max_size);
  ProcessQueue& pq = *owned->process_queue;
  for (size_t i = 0; i < messages.size(); i += batch) {
    std::vector<ReceivedMessage> part(messages.begin() + static_cast<std::ptrdiff_t>(i),
                                      messages.begin() + static_cast<std::ptrdiff_t>(std::min(messages.size(), i + batch)));
    for (;;) {
      if (owned->stop || shutting_down_) return false;
      if (clustering() && owned->locked_until_ms.load() <= steady_ms()) return false;  // lock lapsed: re-pull
      const OrderlyConsumeResult result =
          call_listener(orderly_listener_, part, OrderlyConsumeResult::kSuspend, options_.group);
      std::vector<int64_t> offsets;
      for (const auto& m : part) offsets.push_back(m.queue_offset);
      if (result == OrderlyConsumeResult::kSuccess) {
        finish(owned->queue, pq, offsets);
        break;
      }
      bool exhausted = false;
      for (auto& m : part) exhausted |= ++m.reconsume_times > options_.max_reconsume_times;
      if (exhausted && clustering()) {
        // Past the limit: hand to the retry topic, which the broker turns into a DLQ write.
        bool all_sent = true;
        for (const auto& m : part) all_sent &= send_to_retry_topic(m).ok();
        if (all_sent) {
          finish(owned->queue, pq, offsets);
          break;
        }
      }
      if (!pause(*owned, options_.suspend_current_queue_time_ms)) return false;
    }
  }
  return true;
}

}  // namespace holdfast::client

namespace holdfast {
Outcome<std::unique_ptr<PushConsumer>> PushConsumer::start(PushConsumerOptions options, ConcurrentListener listener) {
  return client::PushConsumerImpl::create(std::move(options), std::move(listener), nullptr);
}
Outcome<std::unique_ptr<PushConsumer>> PushConsumer::start_orderly(PushConsumerOptions options,
                                                                   OrderlyListener listener) {
  return client::PushConsumerImpl::create(std::move(options), nullptr, std::move(listener));
}
}  // namespace holdfast
