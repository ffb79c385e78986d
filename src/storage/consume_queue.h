// ConsumeQueue: the per topic/queue list of 20-byte units (physical offset, size, tag hash) that
// turns a queue offset into a commit-log position (facts §6.3). Files hold a fixed number of
// units and are named by their 20-digit starting byte offset.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "env/env.h"

namespace holdfast {

struct ConsumeQueueUnit {
  int64_t physical_offset = 0;
  int32_t size = 0;
  int64_t tags_code = 0;
};

// Threads: one writer (the dispatcher) calls append/flush_writes/sync/recover/truncate/delete;
// readers call read/min_offset/max_offset concurrently.
// Promises: a unit is visible to readers (max_offset) only after flush_writes() wrote it to the
// file; it is durable only after sync(). Units are never visible past what the dispatcher was
// allowed to dispatch (the confirmed commit-log offset), which MessageStore enforces.
class ConsumeQueue {
 public:
  static constexpr int kUnitSize = 20;

  // Opens <dir> (= <root>/consumequeue/<topic>/<queue_id>), creating it if needed, and finds the
  // end of the written units in the newest file.
  static Result<std::unique_ptr<ConsumeQueue>> open(Env* env, const std::string& dir,
                                                    std::string topic, int32_t queue_id,
                                                    int64_t units_per_file);

  const std::string& topic() const { return topic_; }
  int32_t queue_id() const { return queue_id_; }
  int64_t min_offset() const { return min_offset_.load(std::memory_order_acquire); }
  // The next queue offset to be written = number of units ever written (readable ones).
  int64_t max_offset() const { return max_offset_.load(std::memory_order_acquire); }
  // Highest commit-log end (offset + size) referenced by a written unit; -1 when empty.
  int64_t max_physical_end() const { return max_physical_end_; }

  // Buffers a unit at queue_offset, which must be the next one (pending end).
  void append(int64_t queue_offset, const ConsumeQueueUnit& unit);
  int64_t pending_end() const { return pending_start_ + static_cast<int64_t>(pending_.size() / kUnitSize); }
  Status flush_writes();
  Status sync();
  bool has_unsynced() const { return !pending_.empty() || !dirty_files_.empty(); }

  // Reads up to max_units units starting at queue_offset (clamped to [min, max)).
  Status read(int64_t queue_offset, int max_units, std::vector<ConsumeQueueUnit>* out) const;

  // Crash recovery: keeps the longest prefix of units that are well formed, strictly increasing
  // in physical offset, below `durable_physical_offset` (everything below it was synced before the
  // checkpoint) and — for the last ones — confirmed by `verify` against the commit log. Returns the
  // new max offset.
  using VerifyFn = std::function<bool(int64_t queue_offset, const ConsumeQueueUnit&)>;
  Result<int64_t> recover(int64_t durable_physical_offset, const VerifyFn& verify);
  // Drops units at or after queue_offset (zeroing stale bytes so they are never read again).
  Status truncate_to(int64_t queue_offset);
  // Retention: deletes files whose every unit points below min_physical_offset and moves
  // min_offset to the first unit at or above it.
  Status delete_files_below(int64_t min_physical_offset);
  // Sets min_offset to the first unit whose physical offset is >= min_physical_offset.
  Status correct_min_offset(int64_t min_physical_offset);
  size_t file_count() const;

 private:
  ConsumeQueue(Env* env, std::string dir, std::string topic, int32_t queue_id, int64_t units_per_file)
      : env_(env), dir_(std::move(dir)), topic_(std::move(topic)), queue_id_(queue_id),
        units_per_file_(units_per_file), file_bytes_(units_per_file * kUnitSize) {}
  Status load();
  Result<std::shared_ptr<File>> file_for(int64_t byte_offset, bool create);
  Status read_units(int64_t queue_offset, int64_t count, std::vector<ConsumeQueueUnit>* out) const;

  Env* const env_;
  const std::string dir_;
  const std::string topic_;
  const int32_t queue_id_;
  const int64_t units_per_file_;
  const int64_t file_bytes_;

  mutable std::mutex files_mu_;  // guards files_ (map only)
  std::map<int64_t, std::shared_ptr<File>> files_;  // by start byte offset
  bool dir_needs_sync_ = false;
  std::vector<int64_t> dirty_files_;  // writer thread only

  std::atomic<int64_t> min_offset_{0};
  std::atomic<int64_t> max_offset_{0};
  int64_t max_physical_end_ = -1;
  // Writer-thread buffer of units not yet written to the file.
  int64_t pending_start_ = 0;
  std::string pending_;
};

}  // namespace holdfast
