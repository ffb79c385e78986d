// IndexService: the message index of a store, the set of IndexFiles under <root>/index/ (facts
// §6.4). It answers "which records carry topic#key" for QUERY_MESSAGE and survives crashes by
// cutting back to what the last checkpoint recorded.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "env/env.h"
#include "storage/index_file.h"

namespace holdfast {

// What a checkpoint records so that crash recovery knows which index entries are durable.
// entry_count is the number of used entries of the file (indexCount - 1), not the raw indexCount.
struct IndexDurablePoint {
  std::string file_name;            // the active file at the time; empty = no file
  uint32_t entry_count = 0;         // entries 1..entry_count of that file are durable
  int64_t end_physical_offset = -1;  // every record at or below it is fully indexed
};

// Threads: one writer thread (the dispatcher) calls add, flush_writes, sync, recover_to and
// delete_files_below; any thread may call query, durable_point, max_indexed_physical_offset and
// file_count. A shared mutex guards what readers see; the writer never holds it across fdatasync,
// and holds it exclusively around file I/O only when a full file rolls over (once per file).
//
// Watermarks: added (in memory, visible to query) >= written (flush_writes: entries in the page
// cache) >= synced (sync: survives a power loss; durable_point describes it). On disk, the active
// file's header and slot table describe the last sync (or roll-over), so the file is consistent
// at every moment; later entries sit beyond its indexCount until the next sync.
// A failed write is retryable (the data stays in memory and the next flush writes it again). A
// failed fdatasync fences the writer side: every later add/flush_writes/sync returns that error.
class IndexService {
 public:
  // Opens <root_dir>/index/ (created if missing). Files are sorted by name; the newest one is
  // loaded as the active file (header and slot table, trusted as written), older ones are read on
  // demand. Fails with Corruption when a file is larger than `options` imply.
  static Result<std::unique_ptr<IndexService>> open(Env* env, const std::string& root_dir,
                                                    const IndexOptions& options);
  // Does no I/O: entries not yet flushed are dropped; call sync() first for a clean stop.
  ~IndexService();

  // Adds one entry "topic#key" per distinct non-empty key of the record at `physical_offset`.
  // Records must come in increasing offset order; one at or below max_indexed_physical_offset()
  // is ignored (idempotent re-dispatch). OK = visible to query() at once, in memory only; the
  // only I/O is a roll-over to a new file when the active one is full. On error the record
  // counts as not added (re-adding it may duplicate the keys that did get in, which query()
  // folds together).
  Status add(std::string_view topic, const std::vector<std::string_view>& keys,
             int64_t physical_offset, int64_t store_timestamp_ms);
  // OK = every entry added so far is written to its file (page cache) with one write. The
  // active file's slot table and header are not: they are written by sync() (the dirty 4 KiB
  // pages only) and when the file is sealed. Queries never depend on this call (they read the
  // in-memory state), and crash recovery rebuilds the slot table from the entries.
  Status flush_writes();
  // OK = flush_writes(), the active file's dirty slot pages and header written, then fdatasync of
  // every file written since the last sync (including files sealed meanwhile) and of the
  // directory if files were created: everything added before the call survives a power loss, a
  // clean reopen finds it, and durable_point() describes it.
  Status sync();
  // The state covered by the last successful sync() (after open: what open() found; after
  // recover_to: the recovered point).
  IndexDurablePoint durable_point() const;

  // Physical offsets of records indexed under topic#key whose store time may lie in
  // [begin_ms, end_ms], newest first, distinct, at most min(max_num, 64). Sees every add() that
  // returned before the call. Times are stored with one-second precision: a record stored up to
  // 999 ms outside the range can be returned, none inside it is missed. Hash collisions are
  // possible: callers must re-check the key (and time) on the record.
  Result<std::vector<int64_t>> query(std::string_view topic, std::string_view key, int max_num,
                                     int64_t begin_ms, int64_t end_ms) const;

  // Crash recovery, once, right after open() and before any add(). `point` comes from the last
  // checkpoint (empty file_name = nothing durable). OK = files newer than point.file_name are
  // deleted, that file is cut back to point.entry_count entries (later ones are never followed),
  // its slot table and header are rebuilt from those entries, and all of it is synced; add()
  // then accepts records above point.end_physical_offset. Corruption when the named file is
  // missing or its synced entries do not form valid chains (the index must then be rebuilt).
  Status recover_to(const IndexDurablePoint& point);

  // Retention: deletes, oldest first, every file other than the active one whose entries all
  // point below min_physical_offset (header endPhyOffset < min). OK = they are gone from queries
  // and from disk (the directory is not synced: a file that comes back after a power loss is
  // merely deleted again).
  Status delete_files_below(int64_t min_physical_offset);

  // Highest physical offset add() has accepted (-1 = none); later records at or below it are
  // ignored.
  int64_t max_indexed_physical_offset() const { return max_indexed_.load(std::memory_order_acquire); }
  size_t file_count() const;
  // Names of the files, oldest first (tests, tools).
  std::vector<std::string> file_names() const;
  const std::string& dir() const { return dir_; }

 private:
  IndexService(Env* env, std::string dir, const IndexOptions& options)
      : env_(env), dir_(std::move(dir)), options_(options) {}

  IndexFile* active() const { return files_.empty() ? nullptr : files_.back().get(); }
  Status roll_locked();
  std::string next_file_name() const;
  IndexDurablePoint current_point() const;

  Env* const env_;
  const std::string dir_;
  const IndexOptions options_;

  mutable std::shared_mutex mu_;
  // Oldest first; back() is the active file. Changed by the writer under mu_ (exclusive).
  std::vector<std::shared_ptr<IndexFile>> files_;
  IndexDurablePoint durable_;  // guarded by mu_
  std::atomic<int64_t> max_indexed_{-1};

  // Writer-thread state (no lock needed: readers never look at it).
  std::vector<std::shared_ptr<IndexFile>> unsynced_sealed_;  // sealed, written, not yet synced
  bool active_unsynced_ = false;
  bool dir_unsynced_ = false;
  bool added_ = false;
  Status fence_;  // first fdatasync failure
  std::string key_buffer_;
  std::vector<int32_t> key_hashes_;
};

}  // namespace holdfast
