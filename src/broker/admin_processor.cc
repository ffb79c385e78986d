// Admin and lookup request handlers.
#include "broker/admin_processor.h"

#include <algorithm>
#include <cstdio>

#include "base/logging.h"
#include "broker/broker_json.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

namespace {

// The version this broker reports (remoting::kLocalVersion is MQVersion V4_9_8).
constexpr const char* kBrokerVersionDesc = "V4_9_8";

Result<std::string> required(const RemotingCommand& request, std::string_view key) {
  auto v = request.ext(key);
  if (!v || v->empty()) return Status::invalid_argument("missing header field '" + std::string(key) + "'");
  return std::string(*v);
}

Result<int32_t> optional_int32(const RemotingCommand& request, std::string_view key, int32_t fallback) {
  if (!request.ext(key)) return fallback;
  return request.get_int32(key);
}

Result<bool> optional_bool(const RemotingCommand& request, std::string_view key, bool fallback) {
  if (!request.ext(key)) return fallback;
  return request.get_bool(key);
}

RemotingCommand error(const RemotingCommand& request, int32_t code, const Status& status) {
  return request.make_response(code, status.message());
}

// Java's Double.toString for the ratios tools read (enough digits, no locale).
std::string ratio_string(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

AdminProcessor::AdminProcessor(AdminProcessorOptions options)
    : options_(std::move(options)), env_(options_.env != nullptr ? options_.env : Env::posix()),
      boot_timestamp_ms_(env_->now_ms()) {}

void AdminProcessor::register_to(transport::RemotingServer& server) {
  for (int32_t code : {req::kUpdateAndCreateTopic, req::kDeleteTopicInBroker, req::kGetAllTopicConfig,
                       req::kUpdateAndCreateSubscriptionGroup, req::kGetAllSubscriptionGroupConfig, req::kQueryMessage,
                       req::kViewMessageById, req::kGetTopicStatsInfo, req::kGetBrokerRuntimeInfo}) {
    server.register_handler(code, [this](const transport::ConnectionPtr& conn, RemotingCommand request,
                                         remoting::SerializeType type) {
      RemotingCommand response = process(request);
      if (!request.is_oneway()) conn->send_response(response, type);
    });
  }
}

RemotingCommand AdminProcessor::process(const RemotingCommand& request) {
  switch (request.code) {
    case req::kUpdateAndCreateTopic:
      return update_and_create_topic(request);
    case req::kDeleteTopicInBroker:
      return delete_topic(request);
    case req::kGetAllTopicConfig:
      return get_all_topic_config(request);
    case req::kUpdateAndCreateSubscriptionGroup:
      return update_and_create_subscription_group(request);
    case req::kGetAllSubscriptionGroupConfig:
      return get_all_subscription_group_config(request);
    case req::kQueryMessage:
      return query_message(request);
    case req::kViewMessageById:
      return view_message_by_id(request);
    case req::kGetTopicStatsInfo:
      return get_topic_stats(request);
    case req::kGetBrokerRuntimeInfo:
      return get_runtime_info(request);
    default:
      return request.make_response(rc::kRequestCodeNotSupported,
                                   "request code " + std::to_string(request.code) + " is not supported by the admin processor");
  }
}

RemotingCommand AdminProcessor::update_and_create_topic(const RemotingCommand& request) {
  auto topic = required(request, "topic");
  if (!topic.is_ok()) return error(request, rc::kSystemError, topic.status());
  if (Status st = validate_topic_name(*topic); !st.is_ok()) return error(request, rc::kSystemError, st);
  if (*topic == options_.cluster_name) {
    return request.make_response(rc::kSystemError, "the topic[" + *topic + "] is conflict with system reserved words.");
  }
  TopicConfig config;
  config.topic_name = *topic;
  auto read = request.get_int32("readQueueNums");
  auto write = request.get_int32("writeQueueNums");
  auto p = request.get_int32("perm");
  auto sys_flag = optional_int32(request, "topicSysFlag", 0);
  auto order = optional_bool(request, "order", false);
  for (const Status* st : {&read.status(), &write.status(), &p.status(), &sys_flag.status(), &order.status()}) {
    if (!st->is_ok()) return error(request, rc::kSystemError, *st);
  }
  config.read_queue_nums = *read;
  config.write_queue_nums = *write;
  config.perm = *p;
  config.topic_sys_flag = *sys_flag;
  config.order = *order;
  if (auto filter = request.ext("topicFilterType"); filter && !filter->empty()) config.topic_filter_type = *filter;
  if (Status st = validate_topic_config(config); !st.is_ok()) return error(request, rc::kInvalidParameter, st);
  if (Status st = options_.topics->update(config); !st.is_ok()) {
    return request.make_response(rc::kSystemError, "topic " + config.topic_name + " not saved: " + st.message());
  }
  return request.make_response(rc::kSuccess);
}

RemotingCommand AdminProcessor::delete_topic(const RemotingCommand& request) {
  auto topic = required(request, "topic");
  if (!topic.is_ok()) return error(request, rc::kSystemError, topic.status());
  if (Status st = validate_topic_name(*topic); !st.is_ok()) return error(request, rc::kSystemError, st);
  if (options_.topics->is_system_topic(*topic)) {
    return request.make_response(rc::kSystemError, "the topic[" + *topic + "] is a system topic and cannot be deleted");
  }
  Status st = options_.topics->remove(*topic);
  // Deleting an unknown topic succeeds: admin tools delete on every broker of a cluster.
  if (!st.is_ok() && st.code() != StatusCode::kNotFound) {
    return request.make_response(rc::kSystemError, "topic " + *topic + " not deleted: " + st.message());
  }
  if (st.is_ok() && options_.on_topic_deleted) {
    if (Status cleanup = options_.on_topic_deleted(*topic); !cleanup.is_ok()) {
      return request.make_response(rc::kSystemError, "topic " + *topic +
                                                         " removed from the config, but its queues were not deleted: " +
                                                         cleanup.message());
    }
  }
  return request.make_response(rc::kSuccess);
}

RemotingCommand AdminProcessor::get_all_topic_config(const RemotingCommand& request) {
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = options_.topics->encode_wrapper_json();
  return response;
}

RemotingCommand AdminProcessor::update_and_create_subscription_group(const RemotingCommand& request) {
  if (options_.groups == nullptr) {
    return request.make_response(rc::kSystemError, "subscription groups are not managed by this broker");
  }
  auto doc = parse_json(request.body, "subscription group body");
  if (!doc.is_ok()) return error(request, rc::kSystemError, doc.status());
  auto config = subscription_group_from_json(*doc, "");
  if (!config.is_ok()) return error(request, rc::kInvalidParameter, config.status());
  if (Status st = validate_subscription_group(*config); !st.is_ok()) return error(request, rc::kInvalidParameter, st);
  if (Status st = options_.groups->update(*config); !st.is_ok()) {
    return request.make_response(rc::kSystemError, "group " + config->group_name + " not saved: " + st.message());
  }
  return request.make_response(rc::kSuccess);
}

RemotingCommand AdminProcessor::get_all_subscription_group_config(const RemotingCommand& request) {
  if (options_.groups == nullptr) {
    return request.make_response(rc::kSystemError, "subscription groups are not managed by this broker");
  }
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = options_.groups->encode_wrapper_json();
  return response;
}

RemotingCommand AdminProcessor::query_message(const RemotingCommand& request) {
  auto topic = required(request, "topic");
  auto key = required(request, "key");
  auto max_num = request.get_int32("maxNum");
  auto begin = request.get_int64("beginTimestamp");
  auto end = request.get_int64("endTimestamp");
  for (const Status* st : {&topic.status(), &key.status(), &max_num.status(), &begin.status(), &end.status()}) {
    if (!st->is_ok()) return error(request, rc::kSystemError, *st);
  }
  int32_t limit = *max_num;
  if (request.ext("_UNIQUE_KEY_QUERY").value_or("") == "true") limit = options_.default_query_max_num;
  limit = std::clamp(limit, 1, options_.max_query_num);
  auto records = options_.store->query_by_key(*topic, *key, limit, *begin, *end);
  if (!records.is_ok()) return error(request, rc::kSystemError, records.status());

  RemotingCommand response = request.make_response(rc::kSuccess);
  // The index has covered everything dispatched; the timestamp is the newest store time among
  // the hits (0 without hits).
  int64_t newest = 0;
  for (const std::string& r : *records) {
    RecordView v;
    if (decode_record(r.data(), r.size(), false, &v).outcome == DecodeOutcome::kRecord) {
      newest = std::max(newest, v.store_timestamp);
    }
    response.body += r;
  }
  response.set_ext_int("indexLastUpdateTimestamp", newest);
  response.set_ext_int("indexLastUpdatePhyoffset", options_.store->dispatched_offset());
  if (records->empty()) {
    response.code = rc::kQueryNotFound;
    response.remark = "can not find message, maybe time range not correct";
  }
  return response;
}

RemotingCommand AdminProcessor::view_message_by_id(const RemotingCommand& request) {
  auto offset = request.get_int64("offset");
  if (!offset.is_ok()) return error(request, rc::kSystemError, offset.status());
  auto record = options_.store->read_record(*offset);
  if (!record.is_ok()) {
    return request.make_response(rc::kSystemError, "can not find message by the offset, " + std::to_string(*offset));
  }
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = std::move(record).value();
  return response;
}

RemotingCommand AdminProcessor::get_topic_stats(const RemotingCommand& request) {
  auto topic = required(request, "topic");
  if (!topic.is_ok()) return error(request, rc::kSystemError, topic.status());
  auto config = options_.topics->find(*topic);
  if (!config) return request.make_response(rc::kTopicNotExist, "topic[" + *topic + "] not exist");
  std::string body = "{\"offsetTable\":{";
  for (int32_t q = 0; q < config->write_queue_nums; ++q) {
    const int64_t min = std::max<int64_t>(0, options_.store->min_offset_in_queue(*topic, q));
    const int64_t max = std::max<int64_t>(0, options_.store->max_offset_in_queue(*topic, q));
    if (q > 0) body += ",";
    body += message_queue_json(*topic, options_.broker_name, q);
    body += ":{\"lastUpdateTimestamp\":" + std::to_string(options_.store->store_time_at(*topic, q, max - 1).value_or(0)) +
            ",\"maxOffset\":" + std::to_string(max) + ",\"minOffset\":" + std::to_string(min) + "}";
  }
  body += "}}";
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = std::move(body);
  return response;
}

std::map<std::string, std::string> AdminProcessor::runtime_info() const {
  std::map<std::string, std::string> table;
  MessageStore* store = options_.store;
  table["brokerVersionDesc"] = kBrokerVersionDesc;
  table["brokerVersion"] = std::to_string(remoting::kLocalVersion);
  table["bootTimestamp"] = std::to_string(boot_timestamp_ms_);
  const int64_t up = std::max<int64_t>(0, env_->now_ms() - boot_timestamp_ms_) / 1000;
  table["runtime"] = "[ " + std::to_string(up / 86400) + " days, " + std::to_string(up / 3600 % 24) + " hours, " +
                     std::to_string(up / 60 % 60) + " minutes, " + std::to_string(up % 60) + " seconds ]";
  table["commitLogMinOffset"] = std::to_string(store->min_physical_offset());
  table["commitLogMaxOffset"] = std::to_string(store->written_offset());
  table["dispatchBehindBytes"] = std::to_string(std::max<int64_t>(0, store->confirmed_offset() - store->dispatched_offset()));
  auto usage = env_->disk_usage(store->options().root_dir);
  if (usage.is_ok()) {
    table["commitLogDiskRatio"] = ratio_string(usage->used_ratio());
    table["consumeQueueDiskRatio"] = ratio_string(usage->used_ratio());
    table["commitLogDirCapacity"] = "Total : " + std::to_string(usage->total_bytes) +
                                    ", Free : " + std::to_string(usage->available_bytes) + ".";
  }
  if (options_.extra_runtime_info) {
    for (auto& [k, v] : options_.extra_runtime_info()) table[k] = v;
  }
  return table;
}

RemotingCommand AdminProcessor::get_runtime_info(const RemotingCommand& request) {
  nlohmann::json table = nlohmann::json::object();
  for (auto& [k, v] : runtime_info()) table[k] = v;
  RemotingCommand response = request.make_response(rc::kSuccess);
  response.body = dump_compact(nlohmann::json{{"table", std::move(table)}});
  return response;
}

TopicResolver make_topic_resolver(TopicConfigManager* topics) {
  return [topics](const SendHeader& header) -> Result<int32_t> {
    HF_ASSIGN_OR_RETURN(TopicConfig config,
                        topics->resolve_for_send(header.topic, header.default_topic, header.default_topic_queue_nums));
    return config.write_queue_nums;
  };
}

}  // namespace holdfast::broker
