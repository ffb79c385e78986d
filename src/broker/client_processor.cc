// ClientProcessor: dispatch, heartbeats, unregistration and consumer lists. Offsets and consume
// statistics are in client_processor_offsets.cc, send-back in client_processor_send_back.cc.
#include "broker/client_processor.h"

#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

ClientProcessor::ClientProcessor(MessageStore* store, ConsumerOffsetManager* offsets, ClientManager* clients,
                                 ClientProcessorOptions options)
    : store_(store), offsets_(offsets), clients_(clients), options_(std::move(options)) {}

void ClientProcessor::register_to(transport::RemotingServer& server) {
  for (int32_t code : {req::kHeartBeat, req::kUnregisterClient, req::kGetConsumerListByGroup,
                       req::kQueryConsumerOffset, req::kUpdateConsumerOffset, req::kSearchOffsetByTimestamp,
                       req::kGetMaxOffset, req::kGetMinOffset, req::kGetEarliestMsgStoretime, req::kGetConsumeStats,
                       req::kConsumerSendMsgBack, req::kGetConsumerConnectionList, req::kQueryTopicConsumeByWho}) {
    server.register_handler(code, [this](const transport::ConnectionPtr& conn, RemotingCommand request,
                                         remoting::SerializeType type) { handle(conn, std::move(request), type); });
  }
}

void ClientProcessor::handle(const transport::ConnectionPtr& conn, RemotingCommand request,
                             remoting::SerializeType type) {
  Reply reply = [conn, type, oneway = request.is_oneway()](RemotingCommand response) {
    if (!oneway) conn->send_response(response, type);
  };
  switch (request.code) {
    case req::kHeartBeat:
      return reply(heartbeat(conn, request));
    case req::kUnregisterClient:
      return reply(unregister_client(conn, request));
    case req::kGetConsumerListByGroup:
      return reply(consumer_list(request));
    case req::kQueryConsumerOffset:
      return reply(query_consumer_offset(request));
    case req::kUpdateConsumerOffset:
      return reply(update_consumer_offset(request));
    case req::kGetMaxOffset:
    case req::kGetMinOffset:
      return reply(queue_offset(request));
    case req::kSearchOffsetByTimestamp:
      return reply(search_offset_by_timestamp(request));
    case req::kGetEarliestMsgStoretime:
      return reply(earliest_store_time(request));
    case req::kGetConsumeStats:
      return reply(consume_stats(request));
    case req::kConsumerSendMsgBack:
      return send_back(request, std::move(reply));
    case req::kGetConsumerConnectionList:
      return reply(consumer_connections(request));
    case req::kQueryTopicConsumeByWho:
      return reply(topic_consumed_by(request));
    default:
      return reply(request.make_response(rc::kRequestCodeNotSupported,
                                         " request type " + std::to_string(request.code) + " not supported"));
  }
}

Result<std::string> ClientProcessor::required_field(const RemotingCommand& request, std::string_view name,
                                                    bool allow_empty) {
  auto value = request.ext(name);
  if (!value) return Status::invalid_argument("missing header field '" + std::string(name) + "'");
  if (value->empty() && !allow_empty) {
    return Status::invalid_argument("header field '" + std::string(name) + "' is empty");
  }
  return std::string(*value);
}

bool ClientProcessor::group_exists(const std::string& group) const {
  return !options_.ensure_group || options_.ensure_group(group);
}

RemotingCommand ClientProcessor::heartbeat(const transport::ConnectionPtr& conn, const RemotingCommand& request) {
  auto data = parse_heartbeat_data(request.body);
  if (!data.is_ok()) return request.make_response(rc::kSystemError, data.status().message());
  for (const ConsumerData& consumer : data->consumers) {
    if (!group_exists(consumer.group_name)) {
      logger("broker")->warn("heartbeat from {}: consumer group {} does not exist and cannot be created; skipped",
                             data->client_id, consumer.group_name);
      continue;
    }
    if (options_.ensure_retry_topic) {
      auto queues = options_.ensure_retry_topic(consumer.group_name);
      if (!queues.is_ok()) {
        logger("broker")->warn("heartbeat: cannot create the retry topic of group {}: {}", consumer.group_name,
                               queues.status().to_string());
      }
    }
    clients_->register_consumer(conn, data->client_id, consumer, request.language, request.version);
  }
  for (const std::string& group : data->producer_groups) {
    clients_->register_producer(conn, data->client_id, group, request.language, request.version);
  }
  return request.make_response(rc::kSuccess);
}

RemotingCommand ClientProcessor::unregister_client(const transport::ConnectionPtr& conn,
                                                   const RemotingCommand& request) {
  auto client_id = required_field(request, "clientID", /*allow_empty=*/true);
  if (!client_id.is_ok()) return request.make_response(rc::kSystemError, client_id.status().message());
  if (auto group = request.ext("producerGroup"); group && !group->empty()) {
    clients_->unregister_producer(std::string(*group), conn);
  }
  if (auto group = request.ext("consumerGroup"); group && !group->empty()) {
    clients_->unregister_consumer(std::string(*group), conn);
  }
  return request.make_response(rc::kSuccess);
}

RemotingCommand ClientProcessor::consumer_list(const RemotingCommand& request) {
  auto group = required_field(request, "consumerGroup");
  if (!group.is_ok()) return request.make_response(rc::kSystemError, group.status().message());
  std::vector<std::string> ids = clients_->consumer_ids(*group);
  if (ids.empty()) return request.make_response(rc::kSystemError, "no consumer for this group, " + *group);
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = nlohmann::json{{"consumerIdList", ids}}.dump();
  return response;
}

RemotingCommand ClientProcessor::consumer_connections(const RemotingCommand& request) {
  auto group = required_field(request, "consumerGroup");
  if (!group.is_ok()) return request.make_response(rc::kSystemError, group.status().message());
  std::optional<ConsumerGroupInfo> info = clients_->consumer_group(*group);
  if (!info || info->channels.empty()) {
    return request.make_response(rc::kConsumerNotOnline, "the consumer group[" + *group + "] not online");
  }
  nlohmann::json connections = nlohmann::json::array();
  for (const ClientChannel& c : info->channels) {
    connections.push_back({{"clientAddr", c.conn ? c.conn->remote_address() : std::string()},
                           {"clientId", c.client_id},
                           {"language", remoting::language_name(c.language)},
                           {"version", c.version}});
  }
  nlohmann::json subscriptions = nlohmann::json::object();
  for (const SubscriptionData& s : info->subscriptions) {
    subscriptions[s.topic] = {{"classFilterMode", s.class_filter_mode}, {"codeSet", s.code_set},
                              {"expressionType", s.expression_type},  {"subString", s.sub_string},
                              {"subVersion", s.sub_version},          {"tagsSet", s.tags_set},
                              {"topic", s.topic}};
  }
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = nlohmann::json{{"connectionSet", connections},
                                 {"consumeFromWhere", info->consume_from_where},
                                 {"consumeType", info->consume_type},
                                 {"messageModel", info->message_model},
                                 {"subscriptionTable", subscriptions}}
                      .dump();
  return response;
}

RemotingCommand ClientProcessor::topic_consumed_by(const RemotingCommand& request) {
  auto topic = required_field(request, "topic");
  if (!topic.is_ok()) return request.make_response(rc::kSystemError, topic.status().message());
  std::set<std::string> groups = clients_->groups_subscribing(*topic);
  for (const std::string& g : offsets_->groups_of_topic(*topic)) groups.insert(g);
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = nlohmann::json{{"groupList", groups}}.dump();
  return response;
}

}  // namespace holdfast::broker
