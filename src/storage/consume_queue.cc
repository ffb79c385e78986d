// ConsumeQueue files: buffered unit appends, recovery of the valid prefix, retention.
#include "storage/consume_queue.h"

#include <algorithm>
#include <cstring>

#include "base/coding.h"
#include "base/logging.h"
#include "base/sync_point.h"
#include "storage/commit_log.h"

namespace holdfast {
namespace {

void encode_unit(char* p, const ConsumeQueueUnit& u) {
  put_be64(p, static_cast<uint64_t>(u.physical_offset));
  put_be32(p + 8, static_cast<uint32_t>(u.size));
  put_be64(p + 12, static_cast<uint64_t>(u.tags_code));
}

ConsumeQueueUnit decode_unit(const char* p) {
  return {get_be64s(p), get_be32s(p + 8), get_be64s(p + 12)};
}

bool unit_well_formed(const ConsumeQueueUnit& u) { return u.physical_offset >= 0 && u.size > 0; }

}  // namespace

Result<std::unique_ptr<ConsumeQueue>> ConsumeQueue::open(Env* env, const std::string& dir,
                                                         std::string topic, int32_t queue_id,
                                                         int64_t units_per_file) {
  std::unique_ptr<ConsumeQueue> cq(
      new ConsumeQueue(env, dir, std::move(topic), queue_id, units_per_file));
  if (!env->file_exists(dir)) {
    HF_RETURN_IF_ERROR(env->create_dirs(dir));
    cq->dir_needs_sync_ = true;
  }
  HF_RETURN_IF_ERROR(cq->load());
  return cq;
}

Status ConsumeQueue::load() {
  HF_ASSIGN_OR_RETURN(auto names, env_->list_dir(dir_));
  for (const auto& name : names) {
    int64_t start;
    if (!parse_offset_file_name(name, &start)) continue;
    if (start % file_bytes_ != 0) {
      return Status::corruption("consume queue file " + dir_ + "/" + name +
                                " is not aligned to the consume queue file size");
    }
    HF_ASSIGN_OR_RETURN(auto file, env_->open_file(join_path(dir_, name), OpenMode::kMustExist));
    files_[start] = std::shared_ptr<File>(std::move(file));
  }
  if (files_.empty()) {
    min_offset_ = max_offset_ = pending_start_ = 0;
    return Status::ok();
  }
  min_offset_ = files_.begin()->first / kUnitSize;
  // The end of the written units: the first malformed unit of the newest file.
  const int64_t last_start = files_.rbegin()->first;
  auto& last = files_.rbegin()->second;
  std::vector<char> buf(static_cast<size_t>(file_bytes_));
  size_t got = 0;
  HF_RETURN_IF_ERROR(last->read_at(0, buf.size(), buf.data(), &got));
  int64_t n = 0;
  while ((n + 1) * kUnitSize <= static_cast<int64_t>(got)) {
    ConsumeQueueUnit u = decode_unit(buf.data() + n * kUnitSize);
    if (!unit_well_formed(u)) break;
    max_physical_end_ = u.physical_offset + u.size;
    ++n;
  }
  int64_t max = last_start / kUnitSize + n;
  max_offset_ = max;
  pending_start_ = max;
  if (n == 0 && files_.size() > 1) {
    // Newest file is empty: the previous one ends the queue; find its last unit's end.
    auto prev = std::next(files_.rbegin());
    char ub[kUnitSize];
    size_t r = 0;
    HF_RETURN_IF_ERROR(prev->second->read_at(static_cast<uint64_t>(file_bytes_ - kUnitSize),
                                             kUnitSize, ub, &r));
    if (r == kUnitSize) {
      ConsumeQueueUnit u = decode_unit(ub);
      if (unit_well_formed(u)) max_physical_end_ = u.physical_offset + u.size;
    }
  }
  return Status::ok();
}

Result<std::shared_ptr<File>> ConsumeQueue::file_for(int64_t byte_offset, bool create) {
  const int64_t start = byte_offset - byte_offset % file_bytes_;
  {
    std::lock_guard<std::mutex> lock(files_mu_);
    auto it = files_.find(start);
    if (it != files_.end()) return it->second;
  }
  if (!create) return Status::not_found("consume queue file missing");
  HF_ASSIGN_OR_RETURN(auto file, env_->open_file(join_path(dir_, offset_file_name(start)),
                                                 OpenMode::kCreateIfMissing));
  HF_RETURN_IF_ERROR(file->truncate(static_cast<uint64_t>(file_bytes_)));
  std::shared_ptr<File> shared(std::move(file));
  dir_needs_sync_ = true;
  std::lock_guard<std::mutex> lock(files_mu_);
  files_[start] = shared;
  return shared;
}

void ConsumeQueue::append(int64_t queue_offset, const ConsumeQueueUnit& unit) {
  HF_CHECK(queue_offset == pending_end(), "consume queue ", topic_, "/", queue_id_,
           " append at ", queue_offset, " but next is ", pending_end());
  char b[kUnitSize];
  encode_unit(b, unit);
  pending_.append(b, kUnitSize);
  max_physical_end_ = unit.physical_offset + unit.size;
}

Status ConsumeQueue::flush_writes() {
  size_t done = 0;
  while (done < pending_.size()) {
    const int64_t unit_index = pending_start_ + static_cast<int64_t>(done / kUnitSize);
    const int64_t byte_offset = unit_index * kUnitSize;
    HF_ASSIGN_OR_RETURN(auto file, file_for(byte_offset, /*create=*/true));
    const int64_t in_file = byte_offset % file_bytes_;
    const size_t n = std::min<size_t>(pending_.size() - done, static_cast<size_t>(file_bytes_ - in_file));
    HF_RETURN_IF_ERROR(file->write_at(static_cast<uint64_t>(in_file), pending_.data() + done, n));
    const int64_t start = byte_offset - in_file;
    if (dirty_files_.empty() || dirty_files_.back() != start) dirty_files_.push_back(start);
    done += n;
  }
  pending_start_ += static_cast<int64_t>(pending_.size() / kUnitSize);
  pending_.clear();
  HF_SYNC_POINT("consume_queue.publish.before");
  max_offset_.store(pending_start_, std::memory_order_release);
  return Status::ok();
}

Status ConsumeQueue::sync() {
  HF_RETURN_IF_ERROR(flush_writes());
  for (int64_t start : dirty_files_) {
    std::shared_ptr<File> f;
    {
      std::lock_guard<std::mutex> lock(files_mu_);
      auto it = files_.find(start);
      if (it == files_.end()) continue;
      f = it->second;
    }
    HF_SYNC_POINT("consume_queue.fdatasync.before");
    HF_RETURN_IF_ERROR(f->sync());
  }
  dirty_files_.clear();
  if (dir_needs_sync_) {
    HF_RETURN_IF_ERROR(env_->sync_dir(dir_));
    // The queue directory and its topic directory are new entries in their parents too.
    HF_RETURN_IF_ERROR(env_->sync_dir(parent_dir(dir_)));
    HF_RETURN_IF_ERROR(env_->sync_dir(parent_dir(parent_dir(dir_))));
    dir_needs_sync_ = false;
  }
  return Status::ok();
}

Status ConsumeQueue::read_units(int64_t queue_offset, int64_t count,
                                std::vector<ConsumeQueueUnit>* out) const {
  std::string buf;
  while (count > 0) {
    const int64_t byte_offset = queue_offset * kUnitSize;
    const int64_t start = byte_offset - byte_offset % file_bytes_;
    std::shared_ptr<File> f;
    {
      std::lock_guard<std::mutex> lock(files_mu_);
      auto it = files_.find(start);
      if (it == files_.end()) return Status::not_found("consume queue file missing");
      f = it->second;
    }
    const int64_t n = std::min(count, (start + file_bytes_ - byte_offset) / kUnitSize);
    buf.resize(static_cast<size_t>(n * kUnitSize));
    size_t got = 0;
    HF_RETURN_IF_ERROR(f->read_at(static_cast<uint64_t>(byte_offset - start), buf.size(), buf.data(), &got));
    for (size_t i = 0; i + kUnitSize <= got; i += kUnitSize) out->push_back(decode_unit(buf.data() + i));
    if (got < buf.size()) break;
    queue_offset += n;
    count -= n;
  }
  return Status::ok();
}

Status ConsumeQueue::read(int64_t queue_offset, int max_units, std::vector<ConsumeQueueUnit>* out) const {
  out->clear();
  const int64_t lo = std::max(queue_offset, min_offset());
  const int64_t hi = std::min<int64_t>(max_offset(), lo + max_units);
  if (lo >= hi) return Status::ok();
  return read_units(lo, hi - lo, out);
}

Result<int64_t> ConsumeQueue::recover(int64_t durable_physical_offset, const VerifyFn& verify) {
  HF_CHECK(pending_.empty(), "recover with pending units");
  // Scan from the newest file whose first unit is well formed and below the durable point: every
  // unit before that file is below it too (physical offsets increase), so it was synced by the
  // checkpoint that made the point durable. Files are not synced when the next one is started,
  // so a file before the newest two may still hold units past the durable point (ASYNC_FLUSH: an
  // ext4 journal commit can keep a new queue file and units whose log bytes were lost).
  int64_t scan_from = min_offset();
  for (auto it = files_.rbegin(); it != files_.rend(); ++it) {
    const int64_t first = std::max(it->first / kUnitSize, min_offset());
    std::vector<ConsumeQueueUnit> head;
    HF_RETURN_IF_ERROR(read_units(first, 1, &head));
    if (!head.empty() && unit_well_formed(head[0]) &&
        head[0].physical_offset + head[0].size <= durable_physical_offset) {
      scan_from = first;
      break;
    }
  }
  int64_t count = scan_from;
  int64_t prev_phys = -1;
  max_physical_end_ = -1;
  const int64_t scan_to = files_.empty() ? scan_from : files_.rbegin()->first / kUnitSize + units_per_file_;
  constexpr int64_t kBatch = 4096;
  for (int64_t q = scan_from; q < scan_to; q += kBatch) {
    std::vector<ConsumeQueueUnit> units;
    HF_RETURN_IF_ERROR(read_units(q, std::min(kBatch, scan_to - q), &units));
    bool stop = units.empty();
    for (const auto& u : units) {
      if (!unit_well_formed(u) || u.physical_offset + u.size > durable_physical_offset ||
          u.physical_offset <= prev_phys) {
        stop = true;
        break;
      }
      prev_phys = u.physical_offset;
      ++count;
    }
    if (stop) break;
  }
  // The last accepted units must also match the log: stale units from an earlier life of this
  // file can be well formed.
  while (count > scan_from) {
    std::vector<ConsumeQueueUnit> u;
    HF_RETURN_IF_ERROR(read_units(count - 1, 1, &u));
    if (!u.empty() && verify(count - 1, u[0])) {
      max_physical_end_ = u[0].physical_offset + u[0].size;
      break;
    }
    --count;
  }
  HF_RETURN_IF_ERROR(truncate_to(count));
  return count;
}

Status ConsumeQueue::truncate_to(int64_t queue_offset) {
  pending_.clear();
  pending_start_ = queue_offset;
  max_offset_.store(queue_offset, std::memory_order_release);
  const int64_t byte_offset = queue_offset * kUnitSize;
  const int64_t start = byte_offset - byte_offset % file_bytes_;
  std::vector<std::pair<int64_t, std::shared_ptr<File>>> later;
  std::shared_ptr<File> current;
  {
    std::lock_guard<std::mutex> lock(files_mu_);
    for (auto it = files_.begin(); it != files_.end();) {
      if (it->first > start) {
        later.emplace_back(*it);
        it = files_.erase(it);
      } else {
        if (it->first == start) current = it->second;
        ++it;
      }
    }
  }
  for (auto& [s, f] : later) {
    f.reset();
    HF_RETURN_IF_ERROR(env_->remove_file(join_path(dir_, offset_file_name(s))));
  }
  if (!later.empty()) HF_RETURN_IF_ERROR(env_->sync_dir(dir_));
  if (current) {
    // Zero stale units after the cut until a long run of zeros: units written after the last
    // sync are bounded, so this stops soon after the region a crash could have left behind.
    constexpr int64_t kZeroRunToStop = 64 * 1024;
    std::vector<char> buf(64 * 1024);
    const std::vector<char> zeros(buf.size(), 0);
    int64_t pos = byte_offset - start, zero_run = 0;
    bool wrote = false;
    while (pos < file_bytes_ && zero_run < kZeroRunToStop) {
      size_t want = static_cast<size_t>(std::min<int64_t>(buf.size(), file_bytes_ - pos));
      size_t got = 0;
      HF_RETURN_IF_ERROR(current->read_at(static_cast<uint64_t>(pos), want, buf.data(), &got));
      if (got == 0) break;
      if (std::memcmp(buf.data(), zeros.data(), got) == 0) {
        zero_run += static_cast<int64_t>(got);
      } else {
        zero_run = 0;
        HF_RETURN_IF_ERROR(current->write_at(static_cast<uint64_t>(pos), zeros.data(), got));
        wrote = true;
      }
      pos += static_cast<int64_t>(got);
    }
    if (wrote) HF_RETURN_IF_ERROR(current->sync());
  }
  if (min_offset() > queue_offset) min_offset_.store(queue_offset);
  return Status::ok();
}

Status ConsumeQueue::correct_min_offset(int64_t min_physical_offset) {
  int64_t lo = min_offset(), hi = max_offset();
  // Units are ordered by physical offset: binary search for the first one at or above the min.
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    std::vector<ConsumeQueueUnit> u;
    HF_RETURN_IF_ERROR(read_units(mid, 1, &u));
    if (u.empty()) break;
    if (u[0].physical_offset < min_physical_offset) lo = mid + 1; else hi = mid;
  }
  if (lo > min_offset()) min_offset_.store(lo, std::memory_order_release);
  return Status::ok();
}

Status ConsumeQueue::delete_files_below(int64_t min_physical_offset) {
  HF_RETURN_IF_ERROR(correct_min_offset(min_physical_offset));
  const int64_t keep_from_byte = min_offset() * kUnitSize;
  std::vector<int64_t> victims;
  {
    std::lock_guard<std::mutex> lock(files_mu_);
    for (auto it = files_.begin(); it != files_.end() && std::next(it) != files_.end(); ++it) {
      if (it->first + file_bytes_ <= keep_from_byte) victims.push_back(it->first);
    }
    for (int64_t s : victims) files_.erase(s);
  }
  for (int64_t s : victims) HF_RETURN_IF_ERROR(env_->remove_file(join_path(dir_, offset_file_name(s))));
  if (!victims.empty()) HF_RETURN_IF_ERROR(env_->sync_dir(dir_));
  return Status::ok();
}

size_t ConsumeQueue::file_count() const {
  std::lock_guard<std::mutex> lock(files_mu_);
  return files_.size();
}

}  // namespace holdfast
