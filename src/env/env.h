// Env: the only way Holdfast touches files and clocks, so that FaultEnv can see every byte and
// every sync, and tests can run on a fake clock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace holdfast {

// An open file addressed by offset (pread/pwrite style). Not thread-safe for concurrent writes
// to overlapping ranges; concurrent read_at calls and writes to disjoint ranges are allowed.
//
// Promises: write_at returning OK means the bytes are visible to later read_at calls on any
// handle of this file in this process and survive a process crash (page cache), but NOT a power
// loss. Only a later successful sync() makes them survive a power loss. A failed sync() leaves the
// durability of earlier writes unknown: callers must not retry and report success.
class File {
 public:
  virtual ~File() = default;
  // Writes all n bytes at offset, extending the file if needed.
  virtual Status write_at(uint64_t offset, const char* data, size_t n) = 0;
  // Reads up to n bytes at offset into scratch; *read < n only at end of file.
  virtual Status read_at(uint64_t offset, size_t n, char* scratch, size_t* read) const = 0;
  // fdatasync: data and the metadata needed to read it (size) reach stable storage.
  virtual Status sync() = 0;
  // Sets the file size (shrinks or extends with zeros).
  virtual Status truncate(uint64_t size) = 0;
  // Reserves space so that writes below `size` cannot fail for lack of space; the file size
  // becomes at least `size` and the new range reads as zeros.
  virtual Status allocate(uint64_t size) = 0;
  virtual Result<uint64_t> size() const = 0;
  virtual const std::string& path() const = 0;
};

struct DiskUsage {
  uint64_t total_bytes = 0;
  uint64_t available_bytes = 0;  // free for an unprivileged writer
  uint64_t free_bytes = 0;       // free including the blocks reserved for root
  // The used share as RocketMQ computes it for its disk ratios: (total - free) / total, where
  // free counts the root reserve (Java's File.getFreeSpace).
  double used_ratio() const {
    return total_bytes == 0 ? 0.0 : 1.0 - static_cast<double>(free_bytes) / total_bytes;
  }
};

// A held exclusive lock on a file (released by destruction).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode { kCreateIfMissing, kMustExist };

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide PosixEnv.
  static Env* posix();

  virtual Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) = 0;
  virtual bool file_exists(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, without "." and "..".
  virtual Result<std::vector<std::string>> list_dir(const std::string& path) = 0;
  // Creates the directory and any missing parents, each new one durably (its parent directory is
  // synced after the mkdir); OK if it exists.
  virtual Status create_dirs(const std::string& path) = 0;
  virtual Status remove_file(const std::string& path) = 0;
  // Removes an empty directory.
  virtual Status remove_dir(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)); durable only after sync_dir of the parent.
  virtual Status rename_file(const std::string& from, const std::string& to) = 0;
  // fsyncs a directory so that creations, removals and renames in it survive a power loss.
  virtual Status sync_dir(const std::string& path) = 0;
  virtual Result<uint64_t> file_size(const std::string& path) = 0;
  // Last modification time of a file, in ms since the epoch.
  virtual Result<int64_t> file_mtime_ms(const std::string& path) = 0;
  virtual Result<DiskUsage> disk_usage(const std::string& path) = 0;
  // Takes an exclusive lock; fails with kBusy if another process holds it.
  virtual Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) = 0;

  // Wall clock, ms since the epoch (store timestamps, retention).
  virtual int64_t now_ms() = 0;
  // Monotonic clock in microseconds (deadlines, latency).
  virtual int64_t now_micros_monotonic() = 0;
  virtual void sleep_micros(int64_t micros) = 0;
};

// Helpers on top of Env.
Result<std::string> read_file_to_string(Env* env, const std::string& path);
// Writes `contents` to path atomically and durably: temp file, sync, rename, sync parent dir.
Status write_file_atomically(Env* env, const std::string& path, const std::string& contents);
std::string parent_dir(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace holdfast
