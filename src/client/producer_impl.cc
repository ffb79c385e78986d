// ProducerImpl: request building and the sync, async, ordered, batch and oneway send paths.
#include "client/producer_impl.h"

#include <atomic>
#include <chrono>

#include "base/logging.h"
#include "client/client_ids.h"
#include "client/message_codec.h"
#include "remoting/batch_codec.h"
#include "remoting/request_code.h"

namespace holdfast::client {
namespace {

namespace req = remoting::request_code;
using remoting::RemotingCommand;

int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error invalid(const Status& st) { return make_error(ErrorCode::kInvalidArgument, st.message()); }

Error shutdown_error() { return make_error(ErrorCode::kShutdown, "the producer is shut down"); }

}  // namespace

// One async send: its prepared request, budget and callback; shared by the attempts.
struct ProducerImpl::AsyncSend {
  AsyncSend(Prepared p, NowMs now, int64_t timeout_ms, int attempts, SendCallback cb)
      : prepared(std::move(p)), budget(std::move(now), timeout_ms, attempts), callback(std::move(cb)) {}
  Prepared prepared;
  SendBudget budget;
  SendCallback callback;
  std::string avoid_broker;
  std::optional<Error> last_error;
  std::atomic<bool> finished{false};
};

Outcome<std::unique_ptr<Producer>> ProducerImpl::create(ProducerOptions options) {
  if (options.group.empty()) return make_error(ErrorCode::kInvalidArgument, "producer group is empty");
  if (options.send_msg_timeout_ms <= 0 || options.max_in_flight <= 0 || options.retry_times_when_send_failed < 0 ||
      options.retry_times_when_send_async_failed < 0 || options.default_topic_queue_nums <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "send_msg_timeout_ms, max_in_flight and default_topic_queue_nums must be positive; retry "
                      "counts must not be negative");
  }
  ClientInstanceOptions ci;
  ci.name_servers = options.name_servers;
  ci.instance_name = options.instance_name;
  ci.poll_name_server_interval_ms = options.poll_name_server_interval_ms;
  ci.heartbeat_broker_interval_ms = options.heartbeat_broker_interval_ms;
  auto instance = ClientInstance::acquire(ci);
  if (!instance.is_ok()) return invalid(instance.status());
  std::unique_ptr<ProducerImpl> p(new ProducerImpl(std::move(options), std::move(instance).value()));
  p->instance_->register_producer(p->options_.group);
  return std::unique_ptr<Producer>(std::move(p));
}

ProducerImpl::ProducerImpl(ProducerOptions options, std::shared_ptr<ClientInstance> instance)
    : options_(std::move(options)),
      instance_(std::move(instance)),
      now_(steady_now_ms()),
      faults_(now_),
      selector_(&faults_, options_.send_latency_fault_enable),
      executor_(2) {}

ProducerImpl::~ProducerImpl() { shutdown(); }

void ProducerImpl::shutdown() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    cv_.notify_all();
    // Invariant: every in-flight request ends within its send budget (the transport times out),
    // so this wait is bounded.
    cv_.wait(lock, [this] { return in_flight_ == 0 && active_sync_ == 0; });
  }
  executor_.stop();
  instance_->unregister_producer(options_.group);
}

Outcome<void> ProducerImpl::acquire_slot(int64_t wait_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(wait_ms, 0));
  const int limit = options_.max_in_flight;
  cv_.wait_until(lock, deadline, [&] { return shutdown_ || in_flight_ < limit; });
  if (shutdown_) return shutdown_error();
  if (in_flight_ >= limit) {
    return make_error(ErrorCode::kBusy,
                      "too many requests in flight (" + std::to_string(limit) + ") for " + std::to_string(wait_ms) +
                          " ms",
                      /*retryable=*/true);
  }
  ++in_flight_;
  return {};
}

void ProducerImpl::release_slot() {
  std::lock_guard<std::mutex> lock(mu_);
  --in_flight_;
  cv_.notify_all();
}

bool ProducerImpl::begin_sync() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return false;
  ++active_sync_;
  return true;
}

void ProducerImpl::end_sync() {
  std::lock_guard<std::mutex> lock(mu_);
  --active_sync_;
  cv_.notify_all();
}

Outcome<ProducerImpl::Prepared> ProducerImpl::prepare(const Message& msg) const {
  if (Status st = validate_message(msg, options_.max_message_size); !st.is_ok()) return invalid(st);
  Prepared p;
  p.topic = msg.topic;
  p.flag = msg.flag;
  p.msg_id = UniqKeyGenerator::instance().next();
  p.properties = encode_properties(msg, p.msg_id);
  if (p.properties.size() > 32767) {
    return make_error(ErrorCode::kInvalidArgument,
                      "message properties of " + std::to_string(p.properties.size()) + " bytes exceed 32767");
  }
  if (static_cast<int64_t>(msg.body.size()) >= options_.compress_msg_body_over_howmuch) {
    auto z = compress_body(msg.body);
    if (z.is_ok()) {
      p.body = std::move(z).value();
      p.sys_flag |= kSysFlagCompressed | kSysFlagCompressionZlib;
    } else {
      p.body = msg.body;  // sent uncompressed, as the Java client does when compression fails
    }
  } else {
    p.body = msg.body;
  }
  return p;
}

Outcome<ProducerImpl::Prepared> ProducerImpl::prepare_batch(const std::vector<Message>& batch) const {
  if (batch.empty()) return make_error(ErrorCode::kInvalidArgument, "empty batch");
  const Message& first = batch.front();
  std::vector<std::string> props;
  props.reserve(batch.size());
  Prepared p;
  p.batch = true;
  p.topic = first.topic;
  for (const Message& m : batch) {
    if (Status st = validate_message(m, options_.max_message_size); !st.is_ok()) return invalid(st);
    if (m.topic != first.topic) return make_error(ErrorCode::kInvalidArgument, "batch messages must share a topic");
    if (m.topic.rfind("%RETRY%", 0) == 0) {
      return make_error(ErrorCode::kInvalidArgument, "a batch cannot go to a retry topic");
    }
    if (m.delay_level > 0) return make_error(ErrorCode::kInvalidArgument, "batch messages cannot have a delay level");
    if (m.wait_store_ok != first.wait_store_ok) {
      return make_error(ErrorCode::kInvalidArgument, "batch messages must share wait_store_ok");
    }
    const std::string id = UniqKeyGenerator::instance().next();
    if (!p.msg_id.empty()) p.msg_id.push_back(',');
    p.msg_id += id;
    props.push_back(encode_properties(m, id));
  }
  std::vector<remoting::BatchMessage> inner;
  inner.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) inner.push_back({batch[i].flag, batch[i].body, props[i]});
  if (Status st = remoting::encode_batch(inner, &p.body); !st.is_ok()) return invalid(st);
  if (static_cast<int64_t>(p.body.size()) > options_.max_message_size) {
    return make_error(ErrorCode::kInvalidArgument, "encoded batch of " + std::to_string(p.body.size()) +
                                                       " bytes exceeds max_message_size " +
                                                       std::to_string(options_.max_message_size));
  }
  // The batch-level properties carry only WAIT: each inner message has its own UNIQ_KEY, and some
  // brokers copy batch-level properties onto every record (facts §5.6).
  append_property(&p.properties, kPropertyWait, first.wait_store_ok ? "true" : "false");
  return p;
}

RemotingCommand ProducerImpl::build_request(const Prepared& p, const MessageQueue& queue) const {
  RemotingCommand r = RemotingCommand::make_request(p.batch ? req::kSendBatchMessage : req::kSendMessageV2);
  // SEND_MESSAGE_V2 letters (facts §2.3).
  r.set_ext("a", options_.group);
  r.set_ext("b", p.topic);
  r.set_ext("c", kDefaultTopic);
  r.set_ext_int("d", options_.default_topic_queue_nums);
  r.set_ext_int("e", queue.queue_id);
  r.set_ext_int("f", p.sys_flag);
  r.set_ext_int("g", wall_now_ms());
  r.set_ext_int("h", p.flag);
  r.set_ext("i", p.properties);
  r.set_ext_int("j", 0);
  r.set_ext_bool("k", false);
  r.set_ext_bool("m", p.batch);
  r.set_ext("n", queue.broker_name);
  r.body = p.body;
  return r;
}

Outcome<std::shared_ptr<const TopicRouteInfo>> ProducerImpl::publish_route(const std::string& topic) {
  auto route = instance_->publish_route(topic, options_.default_topic_queue_nums);
  if (!route.is_ok()) {
    const bool no_route = route.status().code() == StatusCode::kNotFound;
    return make_error(no_route ? ErrorCode::kNoRoute : ErrorCode::kConnection,
                      "no route for topic '" + topic + "': " + route.status().message(), !no_route);
  }
  if ((*route)->publish_queues.empty()) {
    return make_error(ErrorCode::kNoRoute, "topic '" + topic + "' has no writable queue on a broker with a master");
  }
  return std::move(route).value();
}

Outcome<std::string> ProducerImpl::broker_address(const TopicRouteInfo& route, const MessageQueue& queue) {
  const BrokerData* b = route.route.find_broker(queue.broker_name);
  std::string addr = b != nullptr ? b->master_address() : "";
  if (addr.empty()) addr = instance_->master_address(queue.broker_name);
  if (addr.empty()) {
    return make_error(ErrorCode::kNoRoute, "broker " + queue.broker_name + " has no master address", true);
  }
  return addr;
}

Outcome<SendResult> ProducerImpl::send_sync(const Prepared& p, SendMode mode, const MessageQueue* fixed_queue) {
  SendBudget budget(now_, options_.send_msg_timeout_ms, 1 + options_.retry_times_when_send_failed);
  std::optional<Error> last_error;
  std::optional<SendResult> last_result;
  std::string avoid;
  while (budget.begin_attempt()) {
    auto route = publish_route(p.topic);
    if (!route.ok()) return route.error();
    const MessageQueue queue = fixed_queue != nullptr ? *fixed_queue : selector_.select((*route)->publish_queues, avoid);
    auto addr = broker_address(**route, queue);
    if (!addr.ok()) {
      last_error = addr.error();
      avoid = queue.broker_name;
      (void)instance_->route(p.topic, /*refresh=*/true);  // the broker may have moved
      continue;
    }
    const int64_t t0 = now_();
    auto resp = instance_->remoting().invoke_sync(*addr, build_request(p, queue), budget.remaining_ms());
    const int64_t latency = now_() - t0;
    Outcome<SendResult> outcome =
        resp.is_ok() ? map_send_response(*resp, queue, p.msg_id, *addr) : Outcome<SendResult>(transport_error(resp.status(), *addr));
    faults_.update(queue.broker_name, latency, /*failed=*/!resp.is_ok());
    const AttemptVerdict verdict = judge_attempt(outcome, mode, options_.retry_another_broker_when_not_store_ok);
    if (verdict == AttemptVerdict::kDone) {
      if (outcome.ok()) return outcome;
      return final_error(outcome.error(), budget, options_.send_msg_timeout_ms);
    }
    if (outcome.ok()) {
      last_result = *outcome;  // stored but not SEND_OK: returned if no retry does better
    } else {
      last_error = outcome.error();
    }
    // The group's master may have changed (automatic failover): the next attempt uses a fresh route.
    instance_->refresh_route_after_failure(p.topic);
    avoid = queue.broker_name;
  }
  if (last_result) return *last_result;
  if (!last_error) last_error = make_error(ErrorCode::kTimeout, "send_msg_timeout_ms left no time to send", true);
  return final_error(*last_error, budget, options_.send_msg_timeout_ms);
}

Outcome<SendResult> ProducerImpl::send(const Message& msg) {
  auto p = prepare(msg);
  if (!p.ok()) return p.error();
  if (!begin_sync()) return shutdown_error();
  auto r = send_sync(*p, SendMode::kSync, nullptr);
  end_sync();
  return r;
}

Outcome<SendResult> ProducerImpl::send_half(const Message& msg) {
  Message half = msg;
  half.delay_level = 0;
  auto p = prepare(half);
  if (!p.ok()) return p.error();
  append_property(&p->properties, "TRAN_MSG", "true");
  append_property(&p->properties, "PGROUP", options_.group);
  p->sys_flag |= kSysFlagTransactionPrepared;
  if (!begin_sync()) return shutdown_error();
  auto r = send_sync(*p, SendMode::kSync, nullptr);
  end_sync();
  return r;
}

Status ProducerImpl::end_transaction(const SendResult& half, int32_t commit_or_rollback, const std::string& remark) {
  HostAddress host;
  int64_t commit_log_offset = 0;
  if (!decode_offset_message_id(half.offset_msg_id, &host, &commit_log_offset)) {
    return Status::invalid_argument("the half message's offset id '" + half.offset_msg_id + "' cannot be decoded");
  }
  const std::string addr = instance_->master_address(half.queue.broker_name);
  if (addr.empty()) return Status::not_found("no master address for broker " + half.queue.broker_name);
  RemotingCommand r = RemotingCommand::make_request(req::kEndTransaction);
  r.set_ext("producerGroup", options_.group);
  r.set_ext("topic", half.queue.topic);
  r.set_ext_int("tranStateTableOffset", half.queue_offset);
  r.set_ext_int("commitLogOffset", commit_log_offset);
  r.set_ext_int("commitOrRollback", commit_or_rollback);
  r.set_ext_bool("fromTransactionCheck", false);
  r.set_ext("msgId", half.msg_id);
  r.set_ext("transactionId", half.transaction_id.empty() ? half.msg_id : half.transaction_id);
  if (!remark.empty()) r.remark = remark;
  return instance_->remoting().invoke_oneway(addr, std::move(r));
}

Outcome<SendResult> ProducerImpl::send(const Message& msg, const MessageQueueSelector& selector,
                                       const std::string& arg) {
  auto p = prepare(msg);
  if (!p.ok()) return p.error();
  if (!begin_sync()) return shutdown_error();
  auto route = publish_route(msg.topic);
  if (!route.ok()) {
    end_sync();
    return route.error();
  }
  const MessageQueue queue = selector((*route)->publish_queues, msg, arg);
  auto r = send_sync(*p, SendMode::kOrdered, &queue);
  end_sync();
  return r;
}

Outcome<SendResult> ProducerImpl::send(const std::vector<Message>& batch) {
  auto p = prepare_batch(batch);
  if (!p.ok()) return p.error();
  if (!begin_sync()) return shutdown_error();
  auto r = send_sync(*p, SendMode::kSync, nullptr);
  end_sync();
  return r;
}

void ProducerImpl::send_async(Message msg, SendCallback callback) {
  auto p = prepare(msg);
  if (!p.ok()) {
    executor_.post([cb = std::move(callback), e = p.error()] { cb(e); });
    return;
  }
  auto slot = acquire_slot(options_.send_msg_timeout_ms);
  if (!slot.ok()) {
    executor_.post([cb = std::move(callback), e = slot.error()] { cb(e); });
    return;
  }
  auto s = std::make_shared<AsyncSend>(std::move(p).value(), now_, options_.send_msg_timeout_ms,
                                       1 + options_.retry_times_when_send_async_failed, std::move(callback));
  executor_.post([this, s] { async_attempt(s); });
}

void ProducerImpl::async_attempt(const std::shared_ptr<AsyncSend>& s) {
  for (;;) {
    if (!s->budget.begin_attempt()) {
      Error last = s->last_error ? *s->last_error
                                 : make_error(ErrorCode::kTimeout, "send_msg_timeout_ms left no time to send", true);
      async_finish(s, final_error(last, s->budget, options_.send_msg_timeout_ms));
      return;
    }
    auto route = publish_route(s->prepared.topic);
    if (!route.ok()) {
      async_finish(s, route.error());
      return;
    }
    const MessageQueue queue = selector_.select((*route)->publish_queues, s->avoid_broker);
    auto addr = broker_address(**route, queue);
    if (!addr.ok()) {
      s->last_error = addr.error();
      s->avoid_broker = queue.broker_name;
      continue;
    }
    const int64_t t0 = now_();
    const std::string address = *addr;
    instance_->remoting().invoke_async(
        address, build_request(s->prepared, queue), s->budget.remaining_ms(),
        [this, s, queue, address, t0](Result<RemotingCommand> resp) {
          faults_.update(queue.broker_name, now_() - t0, /*failed=*/!resp.is_ok());
          Outcome<SendResult> outcome = resp.is_ok() ? map_send_response(*resp, queue, s->prepared.msg_id, address)
                                                     : Outcome<SendResult>(transport_error(resp.status(), address));
          if (judge_attempt(outcome, SendMode::kAsync, false) == AttemptVerdict::kRetry) {
            s->last_error = outcome.error();
            s->avoid_broker = queue.broker_name;
            executor_.post([this, s] {
              instance_->refresh_route_after_failure(s->prepared.topic);  // a failover may have moved the master
              async_attempt(s);
            });
            return;
          }
          if (!outcome.ok()) outcome = final_error(outcome.error(), s->budget, options_.send_msg_timeout_ms);
          executor_.post([this, s, o = std::move(outcome)]() mutable { async_finish(s, std::move(o)); });
        });
    return;
  }
}

void ProducerImpl::async_finish(const std::shared_ptr<AsyncSend>& s, Outcome<SendResult> outcome) {
  // Invariant: a callback runs exactly once.
  if (s->finished.exchange(true)) return;
  if (s->callback) s->callback(std::move(outcome));
  s->callback = nullptr;
  release_slot();
}

Outcome<void> ProducerImpl::send_oneway(const Message& msg) {
  auto p = prepare(msg);
  if (!p.ok()) return p.error();
  auto slot = acquire_slot(options_.send_msg_timeout_ms);
  if (!slot.ok()) return slot.error();
  struct Release {
    ProducerImpl* self;
    ~Release() { self->release_slot(); }
  } release{this};
  auto route = publish_route(p->topic);
  if (!route.ok()) return route.error();
  const MessageQueue queue = selector_.select((*route)->publish_queues, "");
  auto addr = broker_address(**route, queue);
  if (!addr.ok()) return addr.error();
  Status st = instance_->remoting().invoke_oneway(*addr, build_request(*p, queue));
  if (!st.is_ok()) return transport_error(st, *addr);
  return {};
}

Outcome<std::vector<MessageQueue>> ProducerImpl::queues_of(const std::string& topic) {
  auto route = publish_route(topic);
  if (!route.ok()) return route.error();
  return (*route)->publish_queues;
}

}  // namespace holdfast::client

namespace holdfast {
Outcome<std::unique_ptr<Producer>> Producer::start(ProducerOptions options) {
  return client::ProducerImpl::create(std::move(options));
}
}  // namespace holdfast
