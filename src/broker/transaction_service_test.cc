// TransactionService on FaultEnv (fake clock, power loss): seeded runs of half puts, ends from the
// producer (half of them still in flight when the next step, possibly a power loss, comes), check
// rounds answered from the application's decisions, progress persists, and power losses (unsynced
// bytes dropped, the process's objects torn down, everything reopened). After the
// last round every half message whose put was acknowledged is ended: a committed one is in its
// real topic exactly once, a rolled-back one never, and nothing is pending.
#include "broker/transaction_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>

#include "broker/client_manager.h"
#include "broker/consumer_offset_manager.h"
#include "broker/topic_config_manager.h"
#include "env/fault_env.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/message_format.h"
#include "storage/store_test_util.h"

namespace holdfast::broker {
namespace {

using remoting::RemotingCommand;
namespace req = remoting::request_code;

const char kGroup[] = "tx_producers";
const char kTopic[] = "Orders";

// The producer's connection: keeps the check-backs it is sent and the responses to its ends.
class ProducerConnection final : public transport::Connection {
 public:
  void send_response(const RemotingCommand& response, remoting::SerializeType) override {
    std::lock_guard<std::mutex> lock(mu_);
    responses_.push_back(response);
    cv_.notify_all();
  }
  void send_request(RemotingCommand, int64_t, ResponseCallback) override {}
  void send_oneway(RemotingCommand request) override {
    std::lock_guard<std::mutex> lock(mu_);
    checks_.push_back(std::move(request));
  }
  void close() override {}
  bool is_open() const override { return true; }
  uint64_t id() const override { return 7; }
  const std::string& remote_address() const override { return address_; }

  std::vector<RemotingCommand> take_checks() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(checks_, {});
  }
  // Waits for the response to the request with `opaque`.
  std::optional<RemotingCommand> response_to(int32_t opaque) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<RemotingCommand> found;
    cv_.wait_for(lock, std::chrono::seconds(10), [&] {
      for (const auto& r : responses_) {
        if (r.opaque == opaque) {
          found = r;
          return true;
        }
      }
      return false;
    });
    return found;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RemotingCommand> checks_;
  std::vector<RemotingCommand> responses_;
  const std::string address_ = "10.0.0.7:5000";
};

struct Half {
  std::string body;
  bool commit = false;
  int64_t table_offset = 0;
  int64_t log_offset = 0;
};

class TransactionServiceCrashTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void open() {
    auto s = MessageStore::open(&env_, testing_util::small_options("/store"));
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
    offsets_ = std::make_unique<ConsumerOffsetManager>(&env_, "/store/config/consumerOffset.json");
    ASSERT_TRUE(offsets_->load().is_ok());
    TopicConfigManager::Options to;
    to.path = "/store/config/topics.json";
    topics_ = std::make_unique<TopicConfigManager>(&env_, to);
    ASSERT_TRUE(topics_->load().is_ok());
    clients_ = std::make_unique<ClientManager>();
    clients_->register_producer(conn_, "10.0.0.7@app", kGroup, remoting::LanguageCode::kCpp, 0);
    TransactionServiceOptions o;
    o.check_interval_ms = 1000;
    o.timeout_ms = 500;
    o.check_max = 1000;
    o.store_host = HostAddress::ipv4(127, 0, 0, 1, 10911);
    service_ = std::make_unique<TransactionService>(&env_, store_.get(), offsets_.get(), clients_.get(), topics_.get(), o);
    ASSERT_TRUE(service_->load().is_ok());
  }
  // Power loss: unsynced bytes vanish while the process's objects are torn down.
  void power_loss() {
    env_.set_frozen(true);
    env_.crash(CrashMode::kDropUnsynced);
    store_.reset();
    service_.reset();
    clients_.reset();
    topics_.reset();
    offsets_.reset();
    env_.set_frozen(false);
    open();
  }
  void TearDown() override {
    store_.reset();
    service_.reset();
  }

  bool put_half(Half* h, int n) {
    MessageToStore m = testing_util::make_message(kTopic, n % 2, h->body, "order-" + std::to_string(n), "TagA");
    m.sys_flag |= format::kTransactionPrepared;
    m.born_timestamp = env_.now_ms();
    char uniq[33];
    std::snprintf(uniq, sizeof uniq, "0A00000700001F90%016X", n);
    MessageProperties p(m.properties);
    p.set("UNIQ_KEY", uniq);
    p.set("TRAN_MSG", "true");
    p.set("PGROUP", kGroup);
    make_half_message(&m, &p);
    m.properties = p.encode();
    PutResult r = store_->put(std::move(m));
    h->table_offset = r.queue_offset;
    h->log_offset = r.physical_offset;
    return r.status == PutStatus::kOk;
  }
  // END_TRANSACTION as a request that wants an answer; returns its response code. With `wait`
  // false the end is left in flight (a power loss may come before it completes); settle() waits.
  int end(int64_t table, int64_t log, bool commit, bool from_check, bool wait = true) {
    RemotingCommand r = RemotingCommand::make_request(req::kEndTransaction);
    r.set_ext("producerGroup", kGroup);
    r.set_ext_int("tranStateTableOffset", table);
    r.set_ext_int("commitLogOffset", log);
    r.set_ext_int("commitOrRollback", commit ? 8 : 12);
    r.set_ext_bool("fromTransactionCheck", from_check);
    r.opaque = ++next_opaque_;  // the transport would assign it; responses are matched by it
    const int32_t opaque = r.opaque;
    service_->handle_end(conn_, std::move(r), remoting::SerializeType::kJson);
    if (!wait) {
      in_flight_.push_back(opaque);
      return 0;
    }
    auto resp = conn_->response_to(opaque);
    EXPECT_TRUE(resp.has_value());
    return resp ? resp->code : -1;
  }
  void settle() {
    for (int32_t opaque : in_flight_) EXPECT_TRUE(conn_->response_to(opaque).has_value());
    in_flight_.clear();
  }
  // One check round on the fake clock; every check-back is answered from the ledger.
  void check_round(const std::map<std::string, bool>& ledger) {
    env_.advance_clock(1000);
    store_->wait_dispatched(store_->confirmed_offset());
    service_->run_check_once();
    for (RemotingCommand& c : conn_->take_checks()) {
      EXPECT_EQ(c.code, req::kCheckTransactionState);
      RecordView r;
      ASSERT_EQ(decode_record(c.body.data(), c.body.size(), false, &r).outcome, DecodeOutcome::kRecord);
      EXPECT_EQ(r.topic, kTopic);
      const std::string body(r.body);
      ASSERT_EQ(ledger.count(body), 1u) << body;
      end(c.get_int64("tranStateTableOffset").value(), c.get_int64("commitLogOffset").value(), ledger.at(body), true);
    }
  }
  // Delivered copies in the real topic, by body.
  std::map<std::string, int> delivered() {
    store_->wait_dispatched(store_->confirmed_offset());
    std::map<std::string, int> out;
    for (int32_t q = 0; q < 2; ++q) {
      for (int64_t offset = 0;;) {
        GetResult got = store_->get_messages(kTopic, q, offset, 64, 4 * 1024 * 1024);
        if (got.status != GetStatus::kFound || got.records.empty()) break;
        for (size_t i = 0; i < got.records.size(); ++i) {
          RecordView r;
          EXPECT_EQ(decode_record(got.records[i].data(), got.records[i].size(), true, &r).outcome, DecodeOutcome::kRecord);
          EXPECT_EQ(r.transaction_type(), format::kTransactionCommit);
          ++out[std::string(r.body)];
          offset = got.queue_offsets[i] + 1;
        }
      }
    }
    return out;
  }

  int32_t next_opaque_ = 0;
  std::vector<int32_t> in_flight_;
  FaultEnv env_{GetParam()};
  std::shared_ptr<ProducerConnection> conn_ = std::make_shared<ProducerConnection>();
  std::unique_ptr<MessageStore> store_;
  std::unique_ptr<ConsumerOffsetManager> offsets_;
  std::unique_ptr<TopicConfigManager> topics_;
  std::unique_ptr<ClientManager> clients_;
  std::unique_ptr<TransactionService> service_;
};

TEST_P(TransactionServiceCrashTest, PowerLossDuringCheckRoundsLosesNoHalfAndDeliversEachCommitOnce) {
  std::mt19937 rng(GetParam());
  open();
  std::map<std::string, bool> ledger;  // body -> commit?
  std::vector<Half> halves;
  int crashes = 0;
  for (int step = 0; step < 60; ++step) {
    const uint32_t roll = rng() % 100;
    if (roll < 35) {
      Half h;
      h.body = "order " + std::to_string(halves.size());
      h.commit = rng() % 2 == 0;
      ASSERT_TRUE(put_half(&h, static_cast<int>(halves.size())));
      ledger[h.body] = h.commit;
      halves.push_back(h);
    } else if (roll < 55 && !halves.empty()) {
      // The producer's own end (possibly a replay of one already applied).
      const Half& h = halves[rng() % halves.size()];
      end(h.table_offset, h.log_offset, h.commit, false, /*wait=*/rng() % 2 == 0);
    } else if (roll < 85) {
      check_round(ledger);
    } else if (roll < 92) {
      ASSERT_TRUE(offsets_->persist().is_ok());
    } else {
      power_loss();
      ++crashes;
    }
  }
  settle();
  // Heal: rounds until nothing is pending.
  for (int round = 0; round < 20 && (round < 3 || !service_->pending().empty()); ++round) check_round(ledger);
  EXPECT_TRUE(service_->pending().empty());
  auto got = delivered();
  for (const Half& h : halves) {
    EXPECT_EQ(got.count(h.body) != 0 ? got.at(h.body) : 0, h.commit ? 1 : 0) << h.body << " seed " << GetParam();
  }
  // And once more after a final power loss: nothing comes back, nothing is delivered again.
  power_loss();
  for (int round = 0; round < 5; ++round) check_round(ledger);
  EXPECT_TRUE(service_->pending().empty());
  EXPECT_EQ(delivered(), got);
  RecordProperty("crashes", crashes);
}

INSTANTIATE_TEST_SUITE_P(Seeds, TransactionServiceCrashTest, ::testing::Range<uint32_t>(1, 21));

}  // namespace
}  // namespace holdfast::broker
