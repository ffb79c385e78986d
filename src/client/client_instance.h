// ClientInstance: what every producer and consumer of one process and instance name share — the
// remoting connections, the name-server list, the topic-route cache with its 30 s refresh, and the
// heartbeats that tell every master broker which groups this client serves.
#pragma once

#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "client/topic_route.h"
#include "holdfast/message.h"
#include "remoting/remoting_command.h"
#include "transport/remoting_client.h"

namespace holdfast::client {

inline constexpr char kDefaultTopic[] = "TBW102";  // the auto-create template topic

// How a push consumer group appears in heartbeats, and whom to tell when the broker says the
// group's members changed (NOTIFY_CONSUMER_IDS_CHANGED).
struct PushConsumerRegistration {
  std::string message_model = "CLUSTERING";  // or "BROADCASTING"
  std::string consume_from_where = "CONSUME_FROM_LAST_OFFSET";
  std::vector<std::pair<std::string, std::string>> subscriptions;  // topic, tag expression
  // Called on the I/O thread: must only signal (never block or call the broker).
  std::function<void()> on_consumer_ids_changed;
};

struct ClientInstanceOptions {
  std::vector<std::string> name_servers;  // "host:port"; empty = NAMESRV_ADDR (';'-separated)
  std::string instance_name;              // empty = the process id
  int64_t poll_name_server_interval_ms = 30000;
  int64_t heartbeat_broker_interval_ms = 30000;
  int64_t call_timeout_ms = 3000;  // name-server calls, heartbeats, unregister
};

// The configured list, or NAMESRV_ADDR split on ';'. InvalidArgument when both are empty.
Result<std::vector<std::string>> resolve_name_servers(const std::vector<std::string>& configured);

// A cached route with the queue lists derived from it.
struct TopicRouteInfo {
  std::string topic;
  TopicRouteData route;
  std::vector<MessageQueue> publish_queues;
  std::vector<MessageQueue> subscribe_queues;
  bool from_default_topic = false;  // built from TBW102's route: the topic does not exist yet
};

// Shared (shared_ptr) by the producers and consumers of one client id and name-server list; the
// last owner's release stops it. Thread-safe. Owns one background thread that refreshes cached
// routes every poll_name_server_interval_ms and heartbeats every heartbeat_broker_interval_ms.
// No call waits longer than its timeout.
class ClientInstance {
 public:
  // Returns the running instance for (client id, name servers), creating and starting it.
  static Result<std::shared_ptr<ClientInstance>> acquire(const ClientInstanceOptions& options);
  ~ClientInstance();
  ClientInstance(const ClientInstance&) = delete;
  ClientInstance& operator=(const ClientInstance&) = delete;

  const std::string& client_id() const { return client_id_; }
  const std::vector<std::string>& name_servers() const { return name_servers_; }
  transport::RemotingClient& remoting() { return *remoting_; }

  // Sends a request to the name servers: the last one that answered first, then the others in
  // turn while connections fail. Returns the first response (whatever its code).
  Result<remoting::RemotingCommand> invoke_name_server(remoting::RemotingCommand request, int64_t timeout_ms);
  // GET_ROUTEINFO_BY_TOPIC without touching the cache. NotFound when the name servers answer
  // TOPIC_NOT_EXIST; IOError/Timeout when none answers.
  Result<TopicRouteData> fetch_route(const std::string& topic, int64_t timeout_ms);

  // The cached route of `topic`, fetched when absent (or when refresh is set).
  Result<std::shared_ptr<const TopicRouteInfo>> route(const std::string& topic, bool refresh = false);
  // After a failed call to a broker of `topic` (its master may have moved: a failover): fetches
  // the route again, at most once per 100 ms per topic however many calls fail.
  void refresh_route_after_failure(const std::string& topic);
  // For producers: like route(), but a topic no name server knows gets TBW102's route, its
  // queues capped at default_topic_queue_nums, marked from_default_topic (the broker creates the
  // topic on the first send and the next refresh finds the real route).
  Result<std::shared_ptr<const TopicRouteInfo>> publish_route(const std::string& topic, int32_t default_topic_queue_nums);
  // A broker group's master "ip:port" from any cached route, or "".
  std::string master_address(const std::string& broker_name) const;
  // Where reads of a broker group go: its master when the cached routes name one, else its slave
  // with the lowest id (RocketMQ's consumers fall back the same way); "" when none is known.
  std::string read_address(const std::string& broker_name) const;

  // Group registration: the heartbeat lists producer groups and CONSUME_ACTIVELY consumer groups.
  // Registering sends a heartbeat at once; unregistering sends UNREGISTER_CLIENT to every master.
  void register_producer(const std::string& group);
  void unregister_producer(const std::string& group);
  void register_consumer(const std::string& group);
  void unregister_consumer(const std::string& group);
  // Makes a registered consumer group a push consumer (CONSUME_PASSIVELY with its subscriptions)
  // in heartbeats, and routes the group's NOTIFY_CONSUMER_IDS_CHANGED to it; sends a heartbeat.
  // Cleared when the group's last registration goes.
  void set_push_consumer(const std::string& group, PushConsumerRegistration registration);
  // CHECK_TRANSACTION_STATE from a broker goes to the handler of the message's producer group
  // (its PGROUP property), on the I/O thread: the handler must only hand the work off. An empty
  // handler removes the group's. Requests for a group without a handler are dropped (logged).
  using TransactionCheckHandler =
      std::function<void(const transport::ConnectionPtr& conn, const remoting::RemotingCommand& request,
                         ReceivedMessage msg)>;
  void set_transaction_check_handler(const std::string& group, TransactionCheckHandler handler);

  // HEART_BEAT to every known master now (also done by the background thread).
  void send_heartbeat_to_all_brokers();

 private:
  ClientInstance(ClientInstanceOptions options, std::vector<std::string> name_servers);
  void start();
  void stop();
  void background_loop();
  void refresh_all_routes();
  // Stores a route; heartbeats new masters it names.
  std::shared_ptr<const TopicRouteInfo> store_route(const std::string& topic, TopicRouteData route, bool from_default,
                                                    int32_t default_queue_nums);
  std::string heartbeat_body() const;
  std::set<std::string> master_addresses() const;

  const ClientInstanceOptions options_;
  const std::vector<std::string> name_servers_;
  const std::string client_id_;
  std::unique_ptr<transport::RemotingClient> remoting_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const TopicRouteInfo>> routes_;
  std::map<std::string, int32_t> default_routed_;  // topics routed through TBW102 -> queue cap
  std::map<std::string, int> producer_groups_;     // group -> registrations
  std::map<std::string, int> consumer_groups_;
  std::map<std::string, PushConsumerRegistration> push_consumers_;
  std::map<std::string, TransactionCheckHandler> transaction_checkers_;
  std::set<std::string> heartbeated_masters_;
  std::map<std::string, int64_t> failure_refresh_ms_;  // topic -> steady ms of the last refresh after a failure
  size_t name_server_index_ = 0;
  bool stop_ = false;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace holdfast::client
