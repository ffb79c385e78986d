// CommitLog segment management: naming, preallocation, positional writes, syncs and truncation.
#include "storage/commit_log.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/logging.h"
#include "base/sync_point.h"

namespace holdfast {

std::string offset_file_name(int64_t offset) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020" PRId64, offset);
  return buf;
}

bool parse_offset_file_name(const std::string& name, int64_t* offset) {
  if (name.size() != 20) return false;
  int64_t v = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *offset = v;
  return true;
}

Result<std::unique_ptr<CommitLog>> CommitLog::open(Env* env, const std::string& dir,
                                                   int64_t segment_size, bool zero_fill) {
  if (segment_size < 4096) return Status::invalid_argument("commit log segment size below 4096");
  HF_RETURN_IF_ERROR(env->create_dirs(dir));
  std::unique_ptr<CommitLog> log(new CommitLog(env, dir, segment_size, zero_fill));
  HF_ASSIGN_OR_RETURN(auto names, env->list_dir(dir));
  for (const auto& name : names) {
    int64_t start;
    if (!parse_offset_file_name(name, &start)) {
      if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") continue;
      logger("storage")->warn("ignoring unexpected file {} in {}", name, dir);
      continue;
    }
    if (start % segment_size != 0) {
      return Status::corruption("commit log file " + name +
                                " does not start at a multiple of mappedFileSizeCommitLog " +
                                std::to_string(segment_size) + " (was the size changed?)");
    }
    HF_ASSIGN_OR_RETURN(auto file, env->open_file(join_path(dir, name), OpenMode::kMustExist));
    HF_ASSIGN_OR_RETURN(uint64_t size, file->size());
    bool restored = false;
    if (static_cast<int64_t>(size) != segment_size) {
      // A segment whose preallocation did not survive a crash: restore its full size, and make
      // that size durable before any record goes into it (see get_or_create).
      if (static_cast<int64_t>(size) < segment_size) {
        HF_RETURN_IF_ERROR(file->allocate(static_cast<uint64_t>(segment_size)));
        HF_RETURN_IF_ERROR(file->sync());
        restored = true;
      } else {
        return Status::corruption("commit log file " + name + " is " + std::to_string(size) +
                                  " bytes, expected mappedFileSizeCommitLog " +
                                  std::to_string(segment_size));
      }
    }
    auto seg = std::make_shared<Segment>();
    seg->start = start;
    seg->file = std::move(file);
    seg->needs_dir_sync = restored;  // its name may be no more durable than its size was
    log->segments_[start] = std::move(seg);
  }
  // A segment found here may have been created by an earlier open in this same boot that stopped
  // before any record reached it (its directory entry is synced with the first record's flush):
  // its name is not known to be durable, and no later flush would sync it. One directory sync
  // per open settles every name found.
  if (!log->segments_.empty()) HF_RETURN_IF_ERROR(env->sync_dir(dir));
  return log;
}

std::string CommitLog::segment_path(int64_t start) const {
  return join_path(dir_, offset_file_name(start));
}

std::shared_ptr<CommitLog::Segment> CommitLog::find(int64_t start) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = segments_.find(start);
  return it == segments_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<CommitLog::Segment>> CommitLog::get_or_create(int64_t start) {
  if (auto seg = find(start)) return seg;
  std::lock_guard<std::mutex> create_lock(create_mu_);
  if (auto seg = find(start)) return seg;
  HF_ASSIGN_OR_RETURN(auto file, env_->open_file(segment_path(start), OpenMode::kCreateIfMissing));
  Status st = file->allocate(static_cast<uint64_t>(segment_size_));
  if (st.is_ok() && zero_fill_) {
    const std::string zeros(1 << 20, '\0');
    for (int64_t pos = 0; pos < segment_size_ && st.is_ok(); pos += static_cast<int64_t>(zeros.size())) {
      st = file->write_at(static_cast<uint64_t>(pos), zeros.data(),
                          static_cast<size_t>(std::min<int64_t>(zeros.size(), segment_size_ - pos)));
    }
  }
  // The segment's full size is durable before any record is written into it (once per segment).
  // Otherwise records land past the file's durable end, where a power loss before their
  // fdatasync can keep any prefix of them, one ending inside a record after its body included:
  // the body CRC (all the format checks) still matches, and recovery would keep that record with
  // a damaged topic or properties. Overwriting durable zeros, an unsynced write is lost whole at
  // the granularity of the device's atomic writes (docs/format/commitlog.md).
  if (st.is_ok()) st = file->sync();
  if (!st.is_ok()) {
    file.reset();
    (void)env_->remove_file(segment_path(start));
    return st;
  }
  auto seg = std::make_shared<Segment>();
  seg->start = start;
  seg->file = std::move(file);
  seg->needs_dir_sync = true;
  seg->dirty = true;
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = segments_.emplace(start, seg);
  return it->second;
}

Status CommitLog::preallocate(int64_t offset) {
  auto seg = get_or_create(segment_start(offset));
  return seg.status();
}

Status CommitLog::write(int64_t offset, const char* data, size_t n) {
  const int64_t start = segment_start(offset);
  HF_CHECK(offset + static_cast<int64_t>(n) <= start + segment_size_,
           "write crosses a segment end at ", offset, "+", n);
  HF_ASSIGN_OR_RETURN(auto seg, get_or_create(start));
  HF_SYNC_POINT("commit_log.write.before");
  Status st = seg->file->write_at(static_cast<uint64_t>(offset - start), data, n);
  HF_SYNC_POINT("commit_log.write.after");
  // Mark dirty only after the bytes are written: a flusher that clears the flag while this write
  // is still in progress would otherwise skip the sync that has to cover it.
  seg->dirty.store(true, std::memory_order_release);
  return st;
}

Status CommitLog::sync_through(int64_t offset) {
  // Held across the fdatasyncs: "dirty is clear" must mean "a sync covering the bytes completed".
  std::lock_guard<std::mutex> sync_lock(sync_mu_);
  std::vector<std::shared_ptr<Segment>> to_sync;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [start, seg] : segments_) {
      if (start >= offset) break;
      if (seg->dirty.load(std::memory_order_acquire) || seg->needs_dir_sync.load()) {
        to_sync.push_back(seg);
      }
    }
  }
  for (auto& seg : to_sync) {
    // Clear before syncing: a write racing with this sync sets it again for the next round.
    seg->dirty.store(false, std::memory_order_release);
    HF_SYNC_POINT("commit_log.fdatasync.before");
    Status st = seg->file->sync();
    HF_SYNC_POINT("commit_log.fdatasync.after");
    if (!st.is_ok()) {
      seg->dirty.store(true);
      return st;
    }
    if (seg->needs_dir_sync.load()) {
      HF_RETURN_IF_ERROR(env_->sync_dir(dir_));
      seg->needs_dir_sync.store(false);
    }
  }
  return Status::ok();
}

Status CommitLog::read(int64_t offset, size_t n, char* out, size_t* read) const {
  *read = 0;
  const int64_t start = segment_start(offset);
  auto seg = find(start);
  if (!seg) return Status::ok();
  size_t max = static_cast<size_t>(start + segment_size_ - offset);
  return seg->file->read_at(static_cast<uint64_t>(offset - start), std::min(n, max), out, read);
}

int64_t CommitLog::min_segment_start() const {
  std::lock_guard<std::mutex> lock(mu_);
  return segments_.empty() ? -1 : segments_.begin()->first;
}

int64_t CommitLog::max_segment_start() const {
  std::lock_guard<std::mutex> lock(mu_);
  return segments_.empty() ? -1 : segments_.rbegin()->first;
}

std::vector<int64_t> CommitLog::segment_starts() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> out;
  for (auto& [start, seg] : segments_) out.push_back(start);
  return out;
}

Status CommitLog::truncate_after(int64_t end, int64_t* erased_bytes) {
  if (erased_bytes) *erased_bytes = 0;
  const int64_t start = segment_start(end);
  std::vector<int64_t> later;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = segments_.upper_bound(start); it != segments_.end(); ++it) {
      later.push_back(it->first);
    }
  }
  for (int64_t s : later) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      segments_.erase(s);
    }
    HF_RETURN_IF_ERROR(env_->remove_file(segment_path(s)));
  }
  if (!later.empty()) HF_RETURN_IF_ERROR(env_->sync_dir(dir_));
  auto seg = find(start);
  if (!seg) return Status::ok();
  // Zero every non-zero byte past `end`: a stale record there must never be read as live later.
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> buf(kChunk);
  const std::vector<char> zeros(kChunk, 0);
  bool wrote = false;
  for (int64_t pos = end - start; pos < segment_size_;) {
    size_t want = static_cast<size_t>(std::min<int64_t>(kChunk, segment_size_ - pos));
    size_t got = 0;
    HF_RETURN_IF_ERROR(seg->file->read_at(static_cast<uint64_t>(pos), want, buf.data(), &got));
    if (got == 0) break;
    if (std::memcmp(buf.data(), zeros.data(), got) != 0) {
      HF_RETURN_IF_ERROR(seg->file->write_at(static_cast<uint64_t>(pos), zeros.data(), got));
      wrote = true;
      if (erased_bytes) *erased_bytes += static_cast<int64_t>(got);
    }
    pos += static_cast<int64_t>(got);
  }
  if (wrote) HF_RETURN_IF_ERROR(seg->file->sync());
  return Status::ok();
}

Status CommitLog::delete_segment(int64_t start) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = segments_.find(start);
    if (it == segments_.end()) return Status::ok();
    HF_CHECK(std::next(it) != segments_.end(), "deleting the newest commit log segment");
    segments_.erase(it);
  }
  HF_RETURN_IF_ERROR(env_->remove_file(segment_path(start)));
  return env_->sync_dir(dir_);
}

}  // namespace holdfast
