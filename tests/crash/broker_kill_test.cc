// kill -9 of a whole broker process mid-stream: `holdfast standalone` (SYNC_FLUSH, its default)
// receives sends from 16 in-flight slots over loopback; at a seeded random moment it is killed
// with SIGKILL; after a restart every message that got SUCCESS must be pullable at the queue
// and offset its response named, with the same body, UNIQ_KEY and offset message id. Repeated
// for HOLDFAST_KILL_ROUNDS rounds (default 4) on the same data directory, then a clean stop.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "broker_test_support.h"
#include "standalone_fixture.h"
#include "remoting/response_code.h"
#include "transport/remoting_client.h"

namespace holdfast {
namespace {

namespace ts = test_support;
namespace rc = remoting::response_code;
using remoting::RemotingCommand;

constexpr int kQueues = 4;
constexpr int kSlots = 16;
const char* const kTopic = "KillTest";

struct Ack {
  int32_t queue_id;
  int64_t queue_offset;
  std::string msg_id;
  std::string body;
  std::string uniq;
};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

class BrokerKillTest : public ts::StandaloneFixture {
 protected:
  BrokerKillTest() : StandaloneFixture("hf_broker_kill") {}

  // Sends from kSlots slots until `stop`; records each SUCCESS.
  void send_until(std::atomic<bool>& stop, int round, std::vector<Ack>* acks, int64_t* failures) {
    transport::RemotingClient client;
    std::mutex mu;
    std::condition_variable cv;
    int running = kSlots;
    std::atomic<uint64_t> seq{0};
    std::function<void(int)> next = [&](int slot) {
      if (stop.load()) {
        std::lock_guard<std::mutex> l(mu);
        if (--running == 0) cv.notify_all();
        return;
      }
      uint64_t n = seq.fetch_add(1);
      int32_t queue = static_cast<int32_t>(n % kQueues);
      char uniq[33];
      std::snprintf(uniq, sizeof uniq, "7F0000010000%04X%016llX", static_cast<unsigned>(round),
                    static_cast<unsigned long long>(n));
      std::string body = "round " + std::to_string(round) + " message " + std::to_string(n) + " " +
                         std::string(static_cast<size_t>(n % 700), 'p');
      client.invoke_async(addr_, ts::send_v2(kTopic, queue, body, "T", "k" + std::to_string(n), uniq), 5000,
                          [&, slot, queue, body, u = std::string(uniq)](Result<RemotingCommand> resp) {
                            {
                              std::lock_guard<std::mutex> l(mu);
                              if (resp.is_ok() && (*resp).code == rc::kSuccess) {
                                acks->push_back(Ack{queue, std::atoll(std::string((*resp).ext("queueOffset").value_or("-1")).c_str()),
                                                    std::string((*resp).ext("msgId").value_or("")), body, u});
                              } else {
                                ++*failures;
                              }
                            }
                            if (!resp.is_ok()) {
                              // The broker is gone (killed): retire the slot instead of spinning.
                              std::lock_guard<std::mutex> l(mu);
                              if (--running == 0) cv.notify_all();
                              return;
                            }
                            next(slot);
                          });
    };
    for (int i = 0; i < kSlots; ++i) next(i);
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, std::chrono::seconds(60), [&] { return running == 0; });
    ASSERT_EQ(running, 0) << "sends did not finish";
    l.unlock();
    client.shutdown();
  }

  // Pulls every queue from 0 and checks each acknowledged message.
  void verify(const std::vector<Ack>& acks, int64_t* stored_total) {
    transport::RemotingClient client;
    std::map<std::pair<int32_t, int64_t>, std::tuple<std::string, std::string, std::string>> stored;
    for (int32_t q = 0; q < kQueues; ++q) {
      int64_t offset = 0;
      for (;;) {
        auto resp = client.invoke_sync(addr_, ts::pull("verifier", kTopic, q, offset, 32, 0, 0), 5000);
        ASSERT_TRUE(resp.is_ok()) << resp.status().to_string();
        if ((*resp).code != rc::kSuccess) break;
        bool ok = false;
        auto recs = ts::decode_records((*resp).body, &ok);
        ASSERT_TRUE(ok) << "damaged record in a pull of queue " << q;
        for (const RecordView& r : recs) {
          EXPECT_EQ(r.queue_offset, offset) << "queue " << q << " is not dense";
          stored[{q, r.queue_offset}] = {std::string(r.body), std::string(find_property(r.properties, "UNIQ_KEY")),
                                         offset_message_id(r.store_host, r.physical_offset)};
          offset = r.queue_offset + 1;
        }
        int64_t next = std::atoll(std::string((*resp).ext("nextBeginOffset").value_or("0")).c_str());
        if (next <= offset - 1) break;
        offset = next;
      }
    }
    client.shutdown();
    *stored_total = static_cast<int64_t>(stored.size());
    for (const Ack& a : acks) {
      auto it = stored.find({a.queue_id, a.queue_offset});
      ASSERT_NE(it, stored.end()) << "acknowledged message lost: queue " << a.queue_id << " offset " << a.queue_offset;
      EXPECT_EQ(std::get<0>(it->second), a.body) << "queue " << a.queue_id << " offset " << a.queue_offset;
      EXPECT_EQ(std::get<1>(it->second), a.uniq);
      EXPECT_EQ(std::get<2>(it->second), a.msg_id);
    }
  }

};

TEST_F(BrokerKillTest, EverySuccessSurvivesKillNine) {
  const int rounds = env_int("HOLDFAST_KILL_ROUNDS", 4);
  uint64_t seed = static_cast<uint64_t>(env_int("HOLDFAST_CRASH_SEED", static_cast<int>(std::random_device{}() & 0x7fffffff)));
  std::printf("broker_kill_test: seed %llu (HOLDFAST_CRASH_SEED replays), %d rounds, data %s\n",
              static_cast<unsigned long long>(seed), rounds, dir_.c_str());
  std::mt19937_64 rng(seed);
  std::vector<Ack> all;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(start_broker());
    std::atomic<bool> stop{false};
    std::vector<Ack> acks;
    int64_t failures = 0;
    const int delay_ms = 300 + static_cast<int>(rng() % 1500);
    std::thread killer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      proc_.kill9();
      stop.store(true);
    });
    send_until(stop, round, &acks, &failures);
    killer.join();
    std::printf("round %d: killed after %d ms; %zu acknowledged, %lld failed or cut off\n", round, delay_ms,
                acks.size(), static_cast<long long>(failures));
    ASSERT_GT(acks.size(), 0u) << "no send succeeded before the kill";
    all.insert(all.end(), acks.begin(), acks.end());
    ASSERT_NO_FATAL_FAILURE(start_broker());
    int64_t stored = 0;
    ASSERT_NO_FATAL_FAILURE(verify(all, &stored));
    std::printf("round %d: after restart %lld stored, all %zu acknowledged present and identical\n", round,
                static_cast<long long>(stored), all.size());
    EXPECT_GE(stored, static_cast<int64_t>(all.size()));
    proc_.kill9();
  }
  // Finally a clean stop: exit status 0.
  ASSERT_NO_FATAL_FAILURE(start_broker());
  int status = proc_.terminate(30000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

}  // namespace
}  // namespace holdfast
