// Commit-log replication on RocketMQ's classic HA protocol (facts §7.3), over plain TCP.
//
// Slave -> master: its commit-log offset, int64 big-endian: first where its log ends (the master
// starts sending there), then, after every batch it took and at least every heartbeat interval,
// the offset that is durable on it (a SYNC_FLUSH slave reports only what it has fdatasync'd).
// Master -> slave, repeated: int64 physical offset, int32 body size, then that many raw
// commit-log bytes (at most transfer_batch_bytes); a header with size 0 is a heartbeat.
//
// HaMaster: one listening socket, a thread per slave connection. It sends from the slave's first
// report onwards whatever the store has confirmed, and records each slave's acknowledged offset.
// A connection is closed (logged) when the slave reports an offset beyond the master's log, or
// when nothing is read from it for housekeeping_ms. Other slaves and the store are unaffected.
// HaSlave: one thread that connects to the master, appends what it receives through
// MessageStore::append_replica (which refuses bytes that do not continue its log: the connection
// is then dropped and retried), and reports. It reconnects after any failure.
//
// Differences from RocketMQ, on purpose: a slave whose log is empty starts from offset 0 (a full
// copy), not from the master's newest segment; the slave's reports after the first are durable
// offsets, not written ones.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "storage/message_store.h"

namespace holdfast::ha {

struct HaOptions {
  int64_t heartbeat_interval_ms = 5000;   // haSendHeartbeatInterval
  int64_t housekeeping_ms = 20000;        // haHousekeepingInterval
  int64_t transfer_batch_bytes = 32768;   // haTransferBatchSize
  int64_t slave_fallbehind_max = 256LL * 1024 * 1024;  // haSlaveFallbehindMax
  // Runs each group of wait_replicated completions one acknowledgement releases (the broker batches
  // their responses into one write per connection). Default: runs them as they are.
  std::function<void(const std::function<void()>&)> completion_batch;
  // Slave: asked before every connection attempt; an error skips the attempt (logged, retried).
  // The broker checks the master's epoch history here (a master that lost bytes the slave holds).
  std::function<Status()> before_connect;
  // Automatic failover (docs/replication.md), 0 = the classic protocol. The slave opens each
  // connection with a hello, int64 big-endian each: kControllerHello, its member id, the master
  // epoch it follows. A master at epoch E serves only slaves that follow E: a slave that has moved
  // to a newer master cannot acknowledge anything to an older one (fencing).
  int64_t controller_epoch = 0;
  int64_t member_id = 0;  // slave: the member id it sends in the hello
};

constexpr int64_t kControllerHello = 0x48464354524C3031;  // "HFCTRL01"

// Controller mode, master side: the in-sync set (members besides the master that every
// acknowledgement needs) and the smallest group size that may acknowledge.
struct InSyncPolicy {
  std::vector<int64_t> members;  // slave member ids; the master is implied
  int min_in_sync_replicas = 1;  // counting the master
};

// One slave connection as the master sees it.
struct SlaveInfo {
  std::string peer;            // host:port of the slave's connection
  int64_t ack = -1;            // acknowledged (durable on the slave) offset; 0 before the first ack
  int64_t connected_ms = 0;    // wall clock
  int64_t last_ack_ms = 0;     // wall clock of the last report that moved ack (0: none yet)
  int64_t caught_up_ms = 0;    // wall clock of the last report that covered what the master held at the report before
  int64_t member_id = 0;       // controller mode: from the hello
};

class HaMaster {
 public:
  HaMaster(MessageStore* store, HaOptions options);
  ~HaMaster();
  // Listens on host:port (0 = any free port; see port()).
  Status start(const std::string& host, uint16_t port);
  void stop();
  uint16_t port() const { return port_; }
  // The largest offset any connected slave has acknowledged (-1: no slave connected).
  int64_t max_slave_ack() const;
  int connected_slaves() const;
  std::vector<SlaveInfo> slaves() const;

  // SYNC_MASTER (facts §7.2): `done` is called exactly once — kOk when a connected slave has
  // acknowledged `offset` (under a SYNC_FLUSH slave: durable there); kSlaveNotAvailable at once
  // when no slave is connected or the best one is more than slave_fallbehind_max behind the
  // master's log; kFlushSlaveTimeout after timeout_ms (or at stop()). Every acknowledgement wakes
  // all the waiters it covers together: one round trip serves every put waiting for it. `done`
  // runs on a thread of this object and must not block.
  void wait_replicated(int64_t offset, int64_t timeout_ms, std::function<void(PutStatus)> done);

  // Controller mode: an acknowledgement needs every member of the in-sync set (not just one
  // slave), and SLAVE_NOT_AVAILABLE answers at once when the set is smaller than
  // min_in_sync_replicas. set_in_sync replaces the set (callers shrink it only after the
  // coordination store has recorded the smaller set). try_add_in_sync adds a connected member
  // only if it already holds every offset this master has acknowledged (from the moment it is
  // added, acknowledgements wait for it too); false when it does not (yet).
  void set_in_sync(InSyncPolicy policy);
  bool try_add_in_sync(int64_t member_id);
  InSyncPolicy in_sync() const;
  // The highest offset every in-sync member holds (controller mode; -1 when the set is too small).
  int64_t quorum_ack() const;

 private:
  struct Slave;
  struct Waiter {
    int64_t deadline_ms;
    std::function<void(PutStatus)> done;
  };
  void accept_loop();
  void serve(std::shared_ptr<Slave> slave);
  void on_ack(int64_t ack);
  int64_t quorum_ack_locked() const;
  int64_t member_ack_locked(int64_t member_id) const;
  void complete(std::vector<std::function<void(PutStatus)>>& ready, PutStatus status);
  void timeout_loop();

  MessageStore* const store_;
  const HaOptions options_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Slave>> slaves_;
  std::multimap<int64_t, Waiter> waiters_;  // by offset
  std::condition_variable waiters_cv_;
  std::thread timer_;
  InSyncPolicy in_sync_;           // controller mode
  int64_t acknowledged_ = 0;       // controller mode: the highest offset released to waiters
};

class HaSlave {
 public:
  HaSlave(MessageStore* store, std::string master_address, HaOptions options);
  // The master's HA address is asked for before every connection attempt (empty: not known yet,
  // e.g. until the name server has told it).
  HaSlave(MessageStore* store, std::function<std::string()> master_address, HaOptions options);
  ~HaSlave();
  void start();
  void stop();
  // Connections made so far (a reconnect after a failure counts).
  int64_t connections() const { return connections_.load(); }
  // Whether a connection to the master is up and has received something within the housekeeping
  // interval; the wall-clock time of the last byte received from a master (0: never).
  bool master_connected() const { return connected_.load(); }
  int64_t last_receive_ms() const { return last_receive_ms_.load(); }
  std::string current_master() const;

 private:
  void loop();
  // One connection's life; returns why it ended.
  Status run_once();

  MessageStore* const store_;
  const std::function<std::string()> master_address_;
  const HaOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> connections_{0};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> last_receive_ms_{0};
  mutable std::mutex current_mu_;
  std::string current_;
  std::atomic<int> fd_{-1};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread thread_;
};

}  // namespace holdfast::ha
