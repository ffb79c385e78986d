// EpochFile: a broker's replication history, the list of <epoch, start offset> entries of the
// masters its commit log came from (the shape of RocketMQ 5's epoch file, facts §7.4), kept in
// <storePathRootDir>/config/epochs.json ({"epochs":[[epoch,startOffset],...]}).
//
// A master appends <last epoch + 1, its log end> each time it starts: bytes a master writes
// belong to its current epoch. A slave keeps a copy of its master's list. Comparing the two tells
// whether the slave holds bytes its master lost (a master restarted with a shorter log, e.g. an
// ASYNC_FLUSH master after a power loss): those bytes may be acknowledged messages that exist only
// on the slave, and replicating the master's new bytes over them would destroy them.
//
// Thread-safe. A completed append/replace is durable (temp file, fsync, rename, directory fsync).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "broker/config_file.h"
#include "env/env.h"

namespace holdfast::broker {

struct Epoch {
  int64_t epoch = 0;
  int64_t start_offset = 0;
  friend bool operator==(const Epoch&, const Epoch&) = default;
};

// Whether a slave whose log ends at slave_end and was written under slave_epochs continues the
// master's log (master_epochs, which ends at master_end). "" when it does (or cannot be told: an
// empty slave, or a slave log older than epoch tracking); otherwise why not, for the operator.
std::string epoch_divergence(const std::vector<Epoch>& master_epochs, int64_t master_end,
                             const std::vector<Epoch>& slave_epochs, int64_t slave_end);

// Automatic failover: where a member whose log was written under local_epochs must cut its log
// before it follows a master with master_epochs. Finds the newest entry both lists hold (same
// epoch, same start); the master's next entry starts where the common history ends, and
// everything the member holds from there on was written by a master that was deposed before it
// replicated: no broker acknowledged it (SYNC_MASTER). Returns that offset; -1 when nothing needs
// cutting (the common entry is the master's newest, or the member has no history yet); an error
// when the lists share no entry (the member's log belongs to another history).
Result<int64_t> epoch_truncation_point(const std::vector<Epoch>& master_epochs, const std::vector<Epoch>& local_epochs);

std::string encode_epochs(const std::vector<Epoch>& epochs);
Result<std::vector<Epoch>> decode_epochs(const std::string& text);

class EpochFile {
 public:
  EpochFile(Env* env, std::string path);
  Status load();
  std::vector<Epoch> entries() const;
  // Master start: appends <last + 1, start_offset> and returns the new epoch.
  Result<int64_t> begin_epoch(int64_t start_offset);
  // Slave: becomes a copy of the master's list (nothing written when equal).
  Status replace(const std::vector<Epoch>& epochs);

 private:
  Env* const env_;
  const std::string path_;
  mutable std::mutex mu_;
  std::vector<Epoch> entries_;
  ConfigFileWriter file_;
};

}  // namespace holdfast::broker
