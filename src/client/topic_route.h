// Topic routes as name servers return them (GET_ROUTEINFO_BY_TOPIC, facts §12.2) and cluster info
// (GET_BROKER_CLUSTER_INFO), decoded from either JSON key form, plus the queue lists a producer
// (publish) and a consumer (subscribe) derive from a route. Pure functions; no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "holdfast/message.h"

namespace holdfast::client {

// Topic permission bits (facts §12.4).
inline constexpr int32_t kPermPriority = 8;
inline constexpr int32_t kPermRead = 4;
inline constexpr int32_t kPermWrite = 2;
inline constexpr int32_t kPermInherit = 1;
// brokerAddrs key of a broker group's master.
inline constexpr int64_t kMasterBrokerId = 0;

struct QueueData {
  std::string broker_name;
  int32_t read_queue_nums = 0;
  int32_t write_queue_nums = 0;
  int32_t perm = 0;
  int32_t topic_sys_flag = 0;
  bool operator==(const QueueData&) const = default;
};

struct BrokerData {
  std::string cluster;
  std::string broker_name;
  std::map<int64_t, std::string> broker_addrs;  // broker id -> "ip:port"; 0 = master
  std::string zone_name;
  bool enable_acting_master = false;
  // The master's "ip:port", or "" when the group has no master at the moment.
  std::string master_address() const;
  bool operator==(const BrokerData&) const = default;
};

struct TopicRouteData {
  std::string order_topic_conf;  // "brokerName:queueNums;..." for ordered topics, else ""
  std::vector<QueueData> queue_datas;
  std::vector<BrokerData> broker_datas;
  const BrokerData* find_broker(std::string_view broker_name) const;
  bool operator==(const TopicRouteData&) const = default;
};

struct ClusterInfo {
  std::map<std::string, BrokerData> broker_addr_table;                // brokerName -> data
  std::map<std::string, std::vector<std::string>> cluster_addr_table;  // cluster -> brokerNames
};

// Rewrites fastjson's bare object keys ({0:"a"}) as JSON strings ({"0":"a"}); standard JSON passes
// through unchanged. Strings (and their escapes) are copied verbatim.
std::string quote_bare_json_keys(std::string_view json);

// Decodes a TopicRouteData body in either key form (quoted or bare numeric brokerAddrs keys).
// Unknown keys are ignored; numbers may arrive as strings. Corruption with a readable reason when
// the text is not a route.
Result<TopicRouteData> decode_topic_route(std::string_view json);
// Decodes a ClusterInfo body ({"brokerAddrTable":{..},"clusterAddrTable":{..}}), either key form.
Result<ClusterInfo> decode_cluster_info(std::string_view json);

// The producer's queue list: from orderTopicConf when set; otherwise writable QueueData whose
// broker group has a master, sorted by broker name, one queue per writeQueueNums index.
std::vector<MessageQueue> publish_queues(const std::string& topic, const TopicRouteData& route);
// The consumer's queue list: readable QueueData, sorted by broker name, one per readQueueNums index.
std::vector<MessageQueue> subscribe_queues(const std::string& topic, const TopicRouteData& route);

}  // namespace holdfast::client
