// ClientProcessor: CONSUMER_SEND_MSG_BACK (facts §8.3). A consumer that failed to process a
// message hands it back; the broker stores a copy for the group's retry topic after a delay level
// (the header's delayLevel, or 3 + reconsumeTimes when it is 0), or — once the copy would exceed
// the retry limit, or when delayLevel < 0 — in its dead-letter topic at once. The original record
// is left where it is.
#include <random>

#include "broker/client_processor.h"
#include "broker/schedule_message_service.h"
#include "remoting/response_code.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;
using remoting::RemotingCommand;

namespace {

constexpr int32_t kDefaultMaxReconsumeTimes = 16;  // a group's default retryMaxTimes

// The properties of the copy, as RocketMQ 4.9.8 builds them (facts §8.3): the original's, with
// RETRY_TOPIC and ORIGIN_MESSAGE_ID added only when absent — so through every retry they name the
// first topic and the first stored copy — except that a WAIT=false entry is dropped: the consumer
// commits its offset past the original once we answer, so the copy must be stored under the full
// durability contract before we do.
MessageProperties copy_properties(const RecordView& original) {
  MessageProperties props(original.properties);
  if (props.get("WAIT") == "false") props.erase("WAIT");
  props.set_if_absent("RETRY_TOPIC", original.topic);
  props.set_if_absent("ORIGIN_MESSAGE_ID", offset_message_id(original.store_host, original.physical_offset));
  return props;
}

}  // namespace

void ClientProcessor::send_back(const RemotingCommand& request, Reply reply) {
  auto fail = [&](int32_t code, std::string remark) { reply(request.make_response(code, std::move(remark))); };
  auto offset = request.get_int64("offset");
  if (!offset.is_ok()) return fail(rc::kSystemError, offset.status().message());
  auto group = required_field(request, "group");
  if (!group.is_ok()) return fail(rc::kSystemError, group.status().message());
  auto delay_level = request.get_int32("delayLevel");
  if (!delay_level.is_ok()) return fail(rc::kSystemError, delay_level.status().message());
  std::optional<int32_t> header_max;
  if (request.ext("maxReconsumeTimes")) {
    auto max = request.get_int32("maxReconsumeTimes");
    if (!max.is_ok()) return fail(rc::kSystemError, max.status().message());
    header_max = *max;
  }

  if (!group_exists(*group)) {
    return fail(rc::kSubscriptionGroupNotExist, "subscription group " + *group + " does not exist");
  }

  auto record = store_->read_record(*offset);
  if (!record.is_ok()) {
    return fail(rc::kSystemError, "cannot load the message at commit log offset " + std::to_string(*offset) + ": " +
                                      record.status().message());
  }
  RecordView original;
  DecodeResult decoded = decode_record(record->data(), record->size(), /*check_crc=*/true, &original);
  if (decoded.outcome != DecodeOutcome::kRecord) {
    return fail(rc::kSystemError,
                "the record at commit log offset " + std::to_string(*offset) + " is unreadable: " + decoded.reason);
  }

  const int32_t max_reconsume_times =
      header_max ? *header_max
                 : (options_.retry_max_times ? options_.retry_max_times(*group) : kDefaultMaxReconsumeTimes);
  MessageToStore copy;
  const bool dead = original.reconsume_times >= max_reconsume_times || *delay_level < 0;
  if (dead) {
    if (options_.ensure_dlq_topic) {
      Status st = options_.ensure_dlq_topic(*group);
      if (!st.is_ok()) return fail(rc::kSystemError, "cannot create the dead-letter topic: " + st.message());
    }
    copy.topic = "%DLQ%" + *group;
    copy.queue_id = 0;
  } else {
    int32_t queues = 1;
    if (options_.ensure_retry_topic) {
      auto count = options_.ensure_retry_topic(*group);
      if (!count.is_ok()) return fail(rc::kSystemError, "cannot create the retry topic: " + count.status().message());
      queues = *count;
    }
    // A group configured with no retry queues cannot take the message back; saying so (rather
    // than acknowledging and dropping it) lets the client keep the message and retry locally.
    if (queues <= 0) return fail(rc::kSystemError, "group " + *group + " has no retry queues");
    thread_local std::mt19937 rng{std::random_device{}()};
    copy.topic = "%RETRY%" + *group;
    copy.queue_id = static_cast<int32_t>(rng() % static_cast<uint32_t>(queues));
  }

  copy.flag = original.flag;
  copy.sys_flag = original.sys_flag;
  copy.born_timestamp = original.born_timestamp;
  copy.born_host = original.born_host;
  copy.store_host = options_.store_host;
  copy.reconsume_times = original.reconsume_times + 1;
  copy.body.assign(original.body);
  MessageProperties properties = copy_properties(original);
  if (dead) {
    // Straight into the dead-letter queue, never after one more delay.
    properties.erase("DELAY");
  } else {
    const int32_t level = *delay_level > 0 ? *delay_level : 3 + original.reconsume_times;
    properties.set("DELAY", std::to_string(level));
    park_delayed_message(&copy, &properties, options_.delay_level_count);
  }
  copy.properties = properties.encode();

  store_->put_async(std::move(copy), [request, reply = std::move(reply)](const PutResult& result) {
    if (result.status == PutStatus::kOk) {
      reply(request.make_response(rc::kSuccess));
      return;
    }
    std::string remark = put_status_name(result.status);
    if (!result.remark.empty()) remark += ": " + result.remark;
    reply(request.make_response(rc::kSystemError, std::move(remark)));
  });
}

}  // namespace holdfast::broker
