// SEND_MESSAGE / SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE handling.
#include "broker/send_message_processor.h"

#include <algorithm>
#include <limits>
#include <random>

#include "broker/put_status_mapping.h"
#include "broker/schedule_message_service.h"
#include "broker/topic_config_manager.h"
#include "broker/transaction_service.h"
#include "remoting/batch_codec.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/message_format.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;
using remoting::RemotingCommand;

namespace {

// V2 letter -> V1 name (facts §2.3).
struct FieldNames {
  const char* v1;
  const char* v2;
};
constexpr FieldNames kProducerGroup{"producerGroup", "a"}, kTopic{"topic", "b"},
    kDefaultTopic{"defaultTopic", "c"}, kDefaultTopicQueueNums{"defaultTopicQueueNums", "d"},
    kQueueId{"queueId", "e"}, kSysFlag{"sysFlag", "f"}, kBornTimestamp{"bornTimestamp", "g"},
    kFlag{"flag", "h"}, kProperties{"properties", "i"}, kReconsumeTimes{"reconsumeTimes", "j"},
    kBatch{"batch", "m"};

}  // namespace

Result<SendHeader> decode_send_header(const RemotingCommand& r) {
  const bool v2 = r.code == remoting::request_code::kSendMessageV2 ||
                  r.code == remoting::request_code::kSendBatchMessage;
  auto name = [v2](const FieldNames& f) { return v2 ? f.v2 : f.v1; };
  auto str = [&](const FieldNames& f, bool required) -> Result<std::string> {
    auto v = r.ext(name(f));
    if (!v) {
      if (required) return Status::invalid_argument(std::string("missing header field '") + name(f) + "'");
      return std::string();
    }
    return std::string(*v);
  };
  SendHeader h;
  HF_ASSIGN_OR_RETURN(h.producer_group, str(kProducerGroup, true));
  HF_ASSIGN_OR_RETURN(h.topic, str(kTopic, true));
  HF_ASSIGN_OR_RETURN(h.default_topic, str(kDefaultTopic, false));
  HF_ASSIGN_OR_RETURN(h.default_topic_queue_nums, r.get_int32(name(kDefaultTopicQueueNums)));
  HF_ASSIGN_OR_RETURN(h.queue_id, r.get_int32(name(kQueueId)));
  HF_ASSIGN_OR_RETURN(h.sys_flag, r.get_int32(name(kSysFlag)));
  HF_ASSIGN_OR_RETURN(h.born_timestamp, r.get_int64(name(kBornTimestamp)));
  HF_ASSIGN_OR_RETURN(h.flag, r.get_int32(name(kFlag)));
  HF_ASSIGN_OR_RETURN(h.properties, str(kProperties, false));
  if (r.ext(name(kReconsumeTimes))) {
    HF_ASSIGN_OR_RETURN(h.reconsume_times, r.get_int32(name(kReconsumeTimes)));
  }
  if (r.ext(name(kBatch))) {
    HF_ASSIGN_OR_RETURN(h.batch, r.get_bool(name(kBatch)));
  }
  if (r.code == remoting::request_code::kSendBatchMessage) h.batch = true;
  return h;
}

SendMessageProcessor::SendMessageProcessor(MessageStore* store, HostAddress store_host, TopicResolver resolve_topic,
                                           SendRetryPolicy policy)
    : store_(store), store_host_(store_host), resolve_topic_(std::move(resolve_topic)), policy_(std::move(policy)) {}

void SendMessageProcessor::handle(const transport::ConnectionPtr& conn, RemotingCommand request,
                                  remoting::SerializeType type) {
  auto reply = [conn, type, oneway = request.is_oneway()](RemotingCommand resp) {
    if (!oneway) conn->send_response(resp, type);
  };
  auto header = decode_send_header(request);
  if (!header.is_ok()) {
    reply(request.make_response(rc::kSystemError, header.status().message()));
    return;
  }
  const SendHeader& h = *header;
  if (!is_legal_topic_name(h.topic)) {
    reply(request.make_response(rc::kInvalidParameter,
                                "illegal topic name '" + h.topic.substr(0, 200) +
                                    "': 1 to 127 characters of [%|a-zA-Z0-9_-] are allowed"));
    return;
  }
  // A half message of a transaction (facts §9.1): stored in the half topic, never visible to the
  // real topic's consumers until END_TRANSACTION commits it.
  const int32_t transaction_type = h.sys_flag & format::kTransactionTypeMask;
  const bool half = transaction_type == format::kTransactionPrepared || find_property(h.properties, "TRAN_MSG") == "true";
  if (transaction_type == format::kTransactionRollback) {
    reply(request.make_response(rc::kMessageIllegal, "a send cannot carry the ROLLBACK transaction type (it would "
                                                     "never be readable); transactions end with END_TRANSACTION"));
    return;
  }
  auto queues = resolve_topic_(h);
  if (!queues.is_ok()) {
    reply(request.make_response(send_error_code(queues.status()), queues.status().message()));
    return;
  }
  int32_t queue_id = h.queue_id;
  if (queue_id < 0) {
    thread_local std::mt19937 rng{std::random_device{}()};
    queue_id = static_cast<int32_t>(rng() % static_cast<uint32_t>(*queues));
  } else if (queue_id >= *queues) {
    reply(request.make_response(rc::kInvalidParameter, "queueId " + std::to_string(queue_id) +
                                                           " is out of range: topic " + h.topic + " has " +
                                                           std::to_string(*queues) + " queues"));
    return;
  }
  HostAddress born;
  if (!HostAddress::parse(conn->remote_address(), &born)) born = HostAddress::ipv4(0, 0, 0, 0, 0);
  auto make = [&](int32_t flag, std::string body, std::string properties) {
    MessageToStore m;
    m.topic = h.topic;
    m.queue_id = queue_id;
    m.flag = flag;
    m.sys_flag = h.sys_flag;
    m.born_timestamp = h.born_timestamp;
    m.born_host = born;
    m.store_host = store_host_;
    m.reconsume_times = h.reconsume_times;
    m.body = std::move(body);
    m.properties = std::move(properties);
    // Appended, not re-encoded: a CLUSTER the producer sent is overridden (a later duplicate
    // wins), and any rewrite below parses the duplicates into one.
    if (!policy_.cluster_name.empty()) append_property(&m.properties, "CLUSTER", policy_.cluster_name);
    return m;
  };
  std::vector<MessageToStore> msgs;
  if (h.batch) {
    if (half || (h.sys_flag & format::kTransactionTypeMask) != 0 || h.topic.rfind("%RETRY%", 0) == 0) {
      reply(request.make_response(rc::kMessageIllegal, "a batch cannot be transactional or go to a retry topic"));
      return;
    }
    auto inner = remoting::decode_batch(request.body);
    if (!inner.is_ok()) {
      reply(request.make_response(rc::kMessageIllegal, "bad batch body: " + inner.status().message()));
      return;
    }
    // Each inner message keeps only its own properties (and so its own UNIQ_KEY).
    for (const auto& b : *inner) {
      if (delay_level_of(b.properties) > 0) {
        reply(request.make_response(rc::kMessageIllegal, "a batch cannot carry delay levels"));
        return;
      }
      msgs.push_back(make(b.flag, std::string(b.body), std::string(b.properties)));
    }
  } else {
    MessageToStore m = make(h.flag, std::move(request.body), h.properties);
    const bool retry_topic = m.topic.rfind(kRetryTopicPrefix, 0) == 0;
    if (half) {
      if (retry_topic) {
        reply(request.make_response(rc::kMessageIllegal, "a retry topic cannot receive transactional messages"));
        return;
      }
      // A delay level is not applied to a half: the producer strips DELAY, and a commit is
      // delivered when it is decided.
      MessageProperties properties(m.properties);
      properties.set_if_absent("PGROUP", h.producer_group);
      properties.erase("DELAY");
      make_half_message(&m, &properties);
      m.properties = properties.encode();
    } else if (retry_topic || delay_level_of(m.properties) > 0) {
      // The properties are rewritten once: parsed, edited, encoded.
      MessageProperties properties(m.properties);
      bool changed = false;
      if (retry_topic) {
        const std::string group = m.topic.substr(kRetryTopicPrefix.size());
        int32_t max = policy_.retry_max_times ? policy_.retry_max_times(group) : 16;
        if (auto header_max = remoting::parse_decimal_int64(properties.get("MAX_RECONSUME_TIMES"))) {
          max = static_cast<int32_t>(std::clamp<int64_t>(*header_max, std::numeric_limits<int32_t>::min(),
                                                         std::numeric_limits<int32_t>::max()));
        }
        if (m.reconsume_times > max || (policy_.group_has_order_locks && policy_.group_has_order_locks(group))) {
          if (policy_.ensure_dlq_topic) {
            Status st = policy_.ensure_dlq_topic(group);
            if (!st.is_ok()) {
              reply(request.make_response(rc::kSystemError, "cannot create the dead-letter topic: " + st.message()));
              return;
            }
          }
          m.topic = dlq_topic(group);
          m.queue_id = 0;
          properties.erase("DELAY");
          changed = true;
        }
      }
      changed = park_delayed_message(&m, &properties, policy_.delay_level_count) || changed;
      if (changed) m.properties = properties.encode();
    }
    msgs.push_back(std::move(m));
  }
  std::string transaction_id(find_property(h.properties, "UNIQ_KEY"));
  const bool await_replica = policy_.await_replica && find_property(h.properties, "WAIT") != "false";
  store_->put_batch_async(std::move(msgs), [this, request = std::move(request), reply, transaction_id, queue_id,
                                             await_replica](std::vector<PutResult> results) {
    const PutResult& first = results.front();
    if (await_replica && (first.status == PutStatus::kOk || first.status == PutStatus::kFlushDiskTimeout)) {
      const PutResult& last = results.back();
      const int64_t end = last.physical_offset + last.wrote_bytes;
      policy_.await_replica(end, [this, results = std::move(results), request, reply, transaction_id,
                                  queue_id](PutStatus replica) mutable {
        if (replica != PutStatus::kOk) {
          results.front().status = replica;
          results.front().remark = replica == PutStatus::kSlaveNotAvailable
                                       ? "stored on the master, but not replicated: no slave is connected or "
                                         "caught up (SYNC_MASTER), or the in-sync set is smaller than "
                                         "minInSyncReplicas"
                                       : "stored on the master, but no slave acknowledged it within slaveTimeout "
                                         "(SYNC_MASTER)";
        }
        fence_acknowledgement(results);
        respond_to_send(request, results, transaction_id, queue_id, reply);
      });
      return;
    }
    fence_acknowledgement(results);
    respond_to_send(request, results, transaction_id, queue_id, reply);
  });
}

void SendMessageProcessor::fence_acknowledgement(std::vector<PutResult>& results) const {
  if (!policy_.may_acknowledge || results.front().status != PutStatus::kOk || policy_.may_acknowledge()) return;
  results.front().status = PutStatus::kServiceNotAvailable;
  results.front().remark =
      "not acknowledged: this broker's master lease ran out (automatic failover; another member may be master "
      "now); the message may or may not be kept, send it again";
}

void SendMessageProcessor::respond_to_send(const RemotingCommand& request, const std::vector<PutResult>& results,
                                           const std::string& transaction_id, int32_t queue_id,
                                           const std::function<void(RemotingCommand)>& reply) const {
  {
    const PutResult& first = results.front();
    RemotingCommand resp = request.make_response(response_code_for(first.status));
    if (first.status != PutStatus::kOk) resp.remark = first.remark;
    if (first.stored()) {
      std::string ids;
      for (const auto& r : results) {
        if (!ids.empty()) ids += ",";
        ids += r.msg_id;
      }
      resp.set_ext("msgId", ids);
      resp.set_ext_int("queueId", queue_id);
      resp.set_ext_int("queueOffset", first.queue_offset);
      if (!transaction_id.empty()) resp.set_ext("transactionId", transaction_id);
      if (policy_.master_epoch >= 0) resp.set_ext_int("masterEpoch", policy_.master_epoch);
    }
    resp.set_ext("MSG_REGION", "DefaultRegion");
    resp.set_ext("TRACE_ON", "true");
    reply(std::move(resp));
  }
}

}  // namespace holdfast::broker
