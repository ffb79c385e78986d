// IndexFile: header/entry coding, the in-memory active state, write-back of dirty slot pages,
// crash-recovery rebuild and the bucket-chain walk shared by all lookups.
#include "storage/index_file.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <ctime>

#include "base/coding.h"
#include "base/hash.h"

namespace holdfast {
namespace layout = index_format;

namespace {

// Store timestamps are not strictly ordered by physical offset (a clock step, or a stamp taken
// before the append lock), so a chain walk stops only once an entry is this much older than the
// range asked for; RocketMQ stops at the first older entry.
constexpr int64_t kChainTimeSlackMs = 60'000;

// Entries to read per call while rebuilding the slot table (1.25 MiB).
constexpr uint32_t kRebuildBatchEntries = 65'536;

enum class Visit { kNext, kDone };

// Applies one chain entry to a query. timeDiff has whole-second precision, so the entry's store
// time lies in [time, time + 999]: it matches when that window meets [begin, end] (never a false
// negative; a false positive is at most 999 ms outside the range).
Visit visit_entry(const IndexQuery& q, const IndexHeader& h, const IndexEntry& e,
                  std::vector<int64_t>* out) {
  if (e.time_diff_s < 0) return Visit::kDone;  // not something we wrote: stop following it
  const int64_t time = h.begin_timestamp_ms + e.time_diff_s * layout::kTimeDiffUnitMs;
  const int64_t latest = time + layout::kTimeDiffUnitMs - 1;
  if (e.key_hash == q.key_hash && time <= q.end_ms && latest >= q.begin_ms) {
    // The same record can appear twice in a row (two keys of one record in one bucket, or a
    // record re-added after a failed roll); results are in descending offset order.
    if (out->empty() || out->back() != e.physical_offset) out->push_back(e.physical_offset);
    if (out->size() >= q.max_num) return Visit::kDone;
  }
  if (latest + kChainTimeSlackMs < q.begin_ms) return Visit::kDone;
  return Visit::kNext;
}

// A chain must go strictly backwards; anything else (stale or damaged bytes) ends it.
bool valid_prev(uint32_t prev, uint32_t index) {
  return prev != layout::kInvalidIndex && prev < index;
}

std::string base_name(const std::string& path) {
  auto pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

}  // namespace

Status validate_index_options(const IndexOptions& o) {
  if (o.hash_slot_count < 1 || o.hash_slot_count > INT32_MAX) {
    return Status::invalid_argument("index hash_slot_count must be in [1, 2^31-1]");
  }
  if (o.max_index_count < 2 || o.max_index_count > INT32_MAX) {
    return Status::invalid_argument("index max_index_count must be in [2, 2^31-1]");
  }
  return Status::ok();
}

int32_t index_key_hash(std::string_view index_key) {
  const int32_t h = java_string_hash(index_key);
  if (h == INT32_MIN) return 0;  // Math.abs overflows; RocketMQ maps it to 0
  return h < 0 ? -h : h;
}

std::string index_file_name(int64_t epoch_ms) {
  int64_t secs = epoch_ms / 1000;
  int64_t ms = epoch_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  const time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  localtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02d%02d%02d%02d%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

bool parse_index_file_name(const std::string& name, int64_t* epoch_ms) {
  if (name.size() != static_cast<size_t>(layout::kFileNameLength)) return false;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
  }
  auto field = [&name](size_t pos, size_t len) { return std::stoi(name.substr(pos, len)); };
  struct tm tm {};
  tm.tm_year = field(0, 4) - 1900;
  tm.tm_mon = field(4, 2) - 1;
  tm.tm_mday = field(6, 2);
  tm.tm_hour = field(8, 2);
  tm.tm_min = field(10, 2);
  tm.tm_sec = field(12, 2);
  tm.tm_isdst = -1;
  const time_t secs = mktime(&tm);
  if (secs == static_cast<time_t>(-1)) return false;
  const int64_t ms = static_cast<int64_t>(secs) * 1000 + field(14, 3);
  // mktime normalizes out-of-range fields; only a round trip proves the name was a real time.
  if (index_file_name(ms) != name) return false;
  *epoch_ms = ms;
  return true;
}

void IndexHeader::encode(char* p) const {
  put_be64(p + layout::kBeginTimestampPos, static_cast<uint64_t>(begin_timestamp_ms));
  put_be64(p + layout::kEndTimestampPos, static_cast<uint64_t>(end_timestamp_ms));
  put_be64(p + layout::kBeginPhysicalOffsetPos, static_cast<uint64_t>(begin_physical_offset));
  put_be64(p + layout::kEndPhysicalOffsetPos, static_cast<uint64_t>(end_physical_offset));
  put_be32(p + layout::kUsedSlotCountPos, static_cast<uint32_t>(used_slot_count));
  put_be32(p + layout::kIndexCountPos, index_count);
}

IndexHeader IndexHeader::decode(const char* p) {
  IndexHeader h;
  h.begin_timestamp_ms = get_be64s(p + layout::kBeginTimestampPos);
  h.end_timestamp_ms = get_be64s(p + layout::kEndTimestampPos);
  h.begin_physical_offset = get_be64s(p + layout::kBeginPhysicalOffsetPos);
  h.end_physical_offset = get_be64s(p + layout::kEndPhysicalOffsetPos);
  h.used_slot_count = get_be32s(p + layout::kUsedSlotCountPos);
  h.index_count = get_be32(p + layout::kIndexCountPos);
  return h;
}

void IndexEntry::encode(char* p) const {
  put_be32(p + layout::kEntryKeyHashPos, static_cast<uint32_t>(key_hash));
  put_be64(p + layout::kEntryPhysicalOffsetPos, static_cast<uint64_t>(physical_offset));
  put_be32(p + layout::kEntryTimeDiffPos, static_cast<uint32_t>(time_diff_s));
  put_be32(p + layout::kEntryPrevIndexPos, prev_index);
}

IndexEntry IndexEntry::decode(const char* p) {
  IndexEntry e;
  e.key_hash = get_be32s(p + layout::kEntryKeyHashPos);
  e.physical_offset = get_be64s(p + layout::kEntryPhysicalOffsetPos);
  e.time_diff_s = get_be32s(p + layout::kEntryTimeDiffPos);
  e.prev_index = get_be32(p + layout::kEntryPrevIndexPos);
  return e;
}

Result<std::unique_ptr<IndexFile>> IndexFile::create(Env* env, const std::string& path,
                                                     const IndexOptions& options) {
  HF_RETURN_IF_ERROR(validate_index_options(options));
  HF_ASSIGN_OR_RETURN(auto file, env->open_file(path, OpenMode::kCreateIfMissing));
  const uint64_t size = layout::file_size(options.hash_slot_count, options.max_index_count);
  // Sparse, like a fresh RocketMQ mapped file: untouched entries and slots read as zeros.
  Status st = file->truncate(0);
  if (st.is_ok()) st = file->truncate(size);
  if (!st.is_ok()) {
    file.reset();
    (void)env->remove_file(path);
    return st;
  }
  std::unique_ptr<IndexFile> f(new IndexFile(base_name(path), std::move(file), options, size));
  f->reset_memory();
  f->header_dirty_ = true;
  return f;
}

Result<std::unique_ptr<IndexFile>> IndexFile::open(Env* env, const std::string& path,
                                                   const IndexOptions& options) {
  HF_RETURN_IF_ERROR(validate_index_options(options));
  HF_ASSIGN_OR_RETURN(auto file, env->open_file(path, OpenMode::kMustExist));
  HF_ASSIGN_OR_RETURN(uint64_t size, file->size());
  const uint64_t expected = layout::file_size(options.hash_slot_count, options.max_index_count);
  if (size > expected) {
    return Status::corruption("index file " + path + " is " + std::to_string(size) +
                              " bytes, expected " + std::to_string(expected) +
                              " (was it written with other maxHashSlotNum/maxIndexNum?)");
  }
  char buf[layout::kHeaderSize] = {};
  size_t got = 0;
  HF_RETURN_IF_ERROR(file->read_at(0, sizeof(buf), buf, &got));
  IndexHeader h = IndexHeader::decode(buf);
  if (h.index_count == 0) h = IndexHeader{};  // created, header never written
  if (h.index_count > options.max_index_count) {
    return Status::corruption("index file " + path + " has indexCount " +
                              std::to_string(h.index_count) + " above maxIndexNum " +
                              std::to_string(options.max_index_count));
  }
  std::unique_ptr<IndexFile> f(new IndexFile(base_name(path), std::move(file), options, size));
  f->header_ = h;
  f->written_begin_timestamp_ms_ = h.begin_timestamp_ms;
  f->flushed_index_ = h.index_count;
  return f;
}

void IndexFile::reset_memory() {
  slots_.assign(slot_count_, 0);
  const uint64_t slot_end = layout::slot_position(slot_count_);
  page_dirty_.assign((slot_end + layout::kPageSize - 1) / layout::kPageSize, 0);
  dirty_pages_.clear();
  pending_.clear();
  flushed_index_ = header_.index_count;
}

Status IndexFile::ensure_full_size() {
  const uint64_t expected = layout::file_size(slot_count_, max_index_count_);
  if (size_ < expected) {
    HF_RETURN_IF_ERROR(file_->truncate(expected));
    size_ = expected;
  }
  return Status::ok();
}

uint32_t IndexFile::slot_get(uint32_t slot) const {
  return get_be32(reinterpret_cast<const char*>(&slots_[slot]));
}

void IndexFile::slot_set(uint32_t slot, uint32_t index) {
  put_be32(reinterpret_cast<char*>(&slots_[slot]), index);
  const uint32_t page = static_cast<uint32_t>(layout::slot_position(slot) / layout::kPageSize);
  if (!page_dirty_[page]) {
    page_dirty_[page] = 1;
    dirty_pages_.push_back(page);
  }
}

Status IndexFile::activate() {
  HF_RETURN_IF_ERROR(ensure_full_size());
  reset_memory();
  size_t got = 0;
  // The table is big-endian on disk and in memory: read it straight in.
  return file_->read_at(layout::slot_position(0), static_cast<size_t>(slot_count_) * layout::kSlotSize,
                        reinterpret_cast<char*>(slots_.data()), &got);
}

Status IndexFile::rebuild(uint32_t entry_count, int64_t max_physical_offset) {
  const std::string where = "index file " + file_->path();
  if (entry_count >= max_index_count_) {
    return Status::corruption(where + ": checkpoint claims " + std::to_string(entry_count) +
                              " entries, more than maxIndexNum allows");
  }
  if (entry_count > 0 && size_ < layout::entry_position(slot_count_, entry_count + 1)) {
    return Status::corruption(where + " is too short to hold the " + std::to_string(entry_count) +
                              " entries the checkpoint says were synced");
  }
  HF_RETURN_IF_ERROR(ensure_full_size());
  IndexHeader h;
  h.begin_timestamp_ms = header_.begin_timestamp_ms;  // only the header knows it (see .h)
  header_ = IndexHeader{};
  reset_memory();
  // Every page is rewritten: a bucket emptied by the cut must not keep a stale head on disk.
  for (uint32_t p = 0; p < page_dirty_.size(); ++p) {
    page_dirty_[p] = 1;
    dirty_pages_.push_back(p);
  }
  int32_t max_diff = 0;
  std::string buf;
  for (uint32_t first = layout::kFirstIndex; first <= entry_count;) {
    const uint32_t n = std::min(kRebuildBatchEntries, entry_count - first + 1);
    buf.resize(static_cast<size_t>(n) * layout::kEntrySize);
    size_t got = 0;
    HF_RETURN_IF_ERROR(file_->read_at(layout::entry_position(slot_count_, first), buf.size(),
                                      buf.data(), &got));
    if (got != buf.size()) return Status::corruption(where + ": short read of synced entries");
    for (uint32_t k = 0; k < n; ++k) {
      const uint32_t index = first + k;
      const IndexEntry e = IndexEntry::decode(buf.data() + static_cast<size_t>(k) * layout::kEntrySize);
      auto bad = [&](const std::string& what) {
        return Status::corruption(where + ": synced entry " + std::to_string(index) + " " + what);
      };
      if (e.key_hash < 0) return bad("has a negative key hash");
      if (e.time_diff_s < 0) return bad("has a negative time difference");
      if (e.physical_offset > max_physical_offset) return bad("points past the checkpoint");
      if (index > layout::kFirstIndex && e.physical_offset < h.end_physical_offset) {
        return bad("goes back in physical offset");
      }
      const uint32_t slot = static_cast<uint32_t>(e.key_hash) % slot_count_;
      const uint32_t head = slot_get(slot);
      // Invariant: an entry links to the bucket head that existed when it was added.
      if (e.prev_index != head) return bad("does not link to the previous entry of its bucket");
      if (head == layout::kInvalidIndex) ++h.used_slot_count;
      slot_set(slot, index);
      if (index == layout::kFirstIndex) h.begin_physical_offset = e.physical_offset;
      h.end_physical_offset = e.physical_offset;
      max_diff = std::max(max_diff, e.time_diff_s);
    }
    first += n;
  }
  if (entry_count == 0) {
    h = IndexHeader{};
  } else {
    h.index_count = entry_count + 1;
    // The exact newest store time is lost; the newest whole second is a lower bound of it and an
    // upper bound of every entry's reconstructed time, which is what lookups compare against.
    h.end_timestamp_ms = h.begin_timestamp_ms + max_diff * layout::kTimeDiffUnitMs;
  }
  header_ = h;
  flushed_index_ = header_.index_count;
  header_dirty_ = true;
  return write_table();
}

void IndexFile::add(int32_t key_hash, int64_t physical_offset, int64_t store_timestamp_ms) {
  HF_CHECK(active() && !full(), "add to a sealed or full index file ", name_);
  HF_CHECK(key_hash >= 0, "negative index key hash");
  const uint32_t index = header_.index_count;
  if (index == layout::kFirstIndex) {
    // Holdfast sets beginTimestamp before computing the first timeDiff (RocketMQ after), so the
    // first entry's reconstructed time is exact; see docs/format/index.md.
    header_.begin_timestamp_ms = store_timestamp_ms;
    header_.begin_physical_offset = physical_offset;
    header_.end_timestamp_ms = store_timestamp_ms;
  }
  int64_t diff = (store_timestamp_ms - header_.begin_timestamp_ms) / layout::kTimeDiffUnitMs;
  diff = std::clamp<int64_t>(diff, 0, INT32_MAX);
  const uint32_t slot = static_cast<uint32_t>(key_hash) % slot_count_;
  uint32_t prev = slot_get(slot);
  if (prev >= index) prev = layout::kInvalidIndex;  // stale bytes from a file written elsewhere
  if (prev == layout::kInvalidIndex) ++header_.used_slot_count;
  const size_t at = pending_.size();
  pending_.resize(at + layout::kEntrySize);
  IndexEntry{key_hash, physical_offset, static_cast<int32_t>(diff), prev}.encode(pending_.data() + at);
  slot_set(slot, index);
  header_.index_count = index + 1;
  header_.end_physical_offset = physical_offset;
  header_.end_timestamp_ms = std::max(header_.end_timestamp_ms, store_timestamp_ms);
  header_dirty_ = true;
}

Status IndexFile::write_header() {
  char buf[layout::kHeaderSize];
  header_.encode(buf);
  if (header_.begin_timestamp_ms != written_begin_timestamp_ms_) {
    HF_RETURN_IF_ERROR(file_->write_at(0, buf, sizeof(buf)));
    written_begin_timestamp_ms_ = header_.begin_timestamp_ms;
    return Status::ok();
  }
  constexpr int kFrom = layout::kEndTimestampPos;  // leave beginTimestamp alone (see .h)
  return file_->write_at(kFrom, buf + kFrom, sizeof(buf) - kFrom);
}

Status IndexFile::write_entries() {
  if (pending_.empty()) return Status::ok();
  return file_->write_at(layout::entry_position(slot_count_, flushed_index_), pending_.data(), pending_.size());
}

void IndexFile::mark_entries_written() {
  HF_CHECK(flushed_index_ + pending_.size() / layout::kEntrySize == header_.index_count,
           "pending entries out of step with indexCount in ", name_);
  pending_.clear();
  flushed_index_ = header_.index_count;
}

Status IndexFile::write_table() {
  HF_CHECK(pending_.empty(), "index header of ", name_, " written before its entries");
  if (!dirty_pages_.empty()) {
    std::sort(dirty_pages_.begin(), dirty_pages_.end());
    const uint64_t slot_begin = layout::slot_position(0);
    const uint64_t slot_end = layout::slot_position(slot_count_);
    const char* table = reinterpret_cast<const char*>(slots_.data());
    for (size_t i = 0; i < dirty_pages_.size();) {
      size_t j = i + 1;  // coalesce consecutive pages into one write
      while (j < dirty_pages_.size() && dirty_pages_[j] == dirty_pages_[j - 1] + 1) ++j;
      const uint64_t lo = std::max<uint64_t>(slot_begin, uint64_t{dirty_pages_[i]} * layout::kPageSize);
      const uint64_t hi = std::min<uint64_t>(slot_end, uint64_t{dirty_pages_[j - 1] + 1} * layout::kPageSize);
      HF_RETURN_IF_ERROR(file_->write_at(lo, table + (lo - slot_begin), hi - lo));
      i = j;
    }
    for (uint32_t p : dirty_pages_) page_dirty_[p] = 0;
    dirty_pages_.clear();
  }
  if (header_dirty_) {
    HF_RETURN_IF_ERROR(write_header());
    header_dirty_ = false;
  }
  return Status::ok();
}

void IndexFile::seal() {
  HF_CHECK(!has_unwritten_entries() && !has_unwritten_table(), "sealing index file ", name_,
           " with unwritten state");
  std::vector<uint32_t>().swap(slots_);
  std::vector<uint8_t>().swap(page_dirty_);
  std::vector<uint32_t>().swap(dirty_pages_);
  std::string().swap(pending_);
}

uint32_t IndexFile::select_in_memory(const IndexQuery& q, std::vector<int64_t>* out) const {
  HF_CHECK(active(), "in-memory lookup on sealed index file ", name_);
  uint32_t index = slot_get(static_cast<uint32_t>(q.key_hash) % slot_count_);
  if (index >= header_.index_count) return layout::kInvalidIndex;
  while (index != layout::kInvalidIndex) {
    if (index < flushed_index_) return index;  // the rest of the chain is in the file
    const size_t at = static_cast<size_t>(index - flushed_index_) * layout::kEntrySize;
    const IndexEntry e = IndexEntry::decode(pending_.data() + at);
    if (visit_entry(q, header_, e, out) == Visit::kDone) break;
    if (!valid_prev(e.prev_index, index)) break;
    index = e.prev_index;
  }
  return layout::kInvalidIndex;
}

Result<uint32_t> IndexFile::read_slot(int32_t key_hash, const IndexHeader& header) const {
  char buf[layout::kSlotSize] = {};
  size_t got = 0;
  HF_RETURN_IF_ERROR(file_->read_at(layout::slot_position(static_cast<uint32_t>(key_hash) % slot_count_),
                                    sizeof(buf), buf, &got));
  const uint32_t head = get_be32(buf);
  return head < header.index_count ? head : layout::kInvalidIndex;
}

Status IndexFile::walk_on_disk(const IndexQuery& q, const IndexHeader& header, uint32_t index,
                               std::vector<int64_t>* out) const {
  uint32_t bound = header.index_count;  // every index visited is below the previous one
  while (index != layout::kInvalidIndex && index < bound) {
    char buf[layout::kEntrySize] = {};
    size_t got = 0;
    HF_RETURN_IF_ERROR(file_->read_at(layout::entry_position(slot_count_, index), sizeof(buf), buf, &got));
    const IndexEntry e = IndexEntry::decode(buf);
    if (visit_entry(q, header, e, out) == Visit::kDone) break;
    if (!valid_prev(e.prev_index, index)) break;
    bound = index;
    index = e.prev_index;
  }
  return Status::ok();
}

}  // namespace holdfast
