// The client library against a real `holdfast standalone` process: sync sends with keys, tags and
// user properties, compression over 4 KiB, batches, async (with back-pressure), oneway, ordered
// sends, tag filtering, long polling, consumer offsets and the queue bound queries.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "client_test_env.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"

namespace holdfast {
namespace {

namespace ct = client_test;

class ClientE2ETest : public ct::StandaloneSuite {
 protected:
  static void SetUpTestSuite() { start_server("hf_client_e2e"); }
  static void TearDownTestSuite() { stop_server(); }
  void SetUp() override { start_clients("e2e_producer", "e2e_consumer"); }

  static std::string topic(const char* name) {
    return std::string(name) + "_" + std::to_string(::getpid());
  }
};

TEST_F(ClientE2ETest, SendAndPullKeysTagsUserProperties) {
  const std::string t = topic("E2EBasic");
  std::map<std::string, SendResult> sent;  // msg_id -> result
  for (int i = 0; i < 20; ++i) {
    Message m(t, "body-" + std::to_string(i), i % 2 ? "TagA" : "TagB");
    m.keys = {"key-" + std::to_string(i), "order-7"};
    m.properties["seq"] = std::to_string(i);
    auto r = producer_->send(m);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->status, SendStatus::kSendOk);
    EXPECT_EQ(r->msg_id.size(), 32u);
    EXPECT_EQ(r->offset_msg_id.size(), 32u);
    EXPECT_EQ(r->queue.topic, t);
    sent[r->msg_id] = *r;
  }
  auto got = ct::pull_until(*consumer_, t, 20);
  ASSERT_EQ(got.size(), 20u);
  for (const auto& m : got) {
    auto it = sent.find(m.msg_id);
    ASSERT_NE(it, sent.end()) << m.msg_id;
    const int i = std::stoi(m.properties.at("seq"));
    EXPECT_EQ(m.body, "body-" + std::to_string(i));
    EXPECT_EQ(m.tags, i % 2 ? "TagA" : "TagB");
    EXPECT_EQ(m.keys, (std::vector<std::string>{"key-" + std::to_string(i), "order-7"}));
    EXPECT_EQ(m.properties.at("UNIQ_KEY"), m.msg_id);
    EXPECT_EQ(m.offset_msg_id, it->second.offset_msg_id);
    EXPECT_EQ(m.queue_id, it->second.queue.queue_id);
    EXPECT_EQ(m.queue_offset, it->second.queue_offset);
    EXPECT_EQ(m.broker_name, it->second.queue.broker_name);
    EXPECT_EQ(m.sys_flag & 1, 0);
  }
  // Client-side and broker-side tag filter.
  auto only_a = ct::pull_until(*consumer_, t, 10, "TagA");
  EXPECT_EQ(only_a.size(), 10u);
  for (const auto& m : only_a) EXPECT_EQ(m.tags, "TagA");
}

TEST_F(ClientE2ETest, LargeBodyIsCompressedOnTheWireAndInflatedOnPull) {
  const std::string t = topic("E2ECompress");
  std::string body;
  for (int i = 0; body.size() < 20000; ++i) body += "line " + std::to_string(i) + " of a compressible body\n";
  auto r = producer_->send(Message(t, body, "Big"));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  auto small = producer_->send(Message(t, std::string(4095, 'x'), "Small"));
  ASSERT_TRUE(small.ok());
  auto got = ct::pull_until(*consumer_, t, 2);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& m : got) {
    if (m.tags == "Big") {
      EXPECT_EQ(m.body, body);
      EXPECT_EQ(m.sys_flag & 1, 1) << "compressed bit";
      EXPECT_EQ(m.sys_flag & 0x700, 0x300) << "zlib compression type";
    } else {
      EXPECT_EQ(m.body, std::string(4095, 'x'));
      EXPECT_EQ(m.sys_flag & 1, 0);
    }
  }
}

TEST_F(ClientE2ETest, BatchGivesEachMessageItsOwnUniqKey) {
  const std::string t = topic("E2EBatch");
  std::vector<Message> batch;
  for (int i = 0; i < 10; ++i) {
    Message m(t, "batch-" + std::to_string(i), "TagBatch");
    m.keys = {"bk" + std::to_string(i)};
    batch.push_back(m);
  }
  auto r = producer_->send(batch);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  std::vector<std::string> ids;
  for (size_t p = 0, q; p <= r->msg_id.size(); p = q + 1) {
    q = r->msg_id.find(',', p);
    if (q == std::string::npos) q = r->msg_id.size();
    ids.push_back(r->msg_id.substr(p, q - p));
  }
  ASSERT_EQ(ids.size(), 10u);
  auto got = ct::pull_until(*consumer_, t, 10);
  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].body, "batch-" + std::to_string(i));  // one queue, consecutive offsets
    EXPECT_EQ(got[i].msg_id, ids[i]);
    EXPECT_EQ(got[i].keys, std::vector<std::string>{"bk" + std::to_string(i)});
    EXPECT_EQ(got[i].queue_offset, r->queue_offset + static_cast<int64_t>(i));
  }
  // Mixed topics are refused before anything is sent.
  batch[3].topic = "Other";
  auto bad = producer_->send(batch);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ClientE2ETest, AsyncCallbacksRunOnceEachUnderBackPressure) {
  ProducerOptions po;
  po.name_servers = {*ns_addr_};
  po.group = "e2e_async";
  po.max_in_flight = 4;
  auto p = Producer::start(po);
  ASSERT_TRUE(p.ok());
  const std::string t = topic("E2EAsync");
  constexpr int kCount = 300;
  std::mutex mu;
  std::map<std::string, int> calls;
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < kCount; ++i) {
    (*p)->send_async(Message(t, "async-" + std::to_string(i)), [&, i](Outcome<SendResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      ++calls[std::to_string(i)];
      (r.ok() ? ok : failed)++;
      if (!r.ok()) ADD_FAILURE() << r.error().to_string();
    });
  }
  (*p)->shutdown();  // waits for every callback
  EXPECT_EQ(ok.load(), kCount);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(calls.size(), static_cast<size_t>(kCount));
  for (const auto& [_, n] : calls) EXPECT_EQ(n, 1);
  EXPECT_EQ(ct::pull_until(*consumer_, t, kCount).size(), static_cast<size_t>(kCount));
  // After shutdown, sends fail with kShutdown (and the callback still runs once).
  std::promise<ErrorCode> code;
  (*p)->send_async(Message(t, "late"), [&](Outcome<SendResult> r) { code.set_value(r.error().code); });
  EXPECT_EQ(code.get_future().get(), ErrorCode::kShutdown);
  auto sync = (*p)->send(Message(t, "late"));
  ASSERT_FALSE(sync.ok());
  EXPECT_EQ(sync.error().code, ErrorCode::kShutdown);
}

TEST_F(ClientE2ETest, OnewayArrives) {
  const std::string t = topic("E2EOneway");
  ASSERT_TRUE(producer_->send(Message(t, "first")).ok());  // creates the topic
  for (int i = 0; i < 20; ++i) {
    auto r = producer_->send_oneway(Message(t, "oneway-" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }
  EXPECT_EQ(ct::pull_until(*consumer_, t, 21).size(), 21u);
}

TEST_F(ClientE2ETest, OrderedSendKeepsOneQueueInOrder) {
  const std::string t = topic("E2EOrdered");
  ASSERT_TRUE(producer_->send(Message(t, "create")).ok());
  std::set<int32_t> queues;
  int64_t last_offset = -1;
  for (int i = 0; i < 30; ++i) {
    auto r = producer_->send(Message(t, "ordered-" + std::to_string(i), "Ord"), select_queue_by_hash(), "order-42");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    queues.insert(r->queue.queue_id);
    EXPECT_GT(r->queue_offset, last_offset);
    last_offset = r->queue_offset;
  }
  EXPECT_EQ(queues.size(), 1u);
  auto got = ct::pull_until(*consumer_, t, 30, "Ord");
  ASSERT_EQ(got.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(got[i].body, "ordered-" + std::to_string(i));
}

TEST_F(ClientE2ETest, LongPollReturnsWhenAMessageArrives) {
  const std::string t = topic("E2ELongPoll");
  auto first = producer_->send(Message(t, "m0"));
  ASSERT_TRUE(first.ok());
  const MessageQueue q = first->queue;
  const int64_t max = ct::wait_max_offset(*consumer_, q, first->queue_offset + 1);
  ASSERT_EQ(max, first->queue_offset + 1);
  // Nothing new: a short long-poll answers NO_NEW_MSG after about its hold time.
  auto t0 = std::chrono::steady_clock::now();
  auto empty = consumer_->pull(q, "*", max, 32, 500);
  ASSERT_TRUE(empty.ok()) << empty.error().to_string();
  EXPECT_EQ(empty->status, PullStatus::kNoNewMessage);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(400));
  // A held pull wakes up when a message lands on its queue.
  auto fut = std::async(std::launch::async, [&] { return consumer_->pull(q, "*", max, 32, 10000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  t0 = std::chrono::steady_clock::now();
  auto second = producer_->send(Message(t, "m1"), [q](const std::vector<MessageQueue>&, const Message&,
                                                        const std::string&) { return q; }, "");
  ASSERT_TRUE(second.ok());
  auto r = fut.get();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->status, PullStatus::kFound);
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0].body, "m1");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(5000));
  // Offset bounds and an illegal offset.
  auto min = consumer_->min_offset(q);
  ASSERT_TRUE(min.ok());
  EXPECT_EQ(*min, 0);
  auto beyond = consumer_->pull(q, "*", max + 100, 32);
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(beyond->status, PullStatus::kOffsetIllegal);
}

TEST_F(ClientE2ETest, CommitAndQueryOffsets) {
  const std::string t = topic("E2EOffsets");
  auto first = producer_->send(Message(t, "x"));
  ASSERT_TRUE(first.ok());
  const MessageQueue q = first->queue;
  ASSERT_TRUE(consumer_->commit_offset(q, 1).ok());
  auto c = consumer_->committed_offset(q);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(*c, 1);
  auto at = consumer_->offset_for_timestamp(q, 0);
  ASSERT_TRUE(at.ok()) << at.error().to_string();
  EXPECT_GE(*at, 0);
}

TEST_F(ClientE2ETest, BadInputIsRefusedClearly) {
  auto r = producer_->send(Message("bad topic!", "x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  Message big(topic("E2EBig"), std::string(4 * 1024 * 1024 + 1, 'b'));
  auto too_big = producer_->send(big);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(producer_->client_id().empty());
  EXPECT_NE(producer_->client_id().find('@'), std::string::npos);
}

TEST(ClientNoServerTest, NoNameServerFailsWithinTheBudget) {
  ProducerOptions po;
  po.name_servers = {"127.0.0.1:" + std::to_string(ct::ts::free_port())};
  po.send_msg_timeout_ms = 1000;
  auto p = Producer::start(po);
  ASSERT_TRUE(p.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto r = (*p)->send(Message("NoServer", "x"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code == ErrorCode::kConnection || r.error().code == ErrorCode::kTimeout)
      << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(5000));
}

}  // namespace
}  // namespace holdfast
