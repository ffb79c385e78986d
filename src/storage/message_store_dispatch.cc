// MessageStore dispatch (commit log -> consume queues and index), checkpoints, and reads.
#include <algorithm>
#include <chrono>
#include <iterator>
#include <limits>
#include <optional>

#include "base/logging.h"
#include "base/sync_point.h"
#include "storage/checkpoint.h"
#include "storage/message_format.h"
#include "storage/message_store.h"

namespace holdfast {

const char* get_status_name(GetStatus s) {
  switch (s) {
    case GetStatus::kFound: return "FOUND";
    case GetStatus::kNoMatchedMessage: return "NO_MATCHED_MESSAGE";
    case GetStatus::kMessageWasRemoving: return "MESSAGE_WAS_REMOVING";
    case GetStatus::kOffsetOverflowOne: return "OFFSET_OVERFLOW_ONE";
    case GetStatus::kOffsetOverflowBadly: return "OFFSET_OVERFLOW_BADLY";
    case GetStatus::kOffsetTooSmall: return "OFFSET_TOO_SMALL";
    case GetStatus::kNoMessageInQueue: return "NO_MESSAGE_IN_QUEUE";
    case GetStatus::kNoMatchedLogicQueue: return "NO_MATCHED_LOGIC_QUEUE";
  }
  return "UNKNOWN";
}

namespace {
constexpr size_t kDispatchReadBytes = 4 << 20;
constexpr int64_t kDispatchBatchBytes = 256 << 10;
}  // namespace

std::string MessageStore::queue_key(const std::string& topic, int32_t queue_id) {
  std::string k = topic;
  k.push_back('\x01');
  k += std::to_string(queue_id);
  return k;
}

void MessageStore::publish_confirmed(int64_t offset) {
  confirmed_.store(offset, std::memory_order_release);
  std::lock_guard<std::mutex> lock(dispatch_mu_);
  dispatch_cv_.notify_all();
}

void MessageStore::enable_read_gate() {
  int64_t expected = std::numeric_limits<int64_t>::max();
  read_gate_.compare_exchange_strong(expected, confirmed_offset());
}

void MessageStore::advance_read_gate(int64_t offset) {
  int64_t gate = read_gate_.load();
  while (offset > gate && !read_gate_.compare_exchange_weak(gate, offset)) {
  }
  if (offset > gate) {
    std::lock_guard<std::mutex> lock(dispatch_mu_);
    dispatch_cv_.notify_all();
  }
}

int64_t MessageStore::wait_confirmed_past(int64_t offset, int64_t timeout_ms) const {
  std::unique_lock<std::mutex> lock(dispatch_mu_);
  dispatch_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [&] { return confirmed_.load() > offset || stop_dispatch_; });
  return confirmed_.load();
}

void MessageStore::wait_dispatched(int64_t offset) const {
  std::unique_lock<std::mutex> lock(dispatch_mu_);
  dispatch_cv_.wait(lock, [&] { return dispatched_.load() >= offset || stop_dispatch_; });
}

void MessageStore::set_arrival_listener(ArrivalListener listener) {
  std::lock_guard<std::mutex> lock(listener_mu_);
  arrival_listener_ = std::move(listener);
}

std::shared_ptr<ConsumeQueue> MessageStore::find_consume_queue(const std::string& topic, int32_t queue_id) const {
  std::shared_lock<std::shared_mutex> lock(queues_mu_);
  auto it = queues_.find(queue_key(topic, queue_id));
  return it == queues_.end() ? nullptr : it->second;
}

Result<ConsumeQueue*> MessageStore::consume_queue_for(const std::string& topic, int32_t queue_id,
                                                      bool create) {
  if (auto cq = find_consume_queue(topic, queue_id)) return cq.get();  // owned by queues_
  if (!create) return Status::not_found("no consume queue " + topic + "/" + std::to_string(queue_id));
  const std::string dir = join_path(join_path(join_path(options_.root_dir, "consumequeue"), topic),
                                    std::to_string(queue_id));
  HF_ASSIGN_OR_RETURN(auto cq, ConsumeQueue::open(env_, dir, topic, queue_id,
                                                  options_.consume_queue_units_per_file));
  std::unique_lock<std::shared_mutex> lock(queues_mu_);
  auto& slot = queues_[queue_key(topic, queue_id)];
  if (!slot) slot = std::shared_ptr<ConsumeQueue>(std::move(cq));
  return slot.get();
}

Status MessageStore::dispatch_record(const RecordView& r) {
  const int32_t tt = r.transaction_type();
  if (tt == format::kTransactionNotType || tt == format::kTransactionCommit) {
    HF_ASSIGN_OR_RETURN(ConsumeQueue * cq, consume_queue_for(std::string(r.topic), r.queue_id, true));
    // A retry after a failed flush re-reads records whose units are still pending, and recovery
    // re-reads records whose units survived in older queue files: skip the unit, but not the
    // index below (it has its own high-water mark and may have been cut back further).
    if (r.queue_offset >= cq->pending_end()) {
      // Invariant: queue offsets are dense; the appender assigned exactly the next one.
      HF_CHECK(r.queue_offset == cq->pending_end(), "record at ", r.physical_offset, " of ", r.topic,
               "/", r.queue_id, " has queue offset ", r.queue_offset, " but the consume queue expects ",
               cq->pending_end());
      // A delayed message's unit carries its due time instead of a tag hash (facts §8.2).
      const int64_t tags_code = r.topic == kScheduleTopicName ? schedule_due_time(r, options_.delay_level_ms)
                                                              : tags_code_of(r.properties);
      cq->append(r.queue_offset, {r.physical_offset, r.total_size, tags_code});
    }
    // Touched even when the unit was skipped: after a failed flush the unit is still pending, and
    // this pass's flush must write it (a full disk that frees up must not leave it unwritten).
    if (std::find(touched_queues_.begin(), touched_queues_.end(), cq) == touched_queues_.end()) {
      touched_queues_.push_back(cq);
    }
  }
  if (options_.message_index_enable && tt != format::kTransactionRollback) {
    auto keys = index_keys_of(r.properties);
    if (!keys.empty()) {
      HF_SYNC_POINT("store.dispatch.index_add.before");
      HF_RETURN_IF_ERROR(index_->add(r.topic, keys, r.physical_offset, r.store_timestamp));
    }
  }
  last_dispatched_timestamp_ = r.store_timestamp;
  return Status::ok();
}

Status MessageStore::flush_dispatch_writes() {
  for (ConsumeQueue* cq : touched_queues_) HF_RETURN_IF_ERROR(cq->flush_writes());
  HF_RETURN_IF_ERROR(index_->flush_writes());
  return Status::ok();
}

Status MessageStore::dispatch_range(int64_t from, int64_t to, int64_t* reached, bool recovering,
                                    int64_t* records) {
  const int64_t seg_size = log_->segment_size();
  const int64_t max_record = options_.max_message_size + 64 * 1024 + 4096;
  std::string buf;
  int64_t pos = from;
  *reached = from;
  while (pos < to) {
    const int64_t seg_start = log_->segment_start(pos);
    const int64_t seg_end = seg_start + seg_size;
    if (seg_end - pos < format::kEndFileMinBlankLength) {
      pos = seg_end;
      continue;
    }
    size_t want = static_cast<size_t>(std::min<int64_t>(
        {to - pos, seg_end - pos, static_cast<int64_t>(kDispatchReadBytes)}));
    buf.resize(want);
    size_t got = 0;
    HF_RETURN_IF_ERROR(log_->read(pos, want, buf.data(), &got));
    if (got == 0) {
      if (recovering) break;  // no segment here: end of the log
      return Status::corruption("commit log segment missing at offset " + std::to_string(pos));
    }
    size_t i = 0;
    bool end_of_data = false, next_segment = false;
    touched_queues_.clear();
    while (i < got) {
      RecordView r;
      DecodeResult d = decode_record(buf.data() + i, got - i,
                                     recovering && options_.check_crc_on_recover, &r);
      if (d.outcome == DecodeOutcome::kRecord) {
        if (r.physical_offset != pos + static_cast<int64_t>(i)) {
          d = {DecodeOutcome::kCorrupt, 0, "physical offset field does not match its position"};
        } else {
          HF_RETURN_IF_ERROR(dispatch_record(r));
          if (records) ++*records;
          i += static_cast<size_t>(d.size);
          continue;
        }
      }
      if (d.outcome == DecodeOutcome::kBlank) {
        next_segment = true;
        break;
      }
      if (d.outcome == DecodeOutcome::kIncomplete && i > 0) break;  // refill from here
      if (d.outcome == DecodeOutcome::kIncomplete && d.size > 0 && d.size <= max_record &&
          pos + d.size <= std::min(to, seg_end) && static_cast<size_t>(d.size) > got) {
        // One record larger than the read buffer: read exactly it.
        buf.resize(static_cast<size_t>(d.size));
        HF_RETURN_IF_ERROR(log_->read(pos, buf.size(), buf.data(), &got));
        if (got == buf.size()) continue;
      }
      if (!recovering) {
        return Status::corruption("undecodable commit log data at offset " +
                                  std::to_string(pos + static_cast<int64_t>(i)) + ": " +
                                  (d.reason.empty() ? "truncated record" : d.reason));
      }
      if (d.outcome == DecodeOutcome::kCorrupt) {
        logger("storage")->warn("recovery stops at offset {}: {}", pos + static_cast<int64_t>(i), d.reason);
      }
      end_of_data = true;
      break;
    }
    pos += static_cast<int64_t>(i);
    HF_SYNC_POINT("store.dispatch.flush_writes.before");
    HF_RETURN_IF_ERROR(flush_dispatch_writes());
    if (!recovering) {
      HF_SYNC_POINT("store.dispatch.publish.before");
      dispatched_.store(pos, std::memory_order_release);
      ArrivalListener listener;
      {
        std::lock_guard<std::mutex> lock(listener_mu_);
        listener = arrival_listener_;
      }
      if (listener) {
        for (ConsumeQueue* cq : touched_queues_) listener(cq->topic(), cq->queue_id(), cq->max_offset());
      }
      std::lock_guard<std::mutex> lock(dispatch_mu_);
      dispatch_cv_.notify_all();
    }
    *reached = pos;
    if (end_of_data) break;
    if (next_segment) {
      // The blank record ends this segment; data continues at the next one (if it exists).
      pos = seg_end;
      if (recovering && log_->max_segment_start() < seg_end) {
        *reached = pos;
        break;
      }
      *reached = pos;
    }
  }
  return Status::ok();
}

void MessageStore::dispatcher_loop() {
  for (;;) {
    std::optional<std::string> deletion;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(dispatch_mu_);
      dispatch_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] {
        return stop_dispatch_ || readable_offset() > dispatched_.load() ||
               (delete_request_ && !delete_result_);
      });
      if (stop_dispatch_ && confirmed_.load() == dispatched_.load()) {
        if (delete_request_ && !delete_result_) {
          delete_result_ = Status::aborted("store is shutting down");
          dispatch_cv_.notify_all();
        }
        break;
      }
      if (delete_request_ && !delete_result_) deletion = *delete_request_;
      stopping = stop_dispatch_;
    }
    if (deletion) {
      Status st = apply_delete_topic(*deletion);
      std::lock_guard<std::mutex> lock(dispatch_mu_);
      delete_result_ = st;
      dispatch_cv_.notify_all();
      continue;
    }
    // While stopping, everything stored is dispatched (the read gate is for live readers).
    auto limit = [this, stopping] { return stopping ? confirmed_.load() : readable_offset(); };
    int64_t from = dispatched_.load(), to = limit();
    if (to > from && to - from < kDispatchBatchBytes) {
      // Let a little more arrive: one pass per millisecond instead of a wake-up per message
      // (RocketMQ's reput service also runs once per millisecond).
      std::unique_lock<std::mutex> lock(dispatch_mu_);
      dispatch_cv_.wait_for(lock, std::chrono::milliseconds(1), [&] { return stop_dispatch_; });
      to = limit();
    }
    if (to > from) {
      int64_t reached = from;
      HF_SYNC_POINT("store.dispatch.pass.before");
      Status st = dispatch_range(from, to, &reached, false, nullptr);
      HF_SYNC_POINT("store.dispatch.pass.after");
      if (!st.is_ok()) {
        logger("storage")->error("dispatch stopped at {}: {}", reached, st.to_string());
        std::unique_lock<std::mutex> lock(dispatch_mu_);
        dispatch_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_dispatch_; });
        if (stop_dispatch_) break;
        continue;
      }
    }
    const int64_t min_phys = pending_min_physical_offset_.exchange(-1);
    if (min_phys >= 0) {
      std::vector<ConsumeQueue*> all;
      {
        std::shared_lock<std::shared_mutex> lock(queues_mu_);
        for (auto& [k, cq] : queues_) all.push_back(cq.get());
      }
      for (ConsumeQueue* cq : all) {
        Status st = cq->delete_files_below(min_phys);
        if (!st.is_ok()) logger("storage")->warn("consume queue cleanup: {}", st.to_string());
      }
      Status st = index_->delete_files_below(min_phys);
      if (!st.is_ok()) logger("storage")->warn("index cleanup: {}", st.to_string());
    }
    const int64_t now = env_->now_micros_monotonic();
    if (now - last_checkpoint_us_ >= options_.checkpoint_interval_ms * 1000) {
      last_checkpoint_us_ = now;
      HF_SYNC_POINT("store.checkpoint.periodic");
      Status st = write_checkpoint_now();
      if (!st.is_ok()) logger("storage")->warn("checkpoint not written: {}", st.to_string());
    }
  }
}

Status MessageStore::write_checkpoint_now() {
  const int64_t dispatched = dispatched_.load();
  std::vector<ConsumeQueue*> all;
  {
    std::shared_lock<std::shared_mutex> lock(queues_mu_);
    for (auto& [k, cq] : queues_) all.push_back(cq.get());
  }
  // A failed fdatasync fences the store, as in the flusher: the kernel may have dropped the dirty
  // pages and cleared the error, so a retry that "succeeds" (the flusher's next round, the next
  // checkpoint) would promise bytes that are gone. Nothing is acknowledged or checkpointed after.
  // A failed write (a full disk) only skips this checkpoint. The index fences itself on a failed
  // fdatasync and then fails every later sync, so no checkpoint is written after that either.
  auto fence_on_failure = [this](Status st) {
    if (!st.is_ok()) {
      fence(st);
      std::lock_guard<std::mutex> flock(flush_mu_);
      flush_cv_.notify_one();  // the flusher fails the puts still waiting for a flush
    }
    return st;
  };
  int64_t flushed = flushed_.load();
  if (flushed < dispatched) {
    // ASYNC_FLUSH may dispatch unflushed bytes; the checkpoint may only name durable ones. The log
    // is synced before the consume queues and the index: a durable unit must never point at log
    // bytes a power loss can still take back (recovery trusts the units of older queue files).
    HF_RETURN_IF_ERROR(fence_on_failure(log_->sync_through(dispatched)));
    flushed = dispatched;
  }
  for (ConsumeQueue* cq : all) {
    if (!cq->has_unsynced()) continue;
    HF_RETURN_IF_ERROR(cq->flush_writes());
    HF_RETURN_IF_ERROR(fence_on_failure(cq->sync()));
  }
  HF_SYNC_POINT("store.checkpoint.index_sync.before");
  HF_RETURN_IF_ERROR(index_->sync());
  HF_SYNC_POINT("store.checkpoint.write.before");
  StoreCheckpoint c;
  c.physic_msg_timestamp = last_flushed_timestamp_.load();
  c.logics_msg_timestamp = last_dispatched_timestamp_;
  c.index_msg_timestamp = last_dispatched_timestamp_;
  c.flushed_offset = flushed;
  c.dispatched_offset = dispatched;
  c.index_point = index_->durable_point();
  return write_checkpoint(env_, join_path(options_.root_dir, "checkpoint"), c);
}

// ---- reads ----

Result<std::string> MessageStore::read_record(int64_t physical_offset) const {
  if (physical_offset < 0 || physical_offset >= confirmed_offset()) {
    return Status::not_found("no message at offset " + std::to_string(physical_offset));
  }
  char head[4];
  size_t got = 0;
  HF_RETURN_IF_ERROR(log_->read(physical_offset, 4, head, &got));
  if (got != 4) return Status::not_found("no message at offset " + std::to_string(physical_offset));
  const int32_t size = static_cast<int32_t>((static_cast<uint8_t>(head[0]) << 24) |
                                            (static_cast<uint8_t>(head[1]) << 16) |
                                            (static_cast<uint8_t>(head[2]) << 8) |
                                            static_cast<uint8_t>(head[3]));
  if (size <= 0 || physical_offset + size > confirmed_offset() ||
      size > options_.max_message_size + 64 * 1024 + 4096) {
    return Status::not_found("no message at offset " + std::to_string(physical_offset));
  }
  std::string rec(static_cast<size_t>(size), '\0');
  HF_RETURN_IF_ERROR(log_->read(physical_offset, rec.size(), rec.data(), &got));
  RecordView v;
  if (got != rec.size() || decode_record(rec.data(), rec.size(), false, &v).outcome != DecodeOutcome::kRecord ||
      v.physical_offset != physical_offset) {
    return Status::not_found("no message at offset " + std::to_string(physical_offset));
  }
  return rec;
}

GetResult MessageStore::get_messages(const std::string& topic, int32_t queue_id, int64_t queue_offset,
                                     int max_count, int64_t max_bytes,
                                     const std::function<bool(int64_t)>& filter) const {
  GetResult out;
  std::shared_ptr<ConsumeQueue> cq = find_consume_queue(topic, queue_id);
  if (cq == nullptr) {
    out.status = GetStatus::kNoMatchedLogicQueue;
    out.next_begin_offset = 0;
    return out;
  }
  out.min_offset = cq->min_offset();
  out.max_offset = cq->max_offset();
  if (out.max_offset == 0) {
    out.status = GetStatus::kNoMessageInQueue;
    out.next_begin_offset = 0;
    return out;
  }
  if (queue_offset < out.min_offset) {
    out.status = GetStatus::kOffsetTooSmall;
    out.next_begin_offset = out.min_offset;
    return out;
  }
  if (queue_offset == out.max_offset) {
    out.status = GetStatus::kOffsetOverflowOne;
    out.next_begin_offset = queue_offset;
    return out;
  }
  if (queue_offset > out.max_offset) {
    out.status = GetStatus::kOffsetOverflowBadly;
    out.next_begin_offset = out.max_offset;
    return out;
  }
  const int scan = std::max(max_count, 1) * 4 + 16;
  std::vector<ConsumeQueueUnit> units;
  Status st = cq->read(queue_offset, std::min(scan, 800), &units);
  int64_t next = queue_offset;
  int64_t bytes = 0;
  bool removed = false;
  for (size_t i = 0; i < units.size(); ++i) {
    const auto& u = units[i];
    if (static_cast<int>(out.records.size()) >= max_count) break;
    if (!out.records.empty() && bytes + u.size > max_bytes) break;
    const int64_t q = queue_offset + static_cast<int64_t>(i);
    if (filter && !filter(u.tags_code)) {
      next = q + 1;
      continue;
    }
    auto rec = read_record(u.physical_offset);
    if (!rec.is_ok()) {
      removed = u.physical_offset < min_physical_offset();
      if (!removed) break;
      next = q + 1;
      continue;
    }
    bytes += u.size;
    out.records.push_back(std::move(rec).value());
    out.queue_offsets.push_back(q);
    out.physical_offsets.push_back(u.physical_offset);
    next = q + 1;
  }
  (void)st;
  out.next_begin_offset = next;
  if (!out.records.empty()) out.status = GetStatus::kFound;
  else if (removed) out.status = GetStatus::kMessageWasRemoving;
  else if (next > queue_offset) out.status = GetStatus::kNoMatchedMessage;
  else out.status = GetStatus::kOffsetOverflowOne;
  return out;
}

Result<std::vector<std::string>> MessageStore::query_by_key(const std::string& topic, const std::string& key,
                                                            int max_num, int64_t begin_ms, int64_t end_ms) const {
  HF_ASSIGN_OR_RETURN(auto offsets, index_->query(topic, key, max_num, begin_ms, end_ms));
  std::vector<std::string> out;
  for (int64_t phys : offsets) {
    auto rec = read_record(phys);
    if (!rec.is_ok()) continue;
    RecordView v;
    if (decode_record(rec->data(), rec->size(), false, &v).outcome != DecodeOutcome::kRecord) continue;
    if (v.topic != topic) continue;
    auto keys = index_keys_of(v.properties);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) continue;
    out.push_back(std::move(rec).value());
  }
  return out;
}

int64_t MessageStore::min_offset_in_queue(const std::string& topic, int32_t queue_id) const {
  std::shared_ptr<ConsumeQueue> cq = find_consume_queue(topic, queue_id);
  return cq ? cq->min_offset() : 0;
}

int64_t MessageStore::max_offset_in_queue(const std::string& topic, int32_t queue_id) const {
  std::shared_ptr<ConsumeQueue> cq = find_consume_queue(topic, queue_id);
  return cq ? cq->max_offset() : 0;
}

Result<int64_t> MessageStore::offset_by_timestamp(const std::string& topic, int32_t queue_id,
                                                  int64_t timestamp_ms) const {
  std::shared_ptr<ConsumeQueue> cq = find_consume_queue(topic, queue_id);
  if (cq == nullptr) return int64_t{0};
  int64_t lo = cq->min_offset(), hi = cq->max_offset();
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    std::vector<ConsumeQueueUnit> u;
    HF_RETURN_IF_ERROR(cq->read(mid, 1, &u));
    if (u.empty()) break;
    auto rec = read_record(u[0].physical_offset);
    if (!rec.is_ok()) {  // removed by retention: everything up to here is older
      lo = mid + 1;
      continue;
    }
    RecordView v;
    (void)decode_record(rec->data(), rec->size(), false, &v);
    if (v.store_timestamp < timestamp_ms) lo = mid + 1; else hi = mid;
  }
  return lo;
}

Result<int64_t> MessageStore::store_time_at(const std::string& topic, int32_t queue_id, int64_t queue_offset) const {
  std::shared_ptr<ConsumeQueue> cq = find_consume_queue(topic, queue_id);
  if (cq == nullptr || queue_offset < cq->min_offset() || queue_offset >= cq->max_offset()) {
    return Status::not_found("no message at that queue offset");
  }
  std::vector<ConsumeQueueUnit> u;
  HF_RETURN_IF_ERROR(cq->read(queue_offset, 1, &u));
  if (u.empty()) return Status::not_found("no message at that queue offset");
  HF_ASSIGN_OR_RETURN(std::string rec, read_record(u[0].physical_offset));
  RecordView v;
  if (decode_record(rec.data(), rec.size(), false, &v).outcome != DecodeOutcome::kRecord) {
    return Status::corruption("record at " + std::to_string(u[0].physical_offset) + " does not decode");
  }
  return v.store_timestamp;
}

Result<int64_t> MessageStore::earliest_store_time(const std::string& topic, int32_t queue_id) const {
  std::shared_ptr<ConsumeQueue> cq = find_consume_queue(topic, queue_id);
  if (cq == nullptr) return Status::not_found("queue is empty");
  return store_time_at(topic, queue_id, cq->min_offset());
}

std::vector<std::pair<std::string, int32_t>> MessageStore::queues() const {
  std::vector<std::pair<std::string, int32_t>> out;
  std::shared_lock<std::shared_mutex> lock(queues_mu_);
  for (auto& [k, cq] : queues_) out.emplace_back(cq->topic(), cq->queue_id());
  std::sort(out.begin(), out.end());
  return out;
}

int64_t MessageStore::min_physical_offset() const {
  int64_t m = log_->min_segment_start();
  return m < 0 ? 0 : m;
}

Status MessageStore::delete_topic(const std::string& topic) {
  std::lock_guard<std::mutex> one_at_a_time(delete_mu_);
  int64_t cut;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutting_down_) return Status::aborted("store is shutting down");
    deleting_topics_.insert(topic);  // from here on no record of the topic is added
    cut = appended_;
  }
  auto unmark = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    deleting_topics_.erase(topic);
  };
  Status st;
  {
    std::unique_lock<std::mutex> lock(dispatch_mu_);
    // Every record of the topic goes to its queues before they are dropped.
    const bool caught_up = dispatch_cv_.wait_for(lock, std::chrono::seconds(10), [&] {
      return stop_dispatch_ || dispatched_.load() >= cut;
    });
    if (stop_dispatch_ || !caught_up) {
      lock.unlock();
      unmark();
      return stop_dispatch_ ? Status::aborted("store is shutting down")
                            : Status::timeout("records of topic " + topic + " not dispatched within 10 s" +
                                              (fenced() ? " (store fenced)"
                                               : readable_offset() < cut ? " (waiting for a slave's acknowledgement)"
                                                                         : ""));
    }
    delete_request_ = topic;
    delete_result_.reset();
    delete_dropped_ = false;
    dispatch_cv_.notify_all();
    dispatch_cv_.wait(lock, [&] { return delete_result_.has_value(); });
    st = *delete_result_;
    delete_request_.reset();
    delete_result_.reset();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!st.is_ok() && delete_dropped_) return st;  // files partly left: puts stay refused (see header)
  if (st.is_ok()) {
    const std::string prefix = queue_key(topic, 0).substr(0, topic.size() + 1);
    for (auto it = queue_offsets_.begin(); it != queue_offsets_.end();) {
      it = it->first.compare(0, prefix.size(), prefix) == 0 ? queue_offsets_.erase(it) : std::next(it);
    }
  }
  deleting_topics_.erase(topic);
  return st;
}

Status MessageStore::apply_delete_topic(const std::string& topic) {
  // A durable checkpoint past the topic's records first: recovery must never re-dispatch them
  // into queues that no longer exist (and whose offsets a re-created topic starts again at 0).
  HF_RETURN_IF_ERROR(write_checkpoint_now());
  std::vector<std::shared_ptr<ConsumeQueue>> dropped;
  {
    std::unique_lock<std::shared_mutex> lock(queues_mu_);
    for (auto it = queues_.begin(); it != queues_.end();) {
      if (it->second->topic() == topic) {
        dropped.push_back(std::move(it->second));
        it = queues_.erase(it);
      } else {
        ++it;
      }
    }
  }
  touched_queues_.clear();
  delete_dropped_ = true;
  const std::string base = join_path(options_.root_dir, "consumequeue");
  const std::string topic_dir = join_path(base, topic);
  if (!env_->file_exists(topic_dir)) return Status::ok();
  HF_ASSIGN_OR_RETURN(auto queue_dirs, env_->list_dir(topic_dir));
  for (const auto& q : queue_dirs) {
    const std::string dir = join_path(topic_dir, q);
    HF_ASSIGN_OR_RETURN(auto files, env_->list_dir(dir));
    for (const auto& f : files) HF_RETURN_IF_ERROR(env_->remove_file(join_path(dir, f)));
    HF_RETURN_IF_ERROR(env_->remove_dir(dir));
  }
  HF_RETURN_IF_ERROR(env_->remove_dir(topic_dir));
  HF_RETURN_IF_ERROR(env_->sync_dir(base));
  logger("storage")->info("deleted the consume queues of topic {} ({} queues)", topic, dropped.size());
  return Status::ok();
}

}  // namespace holdfast
