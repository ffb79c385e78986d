// BrokerController: the composition root of one broker. It opens the store, loads the topic,
// subscription-group and consumer-offset state from <storePathRootDir>/config, wires every
// request processor into one RemotingServer, registers with each name server in namesrvAddr
// every registerNameServerPeriod (and again after a topic change), and unregisters on stop.
//
// Contract:
//  - start() returns OK only when the store has recovered, the configuration files have loaded,
//    the port is bound and the first registration round has been attempted (a name server that
//    is down is logged and retried on the next round; it does not fail the start).
//  - stop() is idempotent: unregisters, stops accepting requests, answers nothing more, persists
//    consumer offsets and topic/group configuration, and shuts the store down cleanly (so the
//    next start does not scan). A process killed without stop() loses no acknowledged message;
//    consumer offsets lose at most flushConsumerOffsetInterval of commits (consumers re-read).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "app/broker_config.h"
#include "app/failover_agent.h"
#include "base/status.h"

namespace holdfast {

class Env;
class MessageStore;

struct BrokerRuntimeOptions {
  std::string listen_host = "0.0.0.0";  // where the broker's port is bound
  // Network threads: one per two cores. The store's flusher and dispatcher need the other core:
  // on 2 cores one network thread cut broker context switches per message by about 40% against two
  // (docs/benchmarks.md).
  int io_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
  // Automatic failover (enableControllerMode): the agent that decided `failover_role`; the core
  // runs that role (config's brokerRole/brokerId already set for it) and lends the agent its hooks.
  // Null: the role comes from the configuration alone.
  FailoverAgent* failover = nullptr;
  FailoverRole failover_role;
  int64_t member_id = 0;
  int min_in_sync_replicas = 1;
};

class BrokerController {
 public:
  BrokerController(Env* env, BrokerConfig config, BrokerRuntimeOptions runtime = {});
  ~BrokerController();
  BrokerController(const BrokerController&) = delete;
  BrokerController& operator=(const BrokerController&) = delete;

  Status start();
  void stop();

  // The IP clients and name servers are told: brokerIP1, else the listen host, else a detected one.
  static std::string advertised_ip(const BrokerConfig& config, const std::string& listen_host);

  uint16_t port() const;
  // "ip:port" that clients and name servers are told.
  const std::string& address() const { return address_; }
  MessageStore* store();

 private:
  struct Impl;
  void register_loop();
  void register_all_name_servers();
  void unregister_all_name_servers();
  // Slaves: copies topics, groups, consumer offsets and delay progress from the master (21, 201,
  // 43, 45) every 10 s.
  void slave_sync_loop();
  Status sync_from_master(const std::string& master_address);
  // HOLDFAST_HA_STATUS body: role, offsets, slaves (master) or master connection (slave).
  std::string ha_status_json() const;
  // Slaves, before each HA connection: compares the master's epoch history with this log; on a
  // divergence tells the master (which then refuses sends) and refuses to replicate.
  Status check_master_history();

  Env* env_;
  BrokerConfig config_;
  BrokerRuntimeOptions runtime_;
  std::string address_;
  std::unique_ptr<Impl> impl_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool register_now_ = false;
  bool started_ = false;
  std::thread registrar_;
  std::atomic<int64_t> last_sync_ms_{0};
};

}  // namespace holdfast
