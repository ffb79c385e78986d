// Crash and fault tests of the message index on FaultEnv: after a simulated power loss,
// recover_to() with the last checkpointed point keeps exactly the synced records, re-adding the
// rest restores the full index, and write/sync/space failures behave as documented.
#include <algorithm>
#include <climits>
#include <random>

#include <gtest/gtest.h>

#include "base/sync_point.h"
#include "env/fault_env.h"
#include "storage/index_service.h"

namespace holdfast {
namespace {

using Offsets = std::vector<int64_t>;
constexpr int64_t kBase = 1'700'000'000'000;
const std::string kRoot = "/hf/store";

struct Record {
  int64_t offset;
  int64_t time;
  std::string topic;
  std::vector<std::string> keys;
};

const std::vector<std::string> kTopics = {"T", "Orders"};
const std::vector<std::string> kKeys = {"k0", "k1", "k2", "k3", "k4", "Aa", "BB"};  // Aa/BB collide

// What query() must answer for records at or below `limit` (store times are whole seconds).
Offsets expected(const std::vector<Record>& records, const std::string& topic, const std::string& key,
                 int64_t limit) {
  const int32_t hash = index_key_hash(topic + "#" + key);
  Offsets out;
  for (auto it = records.rbegin(); it != records.rend() && out.size() < 64; ++it) {
    if (it->offset > limit || it->topic != topic) continue;
    for (const auto& k : it->keys) {
      if (index_key_hash(topic + "#" + k) == hash) {
        out.push_back(it->offset);
        break;
      }
    }
  }
  return out;
}

void expect_index_matches(const IndexService& index, const std::vector<Record>& records, int64_t limit) {
  for (const auto& topic : kTopics) {
    for (const auto& key : kKeys) {
      auto r = index.query(topic, key, 64, 0, INT64_MAX);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      EXPECT_EQ(r.value(), expected(records, topic, key, limit)) << topic << "#" << key;
    }
  }
}

std::unique_ptr<IndexService> open_index(Env* env, const IndexOptions& options) {
  auto r = IndexService::open(env, kRoot, options);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? std::move(r).value() : nullptr;
}

TEST(IndexServiceCrash, RecoverToLastCheckpointAfterPowerLoss) {
  const IndexOptions options{16, 30};
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    sync_point::enable_from_env(sync_point::kCrashNoiseEnv, seed);
    FaultEnv env(seed);
    std::mt19937_64 rng(seed);
    std::vector<Record> records;
    IndexDurablePoint checkpoint;  // what the store's checkpoint would hold
    int64_t offset = 0, time = kBase;
    auto index = open_index(&env, options);
    ASSERT_NE(index, nullptr);
    for (int round = 0; round < 4; ++round) {
      const int steps = 20 + static_cast<int>(rng() % 200);
      for (int s = 0; s < steps; ++s) {
        const uint64_t op = rng() % 100;
        if (op < 80) {
          Record r{offset += 1 + static_cast<int64_t>(rng() % 500), time += 1000 * (rng() % 2),
                   kTopics[rng() % kTopics.size()], {}};
          for (uint64_t n = rng() % 3; n > 0; --n) {
            const std::string& k = kKeys[rng() % kKeys.size()];
            if (std::find(r.keys.begin(), r.keys.end(), k) == r.keys.end()) r.keys.push_back(k);
          }
          std::vector<std::string_view> views(r.keys.begin(), r.keys.end());
          ASSERT_TRUE(index->add(r.topic, views, r.offset, r.time).is_ok());
          records.push_back(std::move(r));
        } else if (op < 92) {
          ASSERT_TRUE(index->flush_writes().is_ok());
        } else {
          ASSERT_TRUE(index->sync().is_ok());
          checkpoint = index->durable_point();
        }
      }
      index.reset();
      env.crash(rng() % 2 ? CrashMode::kTearTail : CrashMode::kDropUnsynced);
      index = open_index(&env, options);
      ASSERT_NE(index, nullptr);
      Status st = index->recover_to(checkpoint);
      ASSERT_TRUE(st.is_ok()) << "round " << round << ": " << st.to_string();
      ASSERT_EQ(index->max_indexed_physical_offset(), checkpoint.end_physical_offset);
      expect_index_matches(*index, records, checkpoint.end_physical_offset);
      // Re-dispatch, as the store does from its checkpoint; earlier records are ignored.
      for (const auto& r : records) {
        std::vector<std::string_view> views(r.keys.begin(), r.keys.end());
        ASSERT_TRUE(index->add(r.topic, views, r.offset, r.time).is_ok());
      }
      expect_index_matches(*index, records, INT64_MAX);
    }
  }
  sync_point::disable();
}

TEST(IndexServiceCrash, SyncFailureFencesTheWriterButNotQueries) {
  FaultEnv env;
  auto index = open_index(&env, IndexOptions{16, 30});
  ASSERT_TRUE(index->add("T", {"a"}, 10, kBase).is_ok());
  ASSERT_TRUE(index->sync().is_ok());
  const IndexDurablePoint before = index->durable_point();
  ASSERT_TRUE(index->add("T", {"a"}, 20, kBase).is_ok());
  env.fail_next_sync();
  const Status failed = index->sync();
  ASSERT_FALSE(failed.is_ok());
  // A later fdatasync could "succeed" without the lost pages: never report success again.
  EXPECT_EQ(index->sync().code(), failed.code());
  EXPECT_EQ(index->add("T", {"a"}, 30, kBase).code(), failed.code());
  EXPECT_EQ(index->flush_writes().code(), failed.code());
  EXPECT_EQ(index->durable_point().entry_count, before.entry_count);
  auto r = index->query("T", "a", 64, 0, INT64_MAX);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.value(), (Offsets{20, 10}));
}

TEST(IndexServiceCrash, FailedWriteIsRetriedByTheNextFlush) {
  FaultEnv env;
  IndexDurablePoint point;
  {
    auto index = open_index(&env, IndexOptions{16, 30});
    ASSERT_TRUE(index->add("T", {"a"}, 10, kBase).is_ok());
    env.fail_next_write();
    EXPECT_FALSE(index->flush_writes().is_ok());
    ASSERT_TRUE(index->flush_writes().is_ok());
    ASSERT_TRUE(index->sync().is_ok());
    point = index->durable_point();
    EXPECT_EQ(point.entry_count, 1u);
  }
  env.crash(CrashMode::kDropUnsynced);
  auto index = open_index(&env, IndexOptions{16, 30});
  ASSERT_TRUE(index->recover_to(point).is_ok());
  auto r = index->query("T", "a", 64, 0, INT64_MAX);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.value(), (Offsets{10}));
}

TEST(IndexServiceCrash, DiskFullWhenRollingOverIsRetryable) {
  FaultEnv env;
  const IndexOptions options{8, 10};  // 9 entries per file
  const uint64_t file_bytes = index_format::file_size(8, 10);
  auto index = open_index(&env, options);
  env.set_space_limit(2 * file_bytes + file_bytes / 2);
  int64_t offset = 0;
  for (; offset < 10; ++offset) ASSERT_TRUE(index->add("T", {"k"}, offset, kBase).is_ok());
  ASSERT_TRUE(index->sync().is_ok());  // the second file is synced with one entry
  Status st;
  while (offset < 100 && (st = index->add("T", {"k"}, offset, kBase)).is_ok()) ++offset;
  ASSERT_EQ(st.code(), StatusCode::kNoSpace) << st.to_string();
  EXPECT_EQ(offset, 18);  // two full files, the third cannot be created
  EXPECT_EQ(index->file_count(), 2u);
  // The failed roll-over wrote the full file; sync must still cover it.
  ASSERT_TRUE(index->sync().is_ok());
  const IndexDurablePoint point = index->durable_point();
  EXPECT_EQ(point.entry_count, 9u);
  EXPECT_EQ(point.end_physical_offset, 17);
  index.reset();
  env.crash(CrashMode::kDropUnsynced);
  env.set_space_limit(0);
  index = open_index(&env, options);
  ASSERT_TRUE(index->recover_to(point).is_ok());
  ASSERT_TRUE(index->add("T", {"k"}, offset, kBase).is_ok());
  auto r = index->query("T", "k", 64, 0, INT64_MAX);
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r.value().size(), 19u);
  EXPECT_EQ(r.value().front(), 18);
}

}  // namespace
}  // namespace holdfast
