// The replication seam: a slave store fed a master's confirmed commit-log bytes in chunks of
// random sizes (cutting records, blank records and segment ends anywhere) holds a byte-for-byte
// copy of the master's log, the same consume queues and the same queue offsets — also across
// power losses of the slave (torn tails included) and clean restarts. Bytes at the wrong offset,
// or that are not records, are refused and change nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>
#include <random>

#include "env/fault_env.h"
#include "storage/message_format.h"
#include "storage/message_store.h"
#include "storage/store_test_util.h"

namespace holdfast {
namespace {

class ReplicaTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    master_ = open("/master", &master_env_);
    slave_ = open("/slave", &slave_env_);
  }
  static std::unique_ptr<MessageStore> open(const std::string& root, FaultEnv* env) {
    auto opts = testing_util::small_options(root);
    opts.max_message_size = 8 * 1024;
    auto s = MessageStore::open(env, opts);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? std::move(s).value() : nullptr;
  }
  void put_some(std::mt19937& rng, int n) {
    for (int i = 0; i < n; ++i) {
      const int32_t queue = static_cast<int32_t>(rng() % 3);
      const std::string topic = "Topic" + std::to_string(rng() % 3);
      MessageToStore m = testing_util::make_message(topic, queue, std::string(50 + rng() % 5000, 'a' + (i % 26)),
                                                    "k" + std::to_string(puts_), "T");
      ASSERT_EQ(master_->put(std::move(m)).status, PutStatus::kOk);
      ++puts_;
    }
  }
  // Feeds the slave from its end up to the master's confirmed end, in random chunks.
  void replicate(std::mt19937& rng, int64_t stop_after_bytes = INT64_MAX) {
    int64_t moved = 0;
    while (slave_->end_offset() < master_->confirmed_offset() && moved < stop_after_bytes) {
      auto bytes = master_->read_confirmed(slave_->end_offset(), 1 + rng() % 9000);
      ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
      ASSERT_FALSE(bytes->empty());
      const int64_t at = slave_->end_offset();
      ASSERT_TRUE(slave_->append_replica(at, *bytes).is_ok());
      EXPECT_EQ(slave_->end_offset(), at + static_cast<int64_t>(bytes->size()));
      moved += static_cast<int64_t>(bytes->size());
    }
  }
  // The slave's confirmed log equals the master's over the same range, byte for byte.
  void expect_same_log() {
    const int64_t end = slave_->confirmed_offset();
    ASSERT_LE(end, master_->confirmed_offset());
    for (int64_t at = 0; at < end;) {
      auto a = master_->read_confirmed(at, 4096);
      auto b = slave_->read_confirmed(at, 4096);
      ASSERT_TRUE(a.is_ok() && b.is_ok());
      const size_t n = std::min(a->size(), b->size());
      ASSERT_GT(n, 0u);
      ASSERT_EQ(a->substr(0, n), b->substr(0, n)) << "at offset " << at;
      at += static_cast<int64_t>(n);
    }
  }
  void expect_same_queues() {
    master_->wait_dispatched(master_->confirmed_offset());
    slave_->wait_dispatched(slave_->confirmed_offset());
    for (int t = 0; t < 3; ++t) {
      for (int32_t q = 0; q < 3; ++q) {
        const std::string topic = "Topic" + std::to_string(t);
        EXPECT_EQ(slave_->max_offset_in_queue(topic, q), master_->max_offset_in_queue(topic, q)) << topic << q;
        for (int64_t at = 0;;) {
          GetResult a = master_->get_messages(topic, q, at, 32, 1 << 20);
          GetResult b = slave_->get_messages(topic, q, at, 32, 1 << 20);
          ASSERT_EQ(a.records, b.records) << topic << ":" << q << " from " << at;
          ASSERT_EQ(a.queue_offsets, b.queue_offsets);
          if (a.records.empty()) break;
          at = a.queue_offsets.back() + 1;
        }
      }
    }
  }

  FaultEnv master_env_{GetParam()};
  FaultEnv slave_env_{GetParam() + 1000};
  std::unique_ptr<MessageStore> master_;
  std::unique_ptr<MessageStore> slave_;
  int puts_ = 0;
};

TEST_P(ReplicaTest, SlaveHoldsAByteForByteCopyAcrossPowerLossAndRestart) {
  std::mt19937 rng(GetParam());
  for (int round = 0; round < 6; ++round) {
    put_some(rng, 40 + static_cast<int>(rng() % 60));
    // Part of the way, then a power loss of the slave (sometimes with a torn tail), or a clean
    // restart, then the rest.
    replicate(rng, static_cast<int64_t>(rng() % 200000));
    const uint32_t what = rng() % 3;
    if (what == 0) {
      slave_env_.set_frozen(true);
      slave_env_.crash(rng() % 2 ? CrashMode::kDropUnsynced : CrashMode::kTearTail);
      slave_.reset();
      slave_env_.set_frozen(false);
      slave_ = open("/slave", &slave_env_);
      ASSERT_TRUE(slave_);
      // Whatever recovery kept is a prefix of the master's log.
      expect_same_log();
    } else if (what == 1) {
      ASSERT_TRUE(slave_->shutdown().is_ok());
      slave_.reset();
      slave_ = open("/slave", &slave_env_);
      ASSERT_TRUE(slave_);
    }
    replicate(rng);
  }
  // SYNC_FLUSH: what the slave holds becomes durable and readable.
  ASSERT_EQ(slave_->end_offset(), master_->confirmed_offset());
  for (int i = 0; i < 200 && slave_->confirmed_offset() < master_->confirmed_offset(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(slave_->confirmed_offset(), master_->confirmed_offset());
  EXPECT_GE(slave_->flushed_offset(), slave_->confirmed_offset());
  expect_same_log();
  expect_same_queues();
  EXPECT_GT(master_->confirmed_offset(), 3 * 128 * 1024) << "several segments were crossed";
}

// A chunk that ends inside a record's properties (the part the body CRC does not cover), a sync
// of the records before it, then a power loss: the slave comes back at the end of the last whole
// record. (When the partial record went to disk as it arrived, the sync made its head durable
// and the power loss zeroed its properties; recovery then kept it as a record.)
TEST_P(ReplicaTest, PowerLossWithARecordHalfReceivedKeepsOnlyWholeRecords) {
  std::mt19937 rng(GetParam());
  put_some(rng, 10);
  auto all = master_->read_confirmed(0, 1 << 20);
  ASSERT_TRUE(all.is_ok());
  // The end of the third record, and a cut 3 bytes before it (inside its properties).
  int64_t ends[3] = {0, 0, 0};
  int64_t at = 0;
  for (int i = 0; i < 3; ++i) {
    RecordView r;
    DecodeResult d = decode_record(all->data() + at, all->size() - static_cast<size_t>(at), true, &r);
    ASSERT_EQ(d.outcome, DecodeOutcome::kRecord);
    at += d.size;
    ends[i] = at;
  }
  const int64_t cut = ends[2] - 3;
  ASSERT_TRUE(slave_->append_replica(0, all->substr(0, static_cast<size_t>(cut))).is_ok());
  EXPECT_EQ(slave_->end_offset(), cut);
  // The two whole records become durable (SYNC_FLUSH: confirmed follows the flusher's sync).
  for (int i = 0; i < 2000 && slave_->confirmed_offset() < ends[1]; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(slave_->confirmed_offset(), ends[1]);
  slave_env_.set_frozen(true);
  slave_env_.crash(CrashMode::kDropUnsynced);
  slave_.reset();
  slave_env_.set_frozen(false);
  slave_ = open("/slave", &slave_env_);
  ASSERT_TRUE(slave_);
  EXPECT_EQ(slave_->end_offset(), ends[1]) << "recovery kept the half-received record";
  expect_same_log();
  replicate(rng);
  for (int i = 0; i < 2000 && slave_->confirmed_offset() < master_->confirmed_offset(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  expect_same_log();
  expect_same_queues();
}

TEST_P(ReplicaTest, WrongOffsetOrForeignBytesAreRefusedAndChangeNothing) {
  std::mt19937 rng(GetParam());
  put_some(rng, 20);
  auto first = master_->read_confirmed(0, 9000);  // holds the whole first record (at most ~5 KiB)
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(slave_->append_replica(100, *first).code(), StatusCode::kInvalidArgument);
  std::string garbage = *first;
  garbage[20] ^= 0x5A;  // inside the first record: its CRC or a field no longer matches
  EXPECT_EQ(slave_->append_replica(0, garbage).code(), StatusCode::kCorruption);
  EXPECT_EQ(slave_->end_offset(), 0);
  std::string zeros(4096, '\0');
  EXPECT_EQ(slave_->append_replica(0, zeros).code(), StatusCode::kCorruption);
  EXPECT_EQ(slave_->end_offset(), 0);
  // The right bytes still go in afterwards.
  replicate(rng);
  for (int i = 0; i < 200 && slave_->confirmed_offset() < master_->confirmed_offset(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  expect_same_log();
  expect_same_queues();
  EXPECT_EQ(master_->read_confirmed(master_->confirmed_offset() + 1, 10).status().code(), StatusCode::kInvalidArgument);
}

// Failover: the slave becomes master at its end E and writes on; the old master holds a tail past
// E that nobody acknowledged. Reopened with truncate_log_to = E it drops exactly that tail (its
// consume queues too) and then continues the new master's log byte for byte.
TEST_P(ReplicaTest, DivergentTailIsErasedAndTheOldMasterContinuesTheNewOne) {
  std::mt19937 rng(GetParam());
  put_some(rng, 60);
  replicate(rng);
  const int64_t cut = slave_->end_offset();
  put_some(rng, 30 + static_cast<int>(rng() % 30));  // the old master's unreplicated tail
  ASSERT_GT(master_->end_offset(), cut);
  // Promotion: the old slave takes writes of its own from `cut` on.
  for (int i = 0; i < 25; ++i) {
    MessageToStore m = testing_util::make_message("Topic" + std::to_string(i % 3), i % 3,
                                                  std::string(100 + rng() % 3000, 'N'), "n" + std::to_string(i), "T");
    ASSERT_EQ(slave_->put(std::move(m)).status, PutStatus::kOk);
  }
  if (rng() % 2) {
    master_env_.set_frozen(true);
    master_env_.crash(CrashMode::kDropUnsynced);
    master_.reset();
    master_env_.set_frozen(false);
  } else {
    ASSERT_TRUE(master_->shutdown().is_ok());
    master_.reset();
  }
  auto opts = testing_util::small_options("/master");
  opts.max_message_size = 8 * 1024;
  opts.truncate_log_to = cut;
  auto reopened = MessageStore::open(&master_env_, opts);
  ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
  master_ = std::move(reopened).value();
  EXPECT_EQ(master_->end_offset(), cut);
  // Roles swap: the old master now copies the new master.
  std::swap(master_, slave_);
  replicate(rng);
  for (int i = 0; i < 200 && slave_->confirmed_offset() < master_->confirmed_offset(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(slave_->confirmed_offset(), master_->confirmed_offset());
  expect_same_log();
  expect_same_queues();
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReplicaTest, ::testing::Range<uint32_t>(1, 9));

}  // namespace
}  // namespace holdfast
