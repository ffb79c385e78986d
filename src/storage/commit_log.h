// CommitLog: the one append-only log of a broker, split into fixed-size preallocated segment
// files named by their 20-digit start offset (facts §6.1). It moves bytes; MessageStore decides
// what the bytes are and when they count as written, flushed and confirmed.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "env/env.h"

namespace holdfast {

std::string offset_file_name(int64_t offset);  // 20-digit zero-padded decimal
bool parse_offset_file_name(const std::string& name, int64_t* offset);

// Threads: one appender calls write(); any thread may read() or sync_through() (the flusher, and
// the checkpoint under ASYNC_FLUSH; concurrent calls are serialised, see sync_mu_).
// Promises: write() OK = the bytes are in the page cache and readable, not yet durable;
// sync_through(x) OK = every byte written before the call below offset x is durable, including the
// directory entries of new segments. A failed write or sync is reported and never retried here.
class CommitLog {
 public:
  struct Segment {
    int64_t start = 0;
    std::shared_ptr<File> file;
    std::atomic<bool> dirty{false};          // written since the last successful sync
    std::atomic<bool> needs_dir_sync{false};  // created, directory entry not yet synced
  };

  // zero_fill: new segments are written with zeros and synced once before use, so that later
  // fdatasyncs overwrite allocated blocks instead of converting unwritten extents (about half
  // the cost per fdatasync on ext4; docs/benchmarks.md).
  static Result<std::unique_ptr<CommitLog>> open(Env* env, const std::string& dir,
                                                 int64_t segment_size, bool zero_fill = false);

  int64_t segment_size() const { return segment_size_; }
  int64_t segment_start(int64_t offset) const { return offset - offset % segment_size_; }
  // Writes n bytes at absolute offset; [offset, offset+n) must lie inside one segment.
  // Creates (and preallocates) the segment on first use.
  Status write(int64_t offset, const char* data, size_t n);
  Status sync_through(int64_t offset);
  // Reads up to n bytes at offset, never crossing a segment end. *read = 0 if no segment holds it.
  Status read(int64_t offset, size_t n, char* out, size_t* read) const;
  // Start offset of the oldest segment, or -1 when there is none.
  int64_t min_segment_start() const;
  // Start offset of the newest segment, or -1.
  int64_t max_segment_start() const;
  std::vector<int64_t> segment_starts() const;
  // Crash recovery: everything at or after `end` is erased: the rest of its segment is zeroed
  // where it is not already zero, later segments are deleted; then synced.
  Status truncate_after(int64_t end, int64_t* erased_bytes = nullptr);
  // Retention: removes the segment starting at `start` (never the newest one).
  Status delete_segment(int64_t start);
  std::string segment_path(int64_t start) const;
  // Creates the segment that would hold `offset` ahead of time (so the appender does not pay).
  Status preallocate(int64_t offset);

 private:
  CommitLog(Env* env, std::string dir, int64_t segment_size, bool zero_fill)
      : env_(env), dir_(std::move(dir)), segment_size_(segment_size), zero_fill_(zero_fill) {}
  Result<std::shared_ptr<Segment>> get_or_create(int64_t start);
  std::shared_ptr<Segment> find(int64_t start) const;

  Env* const env_;
  const std::string dir_;
  const int64_t segment_size_;
  const bool zero_fill_;
  std::mutex create_mu_;   // serialises segment creation (appender vs. preallocation thread)
  // Serialises sync_through(): a caller clears a segment's `dirty` flag before its fdatasync, so
  // without this a second caller could see the flag clear while that fdatasync is still running
  // (or about to fail) and report bytes durable that are not.
  std::mutex sync_mu_;
  mutable std::mutex mu_;  // guards segments_ (the map, not file I/O)
  std::map<int64_t, std::shared_ptr<Segment>> segments_;
};

}  // namespace holdfast
