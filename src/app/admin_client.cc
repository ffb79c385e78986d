// AdminClient: name-server and broker requests of `holdfast admin` (facts §2.5, §2.7, §12).
#include "app/admin_client.h"

#include <algorithm>
#include <limits>
#include <set>

#include "app/admin_json.h"
#include "client/topic_route.h"
#include "storage/message.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "transport/remoting_client.h"

namespace holdfast::admin {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

namespace {

// Response codes that mean "there is no such thing here" rather than a failure.
bool is_not_found_code(int32_t code) {
  return code == rc::kTopicNotExist || code == rc::kQueryNotFound || code == rc::kSubscriptionGroupNotExist ||
         code == rc::kSubscriptionNotExist;
}

Status response_error(const RemotingCommand& response, const std::string& what, const std::string& where) {
  std::string text = what + " failed on " + where + ": " + remoting::response_code_name(response.code) + " (" +
                     std::to_string(response.code) + ")";
  if (response.remark && !response.remark->empty()) text += ": " + *response.remark;
  if (is_not_found_code(response.code)) return Status::not_found(std::move(text));
  if (response.code == rc::kInvalidParameter) return Status::invalid_argument(std::move(text));
  return Status::io_error(std::move(text));
}

Status unreachable(const std::string& who, const Status& st) {
  const std::string text = who + " is unreachable: " + st.message();
  if (st.code() == StatusCode::kTimeout) return Status::timeout(text);
  return Status::io_error(text);
}

int64_t int_field(const nlohmann::json& obj, const char* key, int64_t fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number()) return static_cast<int64_t>(it->get<double>());
  if (it->is_string()) {
    auto v = remoting::parse_decimal_int64(it->get<std::string>());
    if (v) return *v;
  }
  return fallback;
}

bool bool_field(const nlohmann::json& obj, const char* key, bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) return it->get<std::string>() == "true";
  return fallback;
}

}  // namespace

std::vector<std::string> split_name_servers(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(start, end - start);
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (!part.empty()) out.push_back(part);
    start = end + 1;
  }
  return out;
}

std::string BrokerGroup::master_addr() const {
  auto it = addrs.find(0);
  return it == addrs.end() ? "" : it->second;
}

AdminClient::AdminClient(AdminOptions options)
    : options_(std::move(options)), client_(std::make_unique<transport::RemotingClient>()) {}

AdminClient::~AdminClient() { client_->shutdown(); }

Result<RemotingCommand> AdminClient::call_name_server(RemotingCommand request, const std::string& what) {
  if (options_.name_servers.empty()) return Status::invalid_argument("no name server address given (--namesrv)");
  Status last;
  for (const std::string& addr : options_.name_servers) {
    auto response = client_->invoke_sync(addr, request, options_.timeout_ms);
    if (!response.is_ok()) {
      last = unreachable("name server " + addr, response.status());
      continue;
    }
    if (response->code != rc::kSuccess) return response_error(*response, what, "name server " + addr);
    return std::move(response).value();
  }
  return last;
}

Result<RemotingCommand> AdminClient::call_broker(const std::string& addr, RemotingCommand request,
                                                 const std::string& what) {
  auto response = client_->invoke_sync(addr, std::move(request), options_.timeout_ms);
  if (!response.is_ok()) return unreachable("broker " + addr, response.status());
  if (response->code != rc::kSuccess) return response_error(*response, what, "broker " + addr);
  return std::move(response).value();
}

Result<ClusterView> AdminClient::cluster_view() {
  HF_ASSIGN_OR_RETURN(RemotingCommand response,
                      call_name_server(RemotingCommand::make_request(req::kGetBrokerClusterInfo), "cluster info"));
  auto decoded = client::decode_cluster_info(response.body);
  if (!decoded.is_ok()) return Status::corruption("cluster info body: " + decoded.status().message());
  ClusterView view;
  for (auto& [name, data] : decoded->broker_addr_table) {
    BrokerGroup group;
    group.broker_name = name;
    group.cluster = data.cluster;
    group.addrs = data.broker_addrs;
    view.brokers[name] = std::move(group);
  }
  for (auto& [cluster, names] : decoded->cluster_addr_table) {
    std::vector<std::string>& list = view.clusters[cluster];
    list = names;
    std::sort(list.begin(), list.end());
  }
  return view;
}

Result<std::vector<std::string>> AdminClient::topic_list() {
  HF_ASSIGN_OR_RETURN(RemotingCommand response, call_name_server(RemotingCommand::make_request(
                                                                     req::kGetAllTopicListFromNameserver),
                                                                 "topic list"));
  HF_ASSIGN_OR_RETURN(nlohmann::json doc, parse_fastjson(response.body, "topic list body"));
  std::vector<std::string> topics;
  if (auto list = doc.find("topicList"); list != doc.end() && list->is_array()) {
    for (const auto& t : *list) {
      if (t.is_string()) topics.push_back(t.get<std::string>());
    }
  }
  std::sort(topics.begin(), topics.end());
  return topics;
}

Status AdminClient::ask_every_broker(int32_t code, const std::string& what, const BrokerVisit& visit) {
  HF_ASSIGN_OR_RETURN(ClusterView view, cluster_view());
  for (const auto& [cluster, names] : view.clusters) {
    for (const std::string& name : names) {
      auto group = view.brokers.find(name);
      if (group == view.brokers.end()) continue;
      for (const auto& [id, addr] : group->second.addrs) {
        visit(cluster, name, id, addr, call_broker(addr, RemotingCommand::make_request(code), what));
      }
    }
  }
  return Status::ok();
}

Result<std::vector<BrokerStatus>> AdminClient::cluster_list() {
  std::vector<BrokerStatus> rows;
  HF_RETURN_IF_ERROR(ask_every_broker(
      req::kGetBrokerRuntimeInfo, "runtime info",
      [&rows](const std::string& cluster, const std::string& name, int64_t id, const std::string& addr,
              const Result<RemotingCommand>& response) {
        BrokerStatus row;
        row.cluster = cluster;
        row.broker_name = name;
        row.broker_id = id;
        row.addr = addr;
        if (!response.is_ok()) {
          row.error = response.status().message();
        } else {
          auto doc = parse_fastjson(response->body, "runtime info body");
          if (!doc.is_ok()) {
            row.error = doc.status().message();
          } else if (auto table = doc->find("table"); table != doc->end() && table->is_object()) {
            for (auto& [k, v] : table->items()) row.runtime[k] = v.is_string() ? v.get<std::string>() : v.dump();
          }
        }
        rows.push_back(std::move(row));
      }));
  return rows;
}

Result<std::vector<std::pair<std::string, std::string>>> AdminClient::masters(const std::string& cluster) {
  HF_ASSIGN_OR_RETURN(ClusterView view, cluster_view());
  if (!cluster.empty() && view.clusters.find(cluster) == view.clusters.end()) {
    return Status::not_found("cluster " + cluster + " is not known to the name server");
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, group] : view.brokers) {
    if (!cluster.empty() && group.cluster != cluster) continue;
    const std::string addr = group.master_addr();
    if (!addr.empty()) out.emplace_back(name, addr);
  }
  if (out.empty()) return Status::not_found("no master broker is registered with the name server");
  return out;
}

Result<std::vector<std::string>> AdminClient::create_topic(const TopicSpec& spec) {
  if (spec.topic.empty()) return Status::invalid_argument("the topic name is empty");
  std::vector<std::string> targets;
  if (!spec.broker_addr.empty()) {
    targets.push_back(spec.broker_addr);
  } else {
    HF_ASSIGN_OR_RETURN(auto list, masters(spec.cluster));
    for (auto& [name, addr] : list) targets.push_back(addr);
  }
  for (const std::string& addr : targets) {
    RemotingCommand request = RemotingCommand::make_request(req::kUpdateAndCreateTopic);
    request.set_ext("topic", spec.topic);
    request.set_ext("defaultTopic", "TBW102");
    request.set_ext_int("readQueueNums", spec.read_queue_nums);
    request.set_ext_int("writeQueueNums", spec.write_queue_nums);
    request.set_ext_int("perm", spec.perm);
    request.set_ext("topicFilterType", "SINGLE_TAG");
    request.set_ext_int("topicSysFlag", 0);
    request.set_ext_bool("order", spec.order);
    HF_ASSIGN_OR_RETURN(RemotingCommand response, call_broker(addr, std::move(request), "create topic " + spec.topic));
    (void)response;
  }
  return targets;
}

Result<std::vector<std::string>> AdminClient::delete_topic(const std::string& topic, const std::string& cluster) {
  if (topic.empty()) return Status::invalid_argument("the topic name is empty");
  HF_ASSIGN_OR_RETURN(auto list, masters(cluster));
  std::vector<std::string> deleted;
  for (auto& [name, addr] : list) {
    RemotingCommand request = RemotingCommand::make_request(req::kDeleteTopicInBroker);
    request.set_ext("topic", topic);
    HF_ASSIGN_OR_RETURN(RemotingCommand response, call_broker(addr, std::move(request), "delete topic " + topic));
    (void)response;
    deleted.push_back(addr);
  }
  // Every name server forgets the route (each keeps its own table).
  for (const std::string& ns : options_.name_servers) {
    RemotingCommand request = RemotingCommand::make_request(req::kDeleteTopicInNamesrv);
    request.set_ext("topic", topic);
    if (!cluster.empty()) request.set_ext("clusterName", cluster);
    auto response = client_->invoke_sync(ns, std::move(request), options_.timeout_ms);
    if (!response.is_ok()) return unreachable("name server " + ns, response.status());
    if (response->code != rc::kSuccess) return response_error(*response, "delete topic " + topic, "name server " + ns);
  }
  return deleted;
}

Result<std::vector<QueueStats>> AdminClient::topic_stats(const std::string& topic) {
  HF_ASSIGN_OR_RETURN(auto list, masters(""));
  std::vector<QueueStats> out;
  for (auto& [name, addr] : list) {
    RemotingCommand request = RemotingCommand::make_request(req::kGetTopicStatsInfo);
    request.set_ext("topic", topic);
    auto response = call_broker(addr, std::move(request), "topic stats of " + topic);
    if (!response.is_ok()) {
      if (response.status().code() == StatusCode::kNotFound) continue;  // not served by this broker
      return response.status();
    }
    HF_ASSIGN_OR_RETURN(nlohmann::json doc, parse_fastjson(response->body, "topic stats body"));
    auto table = doc.find("offsetTable");
    if (table == doc.end() || !table->is_object()) continue;
    for (auto& [key, value] : table->items()) {
      HF_ASSIGN_OR_RETURN(MessageQueueKey mq, parse_message_queue_key(key));
      QueueStats q;
      q.broker_name = mq.broker_name;
      q.queue_id = mq.queue_id;
      q.min_offset = int_field(value, "minOffset", 0);
      q.max_offset = int_field(value, "maxOffset", 0);
      q.last_update_ms = int_field(value, "lastUpdateTimestamp", 0);
      out.push_back(q);
    }
  }
  if (out.empty()) return Status::not_found("topic " + topic + " does not exist on any broker");
  std::sort(out.begin(), out.end(), [](const QueueStats& a, const QueueStats& b) {
    return std::tie(a.broker_name, a.queue_id) < std::tie(b.broker_name, b.queue_id);
  });
  return out;
}

Result<std::vector<GroupInfo>> AdminClient::group_list() {
  HF_ASSIGN_OR_RETURN(auto list, masters(""));
  std::vector<GroupInfo> out;
  for (auto& [name, addr] : list) {
    HF_ASSIGN_OR_RETURN(RemotingCommand response,
                        call_broker(addr, RemotingCommand::make_request(req::kGetAllSubscriptionGroupConfig),
                                    "subscription groups"));
    HF_ASSIGN_OR_RETURN(nlohmann::json doc, parse_fastjson(response.body, "subscription group body"));
    auto table = doc.find("subscriptionGroupTable");
    if (table == doc.end() || !table->is_object()) continue;
    for (auto& [group_name, config] : table->items()) {
      GroupInfo g;
      g.group = group_name;
      g.broker_name = name;
      g.consume_enable = bool_field(config, "consumeEnable", true);
      g.consume_broadcast_enable = bool_field(config, "consumeBroadcastEnable", true);
      g.retry_queue_nums = static_cast<int32_t>(int_field(config, "retryQueueNums", 1));
      g.retry_max_times = static_cast<int32_t>(int_field(config, "retryMaxTimes", 16));
      RemotingCommand consumers = RemotingCommand::make_request(req::kGetConsumerListByGroup);
      consumers.set_ext("consumerGroup", group_name);
      // SYSTEM_ERROR "no consumer for this group" is the normal answer for an idle group.
      auto ids = call_broker(addr, std::move(consumers), "consumer list");
      if (ids.is_ok()) {
        auto body = parse_fastjson(ids->body, "consumer list body");
        if (body.is_ok()) {
          if (auto l = body->find("consumerIdList"); l != body->end() && l->is_array()) {
            for (const auto& id : *l) {
              if (id.is_string()) g.consumers.push_back(id.get<std::string>());
            }
          }
        }
      } else if (ids.status().message().find("is unreachable") != std::string::npos) {
        return ids.status();
      }
      out.push_back(std::move(g));
    }
  }
  std::sort(out.begin(), out.end(), [](const GroupInfo& a, const GroupInfo& b) {
    return std::tie(a.group, a.broker_name) < std::tie(b.group, b.broker_name);
  });
  return out;
}

Result<GroupStats> AdminClient::group_stats(const std::string& group, const std::string& topic) {
  if (group.empty()) return Status::invalid_argument("the group name is empty");
  HF_ASSIGN_OR_RETURN(auto list, masters(""));
  GroupStats stats;
  stats.group = group;
  std::set<std::string> consumers;
  for (auto& [name, addr] : list) {
    RemotingCommand request = RemotingCommand::make_request(req::kGetConsumeStats);
    request.set_ext("consumerGroup", group);
    request.set_ext("topic", topic);
    auto response = call_broker(addr, std::move(request), "consume stats of " + group);
    if (!response.is_ok()) {
      if (response.status().code() == StatusCode::kNotFound) continue;
      return response.status();
    }
    HF_ASSIGN_OR_RETURN(nlohmann::json doc, parse_fastjson(response->body, "consume stats body"));
    if (auto tps = doc.find("consumeTps"); tps != doc.end() && tps->is_number()) stats.consume_tps += tps->get<double>();
    if (auto table = doc.find("offsetTable"); table != doc.end() && table->is_object()) {
      for (auto& [key, value] : table->items()) {
        HF_ASSIGN_OR_RETURN(MessageQueueKey mq, parse_message_queue_key(key));
        QueueProgress q;
        q.topic = mq.topic;
        q.broker_name = mq.broker_name;
        q.queue_id = mq.queue_id;
        q.broker_offset = int_field(value, "brokerOffset", 0);
        q.consumer_offset = int_field(value, "consumerOffset", 0);
        q.lag = std::max<int64_t>(0, q.broker_offset - q.consumer_offset);
        q.last_timestamp_ms = int_field(value, "lastTimestamp", 0);
        stats.total_lag += q.lag;
        stats.queues.push_back(q);
      }
    }
    RemotingCommand ids_request = RemotingCommand::make_request(req::kGetConsumerListByGroup);
    ids_request.set_ext("consumerGroup", group);
    auto ids = call_broker(addr, std::move(ids_request), "consumer list");
    if (ids.is_ok()) {
      auto body = parse_fastjson(ids->body, "consumer list body");
      if (body.is_ok()) {
        if (auto l = body->find("consumerIdList"); l != body->end() && l->is_array()) {
          for (const auto& id : *l) {
            if (id.is_string()) consumers.insert(id.get<std::string>());
          }
        }
      }
    }
  }
  stats.consumers.assign(consumers.begin(), consumers.end());
  if (stats.queues.empty() && stats.consumers.empty()) {
    return Status::not_found("consumer group " + group + " has no committed offsets and no online consumers" +
                             (topic.empty() ? std::string() : " for topic " + topic));
  }
  std::sort(stats.queues.begin(), stats.queues.end(), [](const QueueProgress& a, const QueueProgress& b) {
    return std::tie(a.topic, a.broker_name, a.queue_id) < std::tie(b.topic, b.broker_name, b.queue_id);
  });
  return stats;
}

Result<std::vector<ReceivedMessage>> AdminClient::message_by_id(const std::string& id, const std::string& topic) {
  if (id.empty()) return Status::invalid_argument("the message id is empty");
  if (!topic.empty()) {
    // UNIQ_KEY first: the id a producer's SendResult shows.
    HF_ASSIGN_OR_RETURN(auto list, masters(""));
    std::vector<ReceivedMessage> found;
    for (auto& [name, addr] : list) {
      RemotingCommand request = RemotingCommand::make_request(req::kQueryMessage);
      request.set_ext("topic", topic);
      request.set_ext("key", id);
      request.set_ext_int("maxNum", 32);
      request.set_ext_int("beginTimestamp", 0);
      request.set_ext_int("endTimestamp", std::numeric_limits<int64_t>::max());
      request.set_ext("_UNIQUE_KEY_QUERY", "true");
      auto response = call_broker(addr, std::move(request), "query message " + id);
      if (!response.is_ok()) {
        if (response.status().code() == StatusCode::kNotFound) continue;
        return response.status();
      }
      HF_ASSIGN_OR_RETURN(auto messages, decode_messages(response->body, name));
      for (auto& m : messages) {
        // The index matches hashes; keep exact matches only.
        auto uniq = m.properties.find("UNIQ_KEY");
        if (m.topic == topic && uniq != m.properties.end() && uniq->second == id) found.push_back(std::move(m));
      }
    }
    if (!found.empty()) return found;
  }
  HostAddress host;
  int64_t offset = 0;
  if (!decode_offset_message_id(id, &host, &offset)) {
    if (topic.empty()) {
      return Status::invalid_argument("message id " + id +
                                      " is not an offset message id; pass --topic to look it up as a UNIQ_KEY");
    }
    return Status::not_found("no message with UNIQ_KEY " + id + " in topic " + topic);
  }
  const std::string addr = host.to_string();
  RemotingCommand request = RemotingCommand::make_request(req::kViewMessageById);
  request.set_ext_int("offset", offset);
  auto response = call_broker(addr, std::move(request), "view message " + id);
  if (!response.is_ok()) {
    if (!topic.empty() && response.status().message().find("is unreachable") == std::string::npos) {
      return Status::not_found("no message with id " + id + " in topic " + topic);
    }
    return response.status();
  }
  // The broker name is not in the record; find it from the cluster view when possible.
  std::string broker_name;
  if (auto view = cluster_view(); view.is_ok()) {
    for (const auto& [name, group] : view->brokers) {
      for (const auto& [bid, a] : group.addrs) {
        if (a == addr) broker_name = name;
      }
    }
  }
  HF_ASSIGN_OR_RETURN(auto messages, decode_messages(response->body, broker_name));
  if (messages.empty()) return Status::not_found("no message at offset id " + id);
  return messages;
}

Result<std::vector<ReceivedMessage>> AdminClient::query_by_key(const std::string& topic, const std::string& key,
                                                               int32_t max_num) {
  if (topic.empty() || key.empty()) return Status::invalid_argument("both --topic and --key are required");
  HF_ASSIGN_OR_RETURN(auto list, masters(""));
  std::vector<ReceivedMessage> found;
  for (auto& [name, addr] : list) {
    RemotingCommand request = RemotingCommand::make_request(req::kQueryMessage);
    request.set_ext("topic", topic);
    request.set_ext("key", key);
    request.set_ext_int("maxNum", max_num);
    request.set_ext_int("beginTimestamp", 0);
    request.set_ext_int("endTimestamp", std::numeric_limits<int64_t>::max());
    auto response = call_broker(addr, std::move(request), "query message by key " + key);
    if (!response.is_ok()) {
      if (response.status().code() == StatusCode::kNotFound) continue;
      return response.status();
    }
    HF_ASSIGN_OR_RETURN(auto messages, decode_messages(response->body, name));
    for (auto& m : messages) {
      if (m.topic == topic && std::find(m.keys.begin(), m.keys.end(), key) != m.keys.end()) {
        found.push_back(std::move(m));
      }
    }
  }
  if (found.empty()) return Status::not_found("no message with key " + key + " in topic " + topic);
  std::sort(found.begin(), found.end(), [](const ReceivedMessage& a, const ReceivedMessage& b) {
    return a.store_timestamp_ms > b.store_timestamp_ms;
  });
  return found;
}

}  // namespace holdfast::admin
