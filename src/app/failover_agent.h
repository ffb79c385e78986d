// FailoverAgent: one broker's part in the automatic failover of its broker group, coordinated
// through etcd (docs/replication.md, "Automatic failover"). The agent outlives the broker core: a
// role change (slave -> master, master -> slave, a new master to follow) restarts the core in the
// new role, and the agent keeps the broker's lease and view across those restarts.
//
// State in etcd, under /holdfast/<cluster>/<brokerName>/:
//   master          {"id","address","haAddress","epoch","epochs":[[e,start],...]} put with the
//                   master's lease: it disappears when the master stops renewing.
//   epoch           the last master epoch handed out (only grows; no lease).
//   syncset         {"epoch": n, "members": [ids]}: the in-sync set, master included (no lease).
//   members/<id>    {"address","haAddress","end","lastEpoch"} with the member's own lease.
//
// Promises:
//  - Election: when the master key is gone, only a member of the in-sync set (any member while the
//    group has never had a master; any live member with enableElectUncleanMaster when no in-sync
//    member is alive, logged as an error) may become master, and only through one etcd txn that
//    also checks that neither the epoch nor the in-sync set changed since it read them. Among the
//    live candidates the one with the newest epoch, then the largest durable end, then the lowest
//    id wins. The winner's epoch is larger than any epoch any member has seen.
//  - Fencing by lease: may_acknowledge(epoch) is true only while this broker is the master of
//    `epoch` and less than (TTL - margin) has passed, on this host's monotonic clock, since it sent
//    the last keep-alive etcd answered. etcd starts a lease's TTL when it receives the keep-alive,
//    which is after the send; so while the clocks of this host and the etcd leader run at rates
//    within margin/TTL of each other, this broker stops acknowledging before etcd can expire its
//    lease and before anybody else can be elected.
//  - In-sync set (master side): a member leaves only after etcd recorded the smaller set, and only
//    then does the master acknowledge without it; a member joins the local set (acknowledgements
//    wait for it) before etcd records it, and only once it holds everything acknowledged so far.
//  - Without etcd nothing changes role: no election, no deposition; a master keeps serving while
//    its lease is valid and acknowledges again once a keep-alive succeeds.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "broker/epoch_file.h"
#include "ha/ha_service.h"

namespace holdfast {

namespace ha {
class EtcdClient;
}

struct FailoverOptions {
  std::vector<std::string> etcd_endpoints;
  std::string cluster_name;
  std::string broker_name;
  int64_t member_id = 1;
  std::string address;     // remoting ip:port clients use
  std::string ha_address;  // ip:port slaves replicate from
  int64_t lease_ttl_ms = 3000;        // rounded up to whole seconds
  int64_t keepalive_interval_ms = 1000;
  int64_t poll_interval_ms = 200;
  int64_t max_time_slave_not_catchup_ms = 15000;
  int min_in_sync_replicas = 2;
  bool elect_unclean = false;
  int64_t etcd_timeout_ms = 500;
};

struct FailoverRole {
  enum class Kind { kCandidate, kMaster, kSlave };
  Kind kind = Kind::kCandidate;  // candidate: no master known; serves as a slave without a master
  int64_t epoch = 0;             // the master epoch this role belongs to
  int64_t master_id = 0;
  std::string master_address;
  std::string master_ha_address;
  std::vector<broker::Epoch> master_epochs;  // the master's history, its own epoch last
  int64_t truncate_to = -1;                  // slave: cut the log here before following
  std::vector<int64_t> in_sync;              // master: the other members of the in-sync set
  uint64_t generation = 0;                   // grows at every change the core must restart for
};

// What the running broker core lends the agent; set after the core started, cleared before it
// stops. Every function must be quick and thread-safe.
struct FailoverHooks {
  std::function<int64_t()> durable_end;               // the commit log's durable end
  std::function<void()> stop_replication;             // slave: stop following (an election starts)
  std::function<std::vector<ha::SlaveInfo>()> slaves;  // master: its slave connections
  std::function<bool(int64_t)> try_add_in_sync;        // master: HaMaster::try_add_in_sync
  std::function<void(std::vector<int64_t>)> set_in_sync;  // master: the set etcd records
};

class FailoverAgent {
 public:
  // local_epochs: this broker's epoch file as it is on disk now.
  FailoverAgent(FailoverOptions options, std::function<std::vector<broker::Epoch>()> local_epochs);
  ~FailoverAgent();
  FailoverAgent(const FailoverAgent&) = delete;
  FailoverAgent& operator=(const FailoverAgent&) = delete;

  void start();
  // Stops the threads and revokes the lease, so that a cleanly stopped master is replaced at once.
  void stop();

  FailoverRole role() const;
  // Waits until the role's generation differs from `generation`, or timeout_ms; returns the role.
  FailoverRole wait_role_change(uint64_t generation, int64_t timeout_ms) const;
  bool may_acknowledge(int64_t epoch) const;
  void set_hooks(FailoverHooks hooks);
  void clear_hooks();
  // For HOLDFAST_HA_STATUS: member id, lease, role, epoch, master, in-sync set, members.
  std::string status_json() const;

 private:
  struct GroupView;
  void keepalive_loop();
  void control_loop();
  void control_round(ha::EtcdClient& etcd);
  void set_role(FailoverRole next, bool restart);
  void maintain_in_sync(ha::EtcdClient& etcd, const GroupView& view);
  void elect(ha::EtcdClient& etcd, const GroupView& view);
  std::string key(const std::string& name) const;
  int64_t now_ms() const;

  const FailoverOptions options_;
  const std::function<std::vector<broker::Epoch>()> local_epochs_;
  const int64_t ttl_seconds_;
  const int64_t margin_ms_;

  std::atomic<bool> stop_{false};
  std::thread keepalive_;
  std::thread control_;
  std::unique_ptr<ha::EtcdClient> lease_etcd_;
  std::unique_ptr<ha::EtcdClient> control_etcd_;

  std::atomic<int64_t> lease_id_{0};
  std::atomic<int64_t> lease_valid_until_ms_{0};  // monotonic
  std::atomic<int64_t> master_epoch_{0};          // epoch this broker is master of (0: none)

  mutable std::mutex mu_;
  mutable std::condition_variable role_cv_;
  FailoverRole role_;
  std::mutex hooks_mu_;  // held while a hook runs: clear_hooks() waits for it
  FailoverHooks hooks_;
  std::string last_error_;
  std::string view_json_;          // the last group state read from etcd, for status
  int64_t published_lease_ = 0;    // lease the member key was last put with
  bool candidate_published_ = false;
  int64_t candidate_since_ms_ = 0;
  std::map<int64_t, int64_t> last_in_sync_ms_;  // master: member -> last time it was caught up
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
};

}  // namespace holdfast
