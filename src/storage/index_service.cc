// IndexService: file set management (open, roll-over, naming, retention), the add/flush/sync
// write path, lookups across files and crash recovery to a checkpointed point.
#include "storage/index_service.h"

#include <algorithm>
#include <mutex>

#include "base/logging.h"
#include "base/sync_point.h"

namespace holdfast {
namespace layout = index_format;

namespace {

constexpr const char* kIndexDirName = "index";

bool is_index_file_name(const std::string& name) {
  return name.size() == static_cast<size_t>(layout::kFileNameLength) &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The next 17-digit number after `name` (which consists of digits only).
std::string decimal_successor(std::string name) {
  for (size_t i = name.size(); i-- > 0;) {
    if (name[i] != '9') {
      ++name[i];
      return name;
    }
    name[i] = '0';
  }
  HF_CHECK(false, "index file name overflow");
  return name;
}

// Whether a file can hold an entry whose reconstructed time window meets [begin, end]: entry
// times lie in [beginTimestamp, endTimestamp] and each window is one second wide.
bool may_hold(const IndexHeader& h, const IndexQuery& q) {
  return h.entry_count() > 0 && h.begin_timestamp_ms <= q.end_ms &&
         h.end_timestamp_ms + layout::kTimeDiffUnitMs - 1 >= q.begin_ms;
}

}  // namespace

Result<std::unique_ptr<IndexService>> IndexService::open(Env* env, const std::string& root_dir,
                                                         const IndexOptions& options) {
  HF_RETURN_IF_ERROR(validate_index_options(options));
  const std::string dir = join_path(root_dir, kIndexDirName);
  HF_RETURN_IF_ERROR(env->create_dirs(dir));
  std::unique_ptr<IndexService> s(new IndexService(env, dir, options));
  HF_ASSIGN_OR_RETURN(auto names, env->list_dir(dir));
  std::sort(names.begin(), names.end());  // equal-length digit strings: oldest first
  for (const auto& name : names) {
    if (!is_index_file_name(name)) {
      logger("storage")->warn("ignoring unexpected file {} in {}", name, dir);
      continue;
    }
    HF_ASSIGN_OR_RETURN(auto file, IndexFile::open(env, join_path(dir, name), options));
    if (!file->has_full_size()) {
      // Usually a file created just before a crash; recover_to() deletes it or checks it.
      logger("storage")->warn("index file {} is shorter than its geometry; reading zeros past its end",
                              file->path());
    }
    s->files_.push_back(std::move(file));
  }
  int64_t max_indexed = -1;
  for (const auto& f : s->files_) {
    if (f->header().entry_count() > 0) max_indexed = std::max(max_indexed, f->header().end_physical_offset);
  }
  s->max_indexed_.store(max_indexed);
  if (!s->files_.empty()) HF_RETURN_IF_ERROR(s->files_.back()->activate());
  s->durable_ = s->current_point();
  return s;
}

IndexService::~IndexService() = default;

IndexDurablePoint IndexService::current_point() const {
  IndexDurablePoint p;
  if (const IndexFile* f = active()) {
    p.file_name = f->name();
    p.entry_count = f->header().entry_count();
  }
  p.end_physical_offset = max_indexed_.load(std::memory_order_acquire);
  return p;
}

std::string IndexService::next_file_name() const {
  std::string name = index_file_name(env_->now_ms());
  if (files_.empty() || name > files_.back()->name()) return name;
  // Two files in one millisecond, or the local clock went back: names must stay unique and sort
  // in creation order, so take the millisecond after the newest name.
  const std::string& newest = files_.back()->name();
  int64_t newest_ms = 0;
  if (parse_index_file_name(newest, &newest_ms)) {
    name = index_file_name(newest_ms + 1);
    if (name > newest) return name;
  }
  // Local time repeats (end of daylight saving time) or the newest name is not a valid time.
  return decimal_successor(newest);
}

Status IndexService::roll_locked() {
  IndexFile* old = active();
  if (old != nullptr) {
    if (old->has_unwritten_entries() || old->has_unwritten_table()) active_unsynced_ = true;
    HF_RETURN_IF_ERROR(old->write_entries());
    old->mark_entries_written();
    HF_RETURN_IF_ERROR(old->write_table());  // a sealed file is complete on disk
  }
  const std::string name = next_file_name();
  HF_ASSIGN_OR_RETURN(auto created, IndexFile::create(env_, join_path(dir_, name), options_));
  dir_unsynced_ = true;
  if (old != nullptr) {
    old->seal();
    if (active_unsynced_) unsynced_sealed_.push_back(files_.back());
  }
  files_.push_back(std::move(created));
  active_unsynced_ = true;
  logger("storage")->debug("index: new file {}", name);
  return Status::ok();
}

Status IndexService::add(std::string_view topic, const std::vector<std::string_view>& keys,
                         int64_t physical_offset, int64_t store_timestamp_ms) {
  if (!fence_.is_ok()) return fence_;
  added_ = true;
  if (physical_offset <= max_indexed_.load(std::memory_order_relaxed)) return Status::ok();
  // Hash outside the lock; a record's duplicate keys (UNIQ_KEY repeated in KEYS) count once.
  key_hashes_.clear();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].empty()) continue;
    if (std::find(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(i), keys[i]) !=
        keys.begin() + static_cast<ptrdiff_t>(i)) {
      continue;
    }
    key_buffer_.assign(topic);
    key_buffer_ += layout::kKeySeparator;
    key_buffer_.append(keys[i]);
    key_hashes_.push_back(index_key_hash(key_buffer_));
  }
  if (!key_hashes_.empty()) {
    HF_SYNC_POINT("index.add.before");
    std::unique_lock lock(mu_);
    for (int32_t hash : key_hashes_) {
      if (active() == nullptr || active()->full()) HF_RETURN_IF_ERROR(roll_locked());
      active()->add(hash, physical_offset, store_timestamp_ms);
    }
  }
  max_indexed_.store(physical_offset, std::memory_order_release);
  return Status::ok();
}

Status IndexService::flush_writes() {
  if (!fence_.is_ok()) return fence_;
  IndexFile* f = active();
  if (f == nullptr || !f->has_unwritten_entries()) return Status::ok();
  // No lock while writing: the writer only reads what readers read; the lock is for the change.
  HF_SYNC_POINT("index.write_entries.before");
  HF_RETURN_IF_ERROR(f->write_entries());
  HF_SYNC_POINT("index.write_entries.after");
  {
    std::unique_lock lock(mu_);
    f->mark_entries_written();
  }
  active_unsynced_ = true;
  return Status::ok();
}

Status IndexService::sync() {
  HF_RETURN_IF_ERROR(flush_writes());
  if (IndexFile* f = active(); f != nullptr && f->has_unwritten_table()) {
    // The slot table goes to the file only here (and when a file is sealed): the dispatcher
    // flushes often, and most added keys dirty a different 4 KiB page.
    HF_RETURN_IF_ERROR(f->write_table());
    active_unsynced_ = true;
  }
  std::vector<std::shared_ptr<IndexFile>> to_sync = unsynced_sealed_;
  if (active_unsynced_) to_sync.push_back(files_.back());
  const IndexDurablePoint point = current_point();
  // Invariant: no add() runs until this returns (single writer), so `point` is what gets synced.
  for (const auto& f : to_sync) {
    HF_SYNC_POINT("index.fdatasync.before");
    Status st = f->sync();
    if (!st.is_ok()) {
      fence_ = st;
      logger("storage")->error("index: fdatasync of {} failed, index writes stopped: {}", f->path(),
                               st.to_string());
      return st;
    }
  }
  if (dir_unsynced_) {
    Status st = env_->sync_dir(dir_);
    if (!st.is_ok()) {
      fence_ = st;
      logger("storage")->error("index: fsync of {} failed, index writes stopped: {}", dir_, st.to_string());
      return st;
    }
  }
  HF_SYNC_POINT("index.fdatasync.after");
  unsynced_sealed_.clear();
  active_unsynced_ = false;
  dir_unsynced_ = false;
  std::unique_lock lock(mu_);
  durable_ = point;
  return Status::ok();
}

IndexDurablePoint IndexService::durable_point() const {
  std::shared_lock lock(mu_);
  return durable_;
}

Result<std::vector<int64_t>> IndexService::query(std::string_view topic, std::string_view key,
                                                 int max_num, int64_t begin_ms, int64_t end_ms) const {
  std::vector<int64_t> out;
  if (max_num <= 0 || begin_ms > end_ms) return out;
  IndexQuery q;
  q.max_num = static_cast<size_t>(std::min(max_num, layout::kMaxQueryResults));
  q.begin_ms = begin_ms;
  q.end_ms = end_ms;
  std::string index_key;
  index_key.reserve(topic.size() + 1 + key.size());
  index_key.append(topic).append(1, layout::kKeySeparator).append(key);
  q.key_hash = index_key_hash(index_key);

  // Under the shared lock: headers are copied and the active file's unwritten entries walked.
  // Written entries never change, so the rest is read without blocking the writer.
  struct DiskWalk {
    std::shared_ptr<IndexFile> file;
    IndexHeader header;
    uint32_t start;  // 0 = start at the bucket head stored in the file
  };
  std::vector<DiskWalk> walks;
  {
    std::shared_lock lock(mu_);
    for (size_t i = files_.size(); i-- > 0;) {
      const auto& f = files_[i];
      if (!may_hold(f->header(), q)) continue;
      if (f->active()) {
        const uint32_t next = f->select_in_memory(q, &out);
        if (out.size() >= q.max_num) break;
        if (next != layout::kInvalidIndex) walks.push_back({f, f->header(), next});
      } else {
        walks.push_back({f, f->header(), layout::kInvalidIndex});
      }
    }
  }
  for (const auto& w : walks) {
    if (out.size() >= q.max_num) break;
    uint32_t start = w.start;
    if (start == layout::kInvalidIndex) {
      HF_ASSIGN_OR_RETURN(start, w.file->read_slot(q.key_hash, w.header));
    }
    HF_RETURN_IF_ERROR(w.file->walk_on_disk(q, w.header, start, &out));
  }
  return out;
}

Status IndexService::recover_to(const IndexDurablePoint& point) {
  if (added_) return Status::invalid_argument("IndexService::recover_to must run before any add()");
  std::unique_lock lock(mu_);  // recovery runs at startup; lookups simply wait for it
  size_t keep = 0;
  if (!point.file_name.empty()) {
    auto it = std::find_if(files_.begin(), files_.end(),
                           [&](const auto& f) { return f->name() == point.file_name; });
    if (it == files_.end()) {
      return Status::corruption("index file " + point.file_name + " named by the checkpoint is missing from " + dir_);
    }
    keep = static_cast<size_t>(it - files_.begin()) + 1;
  }
  const bool removed = files_.size() > keep;
  while (files_.size() > keep) {
    logger("storage")->info("index recovery: deleting {} (newer than the checkpoint)", files_.back()->path());
    HF_RETURN_IF_ERROR(env_->remove_file(files_.back()->path()));
    files_.pop_back();
  }
  if (removed) HF_RETURN_IF_ERROR(env_->sync_dir(dir_));
  for (size_t i = 0; i + 1 < files_.size(); ++i) {
    if (!files_[i]->has_full_size()) {
      return Status::corruption("sealed index file " + files_[i]->path() + " is shorter than its geometry");
    }
  }
  if (IndexFile* f = active()) {
    HF_RETURN_IF_ERROR(f->rebuild(point.entry_count, point.end_physical_offset));
    HF_RETURN_IF_ERROR(f->sync());
    logger("storage")->info("index recovery: {} cut back to {} entries, indexed through offset {}",
                            f->path(), point.entry_count, point.end_physical_offset);
  }
  unsynced_sealed_.clear();
  active_unsynced_ = false;
  dir_unsynced_ = false;
  max_indexed_.store(point.end_physical_offset, std::memory_order_release);
  durable_ = current_point();
  return Status::ok();
}

Status IndexService::delete_files_below(int64_t min_physical_offset) {
  // Never the active file, nor the file the last checkpoint names (recovery needs it) or later.
  std::vector<std::shared_ptr<IndexFile>> doomed;
  const std::string durable_file = durable_point().file_name;
  for (size_t i = 0; i + 1 < files_.size(); ++i) {
    const auto& f = files_[i];
    if (f->name() >= durable_file && !durable_file.empty()) break;
    const IndexHeader& h = f->header();
    if (h.entry_count() > 0 && h.end_physical_offset >= min_physical_offset) break;
    doomed.push_back(f);
  }
  size_t removed = 0;
  Status st;
  for (const auto& f : doomed) {
    st = env_->remove_file(f->path());
    if (!st.is_ok()) break;
    logger("storage")->info("index: deleted {} (all entries below offset {})", f->path(), min_physical_offset);
    ++removed;
  }
  if (removed > 0) {
    std::unique_lock lock(mu_);
    files_.erase(files_.begin(), files_.begin() + static_cast<ptrdiff_t>(removed));
  }
  for (size_t i = 0; i < removed; ++i) {
    std::erase(unsynced_sealed_, doomed[i]);
  }
  return st;
}

size_t IndexService::file_count() const {
  std::shared_lock lock(mu_);
  return files_.size();
}

std::vector<std::string> IndexService::file_names() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> names;
  for (const auto& f : files_) names.push_back(f->name());
  return names;
}

}  // namespace holdfast
