// IndexFile: one fixed-size RocketMQ index file (header, hash-slot table, 20-byte entries chained
// per bucket), see docs/format/index.md. The active file keeps its slot table and unwritten
// entries in memory so that adding a key costs no system call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "env/env.h"
#include "storage/index_format.h"

namespace holdfast {

// Geometry of every index file of a store. Changing it makes existing files unreadable (their
// size no longer matches), exactly as in RocketMQ.
struct IndexOptions {
  uint32_t hash_slot_count = index_format::kDefaultHashSlotCount;  // maxHashSlotNum
  uint32_t max_index_count = index_format::kDefaultMaxIndexCount;  // maxIndexNum (entry 0 unused)
};
Status validate_index_options(const IndexOptions& options);

// abs(Java hashCode) of an index key ("topic#key"); 0 when the hash is INT_MIN, as RocketMQ.
int32_t index_key_hash(std::string_view index_key);
// yyyyMMddHHmmssSSS in local time.
std::string index_file_name(int64_t epoch_ms);
// Inverse of index_file_name; false unless `name` is 17 digits forming a valid local time.
bool parse_index_file_name(const std::string& name, int64_t* epoch_ms);

struct IndexHeader {
  int64_t begin_timestamp_ms = 0;
  int64_t end_timestamp_ms = 0;  // Holdfast: the newest store time in the file (see docs)
  int64_t begin_physical_offset = 0;
  int64_t end_physical_offset = 0;
  int32_t used_slot_count = 0;  // RocketMQ's "hashSlotCount": slots holding at least one entry
  uint32_t index_count = index_format::kFirstIndex;  // next entry index

  uint32_t entry_count() const { return index_count - index_format::kFirstIndex; }
  void encode(char* out) const;  // index_format::kHeaderSize bytes
  static IndexHeader decode(const char* in);
};

struct IndexEntry {
  int32_t key_hash = 0;
  int64_t physical_offset = 0;
  int32_t time_diff_s = 0;
  uint32_t prev_index = 0;

  void encode(char* out) const;  // index_format::kEntrySize bytes
  static IndexEntry decode(const char* in);
};

// One lookup: entries of `key_hash` whose store time may lie in [begin_ms, end_ms].
struct IndexQuery {
  int32_t key_hash = 0;
  int64_t begin_ms = 0;
  int64_t end_ms = 0;
  size_t max_num = 0;
};

// Ownership and threads: owned (shared) by IndexService. Writer-side methods run on the single
// writer thread; the service holds its exclusive lock around the ones that change what readers
// look at (add, mark_entries_written, seal, rebuild). select_in_memory needs the service's shared lock;
// read_slot and walk_on_disk touch only bytes that never change again (sealed files, written
// entries) and need no lock.
class IndexFile {
 public:
  // Creates `path` at its full size (sparse) with an empty header; the file is active.
  static Result<std::unique_ptr<IndexFile>> create(Env* env, const std::string& path,
                                                   const IndexOptions& options);
  // Opens an existing file reading only its header; the file is sealed until activate() or
  // rebuild(). A file larger than the geometry is Corruption; a shorter one (a creation that did
  // not survive a crash) reads as zeros past its end.
  static Result<std::unique_ptr<IndexFile>> open(Env* env, const std::string& path,
                                                 const IndexOptions& options);

  const std::string& name() const { return name_; }
  const std::string& path() const { return file_->path(); }
  const IndexHeader& header() const { return header_; }
  bool has_full_size() const { return size_ == index_format::file_size(slot_count_, max_index_count_); }
  bool full() const { return header_.index_count >= max_index_count_; }
  bool active() const { return !slots_.empty(); }

  // --- writer thread ---
  // Clean open: loads the slot table as written, trusting the header. The file becomes active.
  Status activate();
  // Crash recovery: keeps entries 1..entry_count (which must have been synced), checks that they
  // form valid chains with offsets <= max_physical_offset, rebuilds the slot table and header from
  // them and writes both. Later entries are ignored and overwritten by later adds. Not synced.
  // Sealed or active; the file is active afterwards.
  Status rebuild(uint32_t entry_count, int64_t max_physical_offset);
  // Appends one entry in memory. Requires active() && !full() and key_hash >= 0.
  void add(int32_t key_hash, int64_t physical_offset, int64_t store_timestamp_ms);
  // Writes the entries added since the last call with one write. The header and slot table on
  // disk keep describing the state of the last write_table(), so the file is always consistent:
  // entries at or above the header's indexCount are ignored by every reader. Readers keep using
  // the in-memory copy until mark_entries_written(). On failure nothing is lost: the next call
  // writes the same bytes again.
  Status write_entries();
  // After write_entries() succeeded: drops the in-memory copy of the written entries.
  void mark_entries_written();
  // Writes the dirty slot pages (one write per run of consecutive 4 KiB pages), then the header.
  // Requires the entries to be written (the header must not count entries the file lacks).
  Status write_table();
  bool has_unwritten_entries() const { return !pending_.empty(); }
  bool has_unwritten_table() const { return !dirty_pages_.empty() || header_dirty_; }
  // Frees the in-memory slot table; the file is read from disk from now on. Requires everything
  // written.
  void seal();
  Status sync() { return file_->sync(); }

  // --- readers ---
  // Active file, under the service's shared lock: walks the bucket of q.key_hash through the
  // entries not yet written, appending matching offsets to *out. Returns the index at which the
  // walk continues on disk, or 0 when it is over.
  uint32_t select_in_memory(const IndexQuery& q, std::vector<int64_t>* out) const;
  // Sealed file: the head of the bucket of key_hash as stored on disk (0 = empty).
  Result<uint32_t> read_slot(int32_t key_hash, const IndexHeader& header) const;
  // Walks a chain through written entries starting at `index`, using a header snapshot.
  Status walk_on_disk(const IndexQuery& q, const IndexHeader& header, uint32_t index,
                      std::vector<int64_t>* out) const;

 private:
  IndexFile(std::string name, std::unique_ptr<File> file, const IndexOptions& options, uint64_t size)
      : name_(std::move(name)), file_(std::move(file)), slot_count_(options.hash_slot_count),
        max_index_count_(options.max_index_count), size_(size) {}

  uint32_t slot_get(uint32_t slot) const;
  void slot_set(uint32_t slot, uint32_t index);
  void reset_memory();
  Status ensure_full_size();
  Status write_header();

  const std::string name_;
  const std::unique_ptr<File> file_;
  const uint32_t slot_count_;
  const uint32_t max_index_count_;
  uint64_t size_;

  IndexHeader header_;
  // Bytes [0, 8) of the header (beginTimestamp) as last written. The field is written once per
  // file lifetime and then never rewritten, so that a torn unsynced header write after a
  // checkpoint cannot damage it: crash recovery cannot derive it from the entries.
  int64_t written_begin_timestamp_ms_ = 0;
  bool header_dirty_ = false;

  // Active file only. Slots hold big-endian values, the on-disk bytes, so dirty pages are written
  // straight from this table.
  std::vector<uint32_t> slots_;
  std::vector<uint8_t> page_dirty_;     // one flag per kPageSize page of the file's slot area
  std::vector<uint32_t> dirty_pages_;   // the pages flagged, unordered
  std::string pending_;                 // encoded entries from index flushed_index_ on
  uint32_t flushed_index_ = index_format::kFirstIndex;  // first entry not yet written
};

}  // namespace holdfast
