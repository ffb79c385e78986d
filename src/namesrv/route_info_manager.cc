// RouteInfoManager: registration, removal (unregister, connection close, expiry) and route
// queries over the name server's four tables, following Java's RouteInfoManager (facts §12.3).
#include "namesrv/route_info_manager.h"

#include <algorithm>
#include <mutex>

#include "base/logging.h"

namespace holdfast::namesrv {

namespace {

std::shared_ptr<spdlog::logger> namesrv_log() {
  static const std::shared_ptr<spdlog::logger> l = logger("namesrv");
  return l;
}

QueueData queue_data_from(const std::string& broker_name, const TopicConfig& config) {
  QueueData q;
  q.broker_name = broker_name;
  q.read_queue_nums = config.read_queue_nums;
  q.write_queue_nums = config.write_queue_nums;
  q.perm = config.perm;
  q.topic_sys_flag = config.topic_sys_flag;
  return q;
}

Status validate(const BrokerRegistration& r) {
  if (r.cluster_name.empty()) return Status::invalid_argument("register broker: empty clusterName");
  if (r.broker_name.empty()) return Status::invalid_argument("register broker: empty brokerName");
  if (r.broker_addr.empty()) return Status::invalid_argument("register broker: empty brokerAddr");
  if (r.broker_id < 0) {
    return Status::invalid_argument("register broker " + r.broker_name + ": negative brokerId " +
                                    std::to_string(r.broker_id));
  }
  for (const TopicConfig& t : r.topic_configs) {
    if (t.topic_name.empty()) {
      return Status::invalid_argument("register broker " + r.broker_name + ": topic config with an empty topicName");
    }
  }
  return Status::ok();
}

}  // namespace

Result<RegisterResult> RouteInfoManager::register_broker(const BrokerRegistration& r, int64_t now_ms) {
  HF_RETURN_IF_ERROR(validate(r));
  std::unique_lock lock(mu_);

  cluster_addr_table_[r.cluster_name].insert(r.broker_name);

  BrokerData& group = broker_addr_table_[r.broker_name];
  if (group.broker_name.empty()) {  // a new broker group
    group.cluster = r.cluster_name;
    group.broker_name = r.broker_name;
  }
  // Invariant: one address has one id. A slave promoted to master re-registers as id 0 with the
  // same address; its old slave entry must not linger as a phantom second replica.
  std::erase_if(group.broker_addrs, [&](const auto& entry) {
    return entry.second == r.broker_addr && entry.first != r.broker_id;
  });
  auto [slot, inserted] = group.broker_addrs.try_emplace(r.broker_id, r.broker_addr);
  const bool first_at_id = inserted || slot->second.empty();
  slot->second = r.broker_addr;

  const BrokerAddrKey key{r.cluster_name, r.broker_addr};
  auto live = broker_live_table_.find(key);
  const bool version_changed = live == broker_live_table_.end() || !(live->second.data_version == r.data_version);

  // Only the master speaks for the group's topics; a slave's table may lag behind the master's.
  if (r.broker_id == kMasterId && (first_at_id || version_changed)) {
    for (const TopicConfig& config : r.topic_configs) {
      topic_queue_table_[config.topic_name][r.broker_name] = queue_data_from(r.broker_name, config);
    }
  }

  BrokerLiveInfo info;
  info.last_update_ms = now_ms;
  info.heartbeat_timeout_ms = r.heartbeat_timeout_ms > 0 ? r.heartbeat_timeout_ms : kDefaultBrokerExpiredMs;
  info.data_version = r.data_version;
  info.connection_id = r.connection_id;
  info.ha_server_addr = r.ha_server_addr;
  if (live == broker_live_table_.end()) {
    namesrv_log()->info("new broker registered: cluster={} brokerName={} brokerId={} addr={} haServerAddr={}",
                r.cluster_name, r.broker_name, r.broker_id, r.broker_addr, r.ha_server_addr);
    broker_live_table_.emplace(key, std::move(info));
  } else {
    live->second = std::move(info);
  }

  RegisterResult result;
  if (r.broker_id != kMasterId) {
    auto master = group.broker_addrs.find(kMasterId);
    if (master != group.broker_addrs.end()) {
      auto master_live = broker_live_table_.find(BrokerAddrKey{r.cluster_name, master->second});
      if (master_live != broker_live_table_.end()) {
        result.master_addr = master->second;
        result.ha_server_addr = master_live->second.ha_server_addr;
      }
    }
  }
  return result;
}

bool RouteInfoManager::unregister_broker(const std::string& cluster_name, const std::string& broker_name,
                                         const std::string& broker_addr, int64_t broker_id) {
  std::unique_lock lock(mu_);
  broker_live_table_.erase(BrokerAddrKey{cluster_name, broker_addr});
  auto group = broker_addr_table_.find(broker_name);
  if (group == broker_addr_table_.end()) return false;
  const size_t removed = std::erase_if(group->second.broker_addrs,
                                       [&](const auto& entry) { return entry.second == broker_addr; });
  namesrv_log()->info("unregister broker: cluster={} brokerName={} brokerId={} addr={} removed={}", cluster_name,
              broker_name, broker_id, broker_addr, removed);
  drop_broker_name_if_empty_locked(cluster_name, broker_name);
  return removed > 0;
}

std::vector<std::string> RouteInfoManager::remove_by_connection(uint64_t connection_id) {
  std::vector<std::string> removed;
  if (connection_id == 0) return removed;
  std::unique_lock lock(mu_);
  std::vector<BrokerAddrKey> keys;
  for (const auto& [key, info] : broker_live_table_) {
    if (info.connection_id == connection_id) keys.push_back(key);
  }
  for (const BrokerAddrKey& key : keys) {
    namesrv_log()->info("broker connection closed: cluster={} addr={}", key.cluster_name, key.broker_addr);
    remove_broker_locked(key);
    removed.push_back(key.broker_addr);
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

std::vector<std::string> RouteInfoManager::scan_expired(int64_t now_ms) {
  std::vector<std::string> removed;
  std::unique_lock lock(mu_);
  std::vector<BrokerAddrKey> keys;
  for (const auto& [key, info] : broker_live_table_) {
    // last + timeout < now, written so that a huge header timeout cannot overflow.
    if (now_ms - info.last_update_ms > info.heartbeat_timeout_ms) keys.push_back(key);
  }
  for (const BrokerAddrKey& key : keys) {
    const BrokerLiveInfo& info = broker_live_table_.at(key);
    namesrv_log()->warn("broker expired: cluster={} addr={} last registration {} ms ago (timeout {} ms)",
                key.cluster_name, key.broker_addr, now_ms - info.last_update_ms, info.heartbeat_timeout_ms);
    remove_broker_locked(key);
    removed.push_back(key.broker_addr);
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

void RouteInfoManager::remove_broker_locked(const BrokerAddrKey& key) {
  broker_live_table_.erase(key);
  // Java's onChannelDestroy looks the address up among the cluster's broker names; liveness is
  // keyed by (cluster, addr), not by name.
  auto names = cluster_addr_table_.find(key.cluster_name);
  if (names == cluster_addr_table_.end()) return;
  const std::vector<std::string> broker_names(names->second.begin(), names->second.end());
  for (const std::string& broker_name : broker_names) {
    auto group = broker_addr_table_.find(broker_name);
    if (group == broker_addr_table_.end()) continue;
    std::erase_if(group->second.broker_addrs, [&](const auto& entry) { return entry.second == key.broker_addr; });
    drop_broker_name_if_empty_locked(key.cluster_name, broker_name);
  }
}

void RouteInfoManager::drop_broker_name_if_empty_locked(const std::string& cluster_name,
                                                        const std::string& broker_name) {
  auto group = broker_addr_table_.find(broker_name);
  if (group == broker_addr_table_.end() || !group->second.broker_addrs.empty()) return;
  broker_addr_table_.erase(group);
  namesrv_log()->info("broker name removed (no addresses left): cluster={} brokerName={}", cluster_name, broker_name);
  auto names = cluster_addr_table_.find(cluster_name);
  if (names != cluster_addr_table_.end()) {
    names->second.erase(broker_name);
    if (names->second.empty()) cluster_addr_table_.erase(names);
  }
  for (auto topic = topic_queue_table_.begin(); topic != topic_queue_table_.end();) {
    topic->second.erase(broker_name);
    if (topic->second.empty()) {
      namesrv_log()->info("topic removed (no queues left): {}", topic->first);
      topic = topic_queue_table_.erase(topic);
    } else {
      ++topic;
    }
  }
}

std::optional<TopicRouteData> RouteInfoManager::route_locked(const std::string& topic) const {
  auto queues = topic_queue_table_.find(topic);
  if (queues == topic_queue_table_.end() || queues->second.empty()) return std::nullopt;
  TopicRouteData route;
  // std::map iteration order: both lists come out sorted by broker name.
  for (const auto& [broker_name, queue_data] : queues->second) {
    route.queue_datas.push_back(queue_data);
    auto group = broker_addr_table_.find(broker_name);
    if (group != broker_addr_table_.end()) route.broker_datas.push_back(group->second);
  }
  // Java answers only when both halves were found (pickupTopicRouteData).
  if (route.broker_datas.empty()) return std::nullopt;
  return route;
}

std::optional<TopicRouteData> RouteInfoManager::route_for_topic(const std::string& topic) const {
  std::shared_lock lock(mu_);
  return route_locked(topic);
}

std::optional<TopicRouteData> RouteInfoManager::route_for_topic_or_default(const std::string& topic,
                                                                           const std::string& default_topic,
                                                                           RouteSource* source) const {
  std::shared_lock lock(mu_);
  std::optional<TopicRouteData> route = route_locked(topic);
  RouteSource from = RouteSource::kTopic;
  if (!route && topic != default_topic) {
    route = route_locked(default_topic);
    from = RouteSource::kDefaultTopic;
  }
  if (route && source != nullptr) *source = from;
  return route;
}

ClusterInfo RouteInfoManager::cluster_info() const {
  std::shared_lock lock(mu_);
  ClusterInfo info;
  info.broker_addr_table = broker_addr_table_;
  for (const auto& [cluster, names] : cluster_addr_table_) {
    info.cluster_addr_table.emplace(cluster, std::vector<std::string>(names.begin(), names.end()));
  }
  return info;
}

std::vector<std::string> RouteInfoManager::all_topics() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> topics;
  topics.reserve(topic_queue_table_.size());
  for (const auto& [topic, queues] : topic_queue_table_) topics.push_back(topic);
  return topics;
}

bool RouteInfoManager::delete_topic(const std::string& topic, const std::string& cluster_name) {
  std::unique_lock lock(mu_);
  auto it = topic_queue_table_.find(topic);
  if (it == topic_queue_table_.end()) return false;
  if (cluster_name.empty()) {
    topic_queue_table_.erase(it);
    return true;
  }
  auto members = cluster_addr_table_.find(cluster_name);
  if (members == cluster_addr_table_.end()) return false;
  bool removed = false;
  for (const std::string& broker_name : members->second) removed |= it->second.erase(broker_name) > 0;
  if (it->second.empty()) topic_queue_table_.erase(it);
  return removed;
}

}  // namespace holdfast::namesrv
