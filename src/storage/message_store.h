// MessageStore: the broker's durable store. Puts go to the commit log under group commit; a
// dispatcher builds consume queues and the index from confirmed bytes only; a checkpoint and an
// abort marker drive crash recovery; a housekeeper enforces retention and disk limits.
#pragma once

#include <atomic>
#include <limits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "env/env.h"
#include "storage/checkpoint.h"
#include "storage/commit_log.h"
#include "storage/consume_queue.h"
#include "storage/index_service.h"
#include "storage/message.h"
#include "storage/put_result.h"
#include "storage/store_options.h"

namespace holdfast {

enum class GetStatus {
  kFound,
  kNoMatchedMessage,     // units scanned, all filtered out
  kMessageWasRemoving,   // the commit log under the units was deleted by retention
  kOffsetOverflowOne,    // offset == max: caught up
  kOffsetOverflowBadly,  // offset > max
  kOffsetTooSmall,       // offset < min
  kNoMessageInQueue,     // queue exists but is empty
  kNoMatchedLogicQueue,  // no such queue
};
const char* get_status_name(GetStatus s);

struct GetResult {
  GetStatus status = GetStatus::kNoMatchedLogicQueue;
  int64_t next_begin_offset = 0;
  int64_t min_offset = 0;
  int64_t max_offset = 0;
  // Stored records, byte-for-byte as in the commit log, with their queue offsets.
  std::vector<std::string> records;
  std::vector<int64_t> queue_offsets;
  std::vector<int64_t> physical_offsets;
};

// What the last open() found and did (for logs, tests and the recovery benchmark).
struct RecoveryInfo {
  bool crashed = false;            // the abort marker was present
  bool checkpoint_valid = false;
  int64_t scanned_from = 0;
  int64_t recovered_end = 0;
  int64_t truncated_bytes = 0;     // bytes past the last valid record that were erased
  int64_t redispatched_records = 0;
  int64_t duration_us = 0;
};

// Threads: any number of callers of put/get; the store owns a flusher, a flush-deadline watcher,
// a dispatcher and a housekeeper thread.
//
// Durability contract of put():
//   - SYNC_FLUSH, WAIT absent or "true": kOk only after an fdatasync covered the record's last
//     byte. If that takes longer than syncFlushTimeout the result is kFlushDiskTimeout; the record
//     is stored and normally becomes durable later (it may be lost by a crash before that).
//   - WAIT=false or ASYNC_FLUSH: kOk once the record is written to the page cache (survives a
//     process crash, not a power loss until the next flush).
//   - Any status where stored() is false: nothing was added that a reader or recovery will see.
// Readers (get_messages, query, dispatch) never see a record past confirmed_offset(): under
// SYNC_FLUSH the flushed offset, under ASYNC_FLUSH the written offset.
// A failed write or fdatasync fences the store: every later put fails with kServiceNotAvailable
// until restart; reads keep working.
class MessageStore {
 public:
  static Result<std::unique_ptr<MessageStore>> open(Env* env, const StoreOptions& options);
  ~MessageStore();

  // Clean stop: completes pending puts, flushes and syncs everything, writes the checkpoint and
  // removes the abort marker (so the next open skips the recovery scan). Idempotent.
  Status shutdown();

  // Batches one thread's puts: while a PutBatch is alive on a thread, put_async/put_batch_async
  // calls from that thread only queue their records; the PutBatch's end writes everything queued
  // as one group (one write, one flusher wake-up), unless a group another thread writes took them
  // first. A network thread opens one around all requests of one socket read. put() is not held:
  // it writes the queue at once. Nested batches on one thread are one batch.
  class PutBatch {
   public:
    explicit PutBatch(MessageStore* store);
    ~PutBatch();
    PutBatch(const PutBatch&) = delete;
    PutBatch& operator=(const PutBatch&) = delete;

   private:
    MessageStore* store_;  // null when nested
  };

  using PutCallback = std::function<void(const PutResult&)>;
  // Stores one message; `done` runs exactly once (on the caller's thread or a store thread).
  void put_async(MessageToStore msg, PutCallback done);
  PutResult put(MessageToStore msg);
  // Stores several messages of one topic/queue as consecutive records (a send batch); results in
  // order. Either all are stored or none.
  void put_batch_async(std::vector<MessageToStore> msgs, std::function<void(std::vector<PutResult>)> done);

  // --- Replication seam (master-slave replication, facts §7.3) ---
  // Master side: up to max_bytes of the commit log from `offset`, as stored, never past what is
  // confirmed (readers' limit) nor across a segment end. Empty at the confirmed end;
  // InvalidArgument past it or below the oldest segment.
  Result<std::string> read_confirmed(int64_t offset, size_t max_bytes) const;
  // Slave side: appends `bytes` — a master's commit log from `offset`, verbatim, including the
  // blank record and filler that end a segment — at exactly `offset`, which must be end_offset().
  // The store must take no local puts while it replicates (Busy otherwise). Before anything is
  // written the bytes are checked: every record that becomes complete must decode (CRC included)
  // at its own physical offset, else Corruption and nothing is written. A call that returns OK
  // has written the bytes; the complete records among them become durable as the store's flush
  // type makes them (SYNC_FLUSH: the flusher is woken; flushed_offset() tells), readable
  // (consume queues, index) once durable (SYNC) or at once (ASYNC), and advance the queues' next
  // offsets as the master assigned them. An incomplete record at the end waits for the next call.
  Status append_replica(int64_t offset, std::string_view bytes);
  // Where the log ends (the next append_replica offset; after a crash, what recovery kept).
  int64_t end_offset() const;

  GetResult get_messages(const std::string& topic, int32_t queue_id, int64_t queue_offset,
                         int max_count, int64_t max_bytes = 256 * 1024,
                         const std::function<bool(int64_t tags_code)>& filter = nullptr) const;
  // The stored record at a physical offset (VIEW_MESSAGE_BY_ID); NotFound past confirmed.
  Result<std::string> read_record(int64_t physical_offset) const;
  // Records indexed under topic#key (KEYS or UNIQ_KEY) with store time in [begin, end], newest
  // first, re-checked against the record so hash collisions never leak.
  Result<std::vector<std::string>> query_by_key(const std::string& topic, const std::string& key,
                                                int max_num, int64_t begin_ms, int64_t end_ms) const;
  int64_t min_offset_in_queue(const std::string& topic, int32_t queue_id) const;
  int64_t max_offset_in_queue(const std::string& topic, int32_t queue_id) const;
  // Queue offset of the first message stored at or after timestamp_ms (max offset if none).
  Result<int64_t> offset_by_timestamp(const std::string& topic, int32_t queue_id, int64_t timestamp_ms) const;
  // Store time of the message at queue_offset (NotFound outside [min, max) of the queue).
  Result<int64_t> store_time_at(const std::string& topic, int32_t queue_id, int64_t queue_offset) const;
  Result<int64_t> earliest_store_time(const std::string& topic, int32_t queue_id) const;
  std::vector<std::pair<std::string, int32_t>> queues() const;

  // Deletes the consume queues of `topic` (memory and files); its records stay in the log until
  // retention removes them. While this runs, puts to the topic fail (kServiceNotAvailable). On OK:
  // every record of the topic stored before the call is dispatched, a checkpoint past them is
  // durable (so recovery never re-dispatches them), the queue files are gone, and the topic's next
  // put gets queue offset 0. On an error nothing was deleted, except when removing the files
  // failed: then puts to the topic keep failing until a restart (which reopens what is left).
  Status delete_topic(const std::string& topic);

  // Watermarks: appended >= written >= flushed; confirmed is what readers may see.
  int64_t written_offset() const { return written_.load(std::memory_order_acquire); }
  int64_t flushed_offset() const { return flushed_.load(std::memory_order_acquire); }
  int64_t confirmed_offset() const { return confirmed_.load(std::memory_order_acquire); }
  // Read gate (a SYNC_MASTER's "reads never ahead of the slave"): once enabled, the dispatcher —
  // hence every consume-queue reader and long poll — stops at min(confirmed, gate). Enabling sets
  // the gate at the confirmed offset (what recovery kept is readable); advance_read_gate only moves
  // it forward. A clean shutdown dispatches everything stored regardless of the gate.
  void enable_read_gate();
  void advance_read_gate(int64_t offset);
  int64_t readable_offset() const {
    return std::min(confirmed_.load(std::memory_order_acquire), read_gate_.load(std::memory_order_acquire));
  }
  int64_t dispatched_offset() const { return dispatched_.load(std::memory_order_acquire); }
  int64_t min_physical_offset() const;
  // Blocks until everything confirmed now is dispatched (tests, tools).
  void wait_dispatched(int64_t offset) const;
  // Waits until confirmed_offset() > offset, the store stops, or timeout_ms passes; returns
  // confirmed_offset(). (Replication senders and reporters wait here instead of polling.)
  int64_t wait_confirmed_past(int64_t offset, int64_t timeout_ms) const;

  bool fenced() const;
  Status fence_status() const;
  bool disk_full() const { return disk_full_.load(); }
  const RecoveryInfo& recovery_info() const { return recovery_; }
  const StoreOptions& options() const { return options_; }
  uint64_t fdatasync_count() const { return fdatasync_count_.load(); }
  // Messages and bytes appended to the log since open (every put, internal ones included).
  std::pair<int64_t, int64_t> put_totals() const {
    return {put_messages_.load(std::memory_order_relaxed), put_bytes_.load(std::memory_order_relaxed)};
  }

  // Called by the dispatcher after new units of topic/queue became readable (long-poll wake-up).
  using ArrivalListener = std::function<void(const std::string& topic, int32_t queue_id, int64_t max_offset)>;
  void set_arrival_listener(ArrivalListener listener);

  // One housekeeping pass now (retention and disk-space check); normally every
  // cleanResourceInterval on its own thread.
  Status run_housekeeping_once();

 private:
  struct Writer;
  struct FlushWaiter {
    int64_t end_offset;
    int64_t deadline_us;
    std::function<void(std::vector<PutResult>)> done;
    std::vector<PutResult> results;
  };
  // "topic\x01queue": the key of queue_offsets_ and queues_ (one format for both).
  static std::string queue_key(const std::string& topic, int32_t queue_id);

  MessageStore(Env* env, StoreOptions options);
  Status recover();
  Status recover_crashed(const Result<StoreCheckpoint>& ckpt);
  void start_threads();
  void write_group(std::unique_lock<std::mutex>& lock);
  void run_leader(bool caller);
  void writer_loop();
  void finish_writer(Writer* w);
  void fence(const Status& st);
  void flusher_loop();
  void flush_watcher_loop();
  void dispatcher_loop();
  void housekeeper_loop();
  Status dispatch_range(int64_t from, int64_t to, int64_t* reached, bool recovering, int64_t* records);
  Status dispatch_record(const RecordView& r);
  Status flush_dispatch_writes();
  Status write_checkpoint_now();
  Result<ConsumeQueue*> consume_queue_for(const std::string& topic, int32_t queue_id, bool create);
  // Shared so a reader keeps a queue alive while delete_topic drops it.
  std::shared_ptr<ConsumeQueue> find_consume_queue(const std::string& topic, int32_t queue_id) const;
  // Dispatcher thread: checkpoint, then drop the topic's queues and remove their files.
  Status apply_delete_topic(const std::string& topic);
  Status open_existing_consume_queues();
  void publish_confirmed(int64_t offset);
  Status check_disk_space();
  Status delete_expired_files(bool force, int64_t now_ms);

  Env* const env_;
  const StoreOptions options_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<CommitLog> log_;
  std::unique_ptr<IndexService> index_;
  RecoveryInfo recovery_;

  // Put path (LevelDB-style writer queue: the front writer writes for the whole group).
  mutable std::mutex mu_;
  std::deque<Writer*> writers_;
  bool leader_active_ = false;  // one thread at a time writes groups
  bool handoff_ = false;        // a caller passed leadership to the writer thread
  bool stop_writer_ = false;
  std::condition_variable writer_cv_;
  int64_t appended_ = 0;
  int64_t last_store_timestamp_ = 0;
  std::unordered_map<std::string, int64_t> queue_offsets_;  // "topic\x01queue" -> next offset
  std::set<std::string> deleting_topics_;  // puts to these fail (delete_topic)
  std::string group_buffer_;
  bool shutting_down_ = false;
  // append_replica: bytes from replica_parsed_ (a record boundary) to appended_ that do not yet
  // form a complete record; replica_parsed_ < 0 until the first call.
  std::string replica_carry_;
  int64_t replica_parsed_ = -1;

  std::atomic<int64_t> written_{0};
  std::atomic<int64_t> flushed_{0};
  std::atomic<int64_t> confirmed_{0};
  std::atomic<int64_t> dispatched_{0};
  std::atomic<int64_t> read_gate_{std::numeric_limits<int64_t>::max()};
  std::atomic<bool> disk_full_{false};
  std::atomic<uint64_t> fdatasync_count_{0};
  std::atomic<int64_t> put_messages_{0}, put_bytes_{0};
  std::atomic<int64_t> last_flushed_timestamp_{0};
  std::atomic<int64_t> written_timestamp_{0};

  mutable std::mutex fence_mu_;
  Status fence_status_;
  std::atomic<bool> fenced_{false};

  // Group commit.
  std::mutex flush_mu_;
  std::condition_variable flush_cv_;
  std::condition_variable watcher_cv_;
  std::deque<FlushWaiter> flush_waiters_;

  // Dispatch.
  mutable std::mutex dispatch_mu_;
  mutable std::condition_variable dispatch_cv_;
  mutable std::shared_mutex queues_mu_;
  std::unordered_map<std::string, std::shared_ptr<ConsumeQueue>> queues_;
  std::vector<ConsumeQueue*> touched_queues_;  // dispatcher thread only
  // delete_topic -> dispatcher hand-off (guarded by dispatch_mu_); one delete at a time.
  std::mutex delete_mu_;
  std::optional<std::string> delete_request_;
  std::optional<Status> delete_result_;
  bool delete_dropped_ = false;  // the request got as far as dropping queues
  ArrivalListener arrival_listener_;
  int64_t last_dispatched_timestamp_ = 0;
  int64_t last_checkpoint_us_ = 0;

  std::mutex housekeeping_mu_;
  std::condition_variable housekeeping_cv_;

  bool stop_flush_ = false;         // guarded by flush_mu_
  bool stop_watch_ = false;         // guarded by flush_mu_
  bool stop_dispatch_ = false;      // guarded by dispatch_mu_
  bool stop_housekeeping_ = false;  // guarded by housekeeping_mu_
  std::atomic<int64_t> pending_min_physical_offset_{-1};  // retention -> dispatcher
  std::mutex listener_mu_;
  bool stopped_ = false;
  std::thread writer_, flusher_, watcher_, dispatcher_, housekeeper_;
};

}  // namespace holdfast
