// kill -9 of `holdfast standalone` under a multi-threaded synchronous Producer: the broker is
// killed and restarted (same ports, same data directory) HOLDFAST_KILL_ROUNDS times (default 3)
// while 4 threads send. Every send must come back SEND_OK or as an error to the caller; every
// SEND_OK message must then be pullable exactly as sent (body, tags, keys, UNIQ_KEY) at the queue
// and offset its result named. Duplicates (one UNIQ_KEY stored twice, from a retry after a lost
// answer) are allowed, counted and printed, as are stored messages whose send reported an error.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "client_test_env.h"
#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"

namespace holdfast {
namespace {

namespace ct = client_test;

struct Sent {
  std::string body;
  std::string tags;
  std::vector<std::string> keys;
  MessageQueue queue;
  int64_t queue_offset = 0;
};

TEST(ClientKillTest, AcknowledgedSendsSurviveKillNine) {
  const std::string dir = ct::make_temp_dir("hf_client_kill");
  ASSERT_FALSE(dir.empty());
  const uint16_t ns_port = ct::ts::free_port();
  const uint16_t broker_port = ct::ts::free_port();
  const std::string ns_addr = "127.0.0.1:" + std::to_string(ns_port);
  auto server = ct::standalone(dir, ns_port, broker_port);
  ASSERT_EQ(server.start(), "");

  const int rounds = ct::env_int("HOLDFAST_KILL_ROUNDS", 3);
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  std::printf("client_kill_test: seed %u, %d kill rounds\n", seed, rounds);
  std::mt19937 rng(seed);

  ProducerOptions po;
  po.name_servers = {ns_addr};
  po.group = "kill_producer";
  auto producer = Producer::start(po);
  ASSERT_TRUE(producer.ok()) << producer.error().to_string();
  const std::string topic = "ClientKill_" + std::to_string(::getpid());

  std::mutex mu;
  std::map<std::string, Sent> acked;  // UNIQ_KEY -> what was sent and where it was stored
  std::map<std::string, int> errors;  // error code name -> count
  std::atomic<int64_t> sends{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> senders;
  const auto t_start = std::chrono::steady_clock::now();
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      std::mt19937 local(seed + t);
      for (int seq = 0; !stop.load(); ++seq) {
        Message m(topic, "", "T" + std::to_string(t));
        // Mostly small bodies; every 25th one is 6 KiB and goes compressed.
        const size_t size = seq % 25 == 0 ? 6000 : 64 + local() % 512;
        m.body = "t" + std::to_string(t) + "-" + std::to_string(seq) + "-";
        while (m.body.size() < size) m.body.push_back(static_cast<char>('a' + local() % 26));
        m.keys = {"k-" + std::to_string(t) + "-" + std::to_string(seq), "thread-" + std::to_string(t)};
        sends++;
        auto r = (*producer)->send(m);
        {
          std::lock_guard<std::mutex> lock(mu);
          if (r.ok() && r->status == SendStatus::kSendOk) {
            acked[r->msg_id] = Sent{m.body, m.tags, m.keys, r->queue, r->queue_offset};
          } else if (r.ok()) {
            errors[send_status_name(r->status)]++;
          } else {
            errors[error_code_name(r.error().code)]++;
          }
        }
        if (!r.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // broker down: don't spin
      }
    });
  }

  std::vector<int64_t> restart_ms;
  for (int round = 0; round < rounds; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + rng() % 800));
    server.kill9();
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    const auto r0 = std::chrono::steady_clock::now();
    ASSERT_EQ(server.start(), "") << "restart in round " << round;
    restart_ms.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - r0).count());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // sends succeed again after the last restart
  stop = true;
  for (auto& s : senders) s.join();
  (*producer)->shutdown();
  const double send_secs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t_start).count() / 1000.0;

  // Pull everything back (a fresh consumer instance, after the last restart).
  PullConsumerOptions co;
  co.name_servers = {ns_addr};
  co.group = "kill_consumer";
  co.instance_name = "kill_verifier";
  auto consumer = PullConsumer::start(co);
  ASSERT_TRUE(consumer.ok()) << consumer.error().to_string();
  auto stored = ct::pull_until(**consumer, topic, acked.size(), "*", 20000);

  std::map<std::string, std::vector<const ReceivedMessage*>> by_key;
  for (const auto& m : stored) by_key[m.msg_id].push_back(&m);
  int64_t lost = 0, mismatched = 0, duplicates = 0, stored_after_error = 0;
  for (const auto& [key, copies] : by_key) {
    if (copies.size() > 1) duplicates += static_cast<int64_t>(copies.size()) - 1;
    if (!acked.count(key)) stored_after_error++;
  }
  for (const auto& [key, sent] : acked) {
    auto it = by_key.find(key);
    if (it == by_key.end()) {
      lost++;
      ADD_FAILURE() << "acknowledged message lost: " << key << " at " << sent.queue.to_string() << " offset "
                    << sent.queue_offset;
      continue;
    }
    bool at_acked_position = false;
    for (const ReceivedMessage* m : it->second) {
      if (m->body != sent.body || m->tags != sent.tags || m->keys != sent.keys ||
          m->properties.at("UNIQ_KEY") != key) {
        mismatched++;
        ADD_FAILURE() << "message " << key << " differs from what was sent";
      }
      if (m->queue_id == sent.queue.queue_id && m->queue_offset == sent.queue_offset &&
          m->broker_name == sent.queue.broker_name) {
        at_acked_position = true;
      }
    }
    EXPECT_TRUE(at_acked_position) << key << " not at " << sent.queue.to_string() << " offset " << sent.queue_offset;
  }
  int64_t error_total = 0;
  std::string error_text;
  for (const auto& [name, n] : errors) {
    error_total += n;
    error_text += " " + name + "=" + std::to_string(n);
  }
  std::string restarts;
  for (int64_t ms : restart_ms) restarts += " " + std::to_string(ms);
  std::printf(
      "client_kill_test: %lld sends in %.1f s over %d kill -9 rounds (restart ms:%s): %zu SEND_OK, %lld errors "
      "to the caller (%s ), %zu stored records, %lld duplicates (same UNIQ_KEY stored twice), %lld stored "
      "although the send reported an error, %lld acknowledged lost, %lld mismatched\n",
      static_cast<long long>(sends.load()), send_secs, rounds, restarts.c_str(), acked.size(),
      static_cast<long long>(error_total), error_text.c_str(), stored.size(), static_cast<long long>(duplicates),
      static_cast<long long>(stored_after_error), static_cast<long long>(lost), static_cast<long long>(mismatched));
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(mismatched, 0);
  EXPECT_EQ(static_cast<int64_t>(acked.size()) + error_total, sends.load()) << "every send answered exactly once";
  EXPECT_GT(acked.size(), 0u);

  (*consumer)->shutdown();
  server.stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace holdfast
