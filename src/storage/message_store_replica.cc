// The replication seam of MessageStore: reading confirmed commit-log bytes (master) and appending
// a master's bytes verbatim at the same offsets (slave).
#include <algorithm>

#include "base/logging.h"
#include "storage/message_format.h"
#include "storage/message_store.h"

namespace holdfast {

Result<std::string> MessageStore::read_confirmed(int64_t offset, size_t max_bytes) const {
  const int64_t confirmed = confirmed_offset();
  if (offset > confirmed) {
    return Status::invalid_argument("offset " + std::to_string(offset) + " is past the confirmed end " +
                                    std::to_string(confirmed));
  }
  if (offset == confirmed || max_bytes == 0) return std::string();
  const int64_t seg_end = log_->segment_start(offset) + log_->segment_size();
  const auto n = static_cast<size_t>(std::min<int64_t>({confirmed - offset, seg_end - offset,
                                                        static_cast<int64_t>(max_bytes)}));
  std::string out(n, '\0');
  size_t got = 0;
  HF_RETURN_IF_ERROR(log_->read(offset, n, out.data(), &got));
  if (got == 0) return Status::invalid_argument("no commit log segment holds offset " + std::to_string(offset));
  out.resize(got);
  return out;
}

int64_t MessageStore::end_offset() const {
  std::lock_guard<std::mutex> lock(mu_);
  return appended_;
}

Status MessageStore::append_replica(int64_t offset, std::string_view bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  if (leader_active_ || !writers_.empty()) {
    return Status::busy("local puts are in progress: a store that replicates a master takes no puts");
  }
  if (shutting_down_) return Status::aborted("store is shutting down");
  if (fenced()) return Status::fenced("store fenced: " + fence_status().message());
  if (offset != appended_) {
    return Status::invalid_argument("replicated bytes start at offset " + std::to_string(offset) +
                                    " but this log ends at " + std::to_string(appended_));
  }
  if (bytes.empty()) return Status::ok();
  if (replica_parsed_ < 0 || replica_parsed_ > appended_ ||
      replica_parsed_ + static_cast<int64_t>(replica_carry_.size()) != appended_) {
    replica_parsed_ = appended_;  // a record boundary: where recovery or the last boundary left it
    replica_carry_.clear();
  }

  // Check what becomes complete before writing anything.
  std::string data = replica_carry_;
  data.append(bytes);
  const int64_t base = replica_parsed_;
  const int64_t end = base + static_cast<int64_t>(data.size());
  const int64_t seg_size = log_->segment_size();
  struct QueueAdvance {
    std::string key;
    int64_t next;
  };
  std::vector<QueueAdvance> advances;
  // `boundary`: where parsing stands (past a segment's blank record and filler once they are all
  // here); `readable`: the end of the last complete record — what may become confirmed, so that
  // readers never stop inside a segment's filler.
  int64_t boundary = base;
  int64_t readable = written_.load();
  int64_t last_ts = 0;
  int64_t records = 0, record_bytes = 0;
  while (boundary < end) {
    const int64_t seg_end = log_->segment_start(boundary) + seg_size;
    const auto i = static_cast<size_t>(boundary - base);
    if (seg_end - boundary < format::kEndFileMinBlankLength) {
      if (end < seg_end) break;
      boundary = seg_end;
      continue;
    }
    RecordView r;
    const size_t avail = static_cast<size_t>(std::min(end, seg_end) - boundary);
    DecodeResult d = decode_record(data.data() + i, avail, /*check_crc=*/true, &r);
    if (d.outcome == DecodeOutcome::kIncomplete) break;
    if (d.outcome == DecodeOutcome::kBlank) {
      if (end < seg_end) break;  // the filler up to the segment end has not all arrived
      boundary = seg_end;
      continue;
    }
    if (d.outcome != DecodeOutcome::kRecord || r.physical_offset != boundary) {
      return Status::corruption("replicated bytes at offset " + std::to_string(boundary) + " are not a record" +
                                (d.reason.empty() ? std::string(" at its own offset") : ": " + d.reason) +
                                "; nothing was written");
    }
    const int32_t tt = r.transaction_type();
    if (tt != format::kTransactionPrepared && tt != format::kTransactionRollback) {
      // The master numbers each queue without gaps; a record that does not continue its queue
      // comes from another log.
      std::string key = queue_key(std::string(r.topic), r.queue_id);
      int64_t expected = 0;
      auto pending = std::find_if(advances.rbegin(), advances.rend(), [&](const QueueAdvance& a) { return a.key == key; });
      if (pending != advances.rend()) {
        expected = pending->next;
      } else if (auto it = queue_offsets_.find(key); it != queue_offsets_.end()) {
        expected = it->second;
      }
      if (r.queue_offset != expected) {
        return Status::corruption("replicated record at offset " + std::to_string(boundary) + " has queue offset " +
                                  std::to_string(r.queue_offset) + " in " + std::string(r.topic) + ":" +
                                  std::to_string(r.queue_id) + ", this log expects " + std::to_string(expected) +
                                  "; nothing was written");
      }
      advances.push_back({std::move(key), r.queue_offset + 1});
    }
    last_ts = std::max(last_ts, r.store_timestamp);
    ++records;
    record_bytes += d.size;
    boundary += d.size;
    readable = boundary;
  }

  // Write what is complete (records, and a segment's blank record and filler once all of it is
  // here), split at segment ends. The incomplete tail stays in memory until its record is whole:
  // written, a fsync for the records before it could make its head durable without its end, and a
  // power loss would then leave a record whose size, magic and body CRC are intact but whose
  // properties (not covered by the CRC) are zeros — which recovery would keep.
  int64_t pos = base;
  size_t from = 0;
  const auto complete = static_cast<size_t>(boundary - base);
  while (from < complete) {
    const int64_t seg_end = log_->segment_start(pos) + seg_size;
    const auto n = static_cast<size_t>(std::min<int64_t>(seg_end - pos, static_cast<int64_t>(complete - from)));
    Status st = log_->write(pos, data.data() + from, n);
    if (!st.is_ok()) {
      // Part of the bytes may be on disk past the last boundary; recovery cuts them.
      fence(st);
      std::lock_guard<std::mutex> flock(flush_mu_);
      flush_cv_.notify_one();
      return st;
    }
    pos += static_cast<int64_t>(n);
    from += n;
  }
  appended_ = offset + static_cast<int64_t>(bytes.size());  // what was received, held or written
  for (const QueueAdvance& a : advances) queue_offsets_[a.key] = a.next;
  last_store_timestamp_ = std::max(last_store_timestamp_, last_ts);
  replica_carry_ = data.substr(static_cast<size_t>(boundary - base));
  replica_parsed_ = boundary;
  if (readable > written_.load()) {
    put_messages_.fetch_add(records, std::memory_order_relaxed);
    put_bytes_.fetch_add(record_bytes, std::memory_order_relaxed);
    written_.store(readable, std::memory_order_release);
    if (last_ts > 0) written_timestamp_.store(last_ts, std::memory_order_release);
    lock.unlock();
    if (options_.flush_disk_type == FlushDiskType::kSyncFlush) {
      std::lock_guard<std::mutex> flock(flush_mu_);
      flush_cv_.notify_one();
    } else {
      publish_confirmed(readable);
    }
  }
  return Status::ok();
}

}  // namespace holdfast
