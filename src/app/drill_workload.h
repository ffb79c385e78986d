// The load a drill puts on the cluster under test, on the public client only (so it runs against
// any RocketMQ cluster): producers with sync sends and retries recording every SEND_OK and every
// final failure, a clustering push consumer group recording every delivery, and a final read of
// every queue from its first offset recording what the store holds.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "holdfast/transaction_producer.h"

namespace holdfast {
class PushConsumer;
}

namespace holdfast::drill {

// Receives one history event (the fields of src/drill/history.h, without "t"); thread-safe.
using EventSink = std::function<void(nlohmann::json event)>;

struct WorkloadOptions {
  std::string name_server;  // host:port
  std::string topic = "DrillTopic";
  int producers = 2;
  int64_t send_interval_ms = 2;  // pause between one producer's sends
  int retries = 2;
  int64_t send_timeout_ms = 3000;
  std::string run_tag;  // makes ids unique across runs
  // Ordered messages: each producer sends to the queue its order key hashes to, with a rising
  // sequence; the consumer group consumes orderly; acks carry order_key and seq for the checker.
  bool ordered = false;
  // Transactional messages: each message is a half message whose local transaction commits; an
  // acknowledged message is one whose half send was SEND_OK (and so whose transaction committed).
  bool transactional = false;
};

class Workload {
 public:
  Workload(WorkloadOptions options, EventSink sink) : options_(std::move(options)), sink_(std::move(sink)) {}
  ~Workload();
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  // Starts the consumer group, then the producers. Fails if the consumer cannot start.
  std::string start();
  // Stops the producers (each finishes its send in flight). Transactional producers stop
  // sending but stay connected, answering check-backs, until stop_transaction_producers().
  void stop_producers();
  void stop_transaction_producers();
  // Waits until every acknowledged id has been delivered, up to timeout_ms or until no delivery
  // came for 6 s (15 s in a transactional run); returns how many acknowledged ids were still
  // undelivered.
  int64_t wait_delivered(int64_t timeout_ms);
  void stop_consumer();
  // Reads every queue of the topic from its minimum offset with a fresh pull consumer and emits a
  // "stored" event per message; a read that fails is repeated (whole) until timeout_ms has
  // passed. Returns "" or the last error text (then nothing was emitted).
  std::string final_read(int64_t timeout_ms = 30000);

  int64_t acked() const { return acked_count_.load(); }
  int64_t delivered_ids() const;

 private:
  void produce(int index);
  std::string read_all_queues(int attempt, std::vector<nlohmann::json>* stored);

  WorkloadOptions options_;
  EventSink sink_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> producers_;
  std::unique_ptr<PushConsumer> consumer_;
  std::atomic<int64_t> acked_count_{0};
  mutable std::mutex mu_;
  std::vector<std::string> acked_ids_;      // guarded by mu_
  std::unordered_set<std::string> seen_;    // delivered ids, guarded by mu_
  std::unordered_set<std::string> committed_;  // transactional: local transactions committed, guarded by mu_
  std::vector<std::unique_ptr<TransactionProducer>> answering_;  // stopped sending, guarded by mu_
};

}  // namespace holdfast::drill
