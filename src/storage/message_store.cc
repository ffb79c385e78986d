// MessageStore lifecycle and the write path: writer queue, group write, group commit, fencing.
#include "storage/message_store.h"

#include <algorithm>

#include "base/logging.h"
#include "base/sync_point.h"
#include "storage/checkpoint.h"
#include "storage/message_format.h"

namespace holdfast {

const char* put_status_name(PutStatus s) {
  switch (s) {
    case PutStatus::kOk: return "PUT_OK";
    case PutStatus::kFlushDiskTimeout: return "FLUSH_DISK_TIMEOUT";
    case PutStatus::kFlushSlaveTimeout: return "FLUSH_SLAVE_TIMEOUT";
    case PutStatus::kSlaveNotAvailable: return "SLAVE_NOT_AVAILABLE";
    case PutStatus::kServiceNotAvailable: return "SERVICE_NOT_AVAILABLE";
    case PutStatus::kMessageIllegal: return "MESSAGE_ILLEGAL";
    case PutStatus::kUnknownError: return "UNKNOWN_ERROR";
  }
  return "UNKNOWN_ERROR";
}

// One put (or batch) waiting in the writer queue; owned by the queue until completed.
struct MessageStore::Writer {
  std::vector<std::string> records;
  std::string topic;
  int32_t queue_id = 0;
  int32_t transaction_type = 0;
  bool wait_flush = true;
  std::vector<PutResult> results;
  std::function<void(std::vector<PutResult>)> done;
};

MessageStore::MessageStore(Env* env, StoreOptions options) : env_(env), options_(std::move(options)) {}

Result<std::unique_ptr<MessageStore>> MessageStore::open(Env* env, const StoreOptions& options) {
  if (options.root_dir.empty()) return Status::invalid_argument("storePathRootDir is empty");
  if (options.commit_log_segment_size < options.max_message_size + 64 * 1024 + 4096) {
    return Status::invalid_argument(
        "mappedFileSizeCommitLog must exceed maxMessageSize by at least 68 KiB");
  }
  std::unique_ptr<MessageStore> store(new MessageStore(env, options));
  const std::string& root = options.root_dir;
  HF_RETURN_IF_ERROR(env->create_dirs(root));
  HF_ASSIGN_OR_RETURN(store->lock_, env->lock_file(join_path(root, "lock")));
  HF_ASSIGN_OR_RETURN(store->log_, CommitLog::open(env, join_path(root, "commitlog"),
                                                   options.commit_log_segment_size,
                                                   options.warm_segments));
  HF_ASSIGN_OR_RETURN(store->index_, IndexService::open(env, root, options.index));
  HF_RETURN_IF_ERROR(store->open_existing_consume_queues());
  HF_RETURN_IF_ERROR(store->recover());
  // From now until a clean shutdown, a restart must treat the store as crashed.
  {
    HF_ASSIGN_OR_RETURN(auto abort_file, env->open_file(join_path(root, "abort"), OpenMode::kCreateIfMissing));
    HF_RETURN_IF_ERROR(abort_file->sync());
  }
  HF_RETURN_IF_ERROR(env->sync_dir(root));
  {
    std::shared_lock<std::shared_mutex> lock(store->queues_mu_);
    for (auto& [key, cq] : store->queues_) store->queue_offsets_[key] = cq->max_offset();
  }
  if (options.warm_segments) {
    // The first put should not pay for preparing its segment.
    Status st = store->log_->preallocate(store->appended_);
    if (!st.is_ok()) logger("storage")->warn("could not prepare the active segment: {}", st.to_string());
  }
  store->start_threads();
  return store;
}

MessageStore::~MessageStore() { (void)shutdown(); }

void MessageStore::start_threads() {
  last_checkpoint_us_ = env_->now_micros_monotonic();
  writer_ = std::thread([this] { writer_loop(); });
  flusher_ = std::thread([this] { flusher_loop(); });
  watcher_ = std::thread([this] { flush_watcher_loop(); });
  dispatcher_ = std::thread([this] { dispatcher_loop(); });
  housekeeper_ = std::thread([this] { housekeeper_loop(); });
}

Status MessageStore::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return Status::ok();
    stopped_ = true;
    shutting_down_ = true;
  }
  // Writers already queued are rejected by their leader; wait for the queue to drain.
  {
    std::unique_lock<std::mutex> lock(mu_);
    writer_cv_.wait(lock, [&] { return writers_.empty() && !leader_active_; });
    stop_writer_ = true;
  }
  writer_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    stop_flush_ = true;
  }
  flush_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    stop_watch_ = true;
  }
  watcher_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  {
    std::lock_guard<std::mutex> lock(dispatch_mu_);
    stop_dispatch_ = true;
  }
  dispatch_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  {
    std::lock_guard<std::mutex> lock(housekeeping_mu_);
    stop_housekeeping_ = true;
  }
  housekeeping_cv_.notify_all();
  if (housekeeper_.joinable()) housekeeper_.join();
  if (fenced()) {
    logger("storage")->error("store stopped while fenced ({}); the next start runs crash recovery",
                             fence_status().to_string());
    return fence_status();
  }
  HF_RETURN_IF_ERROR(write_checkpoint_now());
  HF_RETURN_IF_ERROR(env_->remove_file(join_path(options_.root_dir, "abort")));
  HF_RETURN_IF_ERROR(env_->sync_dir(options_.root_dir));
  logger("storage")->info("store stopped cleanly at offset {}", written_offset());
  return Status::ok();
}

bool MessageStore::fenced() const { return fenced_.load(std::memory_order_acquire); }

Status MessageStore::fence_status() const {
  std::lock_guard<std::mutex> lock(fence_mu_);
  return fence_status_;
}

void MessageStore::fence(const Status& st) {
  std::lock_guard<std::mutex> lock(fence_mu_);
  if (fenced_.load()) return;
  fence_status_ = st;
  fenced_.store(true, std::memory_order_release);
  logger("storage")->error(
      "store fenced: {}. Every later put is rejected until the broker restarts and recovers; "
      "reads continue. Check the disk.", st.to_string());
}

namespace {

std::vector<PutResult> failed_results(size_t n, PutStatus status, const std::string& remark) {
  std::vector<PutResult> out(n);
  for (auto& r : out) {
    r.status = status;
    r.remark = remark;
  }
  return out;
}

}  // namespace

namespace {
// The store whose PutBatch is open on this thread (one at a time).
thread_local MessageStore* t_put_batch_store = nullptr;
}  // namespace

MessageStore::PutBatch::PutBatch(MessageStore* store) : store_(t_put_batch_store == nullptr ? store : nullptr) {
  if (store_ != nullptr) t_put_batch_store = store_;
}

MessageStore::PutBatch::~PutBatch() {
  if (store_ == nullptr) return;
  t_put_batch_store = nullptr;
  bool lead = false;
  {
    std::lock_guard<std::mutex> lock(store_->mu_);
    if (!store_->writers_.empty() && !store_->leader_active_) lead = store_->leader_active_ = true;
  }
  if (lead) store_->run_leader(/*caller=*/true);
}

void MessageStore::put_async(MessageToStore msg, PutCallback done) {
  std::vector<MessageToStore> v;
  v.push_back(std::move(msg));
  put_batch_async(std::move(v), [done = std::move(done)](std::vector<PutResult> r) { done(r[0]); });
}

PutResult MessageStore::put(MessageToStore msg) {
  // Waiting inside an open PutBatch of this thread would wait for the batch's own end.
  MessageStore* const held = t_put_batch_store;
  t_put_batch_store = nullptr;
  struct Restore {
    MessageStore* held;
    ~Restore() { t_put_batch_store = held; }
  } restore{held};
  struct Sync {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    PutResult result;
  } sync;
  put_async(std::move(msg), [&sync](const PutResult& r) {
    std::lock_guard<std::mutex> lock(sync.mu);
    sync.result = r;
    sync.done = true;
    sync.cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(sync.mu);
  sync.cv.wait(lock, [&] { return sync.done; });
  return sync.result;
}

void MessageStore::put_batch_async(std::vector<MessageToStore> msgs,
                                   std::function<void(std::vector<PutResult>)> done) {
  if (msgs.empty()) {
    done({});
    return;
  }
  auto w = std::make_unique<Writer>();
  w->topic = msgs[0].topic;
  w->queue_id = msgs[0].queue_id;
  w->transaction_type = msgs[0].sys_flag & format::kTransactionTypeMask;
  w->records.resize(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    Status st = validate_message(m, options_.max_message_size);
    if (st.is_ok() && (m.topic != w->topic || m.queue_id != w->queue_id)) {
      st = Status::invalid_argument("a batch must target one topic and queue");
    }
    if (st.is_ok() &&
        encoded_record_size(m) + format::kEndFileMinBlankLength > options_.commit_log_segment_size) {
      st = Status::invalid_argument("message larger than a commit log segment");
    }
    if (!st.is_ok()) {
      done(failed_results(msgs.size(), PutStatus::kMessageIllegal, st.message()));
      return;
    }
    encode_record(m, &w->records[i]);
  }
  w->wait_flush = options_.flush_disk_type == FlushDiskType::kSyncFlush &&
                  find_property(msgs[0].properties, "WAIT") != "false";
  w->done = std::move(done);
  bool lead = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writers_.push_back(w.release());
    if (t_put_batch_store == this) return;  // the PutBatch's end writes it
    if (!leader_active_) lead = leader_active_ = true;
  }
  // The first caller to find no active leader writes for everyone queued; the others return at
  // once and are completed by the leader (or by the flusher once an fdatasync covers them).
  if (lead) run_leader(/*caller=*/true);
}

void MessageStore::run_leader(bool caller) {
  // A caller leads for a bounded number of groups so that its own put is not held up by other
  // threads' traffic; then the background writer thread takes over.
  constexpr int kCallerGroups = 4;
  std::unique_lock<std::mutex> lock(mu_);
  for (int groups = 0; !writers_.empty(); ++groups) {
    if (caller && groups >= kCallerGroups && !stop_writer_) {
      handoff_ = true;
      writer_cv_.notify_one();
      return;  // leader_active_ stays set: the writer thread inherits the role
    }
    write_group(lock);
  }
  leader_active_ = false;
  writer_cv_.notify_all();  // shutdown waits for an idle queue
}

void MessageStore::writer_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    writer_cv_.wait(lock, [&] { return handoff_ || stop_writer_; });
    if (handoff_) {
      handoff_ = false;
      lock.unlock();
      run_leader(/*caller=*/false);
      lock.lock();
      continue;
    }
    if (stop_writer_) return;
  }
}

void MessageStore::finish_writer(Writer* w) {
  std::unique_ptr<Writer> owned(w);
  const bool ok = !w->results.empty() && w->results[0].status == PutStatus::kOk;
  if (!ok || !w->wait_flush) {
    w->done(std::move(w->results));
    return;
  }
  const PutResult& last = w->results.back();
  const int64_t end = last.physical_offset + last.wrote_bytes;
  {
    std::unique_lock<std::mutex> lock(flush_mu_);
    if (flushed_.load() < end && !fenced()) {
      flush_waiters_.push_back(FlushWaiter{
          end, env_->now_micros_monotonic() + options_.sync_flush_timeout_ms * 1000,
          std::move(w->done), std::move(w->results)});
      return;
    }
  }
  if (fenced()) {
    w->done(failed_results(w->results.size(), PutStatus::kServiceNotAvailable,
                           "store fenced before the message was flushed: " + fence_status().message()));
    return;
  }
  w->done(std::move(w->results));
}

void MessageStore::write_group(std::unique_lock<std::mutex>& lock) {
  constexpr size_t kMaxGroupBytes = 4 << 20;
  std::vector<Writer*> group;
  size_t group_bytes = 0;
  for (Writer* w : writers_) {
    size_t bytes = 0;
    for (auto& r : w->records) bytes += r.size();
    if (!group.empty() && group_bytes + bytes > kMaxGroupBytes) break;
    group.push_back(w);
    group_bytes += bytes;
  }
  for (size_t i = 0; i < group.size(); ++i) writers_.pop_front();
  // Puts to a topic being deleted fail; they are finished with the group.
  std::vector<Writer*> refused;
  if (!deleting_topics_.empty()) {
    auto deleting = [&](Writer* w) { return deleting_topics_.count(w->topic) > 0; };
    for (Writer* w : group) {
      if (!deleting(w)) continue;
      w->results = failed_results(w->records.size(), PutStatus::kServiceNotAvailable,
                                  "topic " + w->topic + " is being deleted; message not stored");
      refused.push_back(w);
    }
    group.erase(std::remove_if(group.begin(), group.end(), deleting), group.end());
  }
  // Completions run without mu_ so that callbacks never block the queue.
  auto finish = [&] {
    lock.unlock();
    for (Writer* w : group) finish_writer(w);
    for (Writer* w : refused) finish_writer(w);
    lock.lock();
  };
  if (group.empty()) {
    finish();
    return;
  }

  Status reject;
  if (shutting_down_) {
    reject = Status::aborted("store is shutting down");
  } else if (fenced()) {
    reject = Status::fenced("store fenced after an earlier write or fdatasync failure (" +
                            fence_status().message() + "); restart the broker");
  } else if (disk_full_.load()) {
    reject = Status::no_space("disk full: usage is above diskSpaceWarningLevelRatio " +
                              std::to_string(options_.disk_space_warning_level_ratio) +
                              "%; writes resume when space is freed");
  }
  if (!reject.is_ok()) {
    for (Writer* w : group) {
      w->results = failed_results(w->records.size(), PutStatus::kServiceNotAvailable, reject.message());
    }
    finish();
    return;
  }

  const int64_t seg_size = log_->segment_size();
  const int64_t start_pos = appended_;
  int64_t pos = start_pos;
  int64_t store_ts = std::max(env_->now_ms(), last_store_timestamp_);
  last_store_timestamp_ = store_ts;
  struct Chunk {
    int64_t offset;
    size_t begin;
    size_t len;
  };
  std::vector<Chunk> chunks;
  group_buffer_.clear();
  chunks.push_back({pos, 0, 0});
  std::vector<std::pair<std::string, int64_t>> saved_offsets;
  for (Writer* w : group) {
    std::string key = queue_key(w->topic, w->queue_id);
    auto it = queue_offsets_.find(key);
    if (it == queue_offsets_.end()) it = queue_offsets_.emplace(key, 0).first;
    saved_offsets.emplace_back(key, it->second);
    const bool no_queue_advance = w->transaction_type == format::kTransactionPrepared ||
                                  w->transaction_type == format::kTransactionRollback;
    w->results.resize(w->records.size());
    for (size_t i = 0; i < w->records.size(); ++i) {
      std::string& rec = w->records[i];
      const auto size = static_cast<int64_t>(rec.size());
      const int64_t seg_end = log_->segment_start(pos) + seg_size;
      if (pos + size + format::kEndFileMinBlankLength > seg_end) {
        // Invariant: every record leaves room for a blank record behind it.
        HF_CHECK(seg_end - pos >= format::kEndFileMinBlankLength, "segment tail too short");
        char blank[format::kEndFileMinBlankLength];
        encode_blank_record(blank, static_cast<int32_t>(seg_end - pos));
        group_buffer_.append(blank, sizeof(blank));
        chunks.back().len += sizeof(blank);
        chunks.push_back({seg_end, group_buffer_.size(), 0});
        pos = seg_end;
      }
      const int64_t queue_offset = no_queue_advance ? 0 : it->second++;
      patch_record(rec.data(), queue_offset, pos, store_ts);
      group_buffer_.append(rec);
      chunks.back().len += rec.size();
      PutResult& r = w->results[i];
      r.status = PutStatus::kOk;
      r.physical_offset = pos;
      r.wrote_bytes = static_cast<int32_t>(size);
      r.queue_id = w->queue_id;
      r.queue_offset = queue_offset;
      r.store_timestamp = store_ts;
      r.msg_id = offset_message_id(options_.store_host, pos);
      pos += size;
    }
  }
  appended_ = pos;
  lock.unlock();
  HF_SYNC_POINT("store.group_write.before");

  Status st;
  size_t attempted = 0;
  for (const Chunk& c : chunks) {
    if (c.len == 0) continue;
    ++attempted;
    st = log_->write(c.offset, group_buffer_.data() + c.begin, c.len);
    if (!st.is_ok()) break;
  }
  if (!st.is_ok() && st.code() == StatusCode::kNoSpace) {
    // Undo: erase what was written so no complete record of this group can resurface later.
    Status undo;
    size_t n = 0;
    for (const Chunk& c : chunks) {
      if (c.len == 0) continue;
      if (n++ == attempted) break;
      std::string zeros(c.len, '\0');
      Status z = log_->write(c.offset, zeros.data(), zeros.size());
      if (!z.is_ok() && z.code() != StatusCode::kNoSpace) undo = z;
    }
    if (!undo.is_ok()) {
      fence(undo);
      std::lock_guard<std::mutex> flock(flush_mu_);
      flush_cv_.notify_one();
    }
  }

  HF_SYNC_POINT("store.group_write.after");
  lock.lock();
  if (!st.is_ok()) {
    std::string remark;
    if (st.code() == StatusCode::kNoSpace) {
      appended_ = start_pos;
      for (auto it = saved_offsets.rbegin(); it != saved_offsets.rend(); ++it) {
        queue_offsets_[it->first] = it->second;
      }
      remark = "disk full, message not stored: " + st.message();
      logger("storage")->warn("put rejected: {}", remark);
    } else {
      fence(st);
      remark = "commit log write failed, store fenced: " + st.message();
      std::lock_guard<std::mutex> flock(flush_mu_);
      flush_cv_.notify_one();  // the flusher fails the puts still waiting for a flush
    }
    for (Writer* w : group) {
      w->results = failed_results(w->records.size(), PutStatus::kServiceNotAvailable, remark);
    }
  } else {
    int64_t messages = 0, bytes = 0;
    for (Writer* w : group) {
      messages += static_cast<int64_t>(w->records.size());
      for (const PutResult& r : w->results) bytes += r.wrote_bytes;
    }
    put_messages_.fetch_add(messages, std::memory_order_relaxed);
    put_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    written_.store(pos, std::memory_order_release);
    written_timestamp_.store(store_ts, std::memory_order_release);
    if (options_.flush_disk_type == FlushDiskType::kSyncFlush) {
      std::lock_guard<std::mutex> flock(flush_mu_);
      flush_cv_.notify_one();
    } else {
      publish_confirmed(pos);
    }
  }
  finish();
}

void MessageStore::flusher_loop() {
  const bool sync_mode = options_.flush_disk_type == FlushDiskType::kSyncFlush;
  int64_t last_flush_us = env_->now_micros_monotonic();
  std::unique_lock<std::mutex> lock(flush_mu_);
  for (;;) {
    if (sync_mode) {
      flush_cv_.wait(lock, [&] {
        return stop_flush_ || (fenced() && !flush_waiters_.empty()) ||
               (!fenced() && written_.load() > flushed_.load());
      });
    } else {
      flush_cv_.wait_for(lock, std::chrono::milliseconds(options_.flush_interval_commit_log_ms),
                         [&] { return stop_flush_ || (fenced() && !flush_waiters_.empty()); });
    }
    if (fenced() && !flush_waiters_.empty()) {
      // Fenced by the write path: nothing pending can be promised durable any more.
      std::deque<FlushWaiter> failed;
      failed.swap(flush_waiters_);
      const std::string remark = "store fenced before the message was flushed: " + fence_status().message();
      lock.unlock();
      for (auto& w : failed) w.done(failed_results(w.results.size(), PutStatus::kServiceNotAvailable, remark));
      lock.lock();
      continue;
    }
    const int64_t target = written_.load(std::memory_order_acquire);
    const int64_t ts = written_timestamp_.load(std::memory_order_acquire);
    const int64_t dirty = target - flushed_.load();
    if (fenced() || dirty <= 0) {
      if (stop_flush_) break;
      continue;
    }
    if (!sync_mode && !stop_flush_) {
      const int64_t now = env_->now_micros_monotonic();
      const bool enough = dirty >= int64_t{options_.flush_commit_log_least_pages} * 4096;
      const bool thorough = now - last_flush_us >= options_.flush_commit_log_thorough_interval_ms * 1000;
      if (!enough && !thorough) continue;
    }
    lock.unlock();
    HF_SYNC_POINT("store.flush.before");
    Status st = log_->sync_through(target);
    fdatasync_count_.fetch_add(1, std::memory_order_relaxed);
    HF_SYNC_POINT("store.flush.after");
    lock.lock();
    last_flush_us = env_->now_micros_monotonic();
    std::vector<FlushWaiter> ready;
    if (!st.is_ok()) {
      fence(st);
      for (auto& w : flush_waiters_) ready.push_back(std::move(w));
      flush_waiters_.clear();
      lock.unlock();
      for (auto& w : ready) {
        w.done(failed_results(w.results.size(), PutStatus::kServiceNotAvailable,
                              "fdatasync failed, durability unknown, store fenced: " + st.message()));
      }
      lock.lock();
      continue;
    }
    flushed_.store(target, std::memory_order_release);
    last_flushed_timestamp_.store(ts);
    for (auto it = flush_waiters_.begin(); it != flush_waiters_.end();) {
      if (it->end_offset <= target) {
        ready.push_back(std::move(*it));
        it = flush_waiters_.erase(it);
      } else {
        ++it;
      }
    }
    if (sync_mode) publish_confirmed(target);
    lock.unlock();
    HF_SYNC_POINT("store.flush.complete_puts");
    auto complete = [&ready] {
      for (auto& w : ready) w.done(std::move(w.results));
    };
    if (options_.completion_batch && !ready.empty()) {
      options_.completion_batch(complete);
    } else {
      complete();
    }
    lock.lock();
  }
}

void MessageStore::flush_watcher_loop() {
  std::unique_lock<std::mutex> lock(flush_mu_);
  while (!stop_watch_) {
    watcher_cv_.wait_for(lock, std::chrono::milliseconds(5));
    const int64_t now = env_->now_micros_monotonic();
    std::vector<FlushWaiter> expired;
    for (auto it = flush_waiters_.begin(); it != flush_waiters_.end();) {
      if (it->deadline_us <= now || stop_watch_) {
        expired.push_back(std::move(*it));
        it = flush_waiters_.erase(it);
      } else {
        ++it;
      }
    }
    if (expired.empty()) continue;
    lock.unlock();
    for (auto& w : expired) {
      for (auto& r : w.results) {
        r.status = PutStatus::kFlushDiskTimeout;
        r.remark = "fdatasync did not complete within syncFlushTimeout " +
                   std::to_string(options_.sync_flush_timeout_ms) +
                   " ms; the message is stored and is flushed later unless the broker crashes first";
      }
      w.done(std::move(w.results));
    }
    lock.lock();
  }
}

}  // namespace holdfast
