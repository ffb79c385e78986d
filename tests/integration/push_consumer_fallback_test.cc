// The push consumer's send-back when CONSUMER_SEND_MSG_BACK cannot be done, with real brokers
// killed with SIGKILL while the listener runs (label crash):
// - The message's broker dies: the failed message is sent as a copy to %RETRY%<group> on another
//   broker of the group's retry topic (DELAY = 3 + reconsumeTimes), and comes back from there with
//   reconsumeTimes 1, under its original topic and message id.
// - No broker takes it (the only broker is down): the message is consumed again in this process
//   after 5 s, and its offset is committed once that succeeds and the broker is back.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "client_test_env.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/push_consumer.h"

namespace holdfast {
namespace {

namespace ct = client_test;
using Clock = std::chrono::steady_clock;

constexpr char kShortLevels[] = "messageDelayLevel=1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s";

// One listener call as the test saw it.
struct Delivery {
  ReceivedMessage message;
  Clock::time_point at;
};

class Deliveries {
 public:
  void add(const ReceivedMessage& m) {
    std::lock_guard<std::mutex> lock(mu_);
    all_.push_back({m, Clock::now()});
    cv_.notify_all();
  }
  // Waits until at least n calls were seen; false on timeout.
  bool wait_for(size_t n, int64_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return all_.size() >= n; });
  }
  std::vector<Delivery> all() const {
    std::lock_guard<std::mutex> lock(mu_);
    return all_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Delivery> all_;
};

PushConsumerOptions consumer_options(const std::string& ns, const std::string& group, const std::string& topic) {
  PushConsumerOptions o;
  o.name_servers = {ns};
  o.group = group;
  o.instance_name = "fallback1";
  o.subscriptions = {{topic, "*"}};
  o.consume_from_where = ConsumeFromWhere::kFirstOffset;
  o.rebalance_interval_ms = 1000;
  o.persist_offset_interval_ms = 500;
  o.long_poll_ms = 1000;
  o.consume_thread_count = 2;
  o.call_timeout_ms = 2000;
  return o;
}

TEST(PushConsumerFallbackTest, MessagesBrokerDiesSoTheCopyGoesToTheRetryTopicOnAnotherBroker) {
  const std::string dir = ct::make_temp_dir("hf_fallback_two");
  ASSERT_FALSE(dir.empty());
  const uint16_t ns_port = ct::ts::free_port();
  const std::string ns = "127.0.0.1:" + std::to_string(ns_port);
  ct::HoldfastProcess namesrv({"namesrv", "--host", "127.0.0.1", "--port", std::to_string(ns_port)},
                              "Holdfast name server on");
  ASSERT_EQ(namesrv.start(), "");
  const uint16_t port_a = ct::ts::free_port();
  const uint16_t port_b = ct::ts::free_port();
  auto broker = [&](const std::string& name, uint16_t port) {
    return ct::broker_process(name, "FallbackCluster", port, ns, dir + "/" + name, {kShortLevels});
  };
  auto broker_a = broker("broker-a", port_a);
  auto broker_b = broker("broker-b", port_b);
  ASSERT_EQ(broker_a.start(), "");
  ASSERT_EQ(broker_b.start(), "");

  // The topic lives on both brokers, so the consumer heartbeats to both and each creates the
  // group's retry topic; the message goes to broker-a.
  const std::string topic = "FallbackTwo_" + std::to_string(::getpid());
  const std::string group = "GFallbackTwo_" + std::to_string(::getpid());
  ASSERT_EQ(ct::create_topic("127.0.0.1:" + std::to_string(port_a), topic, 2), "");
  ASSERT_EQ(ct::create_topic("127.0.0.1:" + std::to_string(port_b), topic, 2), "");
  ASSERT_EQ(ct::wait_route(ns, topic, 2), 2u);

  ProducerOptions po;
  po.name_servers = {ns};
  po.group = "fallback_producer";
  auto producer = Producer::start(po);
  ASSERT_TRUE(producer.ok()) << producer.error().to_string();
  auto on_broker_a = [](const std::vector<MessageQueue>& qs, const Message&, const std::string&) {
    for (const auto& q : qs) {
      if (q.broker_name == "broker-a") return q;
    }
    return qs.front();
  };
  auto sent = (*producer)->send(Message(topic, "first-fails", "T"), on_broker_a, "");
  ASSERT_TRUE(sent.ok()) << sent.error().to_string();
  ASSERT_EQ(sent->queue.broker_name, "broker-a");
  (*producer)->shutdown();

  Deliveries deliveries;
  std::mutex kill_mu;
  std::condition_variable kill_cv;
  bool retry_routed = false, killed = false;
  auto options = consumer_options(ns, group, topic);
  options.poll_name_server_interval_ms = 300;  // sees the retry topic on broker-b soon
  auto consumer = PushConsumer::start(options, [&](const std::vector<ReceivedMessage>& msgs) {
    deliveries.add(msgs[0]);
    std::unique_lock<std::mutex> lock(kill_mu);
    if (!killed) {
      // The retry topic must be routable to broker-b first, or there is nowhere to send to.
      kill_cv.wait_for(lock, std::chrono::seconds(30), [&] { return retry_routed; });
      // The message's broker dies while its listener runs: CONSUMER_SEND_MSG_BACK cannot reach it.
      broker_a.kill9();
      killed = true;
      return ConsumeResult::kReconsumeLater;
    }
    return ConsumeResult::kSuccess;
  });
  ASSERT_TRUE(consumer.ok()) << consumer.error().to_string();
  // The consumer's heartbeats create %RETRY%<group> on both brokers; both register it.
  const size_t retry_brokers = ct::wait_route(ns, "%RETRY%" + group, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the consumer's route refresh
  {
    std::lock_guard<std::mutex> lock(kill_mu);
    retry_routed = true;
  }
  kill_cv.notify_all();
  ASSERT_EQ(retry_brokers, 2u);
  ASSERT_TRUE(deliveries.wait_for(2, 30000)) << deliveries.all().size();
  (*consumer)->shutdown();

  const auto all = deliveries.all();
  ASSERT_GE(all.size(), 2u);
  const ReceivedMessage& first = all[0].message;
  const ReceivedMessage& second = all[1].message;
  EXPECT_EQ(first.msg_id, sent->msg_id);
  EXPECT_EQ(first.broker_name, "broker-a");
  EXPECT_EQ(first.reconsume_times, 0);
  // The copy: from broker-b's retry queue, under the original topic and id, one reconsume later.
  EXPECT_EQ(second.msg_id, sent->msg_id);
  EXPECT_EQ(second.topic, topic);
  EXPECT_EQ(second.body, "first-fails");
  EXPECT_EQ(second.broker_name, "broker-b");
  EXPECT_EQ(second.reconsume_times, 1);
  auto origin = second.properties.find("ORIGIN_MESSAGE_ID");
  ASSERT_NE(origin, second.properties.end());
  EXPECT_EQ(origin->second, sent->msg_id);
  auto retry_topic = second.properties.find("RETRY_TOPIC");
  ASSERT_NE(retry_topic, second.properties.end());
  EXPECT_EQ(retry_topic->second, topic);
  // Delayed by level 3 (1 s in this configuration) on broker-b, not delivered at once.
  const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(all[1].at - all[0].at).count();
  EXPECT_GE(gap, 900) << gap;
  EXPECT_EQ(all.size(), 2u);
  std::printf("fallback to %%RETRY%% on broker-b: redelivered after %lld ms with reconsumeTimes %d\n",
              static_cast<long long>(gap), second.reconsume_times);

  broker_b.stop();
  namesrv.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(PushConsumerFallbackTest, NoBrokerTakesTheMessageSoItIsConsumedAgainLocallyAfterFiveSeconds) {
  const std::string dir = ct::make_temp_dir("hf_fallback_local");
  ASSERT_FALSE(dir.empty());
  const uint16_t ns_port = ct::ts::free_port();
  const uint16_t broker_port = ct::ts::free_port();
  const std::string ns = "127.0.0.1:" + std::to_string(ns_port);
  auto server = ct::standalone(dir, ns_port, broker_port, {kShortLevels});
  ASSERT_EQ(server.start(), "");

  const std::string topic = "FallbackLocal", group = "GFallbackLocal";
  ProducerOptions po;
  po.name_servers = {ns};
  po.group = "fallback_producer";
  auto producer = Producer::start(po);
  ASSERT_TRUE(producer.ok()) << producer.error().to_string();
  auto sent = (*producer)->send(Message(topic, "consumed-again-here", "T"));
  ASSERT_TRUE(sent.ok()) << sent.error().to_string();
  (*producer)->shutdown();

  Deliveries deliveries;
  std::mutex kill_mu;
  bool killed = false;
  auto consumer = PushConsumer::start(consumer_options(ns, group, topic), [&](const std::vector<ReceivedMessage>& msgs) {
    deliveries.add(msgs[0]);
    std::lock_guard<std::mutex> lock(kill_mu);
    if (!killed) {
      // The only broker dies: neither CONSUMER_SEND_MSG_BACK nor the send to %RETRY% can work.
      server.kill9();
      killed = true;
      return ConsumeResult::kReconsumeLater;
    }
    return ConsumeResult::kSuccess;
  });
  ASSERT_TRUE(consumer.ok()) << consumer.error().to_string();
  ASSERT_TRUE(deliveries.wait_for(1, 30000));
  // Back well before the local retry (5 s), so the successful second call can commit.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_EQ(server.start(), "");
  ASSERT_TRUE(deliveries.wait_for(2, 20000)) << deliveries.all().size();

  const auto all = deliveries.all();
  const ReceivedMessage& first = all[0].message;
  const ReceivedMessage& second = all[1].message;
  EXPECT_EQ(first.msg_id, sent->msg_id);
  EXPECT_EQ(first.reconsume_times, 0);
  // The same message from the same queue position, not a retry-topic copy.
  EXPECT_EQ(second.msg_id, sent->msg_id);
  EXPECT_EQ(second.topic, topic);
  EXPECT_EQ(second.queue_id, first.queue_id);
  EXPECT_EQ(second.queue_offset, first.queue_offset);
  EXPECT_EQ(second.reconsume_times, 1);
  const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(all[1].at - all[0].at).count();
  EXPECT_GE(gap, 4900) << gap;

  // The success is committed: the group's offset of that queue passes the message.
  const MessageQueue queue{topic, first.broker_name, first.queue_id};
  PullConsumerOptions co;
  co.name_servers = {ns};
  co.group = group;
  co.instance_name = "fallback_checker";
  auto checker = PullConsumer::start(co);
  ASSERT_TRUE(checker.ok()) << checker.error().to_string();
  int64_t committed = -1;
  for (int i = 0; i < 100 && committed <= first.queue_offset; ++i) {
    auto c = (*checker)->committed_offset(queue);
    committed = c.ok() ? *c : -1;
    if (committed <= first.queue_offset) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(committed, first.queue_offset + 1);
  // Nothing was parked in the retry topic.
  EXPECT_TRUE(ct::pull_all(**checker, "%RETRY%" + group).empty());
  (*consumer)->shutdown();
  (*checker)->shutdown();
  EXPECT_EQ(deliveries.all().size(), 2u);
  std::printf("local re-consume: second call after %lld ms, reconsumeTimes %d, committed %lld\n",
              static_cast<long long>(gap), second.reconsume_times, static_cast<long long>(committed));

  server.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace holdfast
