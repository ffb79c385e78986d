// FaultEnv: an in-memory file system for crash tests. It remembers what was synced and, on
// crash(), forgets the rest — the way a power loss would — and can inject ENOSPC and I/O errors.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "env/env.h"

namespace holdfast {

// What crash() does to bytes that were written but not covered by a successful sync().
enum class CrashMode {
  kDropUnsynced,   // every unsynced byte reverts to its last synced content (or disappears)
  kTearTail,       // a random prefix of the unsynced changes survives, then zeros or garbage
};

// Thread-safe (one internal mutex). Paths are plain strings; directories are implicit but
// create_dirs/sync_dir are tracked so that a file whose directory entry was never synced
// vanishes at crash() (as do renames and removals not followed by sync_dir of the parent).
//
// The clock is fake: now_ms() starts at a fixed epoch and moves only by advance_clock() and
// sleep_micros(); now_micros_monotonic() moves with it.
class FaultEnv final : public Env {
 public:
  explicit FaultEnv(uint64_t seed = 1);
  ~FaultEnv() override;

  // --- fault controls (callable from any thread) ---
  // Simulates a power loss: unsynced data and unsynced directory entries are lost per `mode`.
  // Open File handles stay usable afterwards but point at the post-crash contents; tests normally
  // destroy the store before crashing or reopen afterwards.
  void crash(CrashMode mode);
  // Writes and allocations that would make the sum of all file sizes exceed `bytes` fail with
  // ENOSPC (StatusCode::kNoSpace). 0 = unlimited. Also reported by disk_usage() as total.
  void set_space_limit(uint64_t bytes);
  // The next write_at (any file) fails with EIO. Counted down by calls.
  void fail_next_write();
  // The next sync() (any file) fails with EIO; the data of that file stays unsynced.
  void fail_next_sync();
  // Every sync() of a file whose path starts with `prefix` fails with EIO (its data stays
  // unsynced) until called again with an empty prefix.
  void fail_syncs_under(const std::string& prefix);
  // Every sync() blocks until unblock_syncs() (to simulate a stalled disk).
  void block_syncs();
  void unblock_syncs();
  // The instant of a power loss for a process whose objects are still being torn down: while
  // frozen, every call that would change a file or directory (write, sync, truncate, allocate,
  // create, remove, rename, sync_dir) fails with EIO and changes nothing, and blocked syncs wake
  // up to fail. Reads still work. Tests freeze, crash(), destroy the store, then thaw.
  void set_frozen(bool frozen);
  void advance_clock(int64_t ms);
  // Overrides the modification time reported for a path (retention tests).
  void set_mtime(const std::string& path, int64_t mtime_ms);
  uint64_t sync_count() const;
  uint64_t bytes_used() const;

  // --- Env ---
  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override;
  bool file_exists(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  Status create_dirs(const std::string& path) override;
  Status remove_file(const std::string& path) override;
  Status remove_dir(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Status sync_dir(const std::string& path) override;
  Result<uint64_t> file_size(const std::string& path) override;
  Result<int64_t> file_mtime_ms(const std::string& path) override;
  Result<DiskUsage> disk_usage(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override;
  int64_t now_ms() override;
  int64_t now_micros_monotonic() override;
  void sleep_micros(int64_t micros) override;

  struct Inode;  // implementation detail, public for the File implementation
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace holdfast
