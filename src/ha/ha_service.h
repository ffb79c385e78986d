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

  // SYNC_MASTER (facts §7.2): `done` is called exactly once — kOk when a connected slave has
  // acknowledged `offset` (under a SYNC_FLUSH slave: durable there); kSlaveNotAvailable at once
  // when no slave is connected or the best one is more than slave_fallbehind_max behind the
  // master's log; kFlushSlaveTimeout after timeout_ms (or at stop()). Every acknowledgement wakes
  // all the waiters it covers together: one round trip serves every put waiting for it. `done`
  // runs on a thread of this object and must not block.
  void wait_replicated(int64_t offset, int64_t timeout_ms, std::function<void(PutStatus)> done);

 private:
  struct Slave;
  struct Waiter {
    int64_t deadline_ms;
    std::function<void(PutStatus)> done;
  };
  void accept_loop();
  void serve(std::shared_ptr<Slave> slave);
  void on_ack(int64_t ack);
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
};

class HaSlave {
 public:
  HaSlave(MessageStore* store, std::string master_address, HaOptions options);
  ~HaSlave();
  void start();
  void stop();
  // Connections made so far (a reconnect after a failure counts).
  int64_t connections() const { return connections_.load(); }

 private:
  void loop();
  // One connection's life; returns why it ended.
  Status run_once();

  MessageStore* const store_;
  const std::string master_address_;
  const HaOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> connections_{0};
  std::atomic<int> fd_{-1};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread thread_;
};

}  // namespace holdfast::ha
