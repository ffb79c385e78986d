// The name server's route table (facts §12.3, §11 "Name server / broker liveness"): which brokers
// are alive, which broker groups serve which topics, and the routes clients ask for. Pure logic:
// no sockets, no threads, no clock (callers pass `now_ms`), so every rule is unit-testable.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/status.h"

namespace holdfast::namesrv {

// brokerId 0 is the master of a broker group; any other id is a slave.
inline constexpr int64_t kMasterId = 0;
// DEFAULT_BROKER_CHANNEL_EXPIRED_TIME: a broker that has not re-registered for this long is dropped.
inline constexpr int64_t kDefaultBrokerExpiredMs = 120'000;
// The topic whose route a producer borrows for a topic that does not exist yet (auto-create).
inline constexpr const char* kAutoCreateTopicKey = "TBW102";

// Permission bits (facts §12.4, PermName.java).
inline constexpr int32_t kPermPriority = 8;
inline constexpr int32_t kPermRead = 4;
inline constexpr int32_t kPermWrite = 2;
inline constexpr int32_t kPermInherit = 1;

enum class TopicFilterType { kSingleTag, kMultiTag };

// A broker's topic as it arrives in REGISTER_BROKER. Defaults are Java TopicConfig's, so a JSON
// object that omits a field means the same thing to us as to a Java name server.
struct TopicConfig {
  std::string topic_name;
  int32_t read_queue_nums = 16;
  int32_t write_queue_nums = 16;
  int32_t perm = kPermRead | kPermWrite;
  TopicFilterType topic_filter_type = TopicFilterType::kSingleTag;
  int32_t topic_sys_flag = 0;
  bool order = false;
  friend bool operator==(const TopicConfig&, const TopicConfig&) = default;
};

// The broker's topic-table version. The name server only compares it for equality: a master's
// topics are re-read when any field differs from its previous registration.
struct DataVersion {
  int64_t state_version = 0;
  int64_t timestamp = 0;
  int64_t counter = 0;
  friend bool operator==(const DataVersion&, const DataVersion&) = default;
};

// One broker group's queues for one topic (Java QueueData).
struct QueueData {
  std::string broker_name;
  int32_t read_queue_nums = 0;
  int32_t write_queue_nums = 0;
  int32_t perm = 0;
  int32_t topic_sys_flag = 0;
  friend bool operator==(const QueueData&, const QueueData&) = default;
};

// One broker group: brokerId -> "ip:port" (Java BrokerData). zone_name is empty unless set.
struct BrokerData {
  std::string cluster;
  std::string broker_name;
  std::map<int64_t, std::string> broker_addrs;
  std::string zone_name;
  bool enable_acting_master = false;
  friend bool operator==(const BrokerData&, const BrokerData&) = default;
};

// What GET_ROUTEINFO_BY_TOPIC answers (facts §12.2). Both lists are sorted by brokerName.
// order_topic_conf comes from the KV config (the processor fills it); the table leaves it empty.
struct TopicRouteData {
  std::string order_topic_conf;
  std::vector<QueueData> queue_datas;
  std::vector<BrokerData> broker_datas;
  friend bool operator==(const TopicRouteData&, const TopicRouteData&) = default;
};

// What GET_BROKER_CLUSTER_INFO answers: brokerName -> group, clusterName -> sorted brokerNames.
struct ClusterInfo {
  std::map<std::string, BrokerData> broker_addr_table;
  std::map<std::string, std::vector<std::string>> cluster_addr_table;
};

// REGISTER_BROKER's header fields plus its decoded body.
struct BrokerRegistration {
  std::string cluster_name;
  std::string broker_name;
  std::string broker_addr;     // "ip:port" that clients connect to
  std::string ha_server_addr;  // "ip:haPort" that slaves replicate from
  int64_t broker_id = kMasterId;
  // The header's heartbeatTimeoutMillis; <= 0 (header absent) means kDefaultBrokerExpiredMs.
  int64_t heartbeat_timeout_ms = kDefaultBrokerExpiredMs;
  std::vector<TopicConfig> topic_configs;
  DataVersion data_version;
  // Opaque id of the connection the registration came on, for remove_by_connection.
  // 0 means "no connection" and is never matched.
  uint64_t connection_id = 0;
};

// REGISTER_BROKER's response header. For a slave whose master is registered and alive: the
// master's address and HA address; otherwise (masters, orphan slaves) both empty.
struct RegisterResult {
  std::string master_addr;
  std::string ha_server_addr;
};

// Which route route_for_topic_or_default answered with.
enum class RouteSource { kTopic, kDefaultTopic };

// RouteInfoManager: the live route table of one name server. Owned by the name server's
// composition root; called from any number of request threads and one housekeeping thread (the
// 5 s expiry scan). Thread-safe: one std::shared_mutex, readers share it; every call is atomic
// with respect to every other. Nothing is persisted: after a restart, brokers re-register within
// their 30 s period.
class RouteInfoManager {
 public:
  RouteInfoManager() = default;
  RouteInfoManager(const RouteInfoManager&) = delete;
  RouteInfoManager& operator=(const RouteInfoManager&) = delete;

  // REGISTER_BROKER (RouteInfoManager.registerBroker, facts §12.3):
  //  1. adds broker_name to cluster_name; brokerAddrs[broker_id] = broker_addr, and removes any
  //     other id with the same address (a slave promoted to master re-registers as id 0);
  //  2. only the master (id 0) updates topic -> queueDatas, and only when this address registers
  //     for the first time (no live entry, or a new id) or its data_version differs from the
  //     last one; each topic's QueueData for this broker name is replaced. Topics missing from
  //     the table are kept (Java's deleteTopicWithBrokerRegistration=false);
  //  3. records liveness (now_ms, timeout, data_version, connection, ha_server_addr);
  //  4. for a slave returns the master's address and HA address.
  // InvalidArgument (nothing changed) when cluster_name, broker_name or broker_addr is empty,
  // broker_id < 0, or a topic config has an empty topic_name.
  // Not modelled: 5.x acting-master mode and the controller's stateVersion fencing.
  Result<RegisterResult> register_broker(const BrokerRegistration& registration, int64_t now_ms);

  // UNREGISTER_BROKER. Removes broker_addr from broker_name (matched by address, as 5.x does;
  // broker_id is only logged) and forgets its liveness; then the removal cascade below.
  // Returns false when the address was not registered there.
  bool unregister_broker(const std::string& cluster_name, const std::string& broker_name,
                         const std::string& broker_addr, int64_t broker_id);

  // The broker's connection closed (BrokerHousekeepingService): removes every broker whose latest
  // registration came on `connection_id`. Returns the removed addresses, sorted.
  std::vector<std::string> remove_by_connection(uint64_t connection_id);

  // The periodic scan: removes every broker whose last registration is older than its timeout
  // (expired when last_update_ms + timeout_ms < now_ms, as Java). Returns removed addresses, sorted.
  std::vector<std::string> scan_expired(int64_t now_ms);

  // Removal cascade shared by the three calls above: if a broker name has no addresses left, its
  // BrokerData, its queueDatas in every topic and its cluster membership go (an empty cluster
  // goes too); a topic with no queueDatas left disappears.

  // GET_ROUTEINFO_BY_TOPIC: nullopt when the topic has no queueDatas or none of its broker names
  // is registered (the processor answers TOPIC_NOT_EXIST 17). Lists sorted by broker name.
  std::optional<TopicRouteData> route_for_topic(const std::string& topic) const;

  // route_for_topic(topic), or else route_for_topic(default_topic) (normally kAutoCreateTopicKey)
  // when that exists; *source (optional) says which. Deliberately simple: any registered route of
  // the default topic qualifies, INHERIT or not; the broker enforces the auto-create rules at
  // send time. NOTE: a Java name server never does this fallback itself; the Java client asks for
  // TBW102 on its own after TOPIC_NOT_EXIST. A GET_ROUTEINFO_BY_TOPIC processor that wants to
  // stay wire-identical must use route_for_topic; this is for callers that choose to auto-create.
  std::optional<TopicRouteData> route_for_topic_or_default(const std::string& topic,
                                                           const std::string& default_topic,
                                                           RouteSource* source = nullptr) const;

  // GET_BROKER_CLUSTER_INFO: a consistent snapshot.
  ClusterInfo cluster_info() const;

  // GET_ALL_TOPIC_LIST_FROM_NAMESERVER: every topic with a route, sorted.
  std::vector<std::string> all_topics() const;

  // DELETE_TOPIC_IN_NAMESRV: forgets the topic's queueDatas — all of them when cluster_name is
  // empty, otherwise only those of the cluster's broker names (the topic disappears when none are
  // left). Returns false when the topic was not known. Admin tools delete the topic on the brokers
  // first: a master that still has it brings it back with a registration whose version changed.
  bool delete_topic(const std::string& topic, const std::string& cluster_name = "");

 private:
  struct BrokerAddrKey {
    std::string cluster_name;
    std::string broker_addr;
    friend auto operator<=>(const BrokerAddrKey&, const BrokerAddrKey&) = default;
  };
  struct BrokerLiveInfo {
    int64_t last_update_ms = 0;
    int64_t heartbeat_timeout_ms = kDefaultBrokerExpiredMs;
    DataVersion data_version;
    uint64_t connection_id = 0;
    std::string ha_server_addr;
  };

  std::optional<TopicRouteData> route_locked(const std::string& topic) const;
  // Forgets (cluster, addr): its liveness and its address in every broker name of the cluster.
  void remove_broker_locked(const BrokerAddrKey& key);
  // The cascade for one broker name whose address list may have become empty.
  void drop_broker_name_if_empty_locked(const std::string& cluster_name, const std::string& broker_name);

  mutable std::shared_mutex mu_;
  std::map<std::string, std::set<std::string>> cluster_addr_table_;            // cluster -> broker names
  std::map<std::string, BrokerData> broker_addr_table_;                        // broker name -> group
  std::map<std::string, std::map<std::string, QueueData>> topic_queue_table_;  // topic -> broker name ->
  std::map<BrokerAddrKey, BrokerLiveInfo> broker_live_table_;
};

}  // namespace holdfast::namesrv
