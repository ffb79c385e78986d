// The push consumer's pure parts: the average allocation (golden cases computed by the rule of
// facts §10.1), the lowest-in-flight offset rule, and the local offsets file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "client/allocate_strategy.h"
#include "client/offset_store.h"
#include "client/process_queue.h"
#include "client/retry_message.h"
#include "storage/message.h"

namespace holdfast::client {
namespace {

std::vector<MessageQueue> queues(const std::string& topic, const std::string& broker, int n) {
  std::vector<MessageQueue> out;
  for (int i = 0; i < n; ++i) out.push_back({topic, broker, i});
  return out;
}

std::vector<int32_t> ids(const std::vector<MessageQueue>& qs) {
  std::vector<int32_t> out;
  for (const auto& q : qs) out.push_back(q.queue_id);
  return out;
}

using Ids = std::vector<int32_t>;

TEST(AllocateAveragely, EightQueuesThreeClients) {
  // n=8, c=3: mod 2; clients 0,1 take 3 (0-2, 3-5); client 2 takes 2 starting at 2*2+2=6.
  const std::vector<std::string> cids{"c", "a", "b"};  // sorted inside: a, b, c
  EXPECT_EQ(ids(allocate_averagely("a", cids, queues("T", "b0", 8))), (Ids{0, 1, 2}));
  EXPECT_EQ(ids(allocate_averagely("b", cids, queues("T", "b0", 8))), (Ids{3, 4, 5}));
  EXPECT_EQ(ids(allocate_averagely("c", cids, queues("T", "b0", 8))), (Ids{6, 7}));
}

TEST(AllocateAveragely, EvenSplit) {
  const std::vector<std::string> cids{"x", "y"};
  EXPECT_EQ(ids(allocate_averagely("x", cids, queues("T", "b", 4))), (Ids{0, 1}));
  EXPECT_EQ(ids(allocate_averagely("y", cids, queues("T", "b", 4))), (Ids{2, 3}));
}

TEST(AllocateAveragely, MoreClientsThanQueues) {
  // n=2, c=4: mod 2; size 1; clients 0,1 start at 0,1; clients 2,3 start at 2+2=4, 5 -> none.
  const std::vector<std::string> cids{"a", "b", "c", "d"};
  EXPECT_EQ(ids(allocate_averagely("a", cids, queues("T", "b", 2))), (Ids{0}));
  EXPECT_EQ(ids(allocate_averagely("b", cids, queues("T", "b", 2))), (Ids{1}));
  EXPECT_TRUE(allocate_averagely("c", cids, queues("T", "b", 2)).empty());
  EXPECT_TRUE(allocate_averagely("d", cids, queues("T", "b", 2)).empty());
}

TEST(AllocateAveragely, FiveQueuesFourClients) {
  // n=5, c=4: mod 1; client 0 takes 2 (0,1); others size 1 at i*1+1.
  const std::vector<std::string> cids{"a", "b", "c", "d"};
  EXPECT_EQ(ids(allocate_averagely("a", cids, queues("T", "b", 5))), (Ids{0, 1}));
  EXPECT_EQ(ids(allocate_averagely("b", cids, queues("T", "b", 5))), (Ids{2}));
  EXPECT_EQ(ids(allocate_averagely("c", cids, queues("T", "b", 5))), (Ids{3}));
  EXPECT_EQ(ids(allocate_averagely("d", cids, queues("T", "b", 5))), (Ids{4}));
}

TEST(AllocateAveragely, SelfAbsentGetsNothing) {
  EXPECT_TRUE(allocate_averagely("z", {"a", "b"}, queues("T", "b", 4)).empty());
  EXPECT_TRUE(allocate_averagely("a", {"a"}, {}).empty());
}

TEST(AllocateAveragely, QueuesSortedByBrokerThenId) {
  // Two brokers, given shuffled: sorted order is b1:0..2, b2:0..2; client "a" of 2 takes b1's.
  std::vector<MessageQueue> all{{"T", "b2", 1}, {"T", "b1", 2}, {"T", "b2", 0},
                                {"T", "b1", 0}, {"T", "b2", 2}, {"T", "b1", 1}};
  auto a = allocate_averagely("10.0.0.1@1", {"10.0.0.2@7", "10.0.0.1@1"}, all);
  ASSERT_EQ(a.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a[i], (MessageQueue{"T", "b1", i}));
}

TEST(AllocateAveragely, EveryQueueOwnedExactlyOnce) {
  for (int n = 0; n <= 17; ++n) {
    for (int c = 1; c <= 7; ++c) {
      std::vector<std::string> cids;
      for (int i = 0; i < c; ++i) cids.push_back("client-" + std::to_string(i));
      std::multiset<int32_t> owned;
      size_t largest = 0, smallest = SIZE_MAX;
      for (const auto& cid : cids) {
        auto got = allocate_averagely(cid, cids, queues("T", "b", n));
        largest = std::max(largest, got.size());
        smallest = std::min(smallest, got.size());
        for (const auto& q : got) owned.insert(q.queue_id);
      }
      ASSERT_EQ(owned.size(), static_cast<size_t>(n)) << "n=" << n << " c=" << c;
      for (int q = 0; q < n; ++q) ASSERT_EQ(owned.count(q), 1u) << "n=" << n << " c=" << c << " q=" << q;
      ASSERT_LE(largest - smallest, 1u) << "n=" << n << " c=" << c;
    }
  }
}

ReceivedMessage at(int64_t offset, size_t bytes = 10) {
  ReceivedMessage m;
  m.queue_offset = offset;
  m.body.assign(bytes, 'x');
  return m;
}

TEST(ProcessQueue, CommitsLowestInFlight) {
  ProcessQueue pq;
  EXPECT_FALSE(pq.committable_offset().has_value());
  pq.put({at(10), at(11), at(12), at(13)});
  EXPECT_EQ(pq.message_count(), 4u);
  EXPECT_EQ(pq.message_bytes(), 40);
  EXPECT_EQ(pq.offset_span(), 3);
  EXPECT_EQ(*pq.committable_offset(), 10);
  // A later success never moves the offset past an earlier unfinished message.
  EXPECT_EQ(pq.remove({12, 13}), 2);
  EXPECT_EQ(*pq.committable_offset(), 10);
  EXPECT_EQ(pq.remove({11}), 1);
  EXPECT_EQ(*pq.committable_offset(), 10);
  EXPECT_EQ(pq.remove({10}), 1);
  EXPECT_EQ(*pq.committable_offset(), 14);  // empty: highest put + 1
  EXPECT_EQ(pq.message_bytes(), 0);
  EXPECT_EQ(pq.remove({10}), 0);  // removing twice counts once
}

TEST(ProcessQueue, DuplicatePutIgnored) {
  ProcessQueue pq;
  pq.put({at(5, 3)});
  pq.put({at(5, 3), at(6, 4)});
  EXPECT_EQ(pq.message_count(), 2u);
  EXPECT_EQ(pq.message_bytes(), 7);
}

TEST(ProcessQueue, ExpiredHeadMessages) {
  ProcessQueue pq;
  pq.put({at(1), at(2), at(3)});
  pq.mark_consume_start(1, 1000);
  pq.mark_consume_start(2, 5000);
  // 3 not started: never expired.
  auto e = pq.expired(/*now=*/7000, /*timeout=*/3000, 16);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].queue_offset, 1);
  EXPECT_EQ(pq.expired(9000, 3000, 16).size(), 2u);
  EXPECT_EQ(pq.expired(9000, 3000, 1).size(), 1u);
}

class LocalOffsetFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_offsets_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(LocalOffsetFile, RoundTrip) {
  const std::string path = dir_ + "/c1/G/offsets.json";
  {
    LocalFileOffsetStore store(path);
    ASSERT_TRUE(store.load().is_ok());  // missing file = empty
    EXPECT_FALSE(store.read({"T", "b", 0}).value().has_value());
    store.update({"T", "b", 0}, 42);
    store.update({"T", "b", 1}, 7);
    store.update({"T", "b", 1}, 5);  // never backwards
    ASSERT_TRUE(store.write_file().is_ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  LocalFileOffsetStore again(path);
  ASSERT_TRUE(again.load().is_ok());
  EXPECT_EQ(again.read({"T", "b", 0}).value(), std::optional<int64_t>(42));
  EXPECT_EQ(again.read({"T", "b", 1}).value(), std::optional<int64_t>(7));
  EXPECT_FALSE(again.read({"T", "b", 2}).value().has_value());
}

TEST_F(LocalOffsetFile, LeftoverTempFileIgnoredAndReplaced) {
  // A crash between writing the temp file and the rename leaves the old table in force.
  const std::string path = dir_ + "/offsets.json";
  LocalFileOffsetStore store(path);
  store.update({"T", "b", 0}, 3);
  ASSERT_TRUE(store.write_file().is_ok());
  {
    std::ofstream torn(path + ".tmp");
    torn << "{\"offsetTable\":[{\"topic\":";  // torn half-write
  }
  LocalFileOffsetStore reread(path);
  ASSERT_TRUE(reread.load().is_ok());
  EXPECT_EQ(reread.read({"T", "b", 0}).value(), std::optional<int64_t>(3));
  reread.update({"T", "b", 0}, 9);
  ASSERT_TRUE(reread.write_file().is_ok());
  LocalFileOffsetStore third(path);
  ASSERT_TRUE(third.load().is_ok());
  EXPECT_EQ(third.read({"T", "b", 0}).value(), std::optional<int64_t>(9));
}

TEST_F(LocalOffsetFile, DamagedFileIsAnError) {
  const std::string path = dir_ + "/offsets.json";
  {
    std::ofstream bad(path);
    bad << "not json";
  }
  LocalFileOffsetStore store(path);
  EXPECT_FALSE(store.load().is_ok());
}

TEST(RemoteOffsetStore, NotFoundIsNoOffsetAndPersistSendsOnlyChanges) {
  int commits = 0;
  RemoteOffsetStore store(
      [](const MessageQueue& q) -> Outcome<int64_t> {
        if (q.queue_id == 0) return Error{ErrorCode::kBroker, 22, "not found", false};
        return int64_t{17};
      },
      [&](const MessageQueue&, int64_t) -> Outcome<void> {
        ++commits;
        return {};
      });
  EXPECT_FALSE(store.read({"T", "b", 0}).value().has_value());
  EXPECT_EQ(store.read({"T", "b", 1}).value(), std::optional<int64_t>(17));
  store.update({"T", "b", 0}, 4);
  store.persist_all();
  store.persist_all();
  EXPECT_EQ(commits, 1);
  store.update({"T", "b", 0}, 6);
  store.persist_all();
  EXPECT_EQ(commits, 2);
}

TEST(RetryProperties, FirstRetryOfAMessage) {
  ReceivedMessage m;
  m.topic = "Orders";
  m.msg_id = "ID1";
  m.reconsume_times = 0;
  m.properties = {{"TAGS", "A"}, {"KEYS", "k1"}, {"UNIQ_KEY", "ID1"}, {"MIN_OFFSET", "0"}, {"MAX_OFFSET", "9"},
                  {"TRAN_MSG", "true"}, {"WAIT", "false"}, {"user", "v"}};
  const std::string props = retry_properties(m);
  EXPECT_EQ(find_property(props, "RETRY_TOPIC"), "Orders");
  EXPECT_EQ(find_property(props, "ORIGIN_MESSAGE_ID"), "ID1");
  EXPECT_EQ(find_property(props, "DELAY"), "3");
  EXPECT_EQ(find_property(props, "WAIT"), "true");
  EXPECT_EQ(find_property(props, "TAGS"), "A");
  EXPECT_EQ(find_property(props, "KEYS"), "k1");
  EXPECT_EQ(find_property(props, "UNIQ_KEY"), "ID1");
  EXPECT_EQ(find_property(props, "user"), "v");
  EXPECT_EQ(find_property(props, "TRAN_MSG"), "");
  EXPECT_EQ(find_property(props, "MIN_OFFSET"), "");
  EXPECT_EQ(find_property(props, "MAX_OFFSET"), "");
}

TEST(RetryProperties, LaterRetryKeepsFirstOriginAndGrowsDelay) {
  ReceivedMessage m;
  m.topic = "Orders";  // restored from RETRY_TOPIC
  m.msg_id = "ID1";
  m.reconsume_times = 4;
  m.properties = {{"RETRY_TOPIC", "Orders"}, {"ORIGIN_MESSAGE_ID", "FIRST"}, {"DELAY", "6"},
                  {"RECONSUME_TIME", "4"}, {"MAX_RECONSUME_TIMES", "16"}};
  const std::string props = retry_properties(m);
  EXPECT_EQ(find_property(props, "ORIGIN_MESSAGE_ID"), "FIRST");
  EXPECT_EQ(find_property(props, "DELAY"), "7");
  EXPECT_EQ(find_property(props, "RECONSUME_TIME"), "");
  EXPECT_EQ(find_property(props, "MAX_RECONSUME_TIMES"), "");
  int retry_topics = 0;
  for (const auto& [k, v] : parse_properties(props)) retry_topics += k == "RETRY_TOPIC" ? 1 : 0;
  EXPECT_EQ(retry_topics, 1);
}

}  // namespace
}  // namespace holdfast::client
