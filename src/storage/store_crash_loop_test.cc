// Crash loop on FaultEnv: random topics, queues, sizes and flush modes; power loss at random
// moments (including mid-flush); after each recovery every SYNC_FLUSH acknowledgement is present
// byte for byte, the log is a clean prefix, consume queues and index agree with the log, and no
// reader ever saw a record that the crash then took back. Environment variables: see the TEST below.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "base/sync_point.h"
#include "env/fault_env.h"
#include "storage/commit_log.h"
#include "storage/message_format.h"
#include "storage/message_store.h"
#include "storage/store_test_util.h"

namespace holdfast {
namespace {

using testing_util::make_message;
using testing_util::small_options;

struct Attempt {
  MessageToStore msg;
  PutResult result;
};

std::string expected_record(const Attempt& a) {
  std::string rec;
  encode_record(a.msg, &rec);
  patch_record(rec.data(), a.result.queue_offset, a.result.physical_offset, a.result.store_timestamp);
  return rec;
}

class CrashLoop {
 public:
  explicit CrashLoop(uint64_t seed) : seed_(seed), env_(seed), rng_(seed) {}

  void run() {
    options_ = small_options("/crash");
    options_.max_message_size = 8 * 1024;
    options_.commit_log_segment_size = (80 + rng_() % 3 * 40) * 1024;
    options_.consume_queue_units_per_file = 8 + rng_() % 64;
    options_.flush_disk_type = rng_() % 4 == 0 ? FlushDiskType::kAsyncFlush : FlushDiskType::kSyncFlush;
    options_.flush_interval_commit_log_ms = 1 + rng_() % 5;
    options_.flush_commit_log_least_pages = static_cast<int>(rng_() % 3);
    options_.flush_commit_log_thorough_interval_ms = 5;
    options_.checkpoint_interval_ms = rng_() % 20;
    options_.warm_segments = rng_() % 2 == 0;
    const int rounds = 2 + static_cast<int>(rng_() % 2);
    for (round_ = 0; round_ < rounds && !::testing::Test::HasFatalFailure(); ++round_) {
      one_round();
    }
  }

 private:
  void one_round() {
    auto opened = MessageStore::open(&env_, options_);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    std::unique_ptr<MessageStore> store = std::move(opened).value();
    if (round_ > 0) {
      ASSERT_TRUE(store->recovery_info().crashed);
    }
    verify(*store);
    if (::testing::Test::HasFatalFailure()) return;

    const int writers = 1 + static_cast<int>(rng_() % 4);
    const int target = static_cast<int>(rng_() % 120);
    const CrashMode mode = rng_() % 2 ? CrashMode::kTearTail : CrashMode::kDropUnsynced;
    std::atomic<int> issued{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        std::mt19937_64 r(seed_ * 1000 + static_cast<uint64_t>(round_) * 10 + static_cast<uint64_t>(w));
        for (int i = 0; !stop.load(); ++i) {
          const std::string topic = r() % 3 == 0 ? "Orders" : (r() % 2 ? "Pay_ments" : "ledger-1");
          const int32_t queue = static_cast<int32_t>(r() % 3);
          std::string body = "s" + std::to_string(seed_) + "r" + std::to_string(round_) + "w" +
                             std::to_string(w) + "i" + std::to_string(i) + ":";
          body.resize(body.size() + r() % (r() % 8 == 0 ? 6000 : 400), static_cast<char>('a' + r() % 26));
          const bool wait = r() % 8 != 0;
          Attempt a{make_message(topic, queue, body, "K" + body.substr(0, body.find(':')), "T" + std::to_string(r() % 3), wait), {}};
          issued.fetch_add(1);
          a.result = store->put(a.msg);
          std::lock_guard<std::mutex> lock(mu_);
          by_body_[body] = a;
        }
      });
    }
    // A reader that records everything it was shown.
    std::thread reader([&] {
      std::mt19937_64 r(seed_ + 7);
      while (!stop.load()) {
        const std::string topic = r() % 3 == 0 ? "Orders" : (r() % 2 ? "Pay_ments" : "ledger-1");
        GetResult g = store->get_messages(topic, static_cast<int32_t>(r() % 3), 0, 64, 1 << 20);
        std::lock_guard<std::mutex> lock(mu_);
        for (size_t k = 0; k < g.records.size(); ++k) seen_[g.physical_offsets[k]] = g.records[k];
      }
    });
    while (issued.load() < target) std::this_thread::yield();
    if (rng_() % 2) std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 2000));
    // Power loss: from this instant nothing reaches the disk.
    env_.set_frozen(true);
    env_.crash(mode);
    stop = true;
    for (auto& t : threads) t.join();
    reader.join();
    store.reset();
    env_.set_frozen(false);
  }

  void verify(MessageStore& store) {
    const bool sync = options_.flush_disk_type == FlushDiskType::kSyncFlush;
    // 1. Every acknowledged SYNC_FLUSH put (WAIT=true) is present byte for byte.
    for (auto& [body, a] : by_body_) {
      const bool durable_ack = sync && a.result.status == PutStatus::kOk &&
                               find_property(a.msg.properties, "WAIT") != "false";
      if (!durable_ack) continue;
      auto rec = store.read_record(a.result.physical_offset);
      ASSERT_TRUE(rec.is_ok()) << "acknowledged message lost at " << a.result.physical_offset
                               << " (recovery scanned from " << store.recovery_info().scanned_from
                               << " to " << store.recovery_info().recovered_end << ", round " << round_
                               << ", segment " << options_.commit_log_segment_size << ")";
      ASSERT_EQ(*rec, expected_record(a)) << "acknowledged message changed at " << a.result.physical_offset;
    }
    // 2. No reader saw a record past the confirmed offset (under SYNC_FLUSH: it is durable).
    if (sync) {
      for (auto& [phys, bytes] : seen_) {
        auto rec = store.read_record(phys);
        ASSERT_TRUE(rec.is_ok()) << "a reader saw offset " << phys << " which the crash took back";
        ASSERT_EQ(*rec, bytes) << "a reader saw different bytes at " << phys;
      }
    }
    // 3. The log is a clean prefix: valid records back to back up to the written offset, each one
    //    a message some writer really put, and only zeros after it.
    auto log = CommitLog::open(&env_, "/crash/commitlog", options_.commit_log_segment_size);
    ASSERT_TRUE(log.is_ok());
    const int64_t end = store.written_offset();
    int64_t pos = std::max<int64_t>(0, (*log)->min_segment_start());
    std::map<std::pair<std::string, int32_t>, int64_t> per_queue;
    std::string buf;
    while (pos < end) {
      const int64_t seg_end = (*log)->segment_start(pos) + options_.commit_log_segment_size;
      buf.resize(static_cast<size_t>(std::min<int64_t>(seg_end - pos, 16 * 1024)));
      size_t got = 0;
      ASSERT_TRUE((*log)->read(pos, buf.size(), buf.data(), &got).is_ok());
      RecordView v;
      DecodeResult d = decode_record(buf.data(), got, true, &v);
      if (d.outcome == DecodeOutcome::kBlank) {
        pos = seg_end;
        continue;
      }
      ASSERT_EQ(d.outcome, DecodeOutcome::kRecord) << "hole or garbage at " << pos << " (end " << end << "): " << d.reason;
      ASSERT_EQ(v.physical_offset, pos);
      const std::string body(v.body);
      auto it = by_body_.find(body);
      ASSERT_NE(it, by_body_.end()) << "record at " << pos << " was never put";
      ASSERT_EQ(v.topic, it->second.msg.topic);
      ASSERT_EQ(v.queue_id, it->second.msg.queue_id);
      // Byte for byte what was put, acknowledged or not: the body CRC does not cover the topic
      // and properties, so a record torn after its body passes every check above.
      std::string put_bytes;
      encode_record(it->second.msg, &put_bytes);
      patch_record(put_bytes.data(), v.queue_offset, v.physical_offset, v.store_timestamp);
      ASSERT_EQ(std::string_view(buf.data(), static_cast<size_t>(d.size)), put_bytes)
          << "record at " << pos << " differs from the message that was put";
      auto key = std::make_pair(std::string(v.topic), v.queue_id);
      ASSERT_EQ(v.queue_offset, per_queue[key]) << "queue offsets not dense at " << pos;
      per_queue[key]++;
      pos += d.size;
    }
    ASSERT_EQ(pos, end);
    if (end % options_.commit_log_segment_size != 0) {
      std::string tail(64, '\1');
      size_t got = 0;
      ASSERT_TRUE((*log)->read(end, tail.size(), tail.data(), &got).is_ok());
      ASSERT_EQ(tail.substr(0, got), std::string(got, '\0')) << "bytes after the recovered end";
    }
    // 4. Consume queues and index agree with the log.
    store.wait_dispatched(store.confirmed_offset());
    for (auto& [key, count] : per_queue) {
      ASSERT_EQ(store.max_offset_in_queue(key.first, key.second), count) << key.first << "/" << key.second;
      int64_t q = store.min_offset_in_queue(key.first, key.second);
      while (q < count) {
        GetResult g = store.get_messages(key.first, key.second, q, 32, 1 << 20);
        ASSERT_EQ(g.status, GetStatus::kFound) << key.first << "/" << key.second << " at " << q;
        for (size_t k = 0; k < g.records.size(); ++k) {
          RecordView v;
          ASSERT_EQ(decode_record(g.records[k].data(), g.records[k].size(), true, &v).outcome, DecodeOutcome::kRecord);
          ASSERT_EQ(v.queue_offset, q + static_cast<int64_t>(k));
          ASSERT_EQ(v.topic, key.first);
          const std::string body(v.body);
          auto keys = store.query_by_key(key.first, "K" + body.substr(0, body.find(':')), 4, 0, INT64_MAX);
          ASSERT_TRUE(keys.is_ok());
          ASSERT_EQ(keys->size(), 1u) << "index misses key of record at " << v.physical_offset;
          ASSERT_EQ((*keys)[0], g.records[k]);
        }
        q = g.next_begin_offset;
      }
    }
    for (auto& [topic, queue] : store.queues()) {
      const auto key = std::make_pair(topic, queue);
      ASSERT_EQ(store.max_offset_in_queue(topic, queue), per_queue[key]) << "consume queue past the log";
    }
  }

  uint64_t seed_;
  FaultEnv env_;
  std::mt19937_64 rng_;
  StoreOptions options_;
  int round_ = 0;
  std::mutex mu_;
  std::map<std::string, Attempt> by_body_;
  std::map<int64_t, std::string> seen_;
};

// HOLDFAST_CRASH_RUNS seeds from HOLDFAST_CRASH_FIRST_SEED (default 1), or the one seed
// HOLDFAST_CRASH_SEED. HOLDFAST_CRASH_NOISE=1..3 adds scheduling noise at the store's sync points,
// drawn from the seed (base/sync_point.h), so that a failing seed replays its interleaving often.
TEST(StoreCrashLoop, AcknowledgedMessagesSurviveEveryCrash) {
  int runs = 200;
  if (const char* env = std::getenv("HOLDFAST_CRASH_RUNS")) runs = std::atoi(env);
  uint64_t first = 1;
  if (const char* env = std::getenv("HOLDFAST_CRASH_FIRST_SEED")) first = std::strtoull(env, nullptr, 10);
  if (const char* env = std::getenv("HOLDFAST_CRASH_SEED")) {
    first = std::strtoull(env, nullptr, 10);
    runs = 1;
  }
  for (uint64_t seed = first; seed < first + static_cast<uint64_t>(runs); ++seed) {
    const auto noise = static_cast<int>(sync_point::enable_from_env(sync_point::kCrashNoiseEnv, seed));
    const std::string rerun = "HOLDFAST_CRASH_SEED=" + std::to_string(seed) +
                              (noise > 0 ? " HOLDFAST_CRASH_NOISE=" + std::to_string(noise) : "");
    SCOPED_TRACE("crash loop seed " + std::to_string(seed) + " (rerun: " + rerun + ")");
    // Printed before the run so that even an abort (HF_CHECK) names its seed.
    std::fprintf(stderr, "crash loop seed %llu\n", static_cast<unsigned long long>(seed));
    CrashLoop(seed).run();
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "crash loop failed with seed " << seed << " (rerun: " << rerun << ")";
      sync_point::disable();
      return;
    }
  }
  sync_point::disable();
}

}  // namespace
}  // namespace holdfast
