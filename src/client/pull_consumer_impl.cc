// PullConsumerImpl: pull, offsets and queue bounds over the remoting protocol (facts §2.4, §2.5, §4.1).
#include "client/pull_consumer_impl.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "client/message_codec.h"
#include "client/send_policy.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::client {
namespace {

namespace req = remoting::request_code;
namespace rc = remoting::response_code;
using remoting::RemotingCommand;

// PullSysFlag bits (facts §2.4).
constexpr int32_t kPullCommitOffset = 0x1;
constexpr int32_t kPullSuspend = 0x2;
constexpr int32_t kPullSubscription = 0x4;
// How much longer than the broker's hold the client waits for a long-poll answer.
constexpr int64_t kLongPollGraceMs = 5000;

Error broker_error(const RemotingCommand& resp, const std::string& what, const std::string& addr) {
  return make_error(ErrorCode::kBroker,
                    what + " at " + addr + ": " + remoting::response_code_name(resp.code) + " (" +
                        std::to_string(resp.code) + ") " + resp.remark.value_or(""),
                    is_retryable_response_code(resp.code), resp.code);
}

RemotingCommand queue_request(int32_t code, const MessageQueue& q) {
  RemotingCommand r = RemotingCommand::make_request(code);
  r.set_ext("topic", q.topic);
  r.set_ext_int("queueId", q.queue_id);
  return r;
}

}  // namespace

Outcome<std::unique_ptr<PullConsumer>> PullConsumerImpl::create(PullConsumerOptions options) {
  if (options.group.empty()) return make_error(ErrorCode::kInvalidArgument, "consumer group is empty");
  ClientInstanceOptions ci;
  ci.name_servers = options.name_servers;
  ci.instance_name = options.instance_name;
  ci.poll_name_server_interval_ms = options.poll_name_server_interval_ms;
  ci.heartbeat_broker_interval_ms = options.heartbeat_broker_interval_ms;
  ci.call_timeout_ms = options.call_timeout_ms;
  auto instance = ClientInstance::acquire(ci);
  if (!instance.is_ok()) return make_error(ErrorCode::kInvalidArgument, instance.status().message());
  std::unique_ptr<PullConsumerImpl> c(new PullConsumerImpl(std::move(options), std::move(instance).value()));
  c->instance_->register_consumer(c->options_.group);
  return std::unique_ptr<PullConsumer>(std::move(c));
}

PullConsumerImpl::PullConsumerImpl(PullConsumerOptions options, std::shared_ptr<ClientInstance> instance)
    : options_(std::move(options)), instance_(std::move(instance)) {}

PullConsumerImpl::~PullConsumerImpl() { shutdown(); }

void PullConsumerImpl::shutdown() {
  if (shutdown_.exchange(true)) return;
  instance_->unregister_consumer(options_.group);
}

Outcome<std::vector<MessageQueue>> PullConsumerImpl::queues_of(const std::string& topic) {
  auto route = instance_->route(topic);
  if (!route.is_ok()) {
    const bool no_route = route.status().code() == StatusCode::kNotFound;
    return make_error(no_route ? ErrorCode::kNoRoute : ErrorCode::kConnection, route.status().message(), !no_route);
  }
  return (*route)->subscribe_queues;
}

Outcome<std::string> PullConsumerImpl::address_of(const MessageQueue& queue) {
  // The master, else a slave: while a master is down its slave serves reads and takes offsets.
  std::string addr = instance_->read_address(queue.broker_name);
  if (addr.empty()) {
    (void)instance_->route(queue.topic, /*refresh=*/true);
    addr = instance_->read_address(queue.broker_name);
  }
  if (addr.empty()) return make_error(ErrorCode::kNoRoute, "no address for broker " + queue.broker_name, true);
  return addr;
}

Outcome<RemotingCommand> PullConsumerImpl::call(const MessageQueue& queue, RemotingCommand request,
                                                int64_t timeout_ms) {
  if (shutdown_) return make_error(ErrorCode::kShutdown, "the consumer is shut down");
  auto addr = address_of(queue);
  if (!addr.ok()) return addr.error();
  auto resp = instance_->remoting().invoke_sync(*addr, std::move(request), timeout_ms);
  if (!resp.is_ok()) {
    // The broker may be gone (a dead master): the next call uses the route the name server has now.
    (void)instance_->route(queue.topic, /*refresh=*/true);
    return transport_error(resp.status(), *addr);
  }
  return std::move(resp).value();
}

Outcome<PullResult> PullConsumerImpl::pull(const MessageQueue& queue, const std::string& subscription,
                                           int64_t offset, int32_t max_messages, int64_t long_poll_ms) {
  return pull_cancellable(queue, subscription, offset, max_messages, long_poll_ms, -1, [] { return false; });
}

Outcome<PullResult> PullConsumerImpl::pull_cancellable(const MessageQueue& queue, const std::string& subscription,
                                                       int64_t offset, int32_t max_messages, int64_t long_poll_ms,
                                                       int64_t commit_offset, const std::function<bool()>& cancelled) {
  if (max_messages <= 0) return make_error(ErrorCode::kInvalidArgument, "max_messages must be positive");
  const std::string expression = subscription.empty() ? "*" : subscription;
  RemotingCommand r = RemotingCommand::make_request(req::kPullMessage);
  r.set_ext("consumerGroup", options_.group);
  r.set_ext("topic", queue.topic);
  r.set_ext_int("queueId", queue.queue_id);
  r.set_ext_int("queueOffset", offset);
  r.set_ext_int("maxMsgNums", max_messages);
  r.set_ext_int("sysFlag", kPullSubscription | (long_poll_ms > 0 ? kPullSuspend : 0) |
                               (commit_offset >= 0 ? kPullCommitOffset : 0));
  r.set_ext_int("commitOffset", std::max<int64_t>(commit_offset, 0));
  r.set_ext_int("suspendTimeoutMillis", std::max<int64_t>(long_poll_ms, 0));
  r.set_ext("subscription", expression);
  r.set_ext_int("subVersion", 0);
  r.set_ext("expressionType", "TAG");
  const int64_t timeout = long_poll_ms > 0 ? long_poll_ms + kLongPollGraceMs : options_.call_timeout_ms;
  if (shutdown_) return make_error(ErrorCode::kShutdown, "the consumer is shut down");
  auto addr = address_of(queue);
  if (!addr.ok()) return addr.error();
  // The answer lands in shared state, so a caller that stops waiting leaves nothing dangling.
  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<RemotingCommand>> answer;
  };
  auto pending = std::make_shared<Pending>();
  instance_->remoting().invoke_async(*addr, std::move(r), timeout, [pending](Result<RemotingCommand> answer) {
    std::lock_guard<std::mutex> lock(pending->mu);
    pending->answer = std::move(answer);
    pending->cv.notify_all();
  });
  Result<RemotingCommand> answer = Status::aborted("pending");
  {
    std::unique_lock<std::mutex> lock(pending->mu);
    while (!pending->answer) {
      if (cancelled()) return make_error(ErrorCode::kShutdown, "pull " + queue.to_string() + " cancelled");
      pending->cv.wait_for(lock, std::chrono::milliseconds(50));
    }
    answer = std::move(*pending->answer);
  }
  if (!answer.is_ok()) {
    (void)instance_->route(queue.topic, /*refresh=*/true);
    return transport_error(answer.status(), *addr);
  }
  Outcome<RemotingCommand> resp = std::move(answer).value();
  PullResult result;
  switch (resp->code) {
    case rc::kSuccess:
      result.status = PullStatus::kFound;
      break;
    case rc::kPullNotFound:
      result.status = PullStatus::kNoNewMessage;
      break;
    case rc::kPullRetryImmediately:
      result.status = PullStatus::kNoMatchedMessage;
      break;
    case rc::kPullOffsetMoved:
      result.status = PullStatus::kOffsetIllegal;
      break;
    default:
      return broker_error(*resp, "pull " + queue.to_string(), "broker " + queue.broker_name);
  }
  auto field = [&](const char* name) -> int64_t {
    auto v = resp->get_int64(name);
    return v.is_ok() ? *v : 0;
  };
  result.next_begin_offset = field("nextBeginOffset");
  result.min_offset = field("minOffset");
  result.max_offset = field("maxOffset");
  if (result.status != PullStatus::kFound) return result;
  const TagFilter filter(expression);
  const std::string min_text = std::to_string(result.min_offset);
  const std::string max_text = std::to_string(result.max_offset);
  const std::string& body = resp->body;
  size_t pos = 0;
  while (pos < body.size()) {
    RecordView record;
    DecodeResult d = decode_record(body.data() + pos, body.size() - pos, /*check_crc=*/false, &record);
    if (d.outcome != DecodeOutcome::kRecord) {
      return make_error(ErrorCode::kBroker,
                        "pull " + queue.to_string() + ": undecodable record at body byte " + std::to_string(pos) +
                            (d.reason.empty() ? "" : ": " + d.reason));
    }
    pos += static_cast<size_t>(d.size);
    auto m = to_received_message(record, queue.broker_name);
    if (!m.is_ok()) {
      return make_error(ErrorCode::kBroker, "pull " + queue.to_string() + " offset " +
                                                std::to_string(record.queue_offset) + ": " + m.status().message());
    }
    if (!filter.matches(m->tags)) continue;
    m->properties[kPropertyMinOffset] = min_text;
    m->properties[kPropertyMaxOffset] = max_text;
    result.messages.push_back(std::move(m).value());
  }
  return result;
}

Outcome<void> PullConsumerImpl::commit_offset(const MessageQueue& queue, int64_t offset) {
  RemotingCommand r = queue_request(req::kUpdateConsumerOffset, queue);
  r.set_ext("consumerGroup", options_.group);
  r.set_ext_int("commitOffset", offset);
  auto resp = call(queue, std::move(r), options_.call_timeout_ms);
  if (!resp.ok()) return resp.error();
  if (resp->code != rc::kSuccess) return broker_error(*resp, "commit offset " + queue.to_string(), queue.broker_name);
  return {};
}

Outcome<int64_t> PullConsumerImpl::call_for_offset(const MessageQueue& queue, RemotingCommand request,
                                                   const char* field) {
  const std::string what = std::string(remoting::request_code_name(request.code)) + " " + queue.to_string();
  auto resp = call(queue, std::move(request), options_.call_timeout_ms);
  if (!resp.ok()) return resp.error();
  if (resp->code != rc::kSuccess) return broker_error(*resp, what, queue.broker_name);
  auto v = resp->get_int64(field);
  if (!v.is_ok()) return make_error(ErrorCode::kBroker, what + ": " + v.status().message());
  return *v;
}

Outcome<int64_t> PullConsumerImpl::committed_offset(const MessageQueue& queue) {
  RemotingCommand r = queue_request(req::kQueryConsumerOffset, queue);
  r.set_ext("consumerGroup", options_.group);
  return call_for_offset(queue, std::move(r), "offset");
}

Outcome<int64_t> PullConsumerImpl::stored_offset(const MessageQueue& queue) {
  RemotingCommand r = queue_request(req::kQueryConsumerOffset, queue);
  r.set_ext("consumerGroup", options_.group);
  r.set_ext_bool("setZeroIfNotFound", false);
  return call_for_offset(queue, std::move(r), "offset");
}

Outcome<int64_t> PullConsumerImpl::min_offset(const MessageQueue& queue) {
  return call_for_offset(queue, queue_request(req::kGetMinOffset, queue), "offset");
}

Outcome<int64_t> PullConsumerImpl::max_offset(const MessageQueue& queue) {
  return call_for_offset(queue, queue_request(req::kGetMaxOffset, queue), "offset");
}

Outcome<int64_t> PullConsumerImpl::offset_for_timestamp(const MessageQueue& queue, int64_t timestamp_ms) {
  RemotingCommand r = queue_request(req::kSearchOffsetByTimestamp, queue);
  r.set_ext_int("timestamp", timestamp_ms);
  return call_for_offset(queue, std::move(r), "offset");
}

}  // namespace holdfast::client

namespace holdfast {
Outcome<std::unique_ptr<PullConsumer>> PullConsumer::start(PullConsumerOptions options) {
  return client::PullConsumerImpl::create(std::move(options));
}
}  // namespace holdfast
