// PushConsumerImpl send-back (facts §8.3): CONSUMER_SEND_MSG_BACK to the message's broker, and
// when that fails, a plain send of a copy to %RETRY%<group> carrying the retry properties.
#include "base/logging.h"
#include "client/client_ids.h"
#include "client/push_consumer_impl.h"
#include "client/retry_message.h"
#include "client/send_policy.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/message.h"

namespace holdfast::client {
namespace {

namespace req = remoting::request_code;
namespace rc = remoting::response_code;
using remoting::RemotingCommand;

constexpr char kInnerProducerGroup[] = "CLIENT_INNER_PRODUCER";

}  // namespace

std::string retry_properties(const ReceivedMessage& message) {
  std::string properties;
  for (const auto& [k, v] : message.properties) {
    if (k == "MIN_OFFSET" || k == "MAX_OFFSET" || k == "TRAN_MSG" || k == "RECONSUME_TIME" ||
        k == "MAX_RECONSUME_TIMES" || k == "DELAY" || k == "WAIT") {
      continue;
    }
    append_property(&properties, k, v);
  }
  if (!message.properties.count("RETRY_TOPIC")) append_property(&properties, "RETRY_TOPIC", message.topic);
  if (!message.properties.count("ORIGIN_MESSAGE_ID")) {
    append_property(&properties, "ORIGIN_MESSAGE_ID", message.msg_id);
  }
  append_property(&properties, "DELAY", std::to_string(3 + message.reconsume_times));
  append_property(&properties, "WAIT", "true");
  return properties;
}

bool PushConsumerImpl::send_back(const ReceivedMessage& message, int32_t delay_level) {
  auto rpc = send_back_rpc(message, delay_level);
  if (rpc.ok()) return true;
  logger("client")->warn("group {}: CONSUMER_SEND_MSG_BACK of {} failed ({}); sending it to {} instead", options_.group,
                         message.msg_id, rpc.error().to_string(), retry_topic());
  auto sent = send_to_retry_topic(message);
  if (sent.ok()) return true;
  logger("client")->warn("group {}: sending {} to {} failed ({}); consuming it again locally in 5 s", options_.group,
                         message.msg_id, retry_topic(), sent.error().to_string());
  return false;
}

Outcome<void> PushConsumerImpl::send_back_rpc(const ReceivedMessage& message, int32_t delay_level) {
  auto addr = pull_->broker_address({message.topic, message.broker_name, message.queue_id});
  if (!addr.ok()) return addr.error();
  RemotingCommand r = RemotingCommand::make_request(req::kConsumerSendMsgBack);
  r.set_ext_int("offset", message.commit_log_offset);
  r.set_ext("group", options_.group);
  r.set_ext_int("delayLevel", delay_level);  // 0: the broker picks 3 + reconsumeTimes
  r.set_ext("originMsgId", message.msg_id);
  r.set_ext("originTopic", message.topic);
  r.set_ext_bool("unitMode", false);
  r.set_ext_int("maxReconsumeTimes", options_.max_reconsume_times);
  auto resp = pull_->instance().remoting().invoke_sync(*addr, std::move(r), 5000);
  if (!resp.is_ok()) return transport_error(resp.status(), *addr);
  if (resp->code != rc::kSuccess) {
    return make_error(ErrorCode::kBroker, "CONSUMER_SEND_MSG_BACK at " + *addr + ": " + resp->remark.value_or(""),
                      true, resp->code);
  }
  return {};
}

Outcome<void> PushConsumerImpl::send_to_retry_topic(const ReceivedMessage& message) {
  auto route = pull_->instance().route(retry_topic());
  if (!route.is_ok() || (*route)->publish_queues.empty()) {
    return make_error(ErrorCode::kNoRoute, "no writable queue for " + retry_topic(), true);
  }
  const std::string properties = retry_properties(message);
  Error last = make_error(ErrorCode::kNoRoute, "no broker for " + retry_topic());
  for (const MessageQueue& q : (*route)->publish_queues) {
    auto addr = pull_->broker_address(q);
    if (!addr.ok()) {
      last = addr.error();
      continue;
    }
    RemotingCommand r = RemotingCommand::make_request(req::kSendMessageV2);
    r.set_ext("a", kInnerProducerGroup);
    r.set_ext("b", q.topic);
    r.set_ext("c", kDefaultTopic);
    r.set_ext_int("d", 4);
    r.set_ext_int("e", q.queue_id);
    r.set_ext_int("f", 0);  // the body was inflated on receipt; it goes back uncompressed
    r.set_ext_int("g", message.born_timestamp_ms);
    r.set_ext_int("h", message.flag);
    r.set_ext("i", properties);
    r.set_ext_int("j", message.reconsume_times + 1);
    r.set_ext_bool("k", false);
    r.set_ext_int("l", options_.max_reconsume_times);
    r.set_ext_bool("m", false);
    r.set_ext("n", q.broker_name);
    r.body = message.body;
    auto resp = pull_->instance().remoting().invoke_sync(*addr, std::move(r), options_.call_timeout_ms);
    if (!resp.is_ok()) {
      last = transport_error(resp.status(), *addr);
      continue;
    }
    if (resp->code != rc::kSuccess) {
      last = make_error(ErrorCode::kBroker, "send to " + retry_topic() + " at " + *addr + ": " +
                                                resp->remark.value_or(""), true, resp->code);
      continue;
    }
    return {};
  }
  return last;
}

}  // namespace holdfast::client
