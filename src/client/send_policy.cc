// Producer retry, budget, queue selection and latency fault decisions.
#include "client/send_policy.h"

#include <algorithm>
#include <chrono>

#include "client/clock.h"
#include "remoting/response_code.h"


namespace holdfast::client {
namespace {
namespace rc = remoting::response_code;

constexpr int64_t kLatencyMax[] = {50, 100, 550, 1800, 3000, 5000, 15000};
constexpr int64_t kNotAvailable[] = {0, 0, 2000, 5000, 6000, 10000, 30000};
constexpr int64_t kFailureLatencyMs = 10000;
}  // namespace

NowMs steady_now_ms() { return &steady_ms; }

bool is_retryable_response_code(int32_t code) {
  switch (code) {
    case rc::kTopicNotExist:
    case rc::kServiceNotAvailable:
    case rc::kSystemError:
    case rc::kSystemBusy:
    case rc::kNoPermission:
    case rc::kNoBuyerId:
    case rc::kNotInCurrentUnit:
    case rc::kGoAway:
      return true;
    default:
      return false;
  }
}

Error make_error(ErrorCode code, std::string message, bool retryable, int response_code) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  e.retryable = retryable;
  e.response_code = response_code;
  return e;
}

Outcome<SendResult> map_send_response(const remoting::RemotingCommand& resp, const MessageQueue& queue,
                                      const std::string& msg_id, const std::string& broker_addr) {
  SendResult r;
  switch (resp.code) {
    case rc::kSuccess:
      r.status = SendStatus::kSendOk;
      break;
    case rc::kFlushDiskTimeout:
      r.status = SendStatus::kFlushDiskTimeout;
      break;
    case rc::kFlushSlaveTimeout:
      r.status = SendStatus::kFlushSlaveTimeout;
      break;
    case rc::kSlaveNotAvailable:
      r.status = SendStatus::kSlaveNotAvailable;
      break;
    default:
      return make_error(ErrorCode::kBroker,
                        "broker " + queue.broker_name + " (" + broker_addr + ") answered " +
                            remoting::response_code_name(resp.code) + " (" + std::to_string(resp.code) +
                            "): " + resp.remark.value_or(""),
                        is_retryable_response_code(resp.code), resp.code);
  }
  r.msg_id = msg_id;
  r.offset_msg_id = std::string(resp.ext("msgId").value_or(""));
  r.queue = queue;
  if (auto qid = resp.get_int32("queueId"); qid.is_ok()) r.queue.queue_id = *qid;
  if (auto off = resp.get_int64("queueOffset"); off.is_ok()) r.queue_offset = *off;
  r.transaction_id = std::string(resp.ext("transactionId").value_or(""));
  if (auto epoch = resp.get_int64("masterEpoch"); epoch.is_ok()) r.master_epoch = *epoch;
  return r;
}

Error transport_error(const Status& status, const std::string& broker_addr) {
  const ErrorCode code = status.code() == StatusCode::kTimeout ? ErrorCode::kTimeout : ErrorCode::kConnection;
  return make_error(code, broker_addr + ": " + status.to_string(), /*retryable=*/true);
}

int64_t LatencyFaultTolerance::not_available_ms(int64_t latency_ms) {
  for (int i = static_cast<int>(std::size(kLatencyMax)) - 1; i >= 0; --i) {
    if (latency_ms >= kLatencyMax[i]) return kNotAvailable[i];
  }
  return 0;
}

void LatencyFaultTolerance::update(const std::string& broker_name, int64_t latency_ms, bool failed) {
  const int64_t latency = failed ? kFailureLatencyMs : latency_ms;
  std::lock_guard<std::mutex> lock(mu_);
  Item& item = items_[broker_name];
  item.latency_ms = latency;
  item.available_at_ms = now_() + not_available_ms(latency);
}

bool LatencyFaultTolerance::is_available(const std::string& broker_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = items_.find(broker_name);
  return it == items_.end() || now_() >= it->second.available_at_ms;
}

std::string LatencyFaultTolerance::least_bad(const std::vector<std::string>& candidates) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string best;
  int64_t best_at = 0;
  for (const auto& c : candidates) {
    auto it = items_.find(c);
    const int64_t at = it == items_.end() ? 0 : it->second.available_at_ms;
    if (best.empty() || at < best_at) {
      best = c;
      best_at = at;
    }
  }
  return best;
}

MessageQueue QueueSelector::select(const std::vector<MessageQueue>& queues, const std::string& avoid_broker) {
  const size_t n = queues.size();
  const uint32_t start = next_.fetch_add(1, std::memory_order_relaxed);
  if (enabled_ && faults_ != nullptr) {
    for (size_t i = 0; i < n; ++i) {
      const MessageQueue& q = queues[(start + i) % n];
      if (q.broker_name != avoid_broker && faults_->is_available(q.broker_name)) return q;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const MessageQueue& q = queues[(start + i) % n];
    if (q.broker_name != avoid_broker) return q;
  }
  return queues[start % n];
}

AttemptVerdict judge_attempt(const Outcome<SendResult>& outcome, SendMode mode, bool retry_when_not_store_ok) {
  if (outcome.ok()) {
    if (outcome->status == SendStatus::kSendOk) return AttemptVerdict::kDone;
    return retry_when_not_store_ok && mode != SendMode::kAsync ? AttemptVerdict::kRetry : AttemptVerdict::kDone;
  }
  const Error& e = outcome.error();
  if (!e.retryable) return AttemptVerdict::kDone;
  if (e.code == ErrorCode::kBroker && mode == SendMode::kAsync) return AttemptVerdict::kDone;
  return AttemptVerdict::kRetry;
}

Error final_error(const Error& last, const SendBudget& budget, int64_t timeout_ms) {
  Error e = last;
  const std::string attempts = " (after " + std::to_string(budget.attempts()) + " attempt" +
                               (budget.attempts() == 1 ? "" : "s") + " in " + std::to_string(budget.elapsed_ms()) +
                               " ms)";
  if (budget.remaining_ms() <= 0 && last.retryable) {
    e.code = ErrorCode::kTimeout;
    e.message = "send timed out: the " + std::to_string(timeout_ms) + " ms budget ran out; last failure: " +
                last.message + attempts;
  } else {
    e.message += attempts;
  }
  return e;
}

}  // namespace holdfast::client
