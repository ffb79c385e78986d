// Tests of the message index: on-disk bytes against docs/format/index.md, lookups, roll-over,
// idempotent re-adds, reopen, crash recovery to a checkpointed point, retention, and a
// randomized comparison with a std::multimap model.
#include "storage/index_service.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "base/hash.h"
#include "env/env.h"
#include "storage/index_format.h"

namespace holdfast {
namespace {

using Offsets = std::vector<int64_t>;
constexpr int64_t kBase = 1'700'000'000'000;  // a whole second, ms since the epoch

// Decoded by hand (not with the code under test) to check the byte table.
uint64_t be64(const std::string& s, uint64_t pos) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(s.at(pos + i));
  return v;
}
uint32_t be32(const std::string& s, uint64_t pos) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s.at(pos + i));
  return v;
}
// Java String.hashCode of an ASCII string, then RocketMQ's abs.
int32_t ascii_key_hash(const std::string& s) {
  uint32_t h = 0;
  for (char c : s) h = 31 * h + static_cast<uint8_t>(c);
  auto v = static_cast<int32_t>(h);
  return v == INT32_MIN ? 0 : (v < 0 ? -v : v);
}

void remove_tree(Env* env, const std::string& path) {
  auto names = env->list_dir(path);
  if (names.is_ok()) {
    for (const auto& n : names.value()) {
      const std::string child = join_path(path, n);
      if (!env->remove_file(child).is_ok()) remove_tree(env, child);
    }
  }
  (void)env->remove_dir(path);
}

class IndexServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_index_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { remove_tree(env_, root_); }

  std::unique_ptr<IndexService> open_index(IndexOptions options) {
    auto r = IndexService::open(env_, root_, options);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? std::move(r).value() : nullptr;
  }
  static void add(IndexService* index, const std::vector<std::string_view>& keys, int64_t offset,
                  int64_t ts, std::string_view topic = "T") {
    Status st = index->add(topic, keys, offset, ts);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  static Offsets query(const IndexService& index, std::string_view key, int max = 64,
                       int64_t begin = 0, int64_t end = INT64_MAX, std::string_view topic = "T") {
    auto r = index.query(topic, key, max, begin, end);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r.value() : Offsets{};
  }
  std::string file_path(const std::string& name) const { return join_path(join_path(root_, "index"), name); }
  std::string read_file(const std::string& name) {
    auto r = read_file_to_string(env_, file_path(name));
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r.value() : std::string();
  }
  void overwrite(const std::string& name, uint64_t pos, const std::string& bytes) {
    auto f = env_->open_file(file_path(name), OpenMode::kMustExist);
    ASSERT_TRUE(f.is_ok());
    ASSERT_TRUE(f.value()->write_at(pos, bytes.data(), bytes.size()).is_ok());
  }

  Env* env_ = Env::posix();
  std::string root_;
};

const IndexOptions kSmall{64, 100};
const IndexOptions kTiny{8, 10};  // 9 entries per file: roll-over every few records

TEST(IndexKeyHash, MatchesJavaAbsHashCode) {
  EXPECT_EQ(index_key_hash("T#k1"), ascii_key_hash("T#k1"));
  EXPECT_EQ(index_key_hash("hello"), 99162322);  // "hello".hashCode()
  // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Math.abs overflows, RocketMQ uses 0.
  EXPECT_EQ(index_key_hash("polygenelubricants"), 0);
  int negatives = 0;
  for (const std::string s : {"TopicTest#ORDER-000017", "zzzzzzzzzz", "T#key", "%RETRY%group#id-42"}) {
    if (java_string_hash(s) < 0) ++negatives;
    EXPECT_EQ(index_key_hash(s), ascii_key_hash(s)) << s;
  }
  EXPECT_GT(negatives, 0);  // abs() was exercised
}

TEST(IndexFileName, SeventeenDigitLocalTimeRoundTrip) {
  const std::string name = index_file_name(kBase + 123);
  ASSERT_EQ(name.size(), 17u);
  EXPECT_TRUE(std::all_of(name.begin(), name.end(), ::isdigit));
  EXPECT_EQ(name.substr(14), "123");
  int64_t ms = 0;
  ASSERT_TRUE(parse_index_file_name(name, &ms));
  EXPECT_EQ(ms, kBase + 123);
  EXPECT_FALSE(parse_index_file_name("20231301000000000", &ms));  // month 13
  EXPECT_FALSE(parse_index_file_name("2023010100000000x", &ms));
  EXPECT_FALSE(parse_index_file_name("2023010100000000", &ms));
}

TEST_F(IndexServiceTest, FileBytesMatchTheFormatTable) {
  auto index = open_index(kSmall);
  const int64_t t0 = kBase + 123;
  add(index.get(), {"k1"}, 1000, t0);
  add(index.get(), {"k2"}, 2000, t0 + 2500);
  add(index.get(), {"k1"}, 3000, t0 + 3999);
  ASSERT_TRUE(index->flush_writes().is_ok());
  ASSERT_EQ(index->file_count(), 1u);
  auto entry = [&](uint32_t i) { return 40 + 64 * 4 + uint64_t{i} * 20; };
  const int32_t h1 = ascii_key_hash("T#k1"), h2 = ascii_key_hash("T#k2");
  const uint32_t s1 = h1 % 64, s2 = h2 % 64;
  ASSERT_NE(s1, s2);
  // flush_writes: the entries are in the file; header and slots still say "empty" until sync.
  const std::string flushed = read_file(index->file_names()[0]);
  ASSERT_EQ(flushed.size(), 40u + 64 * 4 + 100 * 20);
  EXPECT_EQ(be32(flushed, entry(3)), static_cast<uint32_t>(h1));
  EXPECT_EQ(be32(flushed, 36), 0u);
  EXPECT_EQ(be32(flushed, 40 + 4 * s1), 0u);
  ASSERT_TRUE(index->sync().is_ok());
  const std::string bytes = read_file(index->file_names()[0]);
  namespace L = index_format;
  ASSERT_EQ(bytes.size(), 40u + 64 * 4 + 100 * 20);
  EXPECT_EQ(be64(bytes, 0), static_cast<uint64_t>(t0));           // beginTimestamp
  EXPECT_EQ(be64(bytes, 8), static_cast<uint64_t>(t0 + 3999));    // endTimestamp
  EXPECT_EQ(be64(bytes, 16), 1000u);                              // beginPhyOffset
  EXPECT_EQ(be64(bytes, 24), 3000u);                              // endPhyOffset
  EXPECT_EQ(be32(bytes, 32), 2u);                                 // hashSlotCount (used slots)
  EXPECT_EQ(be32(bytes, 36), 4u);                                 // indexCount
  for (uint32_t s = 0; s < 64; ++s) {
    const uint32_t want = s == s1 ? 3 : (s == s2 ? 2 : 0);
    EXPECT_EQ(be32(bytes, 40 + 4 * s), want) << "slot " << s;
  }
  EXPECT_EQ(bytes.substr(entry(0), 20), std::string(20, '\0'));  // entry 0 is never used
  const struct { int32_t hash; uint64_t offset; uint32_t diff, prev; } want[] = {
      {h1, 1000, 0, 0}, {h2, 2000, 2, 0}, {h1, 3000, 3, 1}};
  for (uint32_t i = 1; i <= 3; ++i) {
    SCOPED_TRACE("entry " + std::to_string(i));
    EXPECT_EQ(be32(bytes, entry(i)), static_cast<uint32_t>(want[i - 1].hash));
    EXPECT_EQ(be64(bytes, entry(i) + 4), want[i - 1].offset);
    EXPECT_EQ(be32(bytes, entry(i) + 12), want[i - 1].diff);
    EXPECT_EQ(be32(bytes, entry(i) + 16), want[i - 1].prev);
  }
  EXPECT_EQ(bytes.substr(entry(4), 20), std::string(20, '\0'));
  EXPECT_EQ(L::file_size(64, 100), bytes.size());
}

TEST_F(IndexServiceTest, QueryByKeyAndTimeRangeNewestFirst) {
  auto index = open_index(kSmall);
  for (int i = 0; i < 30; ++i) {
    const std::string key = "order-" + std::to_string(i % 3);
    add(index.get(), {key}, 100 * i, kBase + 1000 * i);
  }
  Offsets all0;
  for (int i = 27; i >= 0; i -= 3) all0.push_back(100 * i);
  EXPECT_EQ(query(*index, "order-0"), all0);
  EXPECT_EQ(query(*index, "order-0", 64, kBase + 3000, kBase + 9000), (Offsets{900, 600, 300}));
  EXPECT_EQ(query(*index, "order-1", 2), (Offsets{2800, 2500}));
  EXPECT_TRUE(query(*index, "order-0", 64, kBase + 31'000, kBase + 99'000).empty());
  EXPECT_TRUE(query(*index, "order-0", 64, kBase + 9000, kBase + 3000).empty());
  EXPECT_TRUE(query(*index, "order-0", 0).empty());
  EXPECT_TRUE(query(*index, "order-0", 64, 0, INT64_MAX, "OtherTopic").empty());
  EXPECT_TRUE(query(*index, "missing").empty());
  // One-second precision: a record stored at +40.250 s is found by any range touching [40, 41).
  add(index.get(), {"sub"}, 5000, kBase + 40'250);
  EXPECT_EQ(query(*index, "sub", 64, kBase + 40'999, kBase + 50'000), (Offsets{5000}));
  EXPECT_EQ(query(*index, "sub", 64, kBase, kBase + 40'000), (Offsets{5000}));
  EXPECT_TRUE(query(*index, "sub", 64, kBase + 41'000, kBase + 50'000).empty());
  EXPECT_TRUE(query(*index, "sub", 64, kBase, kBase + 39'999).empty());
}

TEST_F(IndexServiceTest, StoreTimesSlightlyOutOfOrderAreStillFound) {
  auto index = open_index(kSmall);
  add(index.get(), {"k"}, 0, kBase);
  add(index.get(), {"k"}, 1, kBase + 10'000);
  add(index.get(), {"k"}, 2, kBase + 8'000);  // the clock stepped back two seconds
  // The chain meets offset 2 (older than the range) before offset 1: it must not stop there.
  EXPECT_EQ(query(*index, "k", 64, kBase + 10'000, kBase + 10'999), (Offsets{1}));
  ASSERT_TRUE(index->flush_writes().is_ok());
  EXPECT_EQ(query(*index, "k", 64, kBase + 10'000, kBase + 10'999), (Offsets{1}));
}

TEST_F(IndexServiceTest, UniqKeyAndSeveralKeysPerRecord) {
  auto index = open_index(kSmall);
  const std::string uniq = "0A0B0C0D00002A9F0000000000000001";
  add(index.get(), {uniq, "a", "b", "a", "", uniq}, 700, kBase);
  add(index.get(), {"b"}, 800, kBase + 1000);
  EXPECT_EQ(query(*index, uniq), (Offsets{700}));
  EXPECT_EQ(query(*index, "a"), (Offsets{700}));
  EXPECT_EQ(query(*index, "b"), (Offsets{800, 700}));
  ASSERT_TRUE(index->sync().is_ok());
  EXPECT_EQ(index->durable_point().entry_count, 4u);  // duplicates and empty keys dropped
}

TEST_F(IndexServiceTest, HashCollisionsShareChainsAndAreReturned) {
  auto index = open_index(IndexOptions{1, 100});  // one bucket: every entry in one chain
  ASSERT_EQ(index_key_hash("T#Aa"), index_key_hash("T#BB"));  // "Aa" and "BB" collide in Java
  add(index.get(), {"Aa"}, 10, kBase);
  add(index.get(), {"BB"}, 20, kBase);
  add(index.get(), {"Cc"}, 30, kBase);
  add(index.get(), {"Aa", "BB"}, 40, kBase);  // two colliding keys of one record: reported once
  EXPECT_EQ(query(*index, "Aa"), (Offsets{40, 20, 10}));  // the caller re-checks the key
  EXPECT_EQ(query(*index, "BB"), (Offsets{40, 20, 10}));
  EXPECT_EQ(query(*index, "Cc"), (Offsets{30}));
  ASSERT_TRUE(index->flush_writes().is_ok());
  EXPECT_EQ(query(*index, "Cc"), (Offsets{30}));
}

TEST_F(IndexServiceTest, RollsOverToNewFilesAndQueriesAcrossThem) {
  auto index = open_index(kTiny);
  for (int i = 0; i < 40; ++i) {
    const std::string unique = "u" + std::to_string(i);
    add(index.get(), {"common", unique}, 100 * i, kBase + 1000 * i);
    if (i % 7 == 0) {
      ASSERT_TRUE(index->flush_writes().is_ok());
    }
  }
  EXPECT_EQ(index->file_count(), 9u);  // 80 entries, 9 per file
  const auto names = index->file_names();
  for (size_t i = 1; i < names.size(); ++i) EXPECT_LT(names[i - 1], names[i]);
  Offsets want;
  for (int i = 39; i >= 0; --i) want.push_back(100 * i);
  EXPECT_EQ(query(*index, "common"), want);
  EXPECT_EQ(query(*index, "u4"), (Offsets{400}));  // the record whose keys span two files
  EXPECT_EQ(query(*index, "common", 64, kBase + 10'000, kBase + 12'000), (Offsets{1200, 1100, 1000}));
  for (int i = 40; i < 100; ++i) add(index.get(), {"common"}, 100 * i, kBase + 1000 * i);
  const Offsets capped = query(*index, "common", 1000);
  ASSERT_EQ(capped.size(), 64u);  // maxMsgsNumBatch
  EXPECT_EQ(capped.front(), 9900);
  EXPECT_EQ(capped.back(), 3600);
}

TEST_F(IndexServiceTest, RecordsAtOrBelowTheIndexedOffsetAreIgnored) {
  auto index = open_index(kSmall);
  add(index.get(), {"a"}, 100, kBase);
  add(index.get(), {"b"}, 100, kBase);
  add(index.get(), {"c"}, 50, kBase);
  EXPECT_EQ(index->max_indexed_physical_offset(), 100);
  EXPECT_TRUE(query(*index, "b").empty());
  EXPECT_TRUE(query(*index, "c").empty());
  add(index.get(), {}, 150, kBase);  // a record without keys still moves the mark
  EXPECT_EQ(index->max_indexed_physical_offset(), 150);
  ASSERT_TRUE(index->sync().is_ok());
  const IndexDurablePoint p = index->durable_point();
  EXPECT_EQ(p.entry_count, 1u);
  EXPECT_EQ(p.end_physical_offset, 150);
}

TEST_F(IndexServiceTest, ReopenAfterCleanSyncKeepsEverything) {
  IndexDurablePoint before;
  {
    auto index = open_index(kTiny);
    for (int i = 0; i < 25; ++i) add(index.get(), {"k", "u" + std::to_string(i)}, 10 * i, kBase + i);
    ASSERT_TRUE(index->sync().is_ok());
    before = index->durable_point();
  }
  auto index = open_index(kTiny);
  const IndexDurablePoint after = index->durable_point();
  EXPECT_EQ(after.file_name, before.file_name);
  EXPECT_EQ(after.entry_count, before.entry_count);
  EXPECT_EQ(after.end_physical_offset, 240);
  EXPECT_EQ(index->max_indexed_physical_offset(), 240);
  EXPECT_EQ(query(*index, "k").size(), 25u);
  EXPECT_EQ(query(*index, "u3"), (Offsets{30}));
  const size_t files = index->file_count();
  add(index.get(), {"k"}, 250, kBase + 30);  // continues in the loaded active file
  EXPECT_EQ(index->file_count(), files);
  ASSERT_TRUE(index->sync().is_ok());
  EXPECT_EQ(index->durable_point().entry_count, before.entry_count + 1);
  index.reset();
  index = open_index(kTiny);
  EXPECT_EQ(query(*index, "k", 2), (Offsets{250, 240}));
}

TEST_F(IndexServiceTest, RecoverToCutsBackAndDeletesNewerFiles) {
  IndexDurablePoint point;
  std::vector<std::string> names_at_crash;
  {
    auto index = open_index(kTiny);
    for (int i = 0; i < 12; ++i) add(index.get(), {"all", "k" + std::to_string(i % 4)}, 100 * i, kBase + 1000 * i);
    ASSERT_TRUE(index->sync().is_ok());
    point = index->durable_point();
    for (int i = 12; i < 40; ++i) add(index.get(), {"all", "k" + std::to_string(i % 4)}, 100 * i, kBase + 1000 * i);
    ASSERT_TRUE(index->flush_writes().is_ok());  // written, never synced: the "crash" follows
    names_at_crash = index->file_names();
  }
  ASSERT_EQ(names_at_crash.size(), 9u);
  ASSERT_EQ(point.end_physical_offset, 1100);
  ASSERT_EQ(point.entry_count, 6u);  // 24 entries, 9 per file: the third file holds 6
  // What a power loss can leave behind in the checkpointed file: garbage after the durable
  // entries and in the slot table.
  const uint64_t first_lost = index_format::entry_position(8, point.entry_count + 1);
  overwrite(point.file_name, first_lost, std::string(60, '\x7f'));
  overwrite(point.file_name, index_format::slot_position(0), std::string(32, '\x05'));
  overwrite(point.file_name, 8, std::string(8, '\x7f'));  // a torn endTimestamp

  auto index = open_index(kTiny);
  ASSERT_TRUE(index->recover_to(point).is_ok());
  EXPECT_EQ(index->file_names().back(), point.file_name);
  EXPECT_EQ(index->file_count(), 3u);
  for (size_t i = 3; i < names_at_crash.size(); ++i) EXPECT_FALSE(env_->file_exists(file_path(names_at_crash[i])));
  EXPECT_EQ(index->max_indexed_physical_offset(), 1100);
  Offsets want;
  for (int i = 11; i >= 0; --i) want.push_back(100 * i);
  EXPECT_EQ(query(*index, "all"), want);
  EXPECT_EQ(query(*index, "k1"), (Offsets{900, 500, 100}));
  const std::string bytes = read_file(point.file_name);
  EXPECT_EQ(be32(bytes, index_format::kIndexCountPos), point.entry_count + 1);
  EXPECT_EQ(be64(bytes, index_format::kEndPhysicalOffsetPos), 1100u);
  EXPECT_EQ(be64(bytes, index_format::kEndTimestampPos), static_cast<uint64_t>(kBase + 11'000));
  EXPECT_EQ(index->durable_point().entry_count, point.entry_count);
  // The rebuilt slot table and header are on disk: a clean reopen finds the same index.
  index.reset();
  index = open_index(kTiny);
  EXPECT_EQ(query(*index, "all"), want);
  EXPECT_EQ(query(*index, "k1"), (Offsets{900, 500, 100}));

  add(index.get(), {"all"}, 1100, kBase);  // at the point: already indexed
  for (int i = 12; i < 40; ++i) add(index.get(), {"all", "k" + std::to_string(i % 4)}, 100 * i, kBase + 1000 * i);
  EXPECT_EQ(query(*index, "all").size(), 40u);
  EXPECT_EQ(query(*index, "k1").size(), 10u);
  ASSERT_TRUE(index->sync().is_ok());
  index.reset();
  index = open_index(kTiny);
  EXPECT_EQ(query(*index, "all").size(), 40u);
}

// The index was synced past the checkpoint (the checkpoint write itself was lost): every slot
// page must be rewritten from the kept entries, not only the pages those entries touch.
TEST_F(IndexServiceTest, RecoverToRewritesTheWholeSlotTable) {
  const IndexOptions options{16384, 100};  // 64 KiB of slots: 17 pages
  IndexDurablePoint point;
  {
    auto index = open_index(options);
    for (int i = 0; i < 4; ++i) add(index.get(), {"a" + std::to_string(i)}, i, kBase);
    ASSERT_TRUE(index->sync().is_ok());
    point = index->durable_point();
    for (int i = 10; i < 60; ++i) add(index.get(), {"b" + std::to_string(i)}, i, kBase);
    ASSERT_TRUE(index->sync().is_ok());
  }
  auto index = open_index(options);
  ASSERT_TRUE(index->recover_to(point).is_ok());
  const std::string bytes = read_file(point.file_name);
  std::vector<uint32_t> want(16384, 0);
  for (uint32_t i = 1; i <= point.entry_count; ++i) {
    want[be32(bytes, index_format::entry_position(16384, i)) % 16384] = i;
  }
  for (uint32_t s = 0; s < 16384; ++s) {
    ASSERT_EQ(be32(bytes, index_format::slot_position(s)), want[s]) << "slot " << s;
  }
  EXPECT_EQ(be32(bytes, index_format::kUsedSlotCountPos),
            static_cast<uint32_t>(std::count_if(want.begin(), want.end(), [](uint32_t v) { return v != 0; })));
}

TEST_F(IndexServiceTest, RecoverToEmptyPointDeletesEverything) {
  {
    auto index = open_index(kTiny);
    for (int i = 0; i < 20; ++i) add(index.get(), {"k"}, i, kBase);
    ASSERT_TRUE(index->flush_writes().is_ok());
  }
  auto index = open_index(kTiny);
  ASSERT_TRUE(index->recover_to(IndexDurablePoint{}).is_ok());
  EXPECT_EQ(index->file_count(), 0u);
  EXPECT_EQ(index->max_indexed_physical_offset(), -1);
  EXPECT_TRUE(query(*index, "k").empty());
  add(index.get(), {"k"}, 0, kBase);
  EXPECT_EQ(query(*index, "k"), (Offsets{0}));
}

TEST_F(IndexServiceTest, RecoverToRejectsDamagedSyncedEntriesAndMissingFiles) {
  IndexDurablePoint point;
  {
    auto index = open_index(kSmall);
    for (int i = 0; i < 5; ++i) add(index.get(), {"k" + std::to_string(i)}, i, kBase);
    ASSERT_TRUE(index->sync().is_ok());
    point = index->durable_point();
  }
  // Entry 2's prevIndex points forward: not a chain this code wrote.
  overwrite(point.file_name, index_format::entry_position(64, 2) + index_format::kEntryPrevIndexPos,
            std::string("\0\0\0\x04", 4));
  {
    auto index = open_index(kSmall);
    Status st = index->recover_to(point);
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.to_string();
    EXPECT_TRUE(index->recover_to(IndexDurablePoint{}).is_ok());  // the fallback: rebuild all
    EXPECT_EQ(index->file_count(), 0u);
  }
  auto index = open_index(kSmall);
  IndexDurablePoint missing{"20000101000000000", 1, 10};
  EXPECT_EQ(index->recover_to(missing).code(), StatusCode::kCorruption);
  add(index.get(), {"k"}, 1, kBase);
  EXPECT_EQ(index->recover_to(IndexDurablePoint{}).code(), StatusCode::kInvalidArgument);
}

TEST_F(IndexServiceTest, DeleteFilesBelowKeepsActiveAndCheckpointedFiles) {
  auto index = open_index(kTiny);
  for (int i = 0; i < 40; ++i) add(index.get(), {"all"}, 100 * i, kBase + i);  // files of 9
  ASSERT_TRUE(index->sync().is_ok());
  ASSERT_EQ(index->file_count(), 5u);
  const auto names = index->file_names();
  ASSERT_TRUE(index->delete_files_below(850).is_ok());  // the first file ends at 800
  EXPECT_EQ(index->file_count(), 4u);
  EXPECT_FALSE(env_->file_exists(file_path(names[0])));
  EXPECT_TRUE(env_->file_exists(file_path(names[1])));
  const Offsets rest = query(*index, "all");
  ASSERT_EQ(rest.size(), 31u);
  EXPECT_EQ(rest.back(), 900);
  ASSERT_TRUE(index->delete_files_below(INT64_MAX).is_ok());
  EXPECT_EQ(index->file_names(), std::vector<std::string>{names.back()});
  // A file the last checkpoint names survives even after newer files appear.
  for (int i = 40; i < 70; ++i) add(index.get(), {"all"}, 100 * i, kBase + i);
  ASSERT_TRUE(index->delete_files_below(INT64_MAX).is_ok());
  EXPECT_EQ(index->file_names().front(), names.back());
  ASSERT_TRUE(index->sync().is_ok());
  ASSERT_TRUE(index->delete_files_below(INT64_MAX).is_ok());
  EXPECT_EQ(index->file_count(), 1u);
}

TEST_F(IndexServiceTest, ConcurrentQueriesSeeOrderedResultsWhileAdding) {
  auto index = open_index(IndexOptions{128, 500});
  constexpr int kRecords = 20'000;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  auto reader = [&] {
    while (!done.load()) {
      auto r = index->query("T", "hot", 64, 0, INT64_MAX);
      if (!r.is_ok() || r.value().size() > 64 || !std::is_sorted(r.value().rbegin(), r.value().rend()) ||
          std::adjacent_find(r.value().begin(), r.value().end()) != r.value().end()) {
        bad.fetch_add(1);
      }
    }
  };
  std::thread r1(reader), r2(reader);
  int failed_writes = 0;
  for (int i = 0; i < kRecords; ++i) {
    const std::string u = "u" + std::to_string(i);
    if (!index->add("T", {"hot", u}, i, kBase + i).is_ok()) ++failed_writes;
    if (i % 97 == 0 && !index->flush_writes().is_ok()) ++failed_writes;
    if (i % 2999 == 0 && !index->sync().is_ok()) ++failed_writes;
  }
  done.store(true);
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(failed_writes, 0);
  const Offsets last = query(*index, "hot");
  ASSERT_EQ(last.size(), 64u);
  EXPECT_EQ(last.front(), kRecords - 1);
  EXPECT_EQ(query(*index, "u12345"), (Offsets{12345}));
}

// The model: every (topic#key, offset, time) ever added and not cut away. Store times are whole
// seconds and query bounds too, so the one-second precision of the format is exact here.
TEST_F(IndexServiceTest, RandomizedAgainstMultimapModel) {
  const uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const IndexOptions options{16, 40};
  auto index = open_index(options);
  std::multimap<std::string, std::pair<int64_t, int64_t>> model;  // index key -> (offset, time)
  int64_t offset = 0, time = kBase, last_keyed = -1;
  const std::vector<std::string> topics = {"T", "Orders", "%RETRY%g"};
  auto key_of = [&](int k) { return k == 7 ? std::string("Aa") : k == 8 ? std::string("BB") : "key" + std::to_string(k); };
  for (int step = 0; step < 4000; ++step) {
    const int op = pick(100);
    if (op < 70) {
      offset += 1 + pick(300);
      time += 1000 * pick(3);
      const std::string& topic = topics[pick(3)];
      std::vector<std::string> keys;
      for (int n = pick(4); n > 0; --n) keys.push_back(key_of(pick(12)));
      std::vector<std::string_view> views(keys.begin(), keys.end());
      add(index.get(), views, offset, time, topic);
      std::sort(keys.begin(), keys.end());
      keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
      for (const auto& k : keys) model.emplace(topic + "#" + k, std::make_pair(offset, time));
      if (!keys.empty()) last_keyed = offset;
    } else if (op < 90) {
      const std::string topic = topics[pick(3)], key = key_of(pick(12));
      const int64_t b = kBase + 1000 * pick(6000), e = b + 1000 * pick(3000);
      const int max = 1 + pick(80);
      const int32_t h = index_key_hash(topic + "#" + key);
      Offsets want;
      for (const auto& [k, v] : model) {
        if (index_key_hash(k) == h && v.second >= b && v.second <= e) want.push_back(v.first);
      }
      std::sort(want.rbegin(), want.rend());
      want.erase(std::unique(want.begin(), want.end()), want.end());
      want.resize(std::min<size_t>(want.size(), std::min(max, 64)));
      ASSERT_EQ(query(*index, key, max, b, e, topic), want) << "step " << step;
    } else if (op < 95) {
      ASSERT_TRUE(index->flush_writes().is_ok());
    } else if (op < 98) {
      ASSERT_TRUE(index->sync().is_ok());
    } else {
      ASSERT_TRUE(index->sync().is_ok());
      index.reset();
      index = open_index(options);
      // Reopen knows the offset of the last entry; keyless records after it are simply re-added.
      ASSERT_EQ(index->max_indexed_physical_offset(), last_keyed) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace holdfast
