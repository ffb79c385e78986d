// NameServer: the route table served over the remoting protocol (REGISTER_BROKER,
// UNREGISTER_BROKER, GET_ROUTEINFO_BY_TOPIC, GET_BROKER_CLUSTER_INFO,
// GET_ALL_TOPIC_LIST_FROM_NAMESERVER), with broker expiry and removal on connection close.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "namesrv/route_info_manager.h"
#include "transport/remoting_server.h"

namespace holdfast::namesrv {

struct NameServerOptions {
  transport::ServerOptions server;  // default port 0 = any free port; `holdfast namesrv` uses 9876
  int64_t scan_interval_ms = 5000;  // broker expiry scan (facts §11: 5 s in 5.x)
};

// Owns its network threads and one scan thread. start() binds; stop() (or the destructor)
// closes everything. Thread-safe handlers; the route table has its own lock.
class NameServer {
 public:
  explicit NameServer(NameServerOptions options);
  ~NameServer();
  Status start();
  void stop();
  uint16_t port() const { return server_.port(); }
  RouteInfoManager& routes() { return routes_; }

 private:
  void register_handlers();
  void scan_loop();

  NameServerOptions options_;
  RouteInfoManager routes_;
  transport::RemotingServer server_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread scanner_;
};

}  // namespace holdfast::namesrv
