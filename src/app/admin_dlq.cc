// `holdfast admin dlq list|resend`: read a group's dead-letter queue and put messages back into
// its retry topic, so the group consumes them again.
#include <algorithm>

#include "app/admin_client.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/message.h"
#include "transport/remoting_client.h"

namespace holdfast::admin {

namespace req = remoting::request_code;
namespace rc = remoting::response_code;
using remoting::RemotingCommand;

namespace {

constexpr char kAdminGroup[] = "HOLDFAST_ADMIN_DLQ";
constexpr int32_t kPullBatch = 32;

std::string property(const ReceivedMessage& m, const std::string& key) {
  auto it = m.properties.find(key);
  return it == m.properties.end() ? "" : it->second;
}

RemotingCommand pull_request(const std::string& topic, int64_t offset) {
  RemotingCommand r = RemotingCommand::make_request(req::kPullMessage);
  r.set_ext("consumerGroup", kAdminGroup);
  r.set_ext("topic", topic);
  r.set_ext_int("queueId", 0);
  r.set_ext_int("queueOffset", offset);
  r.set_ext_int("maxMsgNums", kPullBatch);
  r.set_ext_int("sysFlag", 0);
  r.set_ext_int("commitOffset", 0);
  r.set_ext_int("suspendTimeoutMillis", 0);
  r.set_ext("subscription", "*");
  r.set_ext_int("subVersion", 0);
  return r;
}

}  // namespace

std::string dlq_resend_key(const std::string& dlq_offset_msg_id) { return "HOLDFAST_DLQ_RESEND_" + dlq_offset_msg_id; }

Result<std::vector<DlqMessage>> AdminClient::dlq_list(const std::string& group) {
  if (group.empty()) return Status::invalid_argument("the group name is empty");
  const std::string dlq = "%DLQ%" + group;
  const std::string retry = "%RETRY%" + group;
  HF_ASSIGN_OR_RETURN(auto list, masters(""));
  std::vector<DlqMessage> out;
  bool any_broker = false;
  for (auto& [name, addr] : list) {
    int64_t offset = 0;
    for (;;) {
      auto response = client_->invoke_sync(addr, pull_request(dlq, offset), options_.timeout_ms);
      if (!response.is_ok()) {
        return Status::io_error("broker " + addr + " is unreachable: " + response.status().message());
      }
      const auto next = remoting::parse_decimal_int64(response->ext("nextBeginOffset").value_or(""));
      if (response->code == rc::kPullOffsetMoved && next && *next > offset) {
        offset = *next;
        continue;
      }
      if (response->code == rc::kPullNotFound || response->code == rc::kPullRetryImmediately) {
        any_broker = true;  // the queue exists (it answers with offsets) but nothing is left
        break;
      }
      if (response->code != rc::kSuccess) break;  // no such topic on this broker
      any_broker = true;
      HF_ASSIGN_OR_RETURN(auto messages, decode_messages(response->body, name));
      if (messages.empty()) break;
      for (ReceivedMessage& m : messages) {
        DlqMessage d;
        d.broker_addr = addr;
        d.original_topic = property(m, "RETRY_TOPIC");
        d.origin_msg_id = property(m, "ORIGIN_MESSAGE_ID");
        offset = m.queue_offset + 1;
        d.message = std::move(m);
        out.push_back(std::move(d));
      }
      if (next && *next > offset) offset = *next;
    }
  }
  if (!any_broker) return Status::not_found("no broker has a dead-letter queue for group " + group);
  // Copies already put back: those in the retry topic that carry the marker and have not been
  // sent back since (a later failure of a resent copy is a send-back copy, reconsumeTimes > 0).
  for (DlqMessage& d : out) {
    auto copies = query_by_key(retry, dlq_resend_key(d.message.offset_msg_id), 64);
    if (!copies.is_ok()) continue;
    d.resent = static_cast<int32_t>(std::count_if(copies->begin(), copies->end(),
                                                  [](const ReceivedMessage& c) { return c.reconsume_times == 0; }));
  }
  return out;
}

Result<std::vector<DlqResend>> AdminClient::dlq_resend(const std::string& group, const std::string& msg_id) {
  HF_ASSIGN_OR_RETURN(std::vector<DlqMessage> all, dlq_list(group));
  std::vector<DlqResend> out;
  for (DlqMessage& d : all) {
    const ReceivedMessage& m = d.message;
    if (!msg_id.empty() && m.msg_id != msg_id && m.offset_msg_id != msg_id) continue;
    // The copy: body as stored (decompressed, so sysFlag 0), every property but the delay and
    // schedule ones, and the marker key.
    std::string keys = property(m, "KEYS");
    keys += (keys.empty() ? "" : " ") + dlq_resend_key(m.offset_msg_id);
    MessageProperties props;
    for (const auto& [key, value] : m.properties) props.set(key, value);
    for (const char* key : {"DELAY", "REAL_TOPIC", "REAL_QID", "WAIT", "MIN_OFFSET", "MAX_OFFSET"}) props.erase(key);
    props.set("KEYS", keys);
    if (d.original_topic.empty()) props.set("RETRY_TOPIC", m.topic);
    RemotingCommand r = RemotingCommand::make_request(req::kSendMessageV2);
    r.set_ext("a", kAdminGroup);
    r.set_ext("b", "%RETRY%" + group);
    r.set_ext("c", "TBW102");
    r.set_ext_int("d", 1);
    r.set_ext_int("e", 0);
    r.set_ext_int("f", 0);
    r.set_ext_int("g", m.born_timestamp_ms);
    r.set_ext_int("h", m.flag);
    r.set_ext("i", props.encode());
    r.set_ext_int("j", 0);
    r.set_ext("k", "false");
    r.body = m.body;
    HF_ASSIGN_OR_RETURN(RemotingCommand response,
                        call_broker(d.broker_addr, std::move(r), "resend " + m.offset_msg_id + " to %RETRY%" + group));
    DlqResend done;
    done.new_offset_msg_id = std::string(response.ext("msgId").value_or(""));
    done.source = std::move(d);
    out.push_back(std::move(done));
  }
  if (out.empty()) {
    return Status::not_found(msg_id.empty() ? "the dead-letter queue of group " + group + " is empty"
                                            : "no message " + msg_id + " in the dead-letter queue of group " + group);
  }
  return out;
}

}  // namespace holdfast::admin
