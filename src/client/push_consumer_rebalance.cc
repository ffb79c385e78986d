// PushConsumerImpl housekeeping: rebalance (facts §10.1), start offsets, dropping queues, offset
// persistence, the consume timeout scan (facts §10.3) and orderly queue locks (facts §10.4).
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "client/allocate_strategy.h"
#include "client/clock.h"
#include "client/push_consumer_impl.h"
#include "client/send_policy.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::client {
namespace {

namespace req = remoting::request_code;
namespace rc = remoting::response_code;
using remoting::RemotingCommand;

constexpr int64_t kLockRenewIntervalMs = 20000;
constexpr int64_t kLocalLockValidMs = 30000;
constexpr size_t kMaxExpiredPerScan = 16;
constexpr int64_t kIncompleteRetryMs = 1000;
// How long a consumer waits before reading a queue it took over from another group member.
constexpr int64_t kHandoverGraceMs = 1000;
// How long dropping a queue waits for its running listener calls.
constexpr int64_t kDropWaitMs = 1000;

}  // namespace

void PushConsumerImpl::housekeeping_loop() {
  const int64_t scan_interval = std::clamp<int64_t>(options_.consume_timeout_ms / 4, 200, 60000);
  int64_t next_rebalance = 0;
  int64_t next_persist = steady_ms() + options_.persist_offset_interval_ms;
  int64_t next_scan = steady_ms() + scan_interval;
  int64_t next_lock = steady_ms() + kLockRenewIntervalMs;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    int64_t wake = std::min({next_rebalance, next_persist, next_scan, next_lock});
    for (const auto& d : delayed_) wake = std::min(wake, d.due_ms);
    const int64_t wait = wake - steady_ms();
    if (wait > 0 && !rebalance_requested_) {
      cv_.wait_for(lock, std::chrono::milliseconds(wait));
      continue;
    }
    const bool requested = rebalance_requested_;
    rebalance_requested_ = false;
    lock.unlock();
    const int64_t now = steady_ms();
    if (requested || now >= next_rebalance) {
      const bool complete = rebalance();
      next_rebalance = steady_ms() + (complete ? options_.rebalance_interval_ms
                                            : std::min<int64_t>(options_.rebalance_interval_ms, kIncompleteRetryMs));
    }
    if (now >= next_persist) {
      offset_store_->persist_all();
      next_persist = steady_ms() + options_.persist_offset_interval_ms;
    }
    if (now >= next_scan) {
      if (!orderly()) scan_consume_timeouts();
      next_scan = steady_ms() + scan_interval;
    }
    if (now >= next_lock) {
      if (orderly() && clustering()) renew_locks();
      next_lock = steady_ms() + kLockRenewIntervalMs;
    }
    run_due_delayed_batches();
    lock.lock();
  }
}

bool PushConsumerImpl::rebalance() {
  std::lock_guard<std::mutex> guard(rebalance_mu_);
  bool complete = true;
  for (const auto& s : options_.subscriptions) {
    complete &= rebalance_topic(s.topic, s.expression.empty() ? "*" : s.expression);
  }
  if (clustering()) complete &= rebalance_topic(retry_topic(), "*");
  return complete;
}

Outcome<std::vector<std::string>> PushConsumerImpl::consumer_ids(const std::vector<MessageQueue>& queues) {
  // Any broker serving the topic knows the group's members (they heartbeat to every master).
  std::set<std::string> brokers;
  for (const auto& q : queues) brokers.insert(q.broker_name);
  Error last = make_error(ErrorCode::kNoRoute, "no broker to ask for the group's consumers");
  for (const auto& broker : brokers) {
    auto addr = pull_->broker_address({queues.front().topic, broker, 0});
    if (!addr.ok()) {
      last = addr.error();
      continue;
    }
    RemotingCommand r = RemotingCommand::make_request(req::kGetConsumerListByGroup);
    r.set_ext("consumerGroup", options_.group);
    auto resp = pull_->instance().remoting().invoke_sync(*addr, std::move(r), options_.call_timeout_ms);
    if (!resp.is_ok()) {
      last = transport_error(resp.status(), *addr);
      continue;
    }
    if (resp->code != rc::kSuccess) {
      last = make_error(ErrorCode::kBroker, "GET_CONSUMER_LIST_BY_GROUP at " + *addr + ": " +
                                                resp->remark.value_or(""), true, resp->code);
      continue;
    }
    auto body = nlohmann::json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object() || !body.contains("consumerIdList") ||
        !body["consumerIdList"].is_array()) {
      last = make_error(ErrorCode::kBroker, "GET_CONSUMER_LIST_BY_GROUP at " + *addr + ": malformed body");
      continue;
    }
    std::vector<std::string> ids;
    for (const auto& id : body["consumerIdList"]) {
      if (id.is_string()) ids.push_back(id.get<std::string>());
    }
    return ids;
  }
  return last;
}

bool PushConsumerImpl::rebalance_topic(const std::string& topic, const std::string& expression) {
  auto route = pull_->instance().route(topic);
  if (!route.is_ok()) {
    logger("client")->debug("rebalance {}: no route: {}", topic, route.status().to_string());
    return false;
  }
  const std::vector<MessageQueue>& all = (*route)->subscribe_queues;
  std::vector<MessageQueue> mine;
  bool self_missing = false;
  bool shared = false;  // other consumers in the group: a new queue may still be another's
  if (!clustering()) {
    mine = all;
  } else if (!all.empty()) {
    auto ids = consumer_ids(all);
    if (!ids.ok()) {
      logger("client")->warn("rebalance {} of group {}: {}", topic, options_.group, ids.error().to_string());
      // A restarted broker knows no consumer until a heartbeat: send one now, not in up to 30 s.
      if (ids.error().code == ErrorCode::kBroker) pull_->instance().send_heartbeat_to_all_brokers();
      return false;
    }
    mine = allocate_averagely(client_id(), *ids, all);
    // Not listed (our heartbeat has not arrived, or the broker restarted since): own nothing of
    // the new split, heartbeat now and ask again soon.
    if (std::find(ids->begin(), ids->end(), client_id()) == ids->end()) {
      self_missing = true;
      pull_->instance().send_heartbeat_to_all_brokers();
    }
    shared = ids->size() > 1;
  }
  bool complete = !self_missing;
  const std::set<MessageQueue> wanted(mine.begin(), mine.end());
  // Drop first: a queue given to another consumer is released (offset committed) promptly.
  std::vector<std::unique_ptr<OwnedQueue>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = queues_.begin(); it != queues_.end();) {
      if (it->first.topic == topic && !wanted.count(it->first)) {
        dropped.push_back(std::move(it->second));
        it = queues_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& q : dropped) {
    logger("client")->info("group {} releases {}", options_.group, q->queue.to_string());
    drop_queue(std::move(q));
  }
  for (const auto& q : mine) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queues_.count(q) || stop_) continue;
    }
    auto offset = start_offset(q);
    if (!offset.ok()) {
      complete = false;
      logger("client")->warn("group {}: no start offset for {}: {}", options_.group, q.to_string(),
                             offset.error().to_string());
      continue;
    }
    logger("client")->info("group {} takes {} from offset {}", options_.group, q.to_string(), *offset);
    // Orderly queues are handed over by the broker lock instead.
    add_queue(q, expression, *offset, shared && !orderly() ? kHandoverGraceMs : 0);
  }
  return complete;
}

Outcome<int64_t> PushConsumerImpl::start_offset(const MessageQueue& queue) {
  auto stored = offset_store_->read(queue);
  if (!stored.ok()) return stored.error();
  if (stored->has_value()) return **stored;
  const bool retry = queue.topic == retry_topic();
  switch (options_.consume_from_where) {
    case ConsumeFromWhere::kFirstOffset:
      return int64_t{0};
    case ConsumeFromWhere::kLastOffset:
      if (retry) return int64_t{0};
      return pull_->max_offset(queue);
    case ConsumeFromWhere::kTimestamp: {
      if (retry) return pull_->max_offset(queue);
      const int64_t ts = options_.consume_timestamp_ms > 0 ? options_.consume_timestamp_ms : wall_ms() - 30 * 60 * 1000;
      return pull_->offset_for_timestamp(queue, ts);
    }
  }
  return int64_t{0};
}

void PushConsumerImpl::add_queue(const MessageQueue& queue, const std::string& expression, int64_t offset,
                                 int64_t grace_ms) {
  auto owned = std::make_unique<OwnedQueue>();
  owned->start_after_ms = grace_ms > 0 ? steady_ms() + grace_ms : 0;
  owned->queue = queue;
  owned->expression = expression;
  owned->next_offset = offset;
  if (grace_ms <= 0) {
    std::lock_guard<std::mutex> lock(offset_mu_);
    offset_store_->update(queue, offset, /*allow_backwards=*/true);
  }
  // With a grace period the store learns the offset only when the pull thread has re-read it:
  // until then the previous owner's commit is the group's offset, and a periodic persist must not
  // write this stale start offset over it.
  OwnedQueue* raw = owned.get();
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_) return;
  raw->puller = std::thread([this, raw] { pull_loop(raw); });
  queues_[queue] = std::move(owned);
}

void PushConsumerImpl::drop_queue(std::unique_ptr<OwnedQueue> owned) {
  owned->stop = true;
  if (owned->puller.joinable()) owned->puller.join();
  ProcessQueue& pq = *owned->process_queue;
  {
    std::lock_guard<std::mutex> lock(offset_mu_);
    pq.set_dropped();  // consume tasks not yet started hand their messages back
  }
  // Listener calls already running finish first (up to kDropWaitMs), so their messages are not
  // consumed again by the next owner; a call still running after that is redelivered there.
  for (int64_t waited = 0; pq.running_listeners() > 0 && waited < kDropWaitMs; waited += 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    std::lock_guard<std::mutex> lock(offset_mu_);
    if (auto committable = pq.committable_offset()) offset_store_->update(owned->queue, *committable);
  }
  offset_store_->persist(owned->queue);
  if (clustering()) offset_store_->forget(owned->queue);
  if (orderly() && clustering()) (void)lock_queues({owned->queue}, /*unlock=*/true);
}

void PushConsumerImpl::scan_consume_timeouts() {
  std::vector<std::pair<MessageQueue, std::shared_ptr<ProcessQueue>>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [q, owned] : queues_) all.emplace_back(q, owned->process_queue);
  }
  for (const auto& [q, pq] : all) {
    for (const auto& m : pq->expired(steady_ms(), options_.consume_timeout_ms, kMaxExpiredPerScan)) {
      logger("client")->warn("group {}: listener on {} offset {} exceeded consume_timeout {} ms; sending it back",
                             options_.group, q.to_string(), m.queue_offset, options_.consume_timeout_ms);
      // The listener call still runs; the redelivered copy makes a duplicate (see push_consumer.h).
      if (!clustering() || send_back(m, 3)) finish(q, *pq, {m.queue_offset});
    }
  }
}

void PushConsumerImpl::run_due_delayed_batches() {
  std::vector<DelayedBatch> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = steady_ms();
    for (auto it = delayed_.begin(); it != delayed_.end();) {
      if (it->due_ms <= now) {
        due.push_back(std::move(*it));
        it = delayed_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& d : due) {
    if (d.process_queue->dropped()) continue;
    auto pq = d.process_queue;
    consume_pool_->post([this, q = d.queue, pq, msgs = std::move(d.messages)]() mutable {
      consume_concurrent(q, pq, std::move(msgs));
    });
  }
}

std::vector<MessageQueue> PushConsumerImpl::lock_queues(const std::vector<MessageQueue>& queues, bool unlock) {
  std::map<std::string, std::vector<MessageQueue>> by_broker;
  for (const auto& q : queues) by_broker[q.broker_name].push_back(q);
  std::vector<MessageQueue> granted;
  for (const auto& [broker, qs] : by_broker) {
    auto addr = pull_->broker_address(qs.front());
    if (!addr.ok()) continue;
    nlohmann::json set = nlohmann::json::array();
    for (const auto& q : qs) set.push_back({{"topic", q.topic}, {"brokerName", q.broker_name}, {"queueId", q.queue_id}});
    nlohmann::json body{{"consumerGroup", options_.group}, {"clientId", client_id()}, {"onlyThisBroker", false},
                        {"mqSet", set}};
    RemotingCommand r = RemotingCommand::make_request(unlock ? req::kUnlockBatchMq : req::kLockBatchMq);
    r.body = body.dump();
    auto resp = pull_->instance().remoting().invoke_sync(*addr, std::move(r), options_.call_timeout_ms);
    if (!resp.is_ok() || resp->code != rc::kSuccess) {
      logger("client")->debug("{} at {} failed: {}", unlock ? "UNLOCK_BATCH_MQ" : "LOCK_BATCH_MQ", *addr,
                              resp.is_ok() ? resp->remark.value_or("") : resp.status().to_string());
      continue;
    }
    if (unlock) continue;
    auto answer = nlohmann::json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    if (answer.is_discarded() || !answer.is_object() || !answer.contains("lockOKMQSet") ||
        !answer["lockOKMQSet"].is_array()) {
      continue;
    }
    for (const auto& e : answer["lockOKMQSet"]) {
      if (!e.is_object() || !e.contains("topic") || !e.contains("brokerName") || !e.contains("queueId")) continue;
      if (!e["topic"].is_string() || !e["brokerName"].is_string() || !e["queueId"].is_number_integer()) continue;
      granted.push_back({e["topic"].get<std::string>(), e["brokerName"].get<std::string>(), e["queueId"].get<int32_t>()});
    }
  }
  return granted;
}

void PushConsumerImpl::renew_locks() {
  std::vector<MessageQueue> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [q, _] : queues_) all.push_back(q);
  }
  if (all.empty()) return;
  const std::set<MessageQueue> granted = [&] {
    auto g = lock_queues(all, /*unlock=*/false);
    return std::set<MessageQueue>(g.begin(), g.end());
  }();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [q, owned] : queues_) {
    if (granted.count(q)) owned->locked_until_ms = steady_ms() + kLocalLockValidMs;
    else owned->locked_until_ms = 0;
  }
}

}  // namespace holdfast::client
