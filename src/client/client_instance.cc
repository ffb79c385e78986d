// ClientInstance: route cache, name-server failover, heartbeats.
#include "client/client_instance.h"

#include <chrono>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "base/hash.h"
#include "base/logging.h"
#include "client/client_ids.h"
#include "client/message_codec.h"
#include "storage/message.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::client {
namespace {

namespace req = remoting::request_code;
namespace rc = remoting::response_code;
using remoting::RemotingCommand;

std::mutex g_registry_mu;
std::map<std::string, std::weak_ptr<ClientInstance>>& registry() {
  static auto* r = new std::map<std::string, std::weak_ptr<ClientInstance>>();
  return *r;
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t p = text.find(sep);
    std::string_view item = text.substr(0, p);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (p == std::string_view::npos) break;
    text.remove_prefix(p + 1);
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> resolve_name_servers(const std::vector<std::string>& configured) {
  std::vector<std::string> out;
  for (const auto& s : configured) {
    for (auto& a : split(s, ';')) out.push_back(std::move(a));
  }
  if (out.empty()) {
    if (const char* env = std::getenv("NAMESRV_ADDR")) out = split(env, ';');
  }
  if (out.empty()) {
    return Status::invalid_argument("no name server: set the options' name_servers or NAMESRV_ADDR");
  }
  return out;
}

Result<std::shared_ptr<ClientInstance>> ClientInstance::acquire(const ClientInstanceOptions& options) {
  HF_ASSIGN_OR_RETURN(std::vector<std::string> servers, resolve_name_servers(options.name_servers));
  std::string key = make_client_id(options.instance_name);
  for (const auto& s : servers) key += "|" + s;
  std::lock_guard<std::mutex> lock(g_registry_mu);
  if (auto existing = registry()[key].lock()) return existing;
  std::shared_ptr<ClientInstance> inst(new ClientInstance(options, std::move(servers)));
  inst->start();
  registry()[key] = inst;
  return inst;
}

ClientInstance::ClientInstance(ClientInstanceOptions options, std::vector<std::string> name_servers)
    : options_(std::move(options)),
      name_servers_(std::move(name_servers)),
      client_id_(make_client_id(options_.instance_name)),
      remoting_(std::make_unique<transport::RemotingClient>()) {
  // Brokers may push requests to clients. NOTIFY_CONSUMER_IDS_CHANGED (oneway) goes to the push
  // consumer of the named group; a pull consumer has nothing to rebalance.
  remoting_->register_handler(
      req::kNotifyConsumerIdsChanged, [this](const transport::ConnectionPtr&, RemotingCommand r, remoting::SerializeType) {
        const std::optional<std::string_view> group = r.ext("consumerGroup");
        // Called under mu_: once unregister_consumer() returns, the consumer's callback cannot be
        // running (it only signals, so holding the lock is cheap).
        std::lock_guard<std::mutex> lock(mu_);
        auto it = group ? push_consumers_.find(std::string(*group)) : push_consumers_.end();
        if (it != push_consumers_.end() && it->second.on_consumer_ids_changed) it->second.on_consumer_ids_changed();
      });
  // A broker asks a producer of the half message's group for its local transaction's state.
  remoting_->register_handler(
      req::kCheckTransactionState, [this](const transport::ConnectionPtr& conn, RemotingCommand r, remoting::SerializeType) {
        RecordView record;
        if (decode_record(r.body.data(), r.body.size(), /*check_crc=*/false, &record).outcome != DecodeOutcome::kRecord) {
          logger("client")->warn("CHECK_TRANSACTION_STATE from {} with an undecodable message; ignored",
                                 conn->remote_address());
          return;
        }
        auto msg = to_received_message(record, "");
        if (!msg.is_ok()) return;
        const auto group = msg->properties.find("PGROUP");
        std::lock_guard<std::mutex> lock(mu_);
        auto it = group == msg->properties.end() ? transaction_checkers_.end() : transaction_checkers_.find(group->second);
        if (it == transaction_checkers_.end()) {
          logger("client")->warn("CHECK_TRANSACTION_STATE from {} for a group this client has no transaction producer of",
                                 conn->remote_address());
          return;
        }
        it->second(conn, r, std::move(msg).value());
      });
}

ClientInstance::~ClientInstance() { stop(); }

void ClientInstance::set_transaction_check_handler(const std::string& group, TransactionCheckHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  if (handler) {
    transaction_checkers_[group] = std::move(handler);
  } else {
    transaction_checkers_.erase(group);
  }
}

void ClientInstance::start() {
  thread_ = std::thread([this] { background_loop(); });
}

void ClientInstance::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  remoting_->shutdown();
}

void ClientInstance::background_loop() {
  using Clock = std::chrono::steady_clock;
  auto next_poll = Clock::now() + std::chrono::milliseconds(options_.poll_name_server_interval_ms);
  auto next_heartbeat = Clock::now() + std::chrono::milliseconds(options_.heartbeat_broker_interval_ms);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_until(lock, std::min(next_poll, next_heartbeat), [this] { return stop_; });
    if (stop_) break;
    const auto now = Clock::now();
    lock.unlock();
    if (now >= next_poll) {
      refresh_all_routes();
      next_poll = now + std::chrono::milliseconds(options_.poll_name_server_interval_ms);
    }
    if (now >= next_heartbeat) {
      send_heartbeat_to_all_brokers();
      next_heartbeat = now + std::chrono::milliseconds(options_.heartbeat_broker_interval_ms);
    }
    lock.lock();
  }
}

Result<RemotingCommand> ClientInstance::invoke_name_server(RemotingCommand request, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t start = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    start = name_server_index_;
  }
  Status last = Status::io_error("no name server");
  for (size_t i = 0; i < name_servers_.size(); ++i) {
    const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                             deadline - std::chrono::steady_clock::now())
                             .count();
    if (left <= 0) break;
    const size_t idx = (start + i) % name_servers_.size();
    auto resp = remoting_->invoke_sync(name_servers_[idx], request, left);
    if (resp.is_ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      name_server_index_ = idx;
      return resp;
    }
    last = Status(resp.status().code(), "name server " + name_servers_[idx] + ": " + resp.status().message());
  }
  return last;
}

Result<TopicRouteData> ClientInstance::fetch_route(const std::string& topic, int64_t timeout_ms) {
  RemotingCommand request = RemotingCommand::make_request(req::kGetRouteinfoByTopic);
  request.set_ext("topic", topic);
  HF_ASSIGN_OR_RETURN(RemotingCommand resp, invoke_name_server(std::move(request), timeout_ms));
  if (resp.code == rc::kTopicNotExist) {
    return Status::not_found("no route for topic '" + topic + "' on the name servers");
  }
  if (resp.code != rc::kSuccess) {
    return Status::io_error("route lookup for '" + topic + "' failed: code " + std::to_string(resp.code) + " " +
                            resp.remark.value_or(""));
  }
  return decode_topic_route(resp.body);
}

std::shared_ptr<const TopicRouteInfo> ClientInstance::store_route(const std::string& topic, TopicRouteData route,
                                                                  bool from_default, int32_t default_queue_nums) {
  auto info = std::make_shared<TopicRouteInfo>();
  info->topic = topic;
  info->from_default_topic = from_default;
  if (from_default) {
    // TBW102's queues stand in for the topic's, capped at the client's default queue count.
    for (auto& q : route.queue_datas) {
      const int32_t n = std::min(default_queue_nums, q.read_queue_nums);
      q.read_queue_nums = n;
      q.write_queue_nums = n;
    }
  }
  info->publish_queues = publish_queues(topic, route);
  info->subscribe_queues = subscribe_queues(topic, route);
  info->route = std::move(route);
  bool new_master = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    routes_[topic] = info;
    if (from_default) {
      default_routed_[topic] = default_queue_nums;
    } else {
      default_routed_.erase(topic);
    }
    for (const auto& b : info->route.broker_datas) {
      const std::string m = b.master_address();
      if (!m.empty() && !heartbeated_masters_.count(m)) new_master = true;
    }
  }
  if (new_master) send_heartbeat_to_all_brokers();
  return info;
}

Result<std::shared_ptr<const TopicRouteInfo>> ClientInstance::route(const std::string& topic, bool refresh) {
  if (!refresh) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = routes_.find(topic);
    if (it != routes_.end() && !it->second->from_default_topic) return it->second;
  }
  HF_ASSIGN_OR_RETURN(TopicRouteData route, fetch_route(topic, options_.call_timeout_ms));
  return store_route(topic, std::move(route), false, 0);
}

void ClientInstance::refresh_route_after_failure(const std::string& topic) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t& last = failure_refresh_ms_[topic];
    if (now - last < 100) return;
    last = now;
  }
  (void)route(topic, /*refresh=*/true);
}

Result<std::shared_ptr<const TopicRouteInfo>> ClientInstance::publish_route(const std::string& topic,
                                                                              int32_t default_topic_queue_nums) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = routes_.find(topic);
    if (it != routes_.end() && !it->second->publish_queues.empty()) return it->second;
  }
  auto real = fetch_route(topic, options_.call_timeout_ms);
  if (real.is_ok()) {
    auto info = store_route(topic, std::move(real).value(), false, 0);
    if (!info->publish_queues.empty()) return info;
  } else if (real.status().code() != StatusCode::kNotFound) {
    return real.status();
  }
  HF_ASSIGN_OR_RETURN(TopicRouteData fallback, fetch_route(kDefaultTopic, options_.call_timeout_ms));
  return store_route(topic, std::move(fallback), true, default_topic_queue_nums);
}

void ClientInstance::refresh_all_routes() {
  std::vector<std::string> topics;
  std::map<std::string, int32_t> defaults;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [t, _] : routes_) topics.push_back(t);
    defaults = default_routed_;
  }
  for (const auto& t : topics) {
    auto r = fetch_route(t, options_.call_timeout_ms);
    if (r.is_ok()) {
      store_route(t, std::move(r).value(), false, 0);
    } else if (r.status().code() == StatusCode::kNotFound && defaults.count(t)) {
      auto fallback = fetch_route(kDefaultTopic, options_.call_timeout_ms);
      if (fallback.is_ok()) store_route(t, std::move(fallback).value(), true, defaults[t]);
    } else {
      // Keep the old route: a name server outage must not take working routes away.
      logger("client")->debug("route refresh of {} failed: {}", t, r.status().to_string());
    }
  }
}

std::string ClientInstance::master_address(const std::string& broker_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [_, info] : routes_) {
    if (const BrokerData* b = info->route.find_broker(broker_name)) {
      std::string m = b->master_address();
      if (!m.empty()) return m;
    }
  }
  return "";
}

std::string ClientInstance::read_address(const std::string& broker_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string slave;
  for (const auto& [_, info] : routes_) {
    if (const BrokerData* b = info->route.find_broker(broker_name)) {
      std::string m = b->master_address();
      if (!m.empty()) return m;
      if (slave.empty() && !b->broker_addrs.empty()) slave = b->broker_addrs.begin()->second;
    }
  }
  return slave;
}

std::set<std::string> ClientInstance::master_addresses() const {
  std::set<std::string> out;
  for (const auto& [_, info] : routes_) {
    for (const auto& b : info->route.broker_datas) {
      std::string m = b.master_address();
      if (!m.empty()) out.insert(std::move(m));
    }
  }
  return out;
}

std::string ClientInstance::heartbeat_body() const {
  nlohmann::json body;
  body["clientID"] = client_id_;
  body["producerDataSet"] = nlohmann::json::array();
  for (const auto& [g, _] : producer_groups_) body["producerDataSet"].push_back({{"groupName", g}});
  body["consumerDataSet"] = nlohmann::json::array();
  for (const auto& [g, _] : consumer_groups_) {
    if (auto push = push_consumers_.find(g); push != push_consumers_.end()) {
      nlohmann::json subs = nlohmann::json::array();
      for (const auto& [topic, expression] : push->second.subscriptions) {
        nlohmann::json tags = nlohmann::json::array();
        nlohmann::json codes = nlohmann::json::array();
        const std::string expr = expression.empty() ? "*" : expression;
        if (expr != "*") {
          for (const auto& tag : split(expr, '|')) {
            tags.push_back(tag);
            codes.push_back(java_string_hash(tag));
          }
        }
        subs.push_back({{"topic", topic},
                        {"subString", expr},
                        {"tagsSet", tags},
                        {"codeSet", codes},
                        {"subVersion", 0},
                        {"expressionType", "TAG"},
                        {"classFilterMode", false}});
      }
      body["consumerDataSet"].push_back({{"groupName", g},
                                         {"consumeType", "CONSUME_PASSIVELY"},
                                         {"messageModel", push->second.message_model},
                                         {"consumeFromWhere", push->second.consume_from_where},
                                         {"subscriptionDataSet", subs},
                                         {"unitMode", false}});
      continue;
    }
    body["consumerDataSet"].push_back({{"groupName", g},
                                       {"consumeType", "CONSUME_ACTIVELY"},
                                       {"messageModel", "CLUSTERING"},
                                       {"consumeFromWhere", "CONSUME_FROM_LAST_OFFSET"},
                                       {"subscriptionDataSet", nlohmann::json::array()},
                                       {"unitMode", false}});
  }
  return body.dump();
}

void ClientInstance::send_heartbeat_to_all_brokers() {
  std::set<std::string> masters;
  std::string body;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (producer_groups_.empty() && consumer_groups_.empty()) return;
    masters = master_addresses();
    // Consumers also tell the slaves about themselves, as RocketMQ's clients do: a slave that
    // serves while its master is down answers the group's consumer list for rebalancing.
    if (!consumer_groups_.empty()) {
      for (const auto& [_, info] : routes_) {
        for (const auto& b : info->route.broker_datas) {
          for (const auto& [id, addr] : b.broker_addrs) masters.insert(addr);
        }
      }
    }
    body = heartbeat_body();
  }
  for (const auto& addr : masters) {
    RemotingCommand request = RemotingCommand::make_request(req::kHeartBeat);
    request.body = body;
    // Asynchronous: a dead broker must not hold up heartbeats to the live ones.
    remoting_->invoke_async(addr, std::move(request), options_.call_timeout_ms,
                            [this, addr](Result<RemotingCommand> resp) {
                              if (!resp.is_ok() || resp->code != rc::kSuccess) {
                                logger("client")->debug("heartbeat to {} failed: {}", addr,
                                                        resp.is_ok() ? resp->remark.value_or("")
                                                                     : resp.status().to_string());
                                return;
                              }
                              std::lock_guard<std::mutex> lock(mu_);
                              heartbeated_masters_.insert(addr);
                            });
  }
}

void ClientInstance::register_producer(const std::string& group) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++producer_groups_[group];
  }
  send_heartbeat_to_all_brokers();
}

void ClientInstance::register_consumer(const std::string& group) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++consumer_groups_[group];
  }
  send_heartbeat_to_all_brokers();
}

void ClientInstance::set_push_consumer(const std::string& group, PushConsumerRegistration registration) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    push_consumers_[group] = std::move(registration);
  }
  send_heartbeat_to_all_brokers();
}

namespace {
// Drops one registration; true when it was the group's last.
bool release(std::map<std::string, int>* groups, const std::string& group) {
  auto it = groups->find(group);
  if (it == groups->end()) return false;
  if (--it->second > 0) return false;
  groups->erase(it);
  return true;
}
}  // namespace

void ClientInstance::unregister_producer(const std::string& group) {
  std::set<std::string> masters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!release(&producer_groups_, group)) return;
    masters = master_addresses();
  }
  for (const auto& addr : masters) {
    RemotingCommand request = RemotingCommand::make_request(req::kUnregisterClient);
    request.set_ext("clientID", client_id_);
    request.set_ext("producerGroup", group);
    auto resp = remoting_->invoke_sync(addr, std::move(request), options_.call_timeout_ms);
    if (!resp.is_ok()) logger("client")->debug("unregister from {} failed: {}", addr, resp.status().to_string());
  }
}

void ClientInstance::unregister_consumer(const std::string& group) {
  std::set<std::string> masters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!release(&consumer_groups_, group)) return;
    push_consumers_.erase(group);
    masters = master_addresses();
  }
  for (const auto& addr : masters) {
    RemotingCommand request = RemotingCommand::make_request(req::kUnregisterClient);
    request.set_ext("clientID", client_id_);
    request.set_ext("consumerGroup", group);
    auto resp = remoting_->invoke_sync(addr, std::move(request), options_.call_timeout_ms);
    if (!resp.is_ok()) logger("client")->debug("unregister from {} failed: {}", addr, resp.status().to_string());
  }
}

}  // namespace holdfast::client
