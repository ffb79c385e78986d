// NameServer request handlers and the expiry scanner.
#include "namesrv/name_server.h"

#include <chrono>

#include "base/logging.h"
#include "namesrv/route_json.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"

namespace holdfast::namesrv {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;
using remoting::SerializeType;
using transport::ConnectionPtr;

namespace {
int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

NameServer::NameServer(NameServerOptions options) : options_(options), server_(options.server) {
  register_handlers();
}

NameServer::~NameServer() { stop(); }

Status NameServer::start() {
  HF_RETURN_IF_ERROR(server_.start());
  scanner_ = std::thread([this] { scan_loop(); });
  logger("namesrv")->info("name server listening on {}:{}", options_.server.host, server_.port());
  return Status::ok();
}

void NameServer::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (scanner_.joinable()) scanner_.join();
  server_.stop();
}

void NameServer::scan_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(options_.scan_interval_ms));
    if (stop_) break;
    for (const auto& addr : routes_.scan_expired(wall_ms())) {
      logger("namesrv")->warn("broker {} expired: no registration within its heartbeat timeout", addr);
    }
  }
}

void NameServer::register_handlers() {
  server_.set_close_listener([this](const ConnectionPtr& conn) {
    for (const auto& addr : routes_.remove_by_connection(conn->id())) {
      logger("namesrv")->info("broker {} removed: its connection closed", addr);
    }
  });

  server_.register_handler(req::kRegisterBroker, [this](const ConnectionPtr& conn, RemotingCommand r, SerializeType t) {
    BrokerRegistration reg;
    reg.cluster_name = std::string(r.ext("clusterName").value_or(""));
    reg.broker_name = std::string(r.ext("brokerName").value_or(""));
    reg.broker_addr = std::string(r.ext("brokerAddr").value_or(""));
    reg.ha_server_addr = std::string(r.ext("haServerAddr").value_or(""));
    auto id = r.get_int64("brokerId");
    if (!id.is_ok()) {
      conn->send_response(r.make_response(rc::kSystemError, id.status().message()), t);
      return;
    }
    reg.broker_id = *id;
    if (r.ext("heartbeatTimeoutMillis")) {
      auto timeout = r.get_int64("heartbeatTimeoutMillis");
      if (timeout.is_ok()) reg.heartbeat_timeout_ms = *timeout;
    }
    auto compressed = r.get_bool("compressed");
    if (compressed.is_ok() && *compressed) {
      conn->send_response(r.make_response(rc::kSystemError, "compressed register bodies are not supported"), t);
      return;
    }
    if (!r.body.empty()) {
      auto body = decode_register_body(r.body);
      if (!body.is_ok()) {
        conn->send_response(r.make_response(rc::kSystemError, body.status().message()), t);
        return;
      }
      reg.topic_configs = std::move(body->topic_configs);
      reg.data_version = body->data_version;
    }
    reg.connection_id = conn->id();
    auto result = routes_.register_broker(reg, wall_ms());
    if (!result.is_ok()) {
      conn->send_response(r.make_response(rc::kSystemError, result.status().message()), t);
      return;
    }
    RemotingCommand resp = r.make_response(rc::kSuccess);
    resp.set_ext("haServerAddr", result->ha_server_addr);
    resp.set_ext("masterAddr", result->master_addr);
    conn->send_response(resp, t);
  });

  server_.register_handler(req::kUnregisterBroker, [this](const ConnectionPtr& conn, RemotingCommand r, SerializeType t) {
    auto id = r.get_int64("brokerId");
    routes_.unregister_broker(std::string(r.ext("clusterName").value_or("")),
                              std::string(r.ext("brokerName").value_or("")),
                              std::string(r.ext("brokerAddr").value_or("")), id.is_ok() ? *id : 0);
    if (!r.is_oneway()) conn->send_response(r.make_response(rc::kSuccess), t);
  });

  server_.register_handler(req::kGetRouteinfoByTopic, [this](const ConnectionPtr& conn, RemotingCommand r, SerializeType t) {
    const std::string topic(r.ext("topic").value_or(""));
    auto route = routes_.route_for_topic(topic);
    if (!route) {
      conn->send_response(r.make_response(rc::kTopicNotExist,
                                          "No topic route info in name server for the topic: " + topic),
                          t);
      return;
    }
    auto flag = r.get_bool("acceptStandardJsonOnly");
    RemotingCommand resp = r.make_response(rc::kSuccess);
    resp.body = encode_topic_route(*route, route_json_standard_for(r.version, flag.is_ok() && *flag));
    conn->send_response(resp, t);
  });

  server_.register_handler(req::kGetBrokerClusterInfo, [this](const ConnectionPtr& conn, RemotingCommand r, SerializeType t) {
    RemotingCommand resp = r.make_response(rc::kSuccess);
    resp.body = encode_cluster_info(routes_.cluster_info(), /*standard_json=*/false);
    conn->send_response(resp, t);
  });

  // DELETE_TOPIC_IN_NAMESRV: header `topic`, optional `clusterName` (5.x). Succeeds for an
  // unknown topic too, as admin tools call it on every name server.
  server_.register_handler(req::kDeleteTopicInNamesrv, [this](const ConnectionPtr& conn, RemotingCommand r, SerializeType t) {
    const std::string topic(r.ext("topic").value_or(""));
    if (topic.empty()) {
      conn->send_response(r.make_response(rc::kSystemError, "missing header field 'topic'"), t);
      return;
    }
    if (routes_.delete_topic(topic, std::string(r.ext("clusterName").value_or("")))) {
      logger("namesrv")->info("topic {} deleted", topic);
    }
    if (!r.is_oneway()) conn->send_response(r.make_response(rc::kSuccess), t);
  });

  server_.register_handler(req::kGetAllTopicListFromNameserver,
                           [this](const ConnectionPtr& conn, RemotingCommand r, SerializeType t) {
                             RemotingCommand resp = r.make_response(rc::kSuccess);
                             resp.body = encode_topic_list(routes_.all_topics());
                             conn->send_response(resp, t);
                           });
}

}  // namespace holdfast::namesrv
