// MessageStore behaviour on FaultEnv: put/get, segments, group commit, flush timeout, fencing,
// disk full, retention, clean and crash restarts.
#include "storage/message_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "base/coding.h"
#include "base/sync_point.h"
#include "env/fault_env.h"
#include "storage/commit_log.h"
#include "storage/consume_queue.h"
#include "storage/message_format.h"
#include "storage/store_test_util.h"

namespace holdfast {
namespace {

using testing_util::make_message;
using testing_util::small_options;
using testing_util::view_of;

class MessageStoreTest : public ::testing::Test {
 protected:
  void open() {
    auto s = MessageStore::open(&env_, options_);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }
  // Power loss: nothing after this instant reaches the disk, then the process is gone.
  void crash(CrashMode mode = CrashMode::kDropUnsynced) {
    env_.set_frozen(true);
    env_.crash(mode);
    store_.reset();
    env_.set_frozen(false);
  }
  void wait_visible() { store_->wait_dispatched(store_->confirmed_offset()); }
  // A new segment's size is made durable (one fdatasync) before the first record goes into it,
  // on the put path: tests that stall the disk create the segment first, with a put to a topic
  // of its own.
  void create_segment_before_the_disk_stalls() {
    ASSERT_EQ(store_->put(make_message("warm-up", 0, "x")).status, PutStatus::kOk);
  }
  // Up to 5 s (a loaded sanitizer run) for a background thread to fence the store.
  void wait_fenced() {
    for (int i = 0; i < 500 && !store_->fenced(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  FaultEnv env_{42};
  StoreOptions options_ = small_options("/store");
  std::unique_ptr<MessageStore> store_;
};

TEST_F(MessageStoreTest, PutThenGetByteIdentical) {
  open();
  std::vector<PutResult> results;
  for (int i = 0; i < 50; ++i) {
    PutResult r = store_->put(make_message("orders", i % 2, "body-" + std::to_string(i),
                                           "key" + std::to_string(i), i % 3 == 0 ? "TagA" : "TagB"));
    ASSERT_EQ(r.status, PutStatus::kOk) << r.remark;
    EXPECT_EQ(r.queue_offset, i / 2);
    results.push_back(r);
  }
  wait_visible();
  EXPECT_EQ(store_->max_offset_in_queue("orders", 0), 25);
  EXPECT_EQ(store_->min_offset_in_queue("orders", 1), 0);
  GetResult g = store_->get_messages("orders", 0, 0, 100, 1 << 20);
  ASSERT_EQ(g.status, GetStatus::kFound);
  ASSERT_EQ(g.records.size(), 25u);
  for (size_t k = 0; k < g.records.size(); ++k) {
    RecordView v = view_of(g.records[k]);
    EXPECT_EQ(v.body, "body-" + std::to_string(2 * k));
    EXPECT_EQ(v.queue_offset, static_cast<int64_t>(k));
    EXPECT_EQ(v.physical_offset, results[2 * k].physical_offset);
    auto again = store_->read_record(results[2 * k].physical_offset);
    ASSERT_TRUE(again.is_ok());
    EXPECT_EQ(*again, g.records[k]);
  }
  EXPECT_EQ(g.next_begin_offset, 25);
  // Caught up / beyond / below.
  EXPECT_EQ(store_->get_messages("orders", 0, 25, 10).status, GetStatus::kOffsetOverflowOne);
  EXPECT_EQ(store_->get_messages("orders", 0, 30, 10).status, GetStatus::kOffsetOverflowBadly);
  EXPECT_EQ(store_->get_messages("nope", 0, 0, 10).status, GetStatus::kNoMatchedLogicQueue);
  // Tag filter by hash.
  const int64_t tag_a = tags_code_of(std::string("TAGS\x01TagA\x02"));
  GetResult f = store_->get_messages("orders", 0, 0, 100, 1 << 20,
                                     [&](int64_t code) { return code == tag_a; });
  ASSERT_EQ(f.status, GetStatus::kFound);
  for (auto& rec : f.records) EXPECT_EQ(find_property(view_of(rec).properties, "TAGS"), "TagA");
  // Index by key.
  auto q = store_->query_by_key("orders", "key7", 10, 0, INT64_MAX);
  ASSERT_TRUE(q.is_ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ(view_of((*q)[0]).body, "body-7");
  // Offset by timestamp: everything was stored at or after the fake clock's now.
  auto t = store_->offset_by_timestamp("orders", 0, 0);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(*t, 0);
  auto late = store_->offset_by_timestamp("orders", 0, INT64_MAX);
  EXPECT_EQ(*late, 25);
}

TEST_F(MessageStoreTest, SegmentsRollWithBlankRecordAndNeverSplitARecord) {
  open();
  const std::string body(3000, 'x');
  int64_t last_end = 0;
  for (int i = 0; i < 200; ++i) {
    PutResult r = store_->put(make_message("t", 0, body));
    ASSERT_EQ(r.status, PutStatus::kOk) << r.remark;
    const int64_t seg = options_.commit_log_segment_size;
    EXPECT_EQ(r.physical_offset / seg, (r.physical_offset + r.wrote_bytes - 1) / seg) << "record spans segments";
    EXPECT_LE(r.physical_offset + r.wrote_bytes + format::kEndFileMinBlankLength,
              (r.physical_offset / seg + 1) * seg);
    last_end = r.physical_offset + r.wrote_bytes;
  }
  EXPECT_GT(last_end, 3 * options_.commit_log_segment_size);
  auto names = env_.list_dir("/store/commitlog");
  ASSERT_TRUE(names.is_ok());
  EXPECT_GE(names->size(), 4u);
  EXPECT_TRUE(env_.file_exists("/store/commitlog/00000000000000000000"));
  EXPECT_TRUE(env_.file_exists("/store/commitlog/00000000000000131072"));
  auto size = env_.file_size("/store/commitlog/00000000000000000000");
  EXPECT_EQ(*size, static_cast<uint64_t>(options_.commit_log_segment_size));
  wait_visible();
  GetResult g = store_->get_messages("t", 0, 0, 1000, 1 << 30);
  EXPECT_EQ(g.records.size(), 200u);
  // After a restart (clean or crashed) everything is still there.
  store_.reset();
  open();
  EXPECT_FALSE(store_->recovery_info().crashed);
  EXPECT_EQ(store_->recovery_info().redispatched_records, 0);
  EXPECT_EQ(store_->max_offset_in_queue("t", 0), 200);
  crash();
  open();
  EXPECT_TRUE(store_->recovery_info().crashed);
  EXPECT_EQ(store_->max_offset_in_queue("t", 0), 200);
  EXPECT_EQ(store_->written_offset(), last_end);
}

TEST_F(MessageStoreTest, OneFdatasyncReleasesManyWaiters) {
  open();
  ASSERT_EQ(store_->put(make_message("t", 0, "warm")).status, PutStatus::kOk);
  env_.block_syncs();
  std::atomic<int> ok{0};
  const uint64_t syncs_before = store_->fdatasync_count();
  for (int i = 0; i < 64; ++i) {
    store_->put_async(make_message("t", 0, "m" + std::to_string(i)), [&](const PutResult& r) {
      if (r.status == PutStatus::kOk) ok.fetch_add(1);
    });
  }
  EXPECT_EQ(ok.load(), 0) << "a put completed before any fdatasync covered it";
  env_.unblock_syncs();
  while (ok.load() < 64) std::this_thread::yield();
  // One sync was in flight when the puts arrived; at most a couple more cover all 64.
  EXPECT_LE(store_->fdatasync_count() - syncs_before, 3u);
}

TEST_F(MessageStoreTest, FlushTimeoutReportsStoredMessage) {
  open();
  create_segment_before_the_disk_stalls();
  env_.block_syncs();
  std::atomic<bool> done{false};
  PutResult result;
  store_->put_async(make_message("t", 0, "slow"), [&](const PutResult& r) {
    result = r;
    done = true;
  });
  env_.advance_clock(options_.sync_flush_timeout_ms + 1);
  while (!done) std::this_thread::yield();
  EXPECT_EQ(result.status, PutStatus::kFlushDiskTimeout);
  EXPECT_TRUE(result.stored());
  EXPECT_GE(result.physical_offset, 0);
  EXPECT_NE(result.remark.find("syncFlushTimeout"), std::string::npos);
  env_.unblock_syncs();
  // It is flushed later and readable.
  const int64_t end = result.physical_offset + result.wrote_bytes;
  while (store_->confirmed_offset() < end) std::this_thread::yield();
  store_->wait_dispatched(end);
  EXPECT_EQ(store_->get_messages("t", 0, 0, 10).records.size(), 1u);
}

TEST_F(MessageStoreTest, WaitFalseCompletesAfterWriteButStaysInvisibleUntilFlushed) {
  open();
  create_segment_before_the_disk_stalls();
  env_.block_syncs();
  PutResult r = store_->put(make_message("t", 0, "nowait", "", "", /*wait=*/false));
  EXPECT_EQ(r.status, PutStatus::kOk);
  EXPECT_EQ(store_->written_offset(), r.physical_offset + r.wrote_bytes);
  // Not flushed, so not confirmed: no reader may see it.
  EXPECT_LT(store_->confirmed_offset(), store_->written_offset());
  EXPECT_EQ(store_->max_offset_in_queue("t", 0), 0);
  EXPECT_FALSE(store_->read_record(r.physical_offset).is_ok());
  env_.unblock_syncs();
  while (store_->confirmed_offset() < store_->written_offset()) std::this_thread::yield();
  wait_visible();
  EXPECT_EQ(store_->max_offset_in_queue("t", 0), 1);
}

TEST_F(MessageStoreTest, FailedFdatasyncFencesTheStore) {
  // No background checkpoint may consume the injected fault.
  options_.checkpoint_interval_ms = 3600 * 1000;
  open();
  ASSERT_EQ(store_->put(make_message("t", 0, "before")).status, PutStatus::kOk);
  wait_visible();
  env_.fail_next_sync();
  PutResult r = store_->put(make_message("t", 0, "during"));
  EXPECT_EQ(r.status, PutStatus::kServiceNotAvailable);
  EXPECT_NE(r.remark.find("fenced"), std::string::npos);
  EXPECT_TRUE(store_->fenced());
  // Later puts fail even though the disk works again: never retry fsync and report success.
  PutResult later = store_->put(make_message("t", 0, "after"));
  EXPECT_EQ(later.status, PutStatus::kServiceNotAvailable);
  EXPECT_NE(later.remark.find("fenced"), std::string::npos);
  // Reads keep working.
  wait_visible();
  GetResult g = store_->get_messages("t", 0, 0, 10);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(view_of(g.records[0]).body, "before");
  // A restart recovers; the acknowledged message is there.
  store_.reset();
  open();
  EXPECT_TRUE(store_->recovery_info().crashed);
  EXPECT_EQ(store_->put(make_message("t", 0, "again")).status, PutStatus::kOk);
  wait_visible();
  EXPECT_EQ(view_of(store_->get_messages("t", 0, 0, 10).records[0]).body, "before");
}

// Two sync_through() callers (the flusher and, under ASYNC_FLUSH, the checkpoint): the second
// must not report bytes durable while the first caller's fdatasync of them is still running and
// then fails at a power loss (the crash loop once recovered past such a hole, seed 143).
TEST(CommitLogSyncTest, ConcurrentSyncThroughNeverReportsAnUnfinishedSync) {
  FaultEnv env(7);
  auto opened = CommitLog::open(&env, "/log", 64 * 1024);
  ASSERT_TRUE(opened.is_ok());
  std::unique_ptr<CommitLog> log = std::move(opened).value();
  const std::string first(100, 'a'), second(100, 'b');
  ASSERT_TRUE(log->write(0, first.data(), first.size()).is_ok());
  ASSERT_TRUE(log->sync_through(200).is_ok());  // the segment and its directory entry are durable
  ASSERT_TRUE(log->write(100, second.data(), second.size()).is_ok());
  env.block_syncs();
  Status flusher_st, checkpoint_st;
  std::atomic<bool> checkpoint_done{false};
  std::thread flusher([&] { flusher_st = log->sync_through(200); });  // blocks inside fdatasync
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::thread checkpoint([&] {
    checkpoint_st = log->sync_through(200);
    checkpoint_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // The flusher's fdatasync has not completed: nobody may have been told the bytes are durable.
  EXPECT_FALSE(checkpoint_done.load());
  env.set_frozen(true);  // power loss: the blocked fdatasync fails
  flusher.join();
  checkpoint.join();
  EXPECT_FALSE(flusher_st.is_ok());
  env.crash(CrashMode::kDropUnsynced);
  log.reset();
  env.set_frozen(false);
  auto reopened = CommitLog::open(&env, "/log", 64 * 1024);
  ASSERT_TRUE(reopened.is_ok());
  std::string back(100, '\0');
  size_t got = 0;
  ASSERT_TRUE((*reopened)->read(100, back.size(), back.data(), &got).is_ok());
  if (checkpoint_st.is_ok()) {
    EXPECT_EQ(back, second) << "sync_through reported success but the bytes were lost";
  }
}

// Under ASYNC_FLUSH the checkpoint syncs the log before the consume queues: a durable unit never
// points at log bytes a power loss takes back.
TEST_F(MessageStoreTest, AsyncCheckpointSyncsTheLogBeforeTheConsumeQueues) {
  options_.flush_disk_type = FlushDiskType::kAsyncFlush;
  options_.flush_commit_log_least_pages = 1 << 20;                   // the flusher never has enough
  options_.flush_commit_log_thorough_interval_ms = 3600 * 1000;      // and never a thorough flush
  options_.checkpoint_interval_ms = 1000;                            // only when the clock moves
  options_.consume_queue_units_per_file = 8;
  open();
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(store_->put(make_message("t", 0, "m" + std::to_string(i))).status, PutStatus::kOk);
  }
  wait_visible();
  env_.fail_syncs_under("/store/commitlog/");
  env_.advance_clock(2000);  // the dispatcher's next pass (within 100 ms) writes a checkpoint
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  crash();
  env_.fail_syncs_under("");
  open();
  EXPECT_EQ(store_->written_offset(), 0);
  EXPECT_EQ(store_->max_offset_in_queue("t", 0), 0) << "consume queue units survived without their records";
}

// A log without segments and without a checkpoint still recovers the consume queues: units left
// from before point at nothing, and a new put must get queue offset 0, readable.
TEST_F(MessageStoreTest, EmptyLogWithoutCheckpointEmptiesLeftoverConsumeQueues) {
  open();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(store_->put(make_message("t", 0, "old" + std::to_string(i))).status, PutStatus::kOk);
  wait_visible();
  store_.reset();  // clean stop
  auto segments = env_.list_dir("/store/commitlog");
  ASSERT_TRUE(segments.is_ok());
  for (const auto& name : *segments) {
    ASSERT_TRUE(env_.remove_file("/store/commitlog/" + name).is_ok());
  }
  ASSERT_TRUE(env_.remove_file("/store/checkpoint").is_ok());
  open();
  EXPECT_EQ(store_->max_offset_in_queue("t", 0), 0);
  PutResult r = store_->put(make_message("t", 0, "new"));
  ASSERT_EQ(r.status, PutStatus::kOk);
  EXPECT_EQ(r.queue_offset, 0);
  wait_visible();
  GetResult g = store_->get_messages("t", 0, 0, 10, 1 << 20);
  ASSERT_EQ(g.status, GetStatus::kFound);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(view_of(g.records[0]).body, "new");
}

// delete_topic drops the topic's queues and files; the re-created topic starts at queue offset 0,
// and a power loss right after does not bring the old queues (or their records) back.
TEST_F(MessageStoreTest, DeleteTopicDropsItsQueuesAndARecreatedTopicStartsAtZero) {
  open();
  for (int i = 0; i < 6; ++i) ASSERT_EQ(store_->put(make_message("gone", i % 2, "old" + std::to_string(i))).status, PutStatus::kOk);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(store_->put(make_message("kept", 0, "k" + std::to_string(i))).status, PutStatus::kOk);
  wait_visible();
  ASSERT_EQ(store_->max_offset_in_queue("gone", 1), 3);
  ASSERT_TRUE(store_->delete_topic("gone").is_ok());
  EXPECT_EQ(store_->get_messages("gone", 0, 0, 10).status, GetStatus::kNoMatchedLogicQueue);
  EXPECT_FALSE(env_.file_exists("/store/consumequeue/gone"));
  EXPECT_EQ(store_->max_offset_in_queue("kept", 0), 3);
  PutResult again = store_->put(make_message("gone", 1, "new"));
  ASSERT_EQ(again.status, PutStatus::kOk);
  EXPECT_EQ(again.queue_offset, 0);
  crash();
  open();
  wait_visible();
  GetResult g = store_->get_messages("gone", 1, 0, 10, 1 << 20);
  ASSERT_EQ(g.status, GetStatus::kFound);
  ASSERT_EQ(g.records.size(), 1u);
  EXPECT_EQ(view_of(g.records[0]).body, "new");
  EXPECT_EQ(store_->get_messages("gone", 0, 0, 10).status, GetStatus::kNoMatchedLogicQueue);
  EXPECT_EQ(store_->max_offset_in_queue("kept", 0), 3);
  EXPECT_TRUE(store_->delete_topic("never-existed").is_ok());
}

// Puts racing a delete either fail cleanly ("being deleted") or are stored; every put acknowledged
// after delete_topic returned is in the re-created queue at its offset, and the queue stays dense.
TEST_F(MessageStoreTest, PutsRacingADeleteAreRefusedOrKept) {
  open();
  std::atomic<bool> deleted{false}, stop{false};
  std::vector<std::pair<int64_t, std::string>> after;  // (queue offset, body) acknowledged after
  int refused = 0;
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      const bool was_deleted = deleted.load();
      PutResult r = store_->put(make_message("busy", 0, "b" + std::to_string(i)));
      if (r.status == PutStatus::kOk) {
        if (was_deleted) after.emplace_back(r.queue_offset, "b" + std::to_string(i));
      } else {
        EXPECT_NE(r.remark.find("being deleted"), std::string::npos) << r.remark;
        ++refused;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(store_->delete_topic("busy").is_ok());
  deleted = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop = true;
  writer.join();
  ASSERT_FALSE(after.empty());
  wait_visible();
  const int64_t max = store_->max_offset_in_queue("busy", 0);
  std::vector<std::string> records;
  while (static_cast<int64_t>(records.size()) < max) {
    GetResult g = store_->get_messages("busy", 0, static_cast<int64_t>(records.size()), 256, 64 << 20);
    ASSERT_EQ(g.status, GetStatus::kFound);
    for (auto& r : g.records) records.push_back(std::move(r));
  }
  for (size_t k = 0; k < records.size(); ++k) EXPECT_EQ(view_of(records[k]).queue_offset, static_cast<int64_t>(k));
  for (const auto& [offset, body] : after) {
    ASSERT_LT(offset, max);
    EXPECT_EQ(view_of(records[static_cast<size_t>(offset)]).body, body);
  }
  std::printf("racing puts: %d refused while deleting, %zu stored after\n", refused, after.size());
}

// Recovery must check units in every file past the durable point, not only the newest two: queue
// files are not synced when the next one starts, so a crash can keep three files whose oldest
// holds units for log bytes that were lost (here: durable point inside the first file).
TEST(ConsumeQueueRecoveryTest, UnitsPastTheDurablePointInAnOlderFileAreDropped) {
  FaultEnv env(7);
  auto cq = ConsumeQueue::open(&env, "/store/consumequeue/t/0", "t", 0, /*units_per_file=*/4);
  ASSERT_TRUE(cq.is_ok()) << cq.status().to_string();
  for (int64_t i = 0; i < 10; ++i) (*cq)->append(i, ConsumeQueueUnit{i * 100, 100, 0});  // 3 files
  ASSERT_TRUE((*cq)->sync().is_ok());
  ASSERT_EQ((*cq)->file_count(), 3u);
  // Durable log: units 0..2 (bytes [0, 300)); unit 3 (still in the first file) and later are not.
  auto recovered = (*cq)->recover(300, [](int64_t, const ConsumeQueueUnit&) { return true; });
  ASSERT_TRUE(recovered.is_ok()) << recovered.status().to_string();
  EXPECT_EQ(*recovered, 3);
  EXPECT_EQ((*cq)->max_offset(), 3);
  // The log check applies to the last kept unit even when it lies in the oldest file.
  auto again = ConsumeQueue::open(&env, "/store/consumequeue/t/1", "t", 1, 4);
  ASSERT_TRUE(again.is_ok());
  for (int64_t i = 0; i < 10; ++i) (*again)->append(i, ConsumeQueueUnit{i * 100, 100, 0});
  ASSERT_TRUE((*again)->sync().is_ok());
  auto checked = (*again)->recover(300, [](int64_t q, const ConsumeQueueUnit&) { return q < 2; });
  ASSERT_TRUE(checked.is_ok());
  EXPECT_EQ(*checked, 2);
}

// A failed fdatasync inside a checkpoint fences the store like the flusher's does: the next
// fdatasync may report success for pages the kernel already dropped, so no later put may be
// acknowledged and no later checkpoint written until a restart has recovered. For a consume queue
// a checkpoint after a "successful" retry would name units that a power loss took, and recovery
// would never rebuild them (the messages would be unreachable).
class CheckpointSyncFailureTest : public MessageStoreTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(CheckpointSyncFailureTest, FencesTheStore) {
  options_.flush_disk_type = FlushDiskType::kAsyncFlush;
  options_.flush_commit_log_least_pages = 1 << 20;               // the flusher never has enough
  options_.flush_commit_log_thorough_interval_ms = 3600 * 1000;  // and never a thorough flush
  options_.checkpoint_interval_ms = 1000;                        // only when the clock moves
  open();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(store_->put(make_message("t", 0, "m" + std::to_string(i))).status, PutStatus::kOk);
  }
  wait_visible();
  env_.fail_syncs_under(GetParam());
  env_.advance_clock(2000);  // the dispatcher's next pass (within 100 ms) tries a checkpoint
  wait_fenced();
  env_.fail_syncs_under("");  // a retry would now succeed
  EXPECT_TRUE(store_->fenced());
  EXPECT_EQ(store_->put(make_message("t", 0, "after")).status, PutStatus::kServiceNotAvailable);
}

INSTANTIATE_TEST_SUITE_P(LogAndConsumeQueue, CheckpointSyncFailureTest,
                         ::testing::Values("/store/commitlog/", "/store/consumequeue/"));

// A full disk while a checkpoint writes consume-queue units is not a fence (the disk-full
// contract): the checkpoint is skipped, and the units reach the file once space is back.
TEST_F(MessageStoreTest, FullDiskDuringACheckpointDoesNotFence) {
  options_.checkpoint_interval_ms = 1000;  // only when the fake clock moves
  open();
  ASSERT_EQ(store_->put(make_message("t", 0, "first")).status, PutStatus::kOk);
  wait_visible();
  env_.set_space_limit(env_.bytes_used());  // the log segment is preallocated; a new queue file is not
  ASSERT_EQ(store_->put(make_message("fresh", 0, "needs a new queue file")).status, PutStatus::kOk);
  env_.advance_clock(2000);  // a checkpoint attempt while the queue write fails
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(store_->fenced());
  env_.set_space_limit(0);
  wait_visible();
  EXPECT_EQ(store_->max_offset_in_queue("fresh", 0), 1);
  EXPECT_EQ(store_->put(make_message("t", 0, "after")).status, PutStatus::kOk);
}

// Recovery re-dispatches records whose consume queue units survived in older queue files (they
// were synced, the checkpoint naming them was not): the index must still get their keys.
TEST_F(MessageStoreTest, RecoveryIndexesRecordsWhoseUnitsSurvived) {
  options_.flush_disk_type = FlushDiskType::kAsyncFlush;
  options_.checkpoint_interval_ms = 1000;  // only when the fake clock moves
  open();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(store_->put(make_message("t", i % 3, "b" + std::to_string(i), "key" + std::to_string(i))).status,
              PutStatus::kOk);
  }
  wait_visible();
  // The checkpoint syncs the log, the consume queues and the index, then fails to write itself.
  env_.fail_syncs_under("/store/checkpoint");
  env_.advance_clock(2000);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  crash();
  env_.fail_syncs_under("");
  open();
  wait_visible();
  int missing = 0, first = -1;
  for (int i = 0; i < 1000; ++i) {
    auto k = store_->query_by_key("t", "key" + std::to_string(i), 4, 0, INT64_MAX);
    if (!k.is_ok() || k->size() != 1u) {
      ++missing;
      if (first < 0) first = i;
    }
  }
  EXPECT_EQ(missing, 0) << "first missing key" << first;
}

TEST_F(MessageStoreTest, FailedWriteFencesTheStore) {
  // No background checkpoint may consume the injected fault.
  options_.checkpoint_interval_ms = 3600 * 1000;
  open();
  ASSERT_EQ(store_->put(make_message("t", 0, "before")).status, PutStatus::kOk);
  wait_visible();
  env_.fail_next_write();
  EXPECT_EQ(store_->put(make_message("t", 0, "x")).status, PutStatus::kServiceNotAvailable);
  EXPECT_TRUE(store_->fenced());
  EXPECT_EQ(store_->put(make_message("t", 0, "y")).status, PutStatus::kServiceNotAvailable);
}

TEST_F(MessageStoreTest, DiskFullRejectsCleanlyAndResumes) {
  // Keep retention out of the way: this test is about rejection, not cleaning.
  options_.disk_max_used_space_ratio = 99;
  options_.disk_space_clean_forcibly_ratio = 99;
  open();
  const std::string body(2000, 'd');
  ASSERT_EQ(store_->put(make_message("t", 0, body)).status, PutStatus::kOk);
  // Allow only what exists now plus a little: the next segment cannot be preallocated.
  env_.set_space_limit(env_.bytes_used() + 4096);
  int ok = 1, rejected = 0;
  for (int i = 0; i < 200 && rejected == 0; ++i) {
    PutResult r = store_->put(make_message("t", 0, body));
    if (r.status == PutStatus::kOk) {
      ++ok;
    } else {
      EXPECT_EQ(r.status, PutStatus::kServiceNotAvailable);
      EXPECT_NE(r.remark.find("disk full"), std::string::npos) << r.remark;
      ++rejected;
    }
  }
  ASSERT_EQ(rejected, 1);
  EXPECT_FALSE(store_->fenced()) << "a full disk is a rejection, not a fence";
  // Nothing stored is damaged.
  wait_visible();
  EXPECT_EQ(static_cast<int>(store_->get_messages("t", 0, 0, 1000, 1 << 30).records.size()), ok);
  // Space returns: puts resume by themselves.
  env_.set_space_limit(0);
  PutResult r = store_->put(make_message("t", 0, body));
  ASSERT_EQ(r.status, PutStatus::kOk) << r.remark;
  EXPECT_EQ(r.queue_offset, ok);
  // Over the reject ratio (diskSpaceWarningLevelRatio): housekeeping turns puts away.
  env_.set_space_limit(env_.bytes_used() + env_.bytes_used() / 20);
  ASSERT_TRUE(store_->run_housekeeping_once().is_ok());
  EXPECT_TRUE(store_->disk_full());
  PutResult rej = store_->put(make_message("t", 0, body));
  EXPECT_EQ(rej.status, PutStatus::kServiceNotAvailable);
  EXPECT_NE(rej.remark.find("disk full"), std::string::npos);
  env_.set_space_limit(0);
  ASSERT_TRUE(store_->run_housekeeping_once().is_ok());
  EXPECT_FALSE(store_->disk_full());
  EXPECT_EQ(store_->put(make_message("t", 0, body)).status, PutStatus::kOk);
  // And everything survives a crash.
  crash();
  open();
  EXPECT_EQ(store_->max_offset_in_queue("t", 0), ok + 2);
}

TEST_F(MessageStoreTest, RetentionDeletesExpiredSegmentsAndMovesMinOffsets) {
  options_.delete_when = "00;01;02;03;04;05;06;07;08;09;10;11;12;13;14;15;16;17;18;19;20;21;22;23";
  open();
  const std::string body(3000, 'r');
  for (int i = 0; i < 200; ++i) ASSERT_EQ(store_->put(make_message("t", 0, body, "k" + std::to_string(i))).status, PutStatus::kOk);
  wait_visible();
  const size_t segments = store_->queues().size();
  (void)segments;
  ASSERT_TRUE(store_->run_housekeeping_once().is_ok());
  EXPECT_EQ(store_->min_physical_offset(), 0) << "nothing is older than fileReservedTime yet";
  env_.advance_clock(73LL * 3600 * 1000);
  ASSERT_TRUE(store_->run_housekeeping_once().is_ok());
  const int64_t min_phys = store_->min_physical_offset();
  EXPECT_GT(min_phys, 0);
  EXPECT_EQ(min_phys % options_.commit_log_segment_size, 0);
  // The newest segment is never deleted.
  EXPECT_LT(min_phys, store_->written_offset());
  // The consume queue's min offset follows (applied by the dispatcher).
  ASSERT_EQ(store_->put(make_message("t", 0, body)).status, PutStatus::kOk);
  for (int i = 0; i < 1000 && store_->min_offset_in_queue("t", 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int64_t min_q = store_->min_offset_in_queue("t", 0);
  EXPECT_GT(min_q, 0);
  GetResult g = store_->get_messages("t", 0, 0, 10);
  EXPECT_EQ(g.status, GetStatus::kOffsetTooSmall);
  EXPECT_EQ(g.next_begin_offset, min_q);
  GetResult h = store_->get_messages("t", 0, min_q, 10);
  EXPECT_EQ(h.status, GetStatus::kFound);
  EXPECT_GE(h.physical_offsets[0], min_phys);
  // Survives a restart.
  store_.reset();
  open();
  EXPECT_EQ(store_->min_physical_offset(), min_phys);
  EXPECT_EQ(store_->min_offset_in_queue("t", 0), min_q);
}

TEST_F(MessageStoreTest, CrashRecoveryTruncatesTornTailAndKeepsAcknowledged) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    sync_point::enable_from_env(sync_point::kCrashNoiseEnv, seed);
    env_.crash(CrashMode::kDropUnsynced);
    options_.root_dir = "/store" + std::to_string(seed);
    open();
    std::vector<PutResult> acked;
    for (int i = 0; i < 30; ++i) {
      PutResult r = store_->put(make_message("t", i % 3, std::string(100 + i * 37, 'a' + i % 26)));
      ASSERT_EQ(r.status, PutStatus::kOk);
      acked.push_back(r);
    }
    // Unacknowledged tail: written but never synced.
    env_.block_syncs();
    for (int i = 0; i < 5; ++i) {
      store_->put_async(make_message("t", 0, "tail"), [](const PutResult&) {});
    }
    env_.set_frozen(true);
    env_.crash(seed % 2 ? CrashMode::kTearTail : CrashMode::kDropUnsynced);
    env_.unblock_syncs();
    store_.reset();
    env_.set_frozen(false);
    open();
    EXPECT_TRUE(store_->recovery_info().crashed);
    for (const auto& r : acked) {
      auto rec = store_->read_record(r.physical_offset);
      ASSERT_TRUE(rec.is_ok()) << "acknowledged message lost at " << r.physical_offset;
    }
    EXPECT_GE(store_->written_offset(), acked.back().physical_offset + acked.back().wrote_bytes);
    store_.reset();
  }
  sync_point::disable();
}

}  // namespace
}  // namespace holdfast

namespace holdfast {
namespace {

// Store-level corruption catalogue: damage written into the log behind the store's back is found
// by the recovery scan, which keeps everything before it and nothing after it.
class StoreCorruptionTest : public MessageStoreTest {
 protected:
  // Puts n messages and returns their results; then stops the store as a crash would.
  std::vector<PutResult> fill_and_crash(int n) {
    open();
    std::vector<PutResult> out;
    for (int i = 0; i < n; ++i) out.push_back(store_->put(make_message("t", 0, "msg-" + std::to_string(i))));
    crash();
    return out;
  }
  void damage(int64_t offset, const std::string& bytes) {
    auto f = env_.open_file("/store/commitlog/00000000000000000000", OpenMode::kMustExist);
    ASSERT_TRUE(f.is_ok());
    ASSERT_TRUE((*f)->write_at(static_cast<uint64_t>(offset), bytes.data(), bytes.size()).is_ok());
    ASSERT_TRUE((*f)->sync().is_ok());
  }
  // After recovery exactly the first `kept` records remain.
  void expect_kept(const std::vector<PutResult>& puts, size_t kept) {
    open();
    EXPECT_TRUE(store_->recovery_info().crashed);
    EXPECT_EQ(store_->max_offset_in_queue("t", 0), static_cast<int64_t>(kept));
    EXPECT_EQ(store_->written_offset(), puts[kept].physical_offset);
    for (size_t i = 0; i < puts.size(); ++i) {
      EXPECT_EQ(store_->read_record(puts[i].physical_offset).is_ok(), i < kept) << "record " << i;
    }
    // The store appends after the cut and the new record is readable.
    PutResult r = store_->put(make_message("t", 0, "after"));
    ASSERT_EQ(r.status, PutStatus::kOk);
    EXPECT_EQ(r.physical_offset, puts[kept].physical_offset);
    EXPECT_EQ(r.queue_offset, static_cast<int64_t>(kept));
  }
};

TEST_F(StoreCorruptionTest, BadCrcCutsTheLogAtThatRecord) {
  auto puts = fill_and_crash(10);
  damage(puts[6].physical_offset + 90, "X");  // a body byte
  expect_kept(puts, 6);
}

TEST_F(StoreCorruptionTest, BadMagicCutsTheLog) {
  auto puts = fill_and_crash(10);
  damage(puts[3].physical_offset + 4, std::string("\x12\x34\x56\x78", 4));
  expect_kept(puts, 3);
}

TEST_F(StoreCorruptionTest, BadSizeCutsTheLog) {
  auto puts = fill_and_crash(10);
  damage(puts[8].physical_offset, std::string("\x00\x00\x00\x30", 4));
  expect_kept(puts, 8);
}

TEST_F(StoreCorruptionTest, TornTailIsErased) {
  auto puts = fill_and_crash(10);
  // The last record keeps only its first 40 bytes; the rest of it never reached the disk.
  damage(puts[9].physical_offset + 40, std::string(static_cast<size_t>(puts[9].wrote_bytes - 40), '\0'));
  expect_kept(puts, 9);
  // The garbage after the cut was erased: a later crash cannot resurrect it.
  crash();
  open();
  EXPECT_EQ(store_->max_offset_in_queue("t", 0), 10);  // 9 kept + "after"
}

// Regression ("index misses key of record at N" in the crash loop under load): a segment whose
// size was never made durable (one that recovery re-extended after a crash had cut it short, or
// a fresh one whose directory entry another segment's directory sync made durable) took records
// past its durable end; a power loss kept a prefix of them that ended inside the last record's
// properties, with zeros or garbage after it. The body CRC still matched, so recovery kept the
// record with a damaged KEYS and the index "missed" the real key. Every record a recovery keeps
// must be exactly a record that was put.
enum class UnsyncedSegment { kReextendedByRecovery, kCreatedByAPut };

class PowerLossTornRecordTest : public ::testing::TestWithParam<UnsyncedSegment> {};

TEST_P(PowerLossTornRecordTest, RecoveryNeverKeepsARecordWithATornTail) {
  const std::string log_dir = "/store/commitlog";
  const std::string segment = log_dir + "/00000000000000000000";
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    FaultEnv env(seed);
    StoreOptions options = small_options("/store");
    options.flush_disk_type = FlushDiskType::kAsyncFlush;  // nothing syncs the puts below
    options.flush_interval_commit_log_ms = 3600 * 1000;
    options.flush_commit_log_least_pages = 1 << 20;
    options.flush_commit_log_thorough_interval_ms = 3600 * 1000;
    if (GetParam() == UnsyncedSegment::kReextendedByRecovery) {
      // What a crash leaves of a segment created just before it: a durable name, no durable size.
      ASSERT_TRUE(env.create_dirs(log_dir).is_ok());
      auto f = env.open_file(segment, OpenMode::kCreateIfMissing);
      ASSERT_TRUE(f.is_ok());
      ASSERT_TRUE((*f)->sync().is_ok());
      ASSERT_TRUE(env.sync_dir(log_dir).is_ok());
    }
    auto opened = MessageStore::open(&env, options);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    std::unique_ptr<MessageStore> store = std::move(opened).value();
    // Short bodies and long keys: most of every record lies after its body.
    std::vector<std::pair<MessageToStore, PutResult>> puts;
    for (int i = 0; i < 30; ++i) {
      const std::string key = "key-" + std::to_string(i) + "-" + std::string(120, static_cast<char>('a' + i % 26));
      MessageToStore m = make_message("Orders", i % 2, "body-" + std::to_string(i), key, "TagA");
      PutResult r = store->put(m);
      ASSERT_EQ(r.status, PutStatus::kOk);
      puts.emplace_back(std::move(m), r);
      // The flusher of another segment syncs the directory: the new segment's name is durable.
      if (i == 0 && GetParam() == UnsyncedSegment::kCreatedByAPut) {
        ASSERT_TRUE(env.sync_dir(log_dir).is_ok());
      }
    }
    env.set_frozen(true);
    env.crash(CrashMode::kTearTail);
    store.reset();
    env.set_frozen(false);

    opened = MessageStore::open(&env, options);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    store = std::move(opened).value();
    store->wait_dispatched(store->confirmed_offset());
    for (const auto& [m, r] : puts) {
      auto rec = store->read_record(r.physical_offset);
      if (!rec.is_ok()) continue;  // never acknowledged as durable: losing it is allowed
      std::string expected;
      encode_record(m, &expected);
      patch_record(expected.data(), r.queue_offset, r.physical_offset, r.store_timestamp);
      ASSERT_EQ(*rec, expected) << "recovery kept a damaged record at " << r.physical_offset;
      auto found = store->query_by_key("Orders", std::string(find_property(m.properties, "KEYS")), 4, 0, INT64_MAX);
      ASSERT_TRUE(found.is_ok());
      ASSERT_EQ(found->size(), 1u) << "index misses key of record at " << r.physical_offset;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Segments, PowerLossTornRecordTest,
                         ::testing::Values(UnsyncedSegment::kReextendedByRecovery, UnsyncedSegment::kCreatedByAPut),
                         [](const auto& info) {
                           return info.param == UnsyncedSegment::kReextendedByRecovery ? "ReextendedByRecovery"
                                                                                       : "CreatedByAPut";
                         });

// Regression (found by `holdfast drill --topology failover`, power-loss-all: every member came
// back empty): a store that prepares its first segment at open and stops cleanly before any put
// left that segment's name unsynced (a clean stop syncs only segments below the end, and the end
// was 0). Reopened in the same boot, as a broker does when it learns its role, the store took it
// as an old segment whose name was durable, so no later flush synced the directory and a power
// loss took the segment with every acknowledged record in it.
TEST(PowerLossSegmentNameTest, ASegmentPreparedBeforeACleanStopKeepsItsAcknowledgedRecords) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    FaultEnv env(seed);
    StoreOptions options = small_options("/store");
    options.flush_disk_type = FlushDiskType::kSyncFlush;
    options.warm_segments = true;
    {
      auto first = MessageStore::open(&env, options);
      ASSERT_TRUE(first.is_ok()) << first.status().to_string();
      ASSERT_TRUE((*first)->shutdown().is_ok());
    }
    auto opened = MessageStore::open(&env, options);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    std::unique_ptr<MessageStore> store = std::move(opened).value();
    std::vector<PutResult> acked;
    for (int i = 0; i < 5; ++i) {
      PutResult r = store->put(make_message("t", 0, "acked-" + std::to_string(i)));
      ASSERT_EQ(r.status, PutStatus::kOk);  // SYNC_FLUSH: durable when it returns
      acked.push_back(r);
    }
    env.set_frozen(true);
    env.crash(seed % 2 ? CrashMode::kDropUnsynced : CrashMode::kTearTail);
    store.reset();
    env.set_frozen(false);
    opened = MessageStore::open(&env, options);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    store = std::move(opened).value();
    for (const PutResult& r : acked) {
      EXPECT_TRUE(store->read_record(r.physical_offset).is_ok()) << "acknowledged record at " << r.physical_offset
                                                                 << " lost";
    }
  }
}

TEST_F(StoreCorruptionTest, RecordEndingExactlyAtTheBlankBoundary) {
  open();
  // Fill segment 0 so that a record ends exactly 8 bytes before the segment end, leaving room
  // for nothing but the blank record.
  const int64_t seg = options_.commit_log_segment_size;
  const int64_t overhead = encoded_record_size(make_message("t", 0, ""));
  int64_t pos = 0;
  int64_t puts = 2;  // the exact-fit record and "next" below
  while (seg - pos - 8 > overhead + 4000) {
    ++puts;
    PutResult r = store_->put(make_message("t", 0, std::string(4000, 'f')));
    ASSERT_EQ(r.status, PutStatus::kOk);
    pos = r.physical_offset + r.wrote_bytes;
  }
  const int64_t body = seg - pos - 8 - overhead;
  ASSERT_GE(body, 0);
  PutResult exact = store_->put(make_message("t", 0, std::string(static_cast<size_t>(body), 'e')));
  ASSERT_EQ(exact.status, PutStatus::kOk);
  EXPECT_EQ(exact.physical_offset + exact.wrote_bytes, seg - 8);
  PutResult next = store_->put(make_message("t", 0, "next"));
  EXPECT_EQ(next.physical_offset, seg) << "the blank record fills exactly the last 8 bytes";
  char blank[8];
  size_t got = 0;
  auto f = env_.open_file("/store/commitlog/00000000000000000000", OpenMode::kMustExist);
  ASSERT_TRUE((*f)->read_at(static_cast<uint64_t>(seg - 8), 8, blank, &got).is_ok());
  EXPECT_EQ(get_be32s(blank), 8);
  EXPECT_EQ(get_be32(blank + 4), format::kBlankMagic);
  crash();
  open();
  wait_visible();
  EXPECT_EQ(store_->written_offset(), next.physical_offset + next.wrote_bytes);
  GetResult g = store_->get_messages("t", 0, 0, 1000, 1 << 30);
  EXPECT_EQ(static_cast<int64_t>(g.records.size()), puts);
  EXPECT_EQ(view_of(g.records.back()).body, "next");
}

}  // namespace
}  // namespace holdfast
