// Producer and consumer group membership, subscriptions, expiry and change notification.
#include "broker/client_manager.h"

#include <chrono>

#include "base/logging.h"
#include "remoting/request_code.h"

namespace holdfast::broker {

using transport::ConnectionPtr;

ClientManager::ClientManager(ClientManagerOptions options) : options_(std::move(options)) {}

ClientManager::~ClientManager() { stop(); }

int64_t ClientManager::now() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<ConnectionPtr> ClientManager::notify_targets_locked(const std::string& group,
                                                                const ConsumerGroup& g) const {
  std::vector<ConnectionPtr> out;
  if (options_.notify_consumer_ids_changed_enabled && !options_.notify_consumer_ids_changed_enabled(group)) {
    return out;
  }
  for (const auto& [id, channel] : g.channels) out.push_back(channel.conn);
  return out;
}

void ClientManager::notify(const std::string& group, const std::vector<ConnectionPtr>& targets) const {
  for (const ConnectionPtr& conn : targets) {
    remoting::RemotingCommand request =
        remoting::RemotingCommand::make_request(remoting::request_code::kNotifyConsumerIdsChanged);
    request.set_ext("consumerGroup", group);
    conn->send_oneway(std::move(request));
  }
}

bool ClientManager::register_consumer(const ConnectionPtr& conn, const std::string& client_id,
                                      const ConsumerData& data, remoting::LanguageCode language, int32_t version) {
  std::vector<ConnectionPtr> targets;
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ConsumerGroup& g = consumers_[data.group_name];
    g.consume_type = data.consume_type;
    g.message_model = data.message_model;
    g.consume_from_where = data.consume_from_where;

    auto [it, inserted] = g.channels.try_emplace(conn->id());
    ClientChannel& channel = it->second;
    if (inserted) {
      channel.conn = conn;
      logger("broker")->info("consumer group {}: {} joined from {}", data.group_name, client_id, conn->remote_address());
    }
    channel.client_id = client_id;
    channel.language = language;
    channel.version = version;
    channel.last_update_ms = now();
    changed = inserted;

    // The newest heartbeat defines the group's subscriptions; an entry with an older
    // subVersion than the one held is stale (heartbeats of one client can overtake each other).
    std::map<std::string, SubscriptionData> next;
    for (const SubscriptionData& sub : data.subscriptions) {
      auto old = g.subscriptions.find(sub.topic);
      if (old != g.subscriptions.end() && old->second.sub_version > sub.sub_version) {
        next[sub.topic] = old->second;
      } else {
        next[sub.topic] = sub;
      }
    }
    auto same_topics = [](const auto& a, const auto& b) {
      if (a.size() != b.size()) return false;
      for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
        if (i->first != j->first) return false;
      }
      return true;
    };
    if (!same_topics(next, g.subscriptions)) changed = true;
    g.subscriptions = std::move(next);
    if (changed) targets = notify_targets_locked(data.group_name, g);
  }
  notify(data.group_name, targets);
  return changed;
}

void ClientManager::register_producer(const ConnectionPtr& conn, const std::string& client_id,
                                      const std::string& group, remoting::LanguageCode language, int32_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = producers_[group].try_emplace(conn->id());
  ClientChannel& channel = it->second;
  if (inserted) {
    channel.conn = conn;
    logger("broker")->info("producer group {}: {} joined from {}", group, client_id, conn->remote_address());
  }
  channel.client_id = client_id;
  channel.language = language;
  channel.version = version;
  channel.last_update_ms = now();
}

void ClientManager::remove_consumer_channel_locked(
    const std::string& group, uint64_t conn_id,
    std::vector<std::pair<std::string, std::vector<ConnectionPtr>>>* notices) {
  auto it = consumers_.find(group);
  if (it == consumers_.end()) return;
  ConsumerGroup& g = it->second;
  auto channel = g.channels.find(conn_id);
  if (channel == g.channels.end()) return;
  logger("broker")->info("consumer group {}: {} left", group, channel->second.client_id);
  g.channels.erase(channel);
  if (g.channels.empty()) {
    consumers_.erase(it);
    return;
  }
  notices->emplace_back(group, notify_targets_locked(group, g));
}

void ClientManager::unregister_consumer(const std::string& group, const ConnectionPtr& conn) {
  std::vector<std::pair<std::string, std::vector<ConnectionPtr>>> notices;
  {
    std::lock_guard<std::mutex> lock(mu_);
    remove_consumer_channel_locked(group, conn->id(), &notices);
  }
  for (const auto& [g, targets] : notices) notify(g, targets);
}

void ClientManager::unregister_producer(const std::string& group, const ConnectionPtr& conn) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = producers_.find(group);
  if (it == producers_.end()) return;
  it->second.erase(conn->id());
  if (it->second.empty()) producers_.erase(it);
}

void ClientManager::on_connection_closed(const ConnectionPtr& conn) {
  std::vector<std::pair<std::string, std::vector<ConnectionPtr>>> notices;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> groups;
    for (const auto& [group, g] : consumers_) {
      if (g.channels.count(conn->id())) groups.push_back(group);
    }
    for (const std::string& group : groups) remove_consumer_channel_locked(group, conn->id(), &notices);
    for (auto it = producers_.begin(); it != producers_.end();) {
      it->second.erase(conn->id());
      it = it->second.empty() ? producers_.erase(it) : std::next(it);
    }
  }
  for (const auto& [g, targets] : notices) notify(g, targets);
}

size_t ClientManager::scan_expired(int64_t now_ms) {
  std::vector<std::pair<std::string, std::vector<ConnectionPtr>>> notices;
  std::map<uint64_t, ConnectionPtr> to_close;
  size_t removed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto expired = [&](const ClientChannel& c) {
      return now_ms - c.last_update_ms > options_.channel_expired_timeout_ms;
    };
    std::vector<std::pair<std::string, uint64_t>> consumer_victims;
    for (const auto& [group, g] : consumers_) {
      for (const auto& [id, channel] : g.channels) {
        if (expired(channel)) consumer_victims.emplace_back(group, id);
      }
    }
    for (const auto& [group, id] : consumer_victims) {
      auto& channel = consumers_[group].channels[id];
      logger("broker")->warn("consumer group {}: {} ({}) sent no heartbeat for {} ms; removing it", group,
                             channel.client_id, channel.conn->remote_address(), now_ms - channel.last_update_ms);
      to_close.emplace(id, channel.conn);
      remove_consumer_channel_locked(group, id, &notices);
      ++removed;
    }
    for (auto it = producers_.begin(); it != producers_.end();) {
      for (auto c = it->second.begin(); c != it->second.end();) {
        if (expired(c->second)) {
          logger("broker")->warn("producer group {}: {} ({}) sent no heartbeat for {} ms; removing it", it->first,
                                 c->second.client_id, c->second.conn->remote_address(),
                                 now_ms - c->second.last_update_ms);
          to_close.emplace(c->first, c->second.conn);
          c = it->second.erase(c);
          ++removed;
        } else {
          ++c;
        }
      }
      it = it->second.empty() ? producers_.erase(it) : std::next(it);
    }
  }
  for (const auto& [g, targets] : notices) notify(g, targets);
  // A silent client is treated as gone: closing its connection makes it reconnect and register
  // afresh if it is in fact alive.
  for (const auto& [id, conn] : to_close) conn->close();
  return removed;
}

void ClientManager::start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable()) return;
  stop_requested_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(thread_mu_);
    while (!stop_requested_) {
      thread_cv_.wait_for(lock, std::chrono::milliseconds(options_.scan_interval_ms), [this] { return stop_requested_; });
      if (stop_requested_) break;
      lock.unlock();
      scan_expired(now());
      lock.lock();
    }
  });
}

void ClientManager::stop() {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stop_requested_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> ClientManager::consumer_ids(const std::string& group) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  auto it = consumers_.find(group);
  if (it == consumers_.end()) return out;
  for (const auto& [id, channel] : it->second.channels) out.push_back(channel.client_id);
  return out;
}

std::optional<ConsumerGroupInfo> ClientManager::consumer_group(const std::string& group) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = consumers_.find(group);
  if (it == consumers_.end()) return std::nullopt;
  ConsumerGroupInfo info;
  info.group = group;
  info.consume_type = it->second.consume_type;
  info.message_model = it->second.message_model;
  info.consume_from_where = it->second.consume_from_where;
  for (const auto& [id, channel] : it->second.channels) info.channels.push_back(channel);
  for (const auto& [topic, sub] : it->second.subscriptions) info.subscriptions.push_back(sub);
  return info;
}

std::vector<SubscriptionData> ClientManager::subscriptions(const std::string& group) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SubscriptionData> out;
  auto it = consumers_.find(group);
  if (it == consumers_.end()) return out;
  for (const auto& [topic, sub] : it->second.subscriptions) out.push_back(sub);
  return out;
}

std::set<std::string> ClientManager::consumer_groups() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;
  for (const auto& [group, g] : consumers_) out.insert(group);
  return out;
}

std::set<std::string> ClientManager::groups_subscribing(const std::string& topic) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;
  for (const auto& [group, g] : consumers_) {
    if (g.subscriptions.count(topic)) out.insert(group);
  }
  return out;
}

std::vector<ClientChannel> ClientManager::producers(const std::string& group) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ClientChannel> out;
  auto it = producers_.find(group);
  if (it == producers_.end()) return out;
  for (const auto& [id, channel] : it->second) out.push_back(channel);
  return out;
}

std::set<std::string> ClientManager::producer_groups() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;
  for (const auto& [group, channels] : producers_) out.insert(group);
  return out;
}

}  // namespace holdfast::broker
