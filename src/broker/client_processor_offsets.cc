// ClientProcessor: consumer offsets (14, 15), queue offsets (29, 30, 31, 32) and consume
// statistics (208). Response header fields: `offset`, or `timestamp` for 32 (facts §2.5).
#include <set>

#include "broker/broker_json.h"
#include "broker/broker_stats.h"
#include "broker/client_processor.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

namespace {

RemotingCommand bad_header(const RemotingCommand& request, const Status& status) {
  return request.make_response(rc::kSystemError, status.message());
}

}  // namespace

Result<ClientProcessor::QueueHeader> ClientProcessor::queue_header(const RemotingCommand& request) {
  QueueHeader header;
  HF_ASSIGN_OR_RETURN(header.topic, required_field(request, "topic"));
  HF_ASSIGN_OR_RETURN(header.queue_id, request.get_int32("queueId"));
  return header;
}

RemotingCommand ClientProcessor::query_consumer_offset(const RemotingCommand& request) {
  auto group = required_field(request, "consumerGroup");
  if (!group.is_ok()) return bad_header(request, group.status());
  auto queue = queue_header(request);
  if (!queue.is_ok()) return bad_header(request, queue.status());
  const auto& [topic, queue_id] = *queue;
  bool zero_if_not_found = true;  // 5.x clients may send setZeroIfNotFound=false
  if (request.ext("setZeroIfNotFound")) {
    auto flag = request.get_bool("setZeroIfNotFound");
    if (!flag.is_ok()) return bad_header(request, flag.status());
    zero_if_not_found = *flag;
  }

  RemotingCommand response = request.make_response(rc::kSuccess);
  if (auto offset = offsets_->query(*group, topic, queue_id)) {
    response.set_ext_int("offset", *offset);
    return response;
  }
  // No committed offset. A queue that still starts at offset 0 lets a new group begin at 0
  // (everything is still there); a queue whose head was removed answers QUERY_NOT_FOUND so the
  // client applies its consumeFromWhere policy.
  if (zero_if_not_found && store_->min_offset_in_queue(topic, queue_id) <= 0) {
    response.set_ext_int("offset", 0);
    return response;
  }
  return request.make_response(rc::kQueryNotFound, "no committed offset for group " + *group + " on " + topic +
                                                       " queue " + std::to_string(queue_id));
}

RemotingCommand ClientProcessor::update_consumer_offset(const RemotingCommand& request) {
  auto group = required_field(request, "consumerGroup");
  if (!group.is_ok()) return bad_header(request, group.status());
  auto queue = queue_header(request);
  if (!queue.is_ok()) return bad_header(request, queue.status());
  const auto& [topic, queue_id] = *queue;
  auto offset = request.get_int64("commitOffset");
  if (!offset.is_ok()) return bad_header(request, offset.status());
  offsets_->commit(*group, topic, queue_id, *offset);
  return request.make_response(rc::kSuccess);
}

RemotingCommand ClientProcessor::queue_offset(const RemotingCommand& request) {
  auto queue = queue_header(request);
  if (!queue.is_ok()) return bad_header(request, queue.status());
  const auto& [topic, queue_id] = *queue;
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.set_ext_int("offset", request.code == req::kGetMaxOffset ? store_->max_offset_in_queue(topic, queue_id)
                                                                    : store_->min_offset_in_queue(topic, queue_id));
  return response;
}

RemotingCommand ClientProcessor::search_offset_by_timestamp(const RemotingCommand& request) {
  auto queue = queue_header(request);
  if (!queue.is_ok()) return bad_header(request, queue.status());
  const auto& [topic, queue_id] = *queue;
  auto timestamp = request.get_int64("timestamp");
  if (!timestamp.is_ok()) return bad_header(request, timestamp.status());
  auto offset = store_->offset_by_timestamp(topic, queue_id, *timestamp);
  if (!offset.is_ok()) return request.make_response(rc::kSystemError, offset.status().to_string());
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.set_ext_int("offset", *offset);
  return response;
}

RemotingCommand ClientProcessor::earliest_store_time(const RemotingCommand& request) {
  auto queue = queue_header(request);
  if (!queue.is_ok()) return bad_header(request, queue.status());
  const auto& [topic, queue_id] = *queue;
  auto timestamp = store_->earliest_store_time(topic, queue_id);
  RemotingCommand response = request.make_response(rc::kSuccess);
  // An empty or unknown queue has no earliest message: -1, as a Java broker answers.
  response.set_ext_int("timestamp", timestamp.is_ok() ? *timestamp : -1);
  return response;
}

RemotingCommand ClientProcessor::consume_stats(const RemotingCommand& request) {
  auto group = required_field(request, "consumerGroup");
  if (!group.is_ok()) return bad_header(request, group.status());
  std::set<std::string> topics;
  if (auto topic = request.ext("topic"); topic && !topic->empty()) {
    topics.insert(std::string(*topic));
  } else {
    topics = offsets_->topics_of_group(*group);
    for (const SubscriptionData& sub : clients_->subscriptions(*group)) topics.insert(sub.topic);
  }
  std::optional<std::vector<std::pair<std::string, int32_t>>> store_queues;  // read once, if needed

  // ConsumeStats in fastjson's layout: fields in alphabetical order, MessageQueue objects as map
  // keys (facts §2.7, §12.4).
  double tps = 0;
  if (options_.consume_tps) {
    for (const std::string& topic : topics) tps += options_.consume_tps(*group, topic);
  }
  std::string body = "{\"consumeTps\":" + java_double(tps) + ",\"offsetTable\":{";
  bool first = true;
  for (const std::string& topic : topics) {
    const std::map<int32_t, int64_t> committed = offsets_->offsets(*group, topic);
    std::set<int32_t> queue_ids;
    std::optional<int32_t> count;
    if (options_.read_queue_count) count = options_.read_queue_count(topic);
    if (count) {
      for (int32_t q = 0; q < *count; ++q) queue_ids.insert(q);
    } else {
      if (!store_queues) store_queues = store_->queues();
      for (const auto& [t, q] : *store_queues) {
        if (t == topic) queue_ids.insert(q);
      }
      for (const auto& [q, offset] : committed) queue_ids.insert(q);
    }
    for (int32_t q : queue_ids) {
      auto it = committed.find(q);
      const int64_t consumer_offset = it == committed.end() || it->second < 0 ? 0 : it->second;
      const int64_t broker_offset = store_->max_offset_in_queue(topic, q);
      const int64_t last_timestamp = store_->store_time_at(topic, q, consumer_offset - 1).value_or(0);
      if (!first) body += ",";
      first = false;
      body += message_queue_json(topic, options_.broker_name, q);
      body += ":{\"brokerOffset\":" + std::to_string(broker_offset);
      body += ",\"consumerOffset\":" + std::to_string(consumer_offset);
      body += ",\"lastTimestamp\":" + std::to_string(last_timestamp);
      body += ",\"pullOffset\":" + std::to_string(consumer_offset) + "}";
    }
  }
  body += "}}";
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = std::move(body);
  return response;
}

}  // namespace holdfast::broker
