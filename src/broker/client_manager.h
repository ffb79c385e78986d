// ClientManager: which connections belong to which producer and consumer groups, what each
// consumer group subscribes to, and when each connection last sent a heartbeat (facts §2.6).
// Consumer groups are told about membership changes with NOTIFY_CONSUMER_IDS_CHANGED so their
// members rebalance at once instead of at their next 20 s rebalance tick.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker/heartbeat_data.h"
#include "remoting/remoting_command.h"
#include "transport/remoting_server.h"

namespace holdfast::broker {

// One connection's registration in a group.
struct ClientChannel {
  transport::ConnectionPtr conn;
  std::string client_id;  // "ip@instanceName"
  remoting::LanguageCode language = remoting::LanguageCode::kJava;
  int32_t version = 0;
  int64_t last_update_ms = 0;
};

// A consumer group as seen now (a copy; safe to keep).
struct ConsumerGroupInfo {
  std::string group;
  std::string consume_type;
  std::string message_model;
  std::string consume_from_where;
  std::vector<ClientChannel> channels;         // in registration order of the connections
  std::vector<SubscriptionData> subscriptions;  // by topic
};

struct ClientManagerOptions {
  int64_t channel_expired_timeout_ms = 120000;  // channelExpiredTimeout
  int64_t scan_interval_ms = 10000;             // how often start()'s thread calls scan_expired
  // The group's notifyConsumerIdsChangedEnable; null means true for every group.
  std::function<bool(const std::string& group)> notify_consumer_ids_changed_enabled;
  // Milliseconds for heartbeat stamps; null means the wall clock. Tests pass a fake clock.
  std::function<int64_t()> now_ms;
};

// Owned by the broker's composition root. Thread-safe: heartbeats and queries come from network
// threads, close events from the transport, expiry from the scan thread. Notifications are sent
// (oneway, queued by the connection) after the internal lock is released.
class ClientManager {
 public:
  explicit ClientManager(ClientManagerOptions options = {});
  ~ClientManager();
  ClientManager(const ClientManager&) = delete;
  ClientManager& operator=(const ClientManager&) = delete;

  // Adds or refreshes `conn` in the consumer group and replaces the group's subscriptions with
  // `data`'s. Returns true when the group gained a connection or its set of subscribed topics
  // changed; then every connection of the group is notified (if enabled for the group).
  bool register_consumer(const transport::ConnectionPtr& conn, const std::string& client_id,
                         const ConsumerData& data, remoting::LanguageCode language, int32_t version);
  void register_producer(const transport::ConnectionPtr& conn, const std::string& client_id,
                         const std::string& group, remoting::LanguageCode language, int32_t version);
  // Remove `conn` from one group (UNREGISTER_CLIENT). The remaining consumers are notified.
  void unregister_consumer(const std::string& group, const transport::ConnectionPtr& conn);
  void unregister_producer(const std::string& group, const transport::ConnectionPtr& conn);
  // Removes `conn` from every group; the composition root calls this from the server's close
  // listener.
  void on_connection_closed(const transport::ConnectionPtr& conn);
  // Removes (and closes) connections whose last heartbeat is older than
  // channel_expired_timeout_ms at now_ms. Returns how many registrations were removed.
  size_t scan_expired(int64_t now_ms);

  // Runs scan_expired every scan_interval_ms on a thread of its own until stop().
  void start();
  void stop();

  // Client ids of the group's connections (empty if the group is unknown).
  std::vector<std::string> consumer_ids(const std::string& group) const;
  std::optional<ConsumerGroupInfo> consumer_group(const std::string& group) const;
  std::vector<SubscriptionData> subscriptions(const std::string& group) const;
  std::set<std::string> consumer_groups() const;
  // Consumer groups with a subscription to `topic`.
  std::set<std::string> groups_subscribing(const std::string& topic) const;
  std::vector<ClientChannel> producers(const std::string& group) const;
  std::set<std::string> producer_groups() const;

 private:
  struct ConsumerGroup {
    std::string consume_type;
    std::string message_model;
    std::string consume_from_where;
    std::map<uint64_t, ClientChannel> channels;             // connection id -> channel
    std::map<std::string, SubscriptionData> subscriptions;  // topic -> subscription
  };
  // Connections to notify about `group` (empty when notification is disabled for it).
  std::vector<transport::ConnectionPtr> notify_targets_locked(const std::string& group, const ConsumerGroup& g) const;
  void notify(const std::string& group, const std::vector<transport::ConnectionPtr>& targets) const;
  // Removes `conn_id` from `group`; collects the notification for the remaining members; drops
  // the group when it becomes empty.
  void remove_consumer_channel_locked(const std::string& group, uint64_t conn_id,
                                      std::vector<std::pair<std::string, std::vector<transport::ConnectionPtr>>>* notices);
  int64_t now() const;

  const ClientManagerOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, ConsumerGroup> consumers_;
  std::map<std::string, std::map<uint64_t, ClientChannel>> producers_;

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_requested_ = false;
  std::thread thread_;
};

}  // namespace holdfast::broker
