// The producer's decisions, kept free of I/O so tests drive them on a fake clock: which response
// codes are results and which are errors (facts §3.3), which errors a retry may cure, the total
// time budget of one send across its attempts, which queue the next attempt uses, and the latency
// fault table that keeps slow or dead brokers out of the way for a while (facts §11).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "holdfast/message.h"
#include "holdfast/outcome.h"
#include "holdfast/producer.h"
#include "remoting/remoting_command.h"

namespace holdfast::client {

// Milliseconds on a monotonic clock; injected so tests control time.
using NowMs = std::function<int64_t()>;
NowMs steady_now_ms();

// --- response mapping (one place) ---
// The response codes a send retries on another broker (the Java 5.x client's list): TOPIC_NOT_EXIST,
// SERVICE_NOT_AVAILABLE, SYSTEM_ERROR, SYSTEM_BUSY, NO_PERMISSION, NO_BUYER_ID,
// NOT_IN_CURRENT_UNIT, GO_AWAY.
bool is_retryable_response_code(int32_t code);
// SEND_OK (0), FLUSH_DISK_TIMEOUT (10), FLUSH_SLAVE_TIMEOUT (12), SLAVE_NOT_AVAILABLE (11) are
// results: the message is stored. Every other code becomes Error{kBroker, code, remark}.
Outcome<SendResult> map_send_response(const remoting::RemotingCommand& response, const MessageQueue& queue,
                                      const std::string& msg_id, const std::string& broker_addr);
// A transport failure of one attempt (no response): kTimeout or kConnection, always retryable.
Error transport_error(const Status& status, const std::string& broker_addr);
Error make_error(ErrorCode code, std::string message, bool retryable = false, int response_code = 0);

// --- latency fault tolerance ---
// Remembers, per broker name, until when it should be avoided. An attempt's latency maps to an
// avoidance time through the table {50, 100, 550, 1800, 3000, 5000, 15000} ms ->
// {0, 0, 2000, 5000, 6000, 10000, 30000} ms; a failed attempt counts as 10000 ms. Thread-safe.
class LatencyFaultTolerance {
 public:
  explicit LatencyFaultTolerance(NowMs now) : now_(std::move(now)) {}
  static int64_t not_available_ms(int64_t latency_ms);
  // Records one attempt on broker_name.
  void update(const std::string& broker_name, int64_t latency_ms, bool failed);
  bool is_available(const std::string& broker_name) const;
  // The broker whose avoidance ends soonest among `candidates` (all unavailable), or "".
  std::string least_bad(const std::vector<std::string>& candidates) const;

 private:
  struct Item {
    int64_t latency_ms = 0;
    int64_t available_at_ms = 0;
  };
  NowMs now_;
  mutable std::mutex mu_;
  std::map<std::string, Item> items_;
};

// Picks queues for a topic's attempts. With fault tolerance on: the next queue (round robin) whose
// broker is available and is not the broker of the previous failed attempt; then any queue on
// another broker; then any queue. Without it: round robin, avoiding the previous broker.
class QueueSelector {
 public:
  QueueSelector(const LatencyFaultTolerance* faults, bool fault_tolerance_enabled)
      : faults_(faults), enabled_(fault_tolerance_enabled) {}
  // `avoid_broker`: "" on the first attempt, else the broker of the last failed attempt.
  MessageQueue select(const std::vector<MessageQueue>& queues, const std::string& avoid_broker);

 private:
  const LatencyFaultTolerance* faults_;
  bool enabled_;
  std::atomic<uint32_t> next_{0};
};

// One send's attempts and budget. Created when the send starts; the budget is the whole
// send_msg_timeout_ms, attempts included (the Java client's rule).
class SendBudget {
 public:
  SendBudget(NowMs now, int64_t timeout_ms, int max_attempts)
      : now_(std::move(now)), start_ms_(now_()), timeout_ms_(timeout_ms), max_attempts_(max_attempts) {}
  int64_t elapsed_ms() const { return now_() - start_ms_; }
  int64_t remaining_ms() const { return timeout_ms_ - elapsed_ms(); }
  int attempts() const { return attempts_; }
  // True (and counts the attempt) when another attempt may start: attempts left and budget left.
  bool begin_attempt() {
    if (attempts_ >= max_attempts_ || remaining_ms() <= 0) return false;
    ++attempts_;
    return true;
  }
  bool attempts_left() const { return attempts_ < max_attempts_; }

 private:
  NowMs now_;
  int64_t start_ms_;
  int64_t timeout_ms_;
  int max_attempts_;
  int attempts_ = 0;
};

// What to do after an attempt.
enum class AttemptVerdict { kDone, kRetry };
enum class SendMode { kSync, kAsync, kOrdered };
// kDone for SEND_OK; a non-OK stored status retries only when retry_when_not_store_ok; a
// transport failure retries; a broker error retries when its code is retryable and the mode is
// not async (the Java client hands async broker errors straight to the callback). Budget and
// attempt limits are checked by the caller (SendBudget::begin_attempt).
AttemptVerdict judge_attempt(const Outcome<SendResult>& outcome, SendMode mode, bool retry_when_not_store_ok);

// The error a send returns when it stops retrying with `last` as its last failure: kTimeout when
// the budget is spent, else `last` itself. The message names the attempts made.
Error final_error(const Error& last, const SendBudget& budget, int64_t timeout_ms);

}  // namespace holdfast::client
