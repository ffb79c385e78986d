// RebalanceLockManager and the LOCK_BATCH_MQ / UNLOCK_BATCH_MQ bodies.
#include "broker/rebalance_lock_manager.h"

#include <nlohmann/json.hpp>

#include "broker/broker_json.h"
#include "broker/config_file.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

Result<LockBatchRequest> decode_lock_batch_request(std::string_view body) {
  HF_ASSIGN_OR_RETURN(nlohmann::json root, parse_json(body, "lock batch body"));
  if (!root.is_object()) return Status::invalid_argument("lock batch body is not a JSON object");
  LockBatchRequest out;
  HF_ASSIGN_OR_RETURN(out.consumer_group, string_field(root, "consumerGroup", ""));
  HF_ASSIGN_OR_RETURN(out.client_id, string_field(root, "clientId", ""));
  HF_ASSIGN_OR_RETURN(out.only_this_broker, bool_field(root, "onlyThisBroker", false));
  if (out.consumer_group.empty() || out.client_id.empty()) {
    return Status::invalid_argument("lock batch body needs consumerGroup and clientId");
  }
  const nlohmann::json* set = json_member(root, "mqSet");
  if (set != nullptr) {
    if (!set->is_array()) return Status::invalid_argument("mqSet is not an array");
    for (const nlohmann::json& mq : *set) {
      if (!mq.is_object()) return Status::invalid_argument("an mqSet entry is not an object");
      LockedQueue q;
      HF_ASSIGN_OR_RETURN(q.topic, string_field(mq, "topic", ""));
      HF_ASSIGN_OR_RETURN(q.broker_name, string_field(mq, "brokerName", ""));
      HF_ASSIGN_OR_RETURN(q.queue_id, int32_field(mq, "queueId", -1));
      if (q.topic.empty() || q.queue_id < 0) return Status::invalid_argument("an mqSet entry lacks topic or queueId");
      out.queues.push_back(std::move(q));
    }
  }
  return out;
}

std::string encode_lock_batch_response(const std::vector<LockedQueue>& locked) {
  std::string out = "{\"lockOKMQSet\":[";
  for (size_t i = 0; i < locked.size(); ++i) {
    if (i > 0) out += ",";
    out += message_queue_json(locked[i].topic, locked[i].broker_name, locked[i].queue_id);
  }
  out += "]}";
  return out;
}

RebalanceLockManager::RebalanceLockManager(std::function<int64_t()> now_ms, int64_t max_live_ms)
    : now_ms_(std::move(now_ms)), max_live_ms_(max_live_ms) {}

std::vector<LockedQueue> RebalanceLockManager::try_lock_batch(const std::string& group,
                                                              const std::vector<LockedQueue>& queues,
                                                              const std::string& client_id) {
  const int64_t now = now_ms_();
  std::vector<LockedQueue> held;
  std::lock_guard<std::mutex> lock(mu_);
  auto& table = locks_[group];
  for (const LockedQueue& q : queues) {
    auto [it, inserted] = table.try_emplace(q, Lock{client_id, now});
    Lock& l = it->second;
    if (inserted || l.client_id == client_id || expired(l, now)) {
      l.client_id = client_id;
      l.last_update_ms = now;
      held.push_back(q);
    }
  }
  return held;
}

void RebalanceLockManager::unlock_batch(const std::string& group, const std::vector<LockedQueue>& queues,
                                        const std::string& client_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto table = locks_.find(group);
  if (table == locks_.end()) return;
  for (const LockedQueue& q : queues) {
    auto it = table->second.find(q);
    if (it != table->second.end() && it->second.client_id == client_id) table->second.erase(it);
  }
  if (table->second.empty()) locks_.erase(table);
}

bool RebalanceLockManager::is_locked(const std::string& group, const LockedQueue& queue,
                                     const std::string& client_id) const {
  const int64_t now = now_ms_();
  std::lock_guard<std::mutex> lock(mu_);
  auto table = locks_.find(group);
  if (table == locks_.end()) return false;
  auto it = table->second.find(queue);
  return it != table->second.end() && it->second.client_id == client_id && !expired(it->second, now);
}

bool RebalanceLockManager::group_has_locks(const std::string& group) const {
  const int64_t now = now_ms_();
  std::lock_guard<std::mutex> lock(mu_);
  auto table = locks_.find(group);
  if (table == locks_.end()) return false;
  for (const auto& [queue, l] : table->second) {
    if (!expired(l, now)) return true;
  }
  return false;
}

RemotingCommand RebalanceLockManager::handle(const RemotingCommand& request) {
  auto body = decode_lock_batch_request(request.body);
  if (!body.is_ok()) return request.make_response(rc::kSystemError, body.status().message());
  // onlyThisBroker matters to brokers that forward locks to their replicas; a lock here is held
  // by this broker alone either way.
  if (request.code == req::kLockBatchMq) {
    RemotingCommand resp = request.make_response(rc::kSuccess);
    resp.body = encode_lock_batch_response(try_lock_batch(body->consumer_group, body->queues, body->client_id));
    return resp;
  }
  unlock_batch(body->consumer_group, body->queues, body->client_id);
  return request.make_response(rc::kSuccess);
}

void RebalanceLockManager::register_to(transport::RemotingServer& server) {
  for (int32_t code : {req::kLockBatchMq, req::kUnlockBatchMq}) {
    server.register_handler(code, [this](const transport::ConnectionPtr& conn, RemotingCommand request,
                                         remoting::SerializeType type) {
      RemotingCommand resp = handle(request);
      if (!request.is_oneway()) conn->send_response(resp, type);
    });
  }
}

}  // namespace holdfast::broker
