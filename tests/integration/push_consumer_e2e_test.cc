// The push consumer against a real `holdfast standalone` process: consume and commit, retries via
// the retry topic with the broker's delay levels (fail k times, throw), the consume timeout, two
// clustering consumers splitting the queues, broadcasting with a restart that resumes, where a new
// group starts, and orderly consumption (broadcasting, and clustering with broker queue locks).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "client_test_env.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/push_consumer.h"

namespace holdfast {
namespace {

namespace ct = client_test;
using Clock = std::chrono::steady_clock;

// Waits until pred() holds or timeout_ms passes; returns pred().
template <typename Pred>
bool wait_for(Pred pred, int64_t timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Counts deliveries per msg_id (thread-safe).
class Tally {
 public:
  int add(const ReceivedMessage& m) {
    std::lock_guard<std::mutex> lock(mu_);
    return ++counts_[m.msg_id];
  }
  size_t distinct() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_.size();
  }
  int count(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(id);
    return it == counts_.end() ? 0 : it->second;
  }
  std::map<std::string, int> all() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int> counts_;
};

size_t owned_of(const PushConsumer& c, const std::string& topic) {
  size_t n = 0;
  for (const auto& q : c.assigned_queues()) n += q.topic == topic ? 1 : 0;
  return n;
}

class PushConsumerE2ETest : public ct::StandaloneSuite {
 protected:
  // Short delay levels, so retries come back within the test's patience; a send-back with
  // delayLevel 0 gets level 3 + reconsumeTimes: 1 s for the first retry, 2 s for the second.
  static void SetUpTestSuite() {
    start_server("hf_push_e2e", {"messageDelayLevel=1s 1s 1s 2s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s 3s"});
  }
  static void TearDownTestSuite() { stop_server(); }
  void SetUp() override { start_clients("push_e2e_producer", "push_e2e_checker"); }

  static std::string name(const char* base) { return std::string(base) + "_" + std::to_string(::getpid()); }

  PushConsumerOptions options(const std::string& group, const std::string& topic, const std::string& instance) {
    PushConsumerOptions o;
    o.name_servers = {*ns_addr_};
    o.group = group;
    o.instance_name = instance;
    o.subscriptions = {{topic, "*"}};
    o.consume_from_where = ConsumeFromWhere::kFirstOffset;
    o.rebalance_interval_ms = 1000;
    o.persist_offset_interval_ms = 500;
    o.long_poll_ms = 1000;
    o.consume_thread_count = 4;
    o.local_offset_store_dir = *dir_ + "/client_offsets";
    return o;
  }

  // Sends n messages (the topic is created by the first), returning their msg_ids.
  std::vector<std::string> send(const std::string& topic, int n, const std::string& prefix = "m") {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto r = producer_->send(Message(topic, prefix + std::to_string(i), "T"));
      EXPECT_TRUE(r.ok()) << r.error().to_string();
      if (r.ok()) ids.push_back(r->msg_id);
    }
    return ids;
  }

  // Sum over the topic's queues of (committed offset of group) and of max offsets.
  std::pair<int64_t, int64_t> committed_vs_max(const std::string& group, const std::string& topic) {
    PullConsumerOptions co;
    co.name_servers = {*ns_addr_};
    co.group = group;
    co.instance_name = "offset_reader";
    auto c = PullConsumer::start(co);
    EXPECT_TRUE(c.ok());
    int64_t committed = 0, max = 0;
    auto qs = (*c)->queues_of(topic);
    EXPECT_TRUE(qs.ok());
    for (const auto& q : *qs) {
      auto o = (*c)->committed_offset(q);
      if (o.ok()) committed += *o;
      auto m = (*c)->max_offset(q);
      if (m.ok()) max += *m;
    }
    (*c)->shutdown();
    return {committed, max};
  }

};

TEST_F(PushConsumerE2ETest, ConsumesEverythingAndCommitsOffsets) {
  const std::string topic = name("PushAll"), group = name("GAll");
  auto ids = send(topic, 60);
  Tally tally;
  auto c = PushConsumer::start(options(group, topic, "all1"), [&](const std::vector<ReceivedMessage>& msgs) {
    for (const auto& m : msgs) {
      EXPECT_EQ(m.topic, topic);
      tally.add(m);
    }
    return ConsumeResult::kSuccess;
  });
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_TRUE(wait_for([&] { return tally.distinct() >= 60; }, 20000)) << tally.distinct();
  EXPECT_FALSE((*c)->assigned_queues().empty());
  (*c)->shutdown();
  for (const auto& id : ids) EXPECT_EQ(tally.count(id), 1) << id;
  auto [committed, max] = committed_vs_max(group, topic);
  EXPECT_EQ(committed, max);
  EXPECT_EQ(max, 60);
}

TEST_F(PushConsumerE2ETest, ListenerFailingKTimesGetsKPlusOneDeliveriesWithGrowingDelaysThenCommits) {
  const std::string topic = name("PushRetry"), group = name("GRetry");
  constexpr int kFailures = 2;
  auto ids = send(topic, 5);
  const std::string victim = ids[2];
  Tally tally;
  std::mutex mu;
  std::vector<int> victim_reconsume_times;
  std::vector<Clock::time_point> victim_times;
  auto c = PushConsumer::start(options(group, topic, "retry1"), [&](const std::vector<ReceivedMessage>& msgs) {
    const int n = tally.add(msgs[0]);
    if (msgs[0].msg_id != victim) return ConsumeResult::kSuccess;
    EXPECT_EQ(msgs[0].topic, topic);  // restored from RETRY_TOPIC
    {
      std::lock_guard<std::mutex> lock(mu);
      victim_reconsume_times.push_back(msgs[0].reconsume_times);
      victim_times.push_back(Clock::now());
    }
    return n <= kFailures ? ConsumeResult::kReconsumeLater : ConsumeResult::kSuccess;
  });
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_TRUE(wait_for([&] { return tally.count(victim) >= kFailures + 1; }, 60000)) << tally.count(victim);
  // Let offsets reach the broker, then make sure no extra delivery comes.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  (*c)->shutdown();
  EXPECT_EQ(tally.count(victim), kFailures + 1);
  for (const auto& id : ids) {
    if (id != victim) {
      EXPECT_EQ(tally.count(id), 1) << id;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(victim_reconsume_times, (std::vector<int>{0, 1, 2}));
    std::vector<int64_t> gaps;
    for (size_t i = 1; i < victim_times.size(); ++i) {
      gaps.push_back(
          std::chrono::duration_cast<std::chrono::milliseconds>(victim_times[i] - victim_times[i - 1]).count());
      std::printf("redelivery %zu after %lld ms\n", i, static_cast<long long>(gaps.back()));
    }
    // Growing delays (levels 3 and 4 = 1 s and 2 s here), never early.
    ASSERT_EQ(gaps.size(), 2u);
    EXPECT_GE(gaps[0], 900);
    EXPECT_GE(gaps[1], 1900);
    EXPECT_GT(gaps[1], gaps[0]);
  }
  auto [committed, max] = committed_vs_max(group, topic);
  EXPECT_EQ(committed, max);
  auto [retry_committed, retry_max] = committed_vs_max(group, "%RETRY%" + group);
  EXPECT_EQ(retry_committed, retry_max);
  EXPECT_EQ(retry_max, kFailures);
}

TEST_F(PushConsumerE2ETest, AlwaysFailingMessageGoesToTheDeadLetterQueueAfterMaxReconsumeTimes) {
  const std::string topic = name("PushDlq"), group = name("GDlq");
  auto ids = send(topic, 1);
  Tally tally;
  std::mutex first_mu;
  std::string first_offset_msg_id;  // of the original record: what ORIGIN_MESSAGE_ID names
  auto o = options(group, topic, "dlq1");
  o.max_reconsume_times = 2;
  auto c = PushConsumer::start(o, [&](const std::vector<ReceivedMessage>& msgs) {
    tally.add(msgs[0]);
    if (msgs[0].reconsume_times == 0) {
      std::lock_guard<std::mutex> lock(first_mu);
      first_offset_msg_id = msgs[0].offset_msg_id;
    }
    return ConsumeResult::kReconsumeLater;
  });
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  // Delivered 1 + max_reconsume_times times; the last send-back lands in %DLQ%<group>.
  ASSERT_TRUE(wait_for([&] { return tally.count(ids[0]) >= 3; }, 60000)) << tally.count(ids[0]);
  // The dead-letter topic is created by that send-back; wait for its route first.
  ASSERT_TRUE(wait_for([&] { return consumer_->queues_of("%DLQ%" + group).ok(); }, 40000));
  auto dead = ct::pull_until(*consumer_, "%DLQ%" + group, 1, "*", 20000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  (*c)->shutdown();
  EXPECT_EQ(tally.count(ids[0]), 3);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].body, "m0");
  EXPECT_EQ(dead[0].properties["RETRY_TOPIC"], topic);
  {
    std::lock_guard<std::mutex> lock(first_mu);
    EXPECT_EQ(dead[0].properties["ORIGIN_MESSAGE_ID"], first_offset_msg_id);
  }
  EXPECT_EQ(dead[0].msg_id, ids[0]);  // UNIQ_KEY unchanged
  EXPECT_EQ(dead[0].properties["TAGS"], "T");
  auto [committed, max] = committed_vs_max(group, topic);
  EXPECT_EQ(committed, max);
}

TEST_F(PushConsumerE2ETest, ExceptionCountsAsReconsumeLater) {
  const std::string topic = name("PushThrow"), group = name("GThrow");
  auto ids = send(topic, 1);
  Tally tally;
  auto c = PushConsumer::start(options(group, topic, "throw1"), [&](const std::vector<ReceivedMessage>& msgs) {
    if (tally.add(msgs[0]) == 1) throw std::runtime_error("first attempt fails");
    return ConsumeResult::kSuccess;
  });
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_TRUE(wait_for([&] { return tally.count(ids[0]) >= 2; }, 60000));
  (*c)->shutdown();
  EXPECT_EQ(tally.count(ids[0]), 2);
}

TEST_F(PushConsumerE2ETest, ListenerHangingPastConsumeTimeoutIsRedelivered) {
  const std::string topic = name("PushTimeout"), group = name("GTimeout");
  auto ids = send(topic, 1);
  Tally tally;
  auto o = options(group, topic, "timeout1");
  o.consume_timeout_ms = 1000;
  auto c = PushConsumer::start(o, [&](const std::vector<ReceivedMessage>& msgs) {
    if (tally.add(msgs[0]) == 1) std::this_thread::sleep_for(std::chrono::milliseconds(5000));  // hangs
    return ConsumeResult::kSuccess;
  });
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  // The copy arrives while the first call still hangs (a documented duplicate).
  ASSERT_TRUE(wait_for([&] { return tally.count(ids[0]) >= 2; }, 30000)) << tally.count(ids[0]);
  (*c)->shutdown();
  auto [committed, max] = committed_vs_max(group, topic);
  EXPECT_EQ(committed, max);
}

TEST_F(PushConsumerE2ETest, TwoClusteringConsumersSplitQueues) {
  const std::string topic = name("PushSplit"), group = name("GSplit");
  send(topic, 40);
  Tally tally;
  auto listener = [&](const std::vector<ReceivedMessage>& msgs) {
    for (const auto& m : msgs) tally.add(m);
    return ConsumeResult::kSuccess;
  };
  // Started together: each may first see the group without the other and take queues the other
  // then owns; the hand-over (release + commit, then the new owner's re-read after its grace) must
  // still give every message to exactly one of them.
  auto a = PushConsumer::start(options(group, topic, "splitA"), listener);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  auto b = PushConsumer::start(options(group, topic, "splitB"), listener);
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  auto topic_queues = consumer_->queues_of(topic);
  ASSERT_TRUE(topic_queues.ok());
  const size_t n = topic_queues->size();
  ASSERT_GE(n, 2u);
  auto split_ok = [&] {
    std::vector<MessageQueue> qa, qb;
    for (const auto& q : (*a)->assigned_queues()) {
      if (q.topic == topic) qa.push_back(q);
    }
    for (const auto& q : (*b)->assigned_queues()) {
      if (q.topic == topic) qb.push_back(q);
    }
    std::set<MessageQueue> all(qa.begin(), qa.end());
    all.insert(qb.begin(), qb.end());
    return qa.size() + qb.size() == n && all.size() == n && qa.size() >= n / 2 && qb.size() >= n / 2;
  };
  ASSERT_TRUE(wait_for(split_ok, 20000));
  send(topic, 40, "late");
  ASSERT_TRUE(wait_for([&] { return tally.distinct() >= 80; }, 20000)) << tally.distinct();
  (*a)->shutdown();
  // b takes over a's queues.
  ASSERT_TRUE(wait_for([&] { return owned_of(**b, topic) == n; }, 20000));
  send(topic, 20, "after");
  ASSERT_TRUE(wait_for([&] { return tally.distinct() >= 100; }, 20000)) << tally.distinct();
  (*b)->shutdown();
  int duplicates = 0;
  for (const auto& [_, n] : tally.all()) duplicates += n - 1;
  std::printf("split: %zu distinct, %d duplicates\n", tally.distinct(), duplicates);
  // Every listener call succeeded and none outlived a drop: a duplicate here is a queue read past
  // its committed offset by two owners.
  EXPECT_EQ(duplicates, 0);
}

TEST_F(PushConsumerE2ETest, BroadcastingEveryInstanceGetsEverythingAndRestartResumes) {
  const std::string topic = name("PushBroadcast"), group = name("GBroadcast");
  send(topic, 30);
  Tally one, two;
  auto make = [&](const char* instance, Tally& tally) {
    auto o = options(group, topic, instance);
    o.message_model = MessageModel::kBroadcasting;
    return PushConsumer::start(o, [&tally](const std::vector<ReceivedMessage>& msgs) {
      for (const auto& m : msgs) tally.add(m);
      return ConsumeResult::kSuccess;
    });
  };
  auto a = make("bcastA", one);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  auto b = make("bcastB", two);
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  ASSERT_TRUE(wait_for([&] { return one.distinct() >= 30 && two.distinct() >= 30; }, 20000))
      << one.distinct() << " " << two.distinct();
  (*b)->shutdown();
  b->reset();
  auto more = send(topic, 10, "more");
  Tally two_again;
  auto b2 = make("bcastB", two_again);
  ASSERT_TRUE(b2.ok()) << b2.error().to_string();
  ASSERT_TRUE(wait_for([&] { return one.distinct() >= 40 && two_again.distinct() >= 10; }, 20000))
      << one.distinct() << " " << two_again.distinct();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  (*a)->shutdown();
  (*b2)->shutdown();
  // The restarted instance resumed from its local offsets: only the new messages.
  EXPECT_EQ(two_again.distinct(), 10u);
  for (const auto& id : more) EXPECT_EQ(two_again.count(id), 1);
  for (const auto& [_, n] : one.all()) EXPECT_EQ(n, 1);
}

TEST_F(PushConsumerE2ETest, NewGroupFromLastOffsetSkipsOldMessages) {
  const std::string topic = name("PushLast"), group = name("GLast");
  send(topic, 10, "old");
  // The queue ends (GET_MAX_OFFSET) trail the send answers until the dispatcher indexed them.
  ASSERT_EQ(ct::pull_until(*consumer_, topic, 10).size(), 10u);
  Tally tally;
  auto o = options(group, topic, "last1");
  o.consume_from_where = ConsumeFromWhere::kLastOffset;
  auto c = PushConsumer::start(o, [&](const std::vector<ReceivedMessage>& msgs) {
    for (const auto& m : msgs) tally.add(m);
    return ConsumeResult::kSuccess;
  });
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  auto topic_queues = consumer_->queues_of(topic);
  ASSERT_TRUE(topic_queues.ok());
  ASSERT_TRUE(wait_for([&] { return owned_of(**c, topic) == topic_queues->size(); }, 20000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto fresh = send(topic, 5, "new");
  ASSERT_TRUE(wait_for([&] { return tally.distinct() >= 5; }, 20000));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  (*c)->shutdown();
  EXPECT_EQ(tally.distinct(), 5u);
  for (const auto& id : fresh) EXPECT_EQ(tally.count(id), 1);
}

// Orderly listener, broadcasting (no queue locks needed): one queue is consumed in offset order,
// and a suspended batch is retried locally before anything after it. (Clustering orderly needs the
// broker's LOCK_BATCH_MQ.)
TEST_F(PushConsumerE2ETest, OrderlyListenerKeepsQueueOrderAndRetriesLocally) {
  const std::string topic = name("PushOrderly"), group = name("GOrderly");
  auto first_queue = [](const std::vector<MessageQueue>& qs, const Message&, const std::string&) { return qs[0]; };
  for (int i = 0; i < 20; ++i) {
    auto r = producer_->send(Message(topic, std::to_string(i), "T"), first_queue, "");
    ASSERT_TRUE(r.ok()) << r.error().to_string();
  }
  std::mutex mu;
  std::vector<std::string> seen;
  bool suspended_once = false;
  auto o = options(group, topic, "orderly1");
  o.message_model = MessageModel::kBroadcasting;
  o.suspend_current_queue_time_ms = 200;
  auto c = PushConsumer::start_orderly(o, [&](const std::vector<ReceivedMessage>& msgs) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(msgs[0].body);
    if (msgs[0].body == "5" && !suspended_once) {
      suspended_once = true;
      return OrderlyConsumeResult::kSuspend;
    }
    return OrderlyConsumeResult::kSuccess;
  });
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() >= 21;
  }, 20000));
  (*c)->shutdown();
  std::vector<std::string> want;
  for (int i = 0; i < 20; ++i) {
    want.push_back(std::to_string(i));
    if (i == 5) want.push_back("5");
  }
  EXPECT_EQ(seen, want);
}

// Orderly, clustering: the queues are locked on the broker (LOCK_BATCH_MQ); two consumers of one
// group each consume their queues one message at a time in queue order, a suspended message is
// retried locally before the next, and every message is consumed.
TEST_F(PushConsumerE2ETest, OrderlyClusteringWithQueueLocks) {
  const std::string topic = name("PushOrderlyLocked"), group = name("GOrderlyLocked");
  auto by_order = [](const std::vector<MessageQueue>& qs, const Message&, const std::string& arg) {
    return qs[static_cast<size_t>(std::stoi(arg)) % qs.size()];
  };
  constexpr int kOrders = 4, kSteps = 15;
  auto send_all = [&](int from, int to) {
    for (int step = from; step < to; ++step) {
      for (int order = 0; order < kOrders; ++order) {
        auto r = producer_->send(Message(topic, std::to_string(order) + ":" + std::to_string(step), "T"), by_order,
                                 std::to_string(order));
        ASSERT_TRUE(r.ok()) << r.error().to_string();
      }
    }
  };
  send_all(0, 5);
  std::mutex mu;
  std::map<std::string, std::map<int, std::vector<int>>> seen;  // consumer -> order -> steps
  std::set<std::string> consumed;
  bool suspended_once = false;
  auto make = [&](const std::string& who) {
    auto o = options(group, topic, who);
    o.suspend_current_queue_time_ms = 200;
    return PushConsumer::start_orderly(o, [&, who](const std::vector<ReceivedMessage>& msgs) {
      std::lock_guard<std::mutex> lock(mu);
      const std::string& body = msgs[0].body;
      const int order = std::stoi(body.substr(0, body.find(':')));
      const int step = std::stoi(body.substr(body.find(':') + 1));
      seen[who][order].push_back(step);
      if (order == 1 && step == 7 && !suspended_once) {
        suspended_once = true;
        return OrderlyConsumeResult::kSuspend;
      }
      consumed.insert(body);
      return OrderlyConsumeResult::kSuccess;
    });
  };
  auto a = make("orderlyA");
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard<std::mutex> lock(mu);
    return consumed.size() >= 5 * kOrders;
  }, 30000));
  auto b = make("orderlyB");
  ASSERT_TRUE(b.ok()) << b.error().to_string();
  send_all(5, kSteps);
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard<std::mutex> lock(mu);
    return consumed.size() >= static_cast<size_t>(kOrders * kSteps);
  }, 60000)) << consumed.size();
  (*a)->shutdown();
  (*b)->shutdown();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_TRUE(suspended_once);
  for (const auto& [who, orders] : seen) {
    for (const auto& [order, steps] : orders) {
      // In order within one consumer; the one suspended step appears twice in a row.
      for (size_t i = 1; i < steps.size(); ++i) {
        EXPECT_LE(steps[i - 1], steps[i]) << who << " order " << order;
        if (steps[i - 1] == steps[i]) {
          EXPECT_TRUE(order == 1 && steps[i] == 7) << who << " order " << order << " step " << steps[i];
        }
      }
    }
  }
  std::printf("orderly: consumer A saw %zu orders, B %zu\n", seen["orderlyA"].size(), seen["orderlyB"].size());
}

}  // namespace
}  // namespace holdfast
