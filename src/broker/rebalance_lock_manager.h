// Queue locks for orderly consumption (facts §2.7, §10.4): LOCK_BATCH_MQ (41) and
// UNLOCK_BATCH_MQ (42). A consumer that consumes a queue in order holds its lock on the broker;
// another client of the same group gets the queue only once the holder unlocks it or stops
// renewing (rebalanceLockMaxLiveTime, 60 s).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "remoting/remoting_command.h"
#include "transport/remoting_server.h"

namespace holdfast::broker {

struct LockedQueue {
  std::string topic;
  std::string broker_name;
  int32_t queue_id = 0;
  auto operator<=>(const LockedQueue&) const = default;
};

// The body of both requests: {"consumerGroup","clientId","onlyThisBroker","mqSet":[{"topic",
// "brokerName","queueId"}]}.
struct LockBatchRequest {
  std::string consumer_group;
  std::string client_id;
  bool only_this_broker = false;
  std::vector<LockedQueue> queues;
};
Result<LockBatchRequest> decode_lock_batch_request(std::string_view body);
// {"lockOKMQSet":[{"brokerName","queueId","topic"}...]}
std::string encode_lock_batch_response(const std::vector<LockedQueue>& locked);

// Thread-safe (one mutex); touched by network threads only. Locks live in memory: after a broker
// restart every queue is unlocked, and clients re-lock within their 20 s lock interval.
class RebalanceLockManager {
 public:
  static constexpr int64_t kDefaultMaxLiveMs = 60000;  // rebalanceLockMaxLiveTime
  explicit RebalanceLockManager(std::function<int64_t()> now_ms, int64_t max_live_ms = kDefaultMaxLiveMs);

  // Locks (or renews) each queue that is free, expired or already held by `client_id`; returns
  // the queues `client_id` holds afterwards, in request order.
  std::vector<LockedQueue> try_lock_batch(const std::string& group, const std::vector<LockedQueue>& queues,
                                          const std::string& client_id);
  // Releases the queues held by `client_id`; locks held by others are left alone.
  void unlock_batch(const std::string& group, const std::vector<LockedQueue>& queues, const std::string& client_id);
  // Whether `client_id` holds an unexpired lock on the queue.
  bool is_locked(const std::string& group, const LockedQueue& queue, const std::string& client_id) const;

  // Whether any client holds an unexpired lock of the group (the group consumes in order).
  bool group_has_locks(const std::string& group) const;

  // LOCK_BATCH_MQ / UNLOCK_BATCH_MQ handlers.
  remoting::RemotingCommand handle(const remoting::RemotingCommand& request);
  void register_to(transport::RemotingServer& server);

 private:
  struct Lock {
    std::string client_id;
    int64_t last_update_ms = 0;
  };
  bool expired(const Lock& lock, int64_t now) const { return now - lock.last_update_ms > max_live_ms_; }

  const std::function<int64_t()> now_ms_;
  const int64_t max_live_ms_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<LockedQueue, Lock>> locks_;  // group -> queue -> holder
};

}  // namespace holdfast::broker
