// HaMaster / HaSlave over real loopback sockets and real files: a slave replicating while the
// master writes holds a byte-for-byte copy of the master's log and the same consume queues; a
// slave stopped mid-transfer and reopened continues where its log ends; garbage and offsets
// beyond the master's log on the HA port close only that connection.
#include "ha/ha_service.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "base/coding.h"
#include "env/fault_env.h"
#include "storage/message_format.h"
#include "storage/store_test_util.h"

namespace holdfast::ha {
namespace {

using namespace std::chrono_literals;

class HaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_ha_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    master_ = open("master");
    slave_ = open("slave");
    ha_.heartbeat_interval_ms = 200;
    ha_.housekeeping_ms = 2000;
    master_ha_ = std::make_unique<HaMaster>(master_.get(), ha_);
    ASSERT_TRUE(master_ha_->start("127.0.0.1", 0).is_ok());
  }
  void TearDown() override {
    if (slave_ha_) slave_ha_->stop();
    if (master_ha_) master_ha_->stop();
    slave_.reset();
    master_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<MessageStore> open(const std::string& name) {
    auto opts = testing_util::small_options(dir_ + "/" + name);
    opts.max_message_size = 8 * 1024;
    auto s = MessageStore::open(Env::posix(), opts);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? std::move(s).value() : nullptr;
  }
  std::string master_address() const { return "127.0.0.1:" + std::to_string(master_ha_->port()); }
  void start_slave() {
    slave_ha_ = std::make_unique<HaSlave>(slave_.get(), master_address(), ha_);
    slave_ha_->start();
  }
  void put(int n, uint32_t seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < n; ++i) {
      MessageToStore m = testing_util::make_message("Topic" + std::to_string(rng() % 3), static_cast<int32_t>(rng() % 2),
                                                    std::string(100 + rng() % 3000, static_cast<char>('a' + i % 26)));
      ASSERT_EQ(master_->put(std::move(m)).status, PutStatus::kOk);
    }
  }
  bool caught_up(std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (slave_->confirmed_offset() == master_->confirmed_offset() &&
          master_ha_->max_slave_ack() == master_->confirmed_offset()) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  void expect_same_log() {
    const int64_t end = slave_->confirmed_offset();
    ASSERT_EQ(end, master_->confirmed_offset());
    for (int64_t at = 0; at < end;) {
      auto a = master_->read_confirmed(at, 65536);
      auto b = slave_->read_confirmed(at, 65536);
      ASSERT_TRUE(a.is_ok() && b.is_ok());
      ASSERT_EQ(*a, *b) << "at offset " << at;
      ASSERT_FALSE(a->empty());
      at += static_cast<int64_t>(a->size());
    }
    master_->wait_dispatched(end);
    slave_->wait_dispatched(end);
    for (int t = 0; t < 3; ++t) {
      for (int32_t q = 0; q < 2; ++q) {
        const std::string topic = "Topic" + std::to_string(t);
        EXPECT_EQ(slave_->max_offset_in_queue(topic, q), master_->max_offset_in_queue(topic, q));
      }
    }
  }
  // A raw client on the HA port: sends `bytes`, then reads until the master closes (true) or
  // 5 s pass (false).
  bool master_closes_after(const std::string& bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(master_ha_->port());
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return false;
    }
    (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    bool closed = false;
    for (;;) {
      const ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
      if (r == 0 || (r < 0 && errno == ECONNRESET)) {
        closed = true;
        break;
      }
      if (r < 0) break;  // timeout
    }
    ::close(fd);
    return closed;
  }

  std::string dir_;
  HaOptions ha_;
  std::unique_ptr<MessageStore> master_;
  std::unique_ptr<MessageStore> slave_;
  std::unique_ptr<HaMaster> master_ha_;
  std::unique_ptr<HaSlave> slave_ha_;
};

TEST_F(HaServiceTest, SlaveHoldsAByteForByteCopyWhileTheMasterWrites) {
  put(100, 1);
  start_slave();
  std::thread writer([&] { put(1500, 2); });
  writer.join();
  ASSERT_TRUE(caught_up(30s)) << "slave " << slave_->confirmed_offset() << " master " << master_->confirmed_offset()
                              << " ack " << master_ha_->max_slave_ack();
  EXPECT_EQ(master_ha_->connected_slaves(), 1);
  EXPECT_GT(master_->confirmed_offset(), 4 * 128 * 1024) << "several segments were crossed";
  expect_same_log();
}

TEST_F(HaServiceTest, StoppedSlaveReopensAndContinuesWhereItsLogEnds) {
  start_slave();
  std::thread writer([&] { put(800, 3); });
  std::this_thread::sleep_for(50ms);
  slave_ha_->stop();  // mid-transfer
  slave_ha_.reset();
  writer.join();
  const int64_t had = slave_->end_offset();
  EXPECT_LT(had, master_->confirmed_offset());
  ASSERT_TRUE(slave_->shutdown().is_ok());
  slave_.reset();
  slave_ = open("slave");
  ASSERT_TRUE(slave_);
  start_slave();
  ASSERT_TRUE(caught_up(30s));
  expect_same_log();
}

TEST_F(HaServiceTest, BadInputOnTheHaPortClosesOnlyThatConnection) {
  put(50, 4);
  start_slave();
  ASSERT_TRUE(caught_up(30s));
  // An offset ahead of the master's log.
  char ahead[8];
  put_be64(ahead, static_cast<uint64_t>(master_->confirmed_offset() + 4096));
  EXPECT_TRUE(master_closes_after(std::string(ahead, 8)));
  // Garbage that decodes to a negative offset.
  EXPECT_TRUE(master_closes_after(std::string(8, '\xFF')));
  // A report that never completes: closed after the housekeeping interval.
  EXPECT_TRUE(master_closes_after("\x01\x02\x03"));
  // The real slave is still replicated.
  put(200, 5);
  ASSERT_TRUE(caught_up(30s));
  expect_same_log();
  EXPECT_EQ(slave_ha_->connections(), 1);
}

TEST_F(HaServiceTest, SyncMasterWaitAnswersOkOnlyOnceTheSlaveHasItDurably) {
  // No slave: SLAVE_NOT_AVAILABLE at once.
  put(5, 6);
  std::promise<PutStatus> none;
  master_ha_->wait_replicated(master_->confirmed_offset(), 3000, [&](PutStatus s) { none.set_value(s); });
  EXPECT_EQ(none.get_future().get(), PutStatus::kSlaveNotAvailable);

  start_slave();
  ASSERT_TRUE(caught_up(30s));
  // Many puts waiting at once; each answer comes only when the slave's durable offset covers it.
  std::mutex mu;
  std::vector<std::pair<int64_t, PutStatus>> answers;
  std::atomic<int> early{0};
  std::condition_variable cv;
  constexpr int kPuts = 200;
  for (int i = 0; i < kPuts; ++i) {
    PutResult r = master_->put(testing_util::make_message("Topic0", 0, std::string(500, 'x')));
    ASSERT_EQ(r.status, PutStatus::kOk);
    const int64_t end = r.physical_offset + r.wrote_bytes;
    master_ha_->wait_replicated(end, 5000, [&, end](PutStatus s) {
      if (s == PutStatus::kOk && slave_->flushed_offset() < end) early.fetch_add(1);
      std::lock_guard<std::mutex> lock(mu);
      answers.emplace_back(end, s);
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return answers.size() == kPuts; }));
    for (const auto& [end, status] : answers) EXPECT_EQ(status, PutStatus::kOk) << end;
  }
  EXPECT_EQ(early.load(), 0) << "answered before the slave had the message durably";

  // A slave that connects and then never acknowledges: FLUSH_SLAVE_TIMEOUT after the timeout.
  slave_ha_->stop();
  slave_ha_.reset();
  for (int i = 0; i < 100 && master_ha_->connected_slaves() > 0; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(master_ha_->connected_slaves(), 0);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(master_ha_->port());
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  char first[8];
  put_be64(first, static_cast<uint64_t>(master_->confirmed_offset()));
  ASSERT_EQ(::send(fd, first, 8, MSG_NOSIGNAL), 8);
  for (int i = 0; i < 100 && master_ha_->connected_slaves() == 0; ++i) std::this_thread::sleep_for(20ms);
  put(1, 7);
  std::promise<PutStatus> stalled;
  const auto asked = std::chrono::steady_clock::now();
  master_ha_->wait_replicated(master_->confirmed_offset(), 300, [&](PutStatus s) { stalled.set_value(s); });
  EXPECT_EQ(stalled.get_future().get(), PutStatus::kFlushSlaveTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 290ms);
  ::close(fd);
}

// Automatic failover (controller mode): a slave that follows another epoch is refused; every
// member of the in-sync set must acknowledge; a set smaller than minInSyncReplicas answers
// SLAVE_NOT_AVAILABLE at once; a member joins only once it holds everything acknowledged.
TEST_F(HaServiceTest, ControllerModeNeedsTheWholeInSyncSetAndTheSameEpoch) {
  master_ha_->stop();
  HaOptions mo = ha_;
  mo.controller_epoch = 7;
  master_ha_ = std::make_unique<HaMaster>(master_.get(), mo);
  ASSERT_TRUE(master_ha_->start("127.0.0.1", 0).is_ok());
  put(20, 11);

  // A slave of epoch 6 (it has not seen the election of 7), and one without the hello: refused.
  HaOptions old_epoch = ha_;
  old_epoch.controller_epoch = 6;
  old_epoch.member_id = 2;
  auto stale = std::make_unique<HaSlave>(slave_.get(), master_address(), old_epoch);
  stale->start();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(master_ha_->connected_slaves(), 0) << "a slave of another epoch was served";
  EXPECT_EQ(slave_->end_offset(), 0);
  stale->stop();
  std::string classic(8, '\0');
  EXPECT_TRUE(master_closes_after(classic));

  // In-sync set {2}, minInSyncReplicas 2: nothing is acknowledged while member 2 is away.
  master_ha_->set_in_sync({{2}, 2});
  std::promise<PutStatus> waiting;
  master_ha_->wait_replicated(master_->confirmed_offset(), 300, [&](PutStatus s) { waiting.set_value(s); });
  EXPECT_EQ(waiting.get_future().get(), PutStatus::kFlushSlaveTimeout);
  // The same member at epoch 7: it catches up and acknowledgements flow.
  HaOptions so = ha_;
  so.controller_epoch = 7;
  so.member_id = 2;
  slave_ha_ = std::make_unique<HaSlave>(slave_.get(), master_address(), so);
  slave_ha_->start();
  ASSERT_TRUE(caught_up(30s));
  EXPECT_EQ(master_ha_->quorum_ack(), master_->confirmed_offset());
  put(1, 12);
  std::promise<PutStatus> ok;
  master_ha_->wait_replicated(master_->confirmed_offset(), 5000, [&](PutStatus s) { ok.set_value(s); });
  EXPECT_EQ(ok.get_future().get(), PutStatus::kOk);
  ASSERT_EQ(master_ha_->slaves().size(), 1u);
  EXPECT_EQ(master_ha_->slaves()[0].member_id, 2);
  // Member 3 is not connected: it cannot join; a set of {2, 3} would wait for 3.
  EXPECT_FALSE(master_ha_->try_add_in_sync(3));
  EXPECT_TRUE(master_ha_->try_add_in_sync(2));
  // The set shrunk below minInSyncReplicas: SLAVE_NOT_AVAILABLE at once, not fewer copies.
  master_ha_->set_in_sync({{}, 2});
  std::promise<PutStatus> too_small;
  master_ha_->wait_replicated(master_->confirmed_offset() + 1, 5000, [&](PutStatus s) { too_small.set_value(s); });
  EXPECT_EQ(too_small.get_future().get(), PutStatus::kSlaveNotAvailable);
  // minInSyncReplicas 1 (the operator's choice): the master alone acknowledges.
  master_ha_->set_in_sync({{}, 1});
  std::promise<PutStatus> alone;
  master_ha_->wait_replicated(master_->confirmed_offset(), 5000, [&](PutStatus s) { alone.set_value(s); });
  EXPECT_EQ(alone.get_future().get(), PutStatus::kOk);
}

// SYNC_MASTER over an ASYNC_FLUSH master and a SYNC_FLUSH slave, both on FaultEnv: puts answered
// OK by the gate (the slave's durable acknowledgement) survive a power loss of both machines at
// once on the slave, although the master keeps only what it happened to flush.
class HaPowerLossTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(HaPowerLossTest, WhatTheGateAcknowledgedSurvivesOnTheSlave) {
  std::mt19937 rng(GetParam());
  FaultEnv master_env(GetParam());
  FaultEnv slave_env(GetParam() + 1000);
  auto master_opts = testing_util::small_options("/master");
  master_opts.flush_disk_type = FlushDiskType::kAsyncFlush;
  master_opts.flush_interval_commit_log_ms = 10000;  // the master flushes rarely: its tail is at risk
  auto slave_opts = testing_util::small_options("/slave");
  auto master = MessageStore::open(&master_env, master_opts);
  auto slave = MessageStore::open(&slave_env, slave_opts);
  ASSERT_TRUE(master.is_ok() && slave.is_ok());
  HaOptions ha;
  ha.heartbeat_interval_ms = 200;
  ha.housekeeping_ms = 2000;
  auto master_ha = std::make_unique<HaMaster>(master->get(), ha);
  ASSERT_TRUE(master_ha->start("127.0.0.1", 0).is_ok());
  auto slave_ha = std::make_unique<HaSlave>(slave->get(), "127.0.0.1:" + std::to_string(master_ha->port()), ha);
  slave_ha->start();

  std::mutex mu;
  std::condition_variable cv;
  std::map<int64_t, std::string> acked;  // physical offset -> body
  int answered = 0;
  const int total = 300 + static_cast<int>(rng() % 300);
  const int crash_after = total / 3 + static_cast<int>(rng() % (total / 2));
  for (int i = 0; i < total; ++i) {
    std::string body = "m" + std::to_string(i) + "-" + std::string(50 + rng() % 1500, static_cast<char>('a' + i % 26));
    MessageToStore m = testing_util::make_message("Topic", static_cast<int32_t>(rng() % 2), body);
    (*master)->put_async(std::move(m), [&, body, ha_ptr = master_ha.get()](const PutResult& r) {
      if (r.status != PutStatus::kOk) {
        std::lock_guard<std::mutex> lock(mu);
        ++answered;
        cv.notify_all();
        return;
      }
      ha_ptr->wait_replicated(r.physical_offset + r.wrote_bytes, 3000,
                              [&, body, at = r.physical_offset](PutStatus s) {
                                std::lock_guard<std::mutex> lock(mu);
                                if (s == PutStatus::kOk) acked[at] = body;
                                ++answered;
                                cv.notify_all();
                              });
    });
    if (i == crash_after) break;
  }
  // The power goes out while puts are still being answered.
  std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 20));
  master_env.set_frozen(true);
  slave_env.set_frozen(true);
  std::map<int64_t, std::string> acknowledged;
  {
    std::lock_guard<std::mutex> lock(mu);
    acknowledged = acked;  // what a producer had heard OK for at the instant of the power loss
  }
  master_env.crash(CrashMode::kDropUnsynced);
  slave_env.crash(CrashMode::kDropUnsynced);
  slave_ha->stop();
  master_ha->stop();
  slave->reset();
  master->reset();
  master_env.set_frozen(false);
  slave_env.set_frozen(false);

  auto reopened = MessageStore::open(&slave_env, slave_opts);
  ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
  auto master_after = MessageStore::open(&master_env, master_opts);
  ASSERT_TRUE(master_after.is_ok());
  size_t lost = 0;
  for (const auto& [at, body] : acknowledged) {
    auto bytes = (*reopened)->read_record(at);
    RecordView r;
    if (!bytes.is_ok() || decode_record(bytes->data(), bytes->size(), true, &r).outcome != DecodeOutcome::kRecord ||
        r.body != body) {
      ++lost;
    }
  }
  std::printf("  seed %u: %zu acknowledged, slave kept %lld bytes, master kept %lld; lost %zu\n", GetParam(),
              acknowledged.size(), static_cast<long long>((*reopened)->confirmed_offset()),
              static_cast<long long>((*master_after)->confirmed_offset()), lost);
  EXPECT_EQ(lost, 0u) << "acknowledged messages missing on the slave after the power loss";
}

INSTANTIATE_TEST_SUITE_P(Seeds, HaPowerLossTest, ::testing::Values(1u, 2u, 3u, 4u, 5u, 6u));

}  // namespace
}  // namespace holdfast::ha
