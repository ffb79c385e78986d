// Send and pull processors over a real loopback connection against a real store: headers in both
// send forms, batches, byte-identical pulls, tag filtering, long polling, and readable errors.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>

#include "broker_test_support.h"
#include "broker/pull_message_processor.h"
#include "broker/send_message_processor.h"
#include "remoting/batch_codec.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/store_test_util.h"
#include "transport/remoting_client.h"

namespace holdfast::broker {
namespace {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

class BrokerProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_broker_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto opts = testing_util::small_options(dir_);
    opts.commit_log_segment_size = 1 << 20;
    auto s = MessageStore::open(Env::posix(), opts);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
    send_ = std::make_unique<SendMessageProcessor>(store_.get(), HostAddress::ipv4(127, 0, 0, 1, 10911),
                                                   [](const SendHeader&) -> Result<int32_t> { return 4; });
    pull_ = std::make_unique<PullMessageProcessor>(
        store_.get(), [this](const std::string& g, const std::string& t, int32_t q, int64_t o) {
          committed_ = g + "/" + t + "/" + std::to_string(q) + "=" + std::to_string(o);
        });
    store_->set_arrival_listener([this](const std::string& t, int32_t q, int64_t max) { pull_->on_arrival(t, q, max); });
    for (int32_t code : {req::kSendMessage, req::kSendMessageV2, req::kSendBatchMessage}) {
      server_.register_handler(code, [this](const transport::ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
        send_->handle(c, std::move(r), t);
      });
    }
    server_.register_handler(req::kPullMessage, [this](const transport::ConnectionPtr& c, RemotingCommand r, remoting::SerializeType t) {
      pull_->handle(c, std::move(r), t);
    });
    ASSERT_TRUE(server_.start().is_ok());
    addr_ = "127.0.0.1:" + std::to_string(server_.port());
  }
  void TearDown() override {
    server_.stop();
    pull_->stop();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  RemotingCommand send_v2(const std::string& topic, int queue, const std::string& body, const std::string& tags) {
    return test_support::send_v2(topic, queue, body, tags, "k-" + body, "7F00000100002A9F0000000000000001");
  }
  RemotingCommand pull(const std::string& topic, int queue, int64_t offset, int32_t flags, int64_t suspend_ms,
                       const std::string& subscription = "*") {
    return test_support::pull("cg", topic, queue, offset, /*max_msgs=*/32, flags, suspend_ms, subscription,
                              /*commit_offset=*/7);
  }
  // A SEND_OK message becomes pullable once the dispatcher has indexed it (normally < 2 ms).
  void settle() { store_->wait_dispatched(store_->confirmed_offset()); }
  std::vector<RecordView> records(const std::string& body) {
    bool ok = false;
    std::vector<RecordView> out = test_support::decode_records(body, &ok);
    EXPECT_TRUE(ok) << "a pulled record does not decode";
    return out;
  }

  std::string dir_;
  std::unique_ptr<MessageStore> store_;
  std::unique_ptr<SendMessageProcessor> send_;
  std::unique_ptr<PullMessageProcessor> pull_;
  transport::RemotingServer server_{transport::ServerOptions{}};
  transport::RemotingClient client_;
  std::string addr_;
  std::string committed_;
};

TEST_F(BrokerProcessorTest, SendV2ThenPullByteIdentical) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto resp = client_.invoke_sync(addr_, send_v2("Orders", 1, "body" + std::to_string(i), i % 2 ? "A" : "B"), 3000);
    ASSERT_TRUE(resp.is_ok()) << resp.status().to_string();
    ASSERT_EQ(resp->code, rc::kSuccess) << resp->remark.value_or("");
    EXPECT_EQ(resp->ext("queueId").value_or(""), "1");
    EXPECT_EQ(resp->ext("queueOffset").value_or(""), std::to_string(i));
    EXPECT_EQ(resp->ext("msgId").value_or("").size(), 32u);
    EXPECT_EQ(resp->ext("transactionId").value_or(""), "7F00000100002A9F0000000000000001");
    EXPECT_EQ(resp->ext("MSG_REGION").value_or(""), "DefaultRegion");
    ids.emplace_back(resp->ext("msgId").value_or(""));
  }
  settle();
  auto got = client_.invoke_sync(addr_, pull("Orders", 1, 0, kPullFlagCommitOffset, 0), 3000);
  ASSERT_TRUE(got.is_ok());
  ASSERT_EQ(got->code, rc::kSuccess);
  EXPECT_EQ(got->ext("nextBeginOffset").value_or(""), "5");
  EXPECT_EQ(got->ext("maxOffset").value_or(""), "5");
  EXPECT_EQ(committed_, "cg/Orders/1=7");
  auto recs = records(got->body);
  ASSERT_EQ(recs.size(), 5u);
  for (size_t i = 0; i < recs.size(); ++i) {
    EXPECT_EQ(recs[i].body, "body" + std::to_string(i));
    HostAddress host;
    int64_t phys = 0;
    ASSERT_TRUE(decode_offset_message_id(ids[i], &host, &phys));
    auto stored = store_->read_record(phys);
    ASSERT_TRUE(stored.is_ok());
    EXPECT_EQ(recs[i].physical_offset, phys);
  }
  // Byte-for-byte: the pull body is exactly the stored records back to back.
  std::string expected;
  for (auto& id : ids) {
    HostAddress host;
    int64_t phys = 0;
    decode_offset_message_id(id, &host, &phys);
    expected += store_->read_record(phys).value();
  }
  EXPECT_EQ(got->body, expected);
  // Tag filter: only "A" (odd bodies).
  auto filtered = client_.invoke_sync(addr_, pull("Orders", 1, 0, kPullFlagSubscription, 0, "A"), 3000);
  ASSERT_TRUE(filtered.is_ok());
  auto frecs = records(filtered->body);
  ASSERT_EQ(frecs.size(), 2u);
  EXPECT_EQ(frecs[0].body, "body1");
}

TEST_F(BrokerProcessorTest, SendV1AndBatch) {
  RemotingCommand v1 = RemotingCommand::make_request(req::kSendMessage);
  v1.set_ext("producerGroup", "pg");
  v1.set_ext("topic", "T1");
  v1.set_ext("defaultTopic", "TBW102");
  v1.set_ext("defaultTopicQueueNums", "4");
  v1.set_ext("queueId", "0");
  v1.set_ext("sysFlag", "0");
  v1.set_ext("bornTimestamp", "1700000000000");
  v1.set_ext("flag", "3");
  v1.body = "v1-body";
  auto r1 = client_.invoke_sync(addr_, v1, 3000);
  ASSERT_TRUE(r1.is_ok());
  EXPECT_EQ(r1->code, rc::kSuccess) << r1->remark.value_or("");

  std::vector<remoting::BatchMessage> inner;
  std::vector<std::string> props(3), bodies = {"b0", "b1", "b2"};
  for (int i = 0; i < 3; ++i) {
    append_property(&props[i], "UNIQ_KEY", "UNIQ" + std::to_string(i));
    inner.push_back({0, bodies[i], props[i]});
  }
  RemotingCommand batch = send_v2("T1", 0, "", "x");
  batch.code = req::kSendBatchMessage;
  ASSERT_TRUE(remoting::encode_batch(inner, &batch.body).is_ok());
  auto rb = client_.invoke_sync(addr_, batch, 3000);
  ASSERT_TRUE(rb.is_ok());
  ASSERT_EQ(rb->code, rc::kSuccess) << rb->remark.value_or("");
  EXPECT_EQ(rb->ext("queueOffset").value_or(""), "1");
  const std::string ids(rb->ext("msgId").value_or(""));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), ','), 2);
  settle();
  auto got = client_.invoke_sync(addr_, pull("T1", 0, 0, 0, 0), 3000);
  auto recs = records(got->body);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].flag, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(recs[i + 1].body, bodies[i]);
    // Each inner record has its own UNIQ_KEY and not the batch's.
    EXPECT_EQ(find_property(recs[i + 1].properties, "UNIQ_KEY"), "UNIQ" + std::to_string(i));
  }
}

TEST_F(BrokerProcessorTest, ADelayedSendIsParkedUntilDue) {
  RemotingCommand r = send_v2("Later", 1, "wait", "A");
  std::string props(r.ext("i").value_or(""));
  append_property(&props, "DELAY", "2");
  r.set_ext("i", props);
  auto resp = client_.invoke_sync(addr_, r, 3000);
  ASSERT_TRUE(resp.is_ok());
  ASSERT_EQ(resp->code, rc::kSuccess) << resp->remark.value_or("");
  settle();
  EXPECT_EQ(store_->max_offset_in_queue("Later", 1), 0) << "nothing in the real topic before the delay";
  GetResult parked = store_->get_messages(std::string(kScheduleTopicName), 1, 0, 8);
  ASSERT_EQ(parked.records.size(), 1u);
  RecordView v = testing_util::view_of(parked.records[0]);
  EXPECT_EQ(find_property(v.properties, "REAL_TOPIC"), "Later");
  EXPECT_EQ(find_property(v.properties, "REAL_QID"), "1");

  // A batch cannot carry delay levels.
  std::vector<remoting::BatchMessage> inner;
  std::string delayed;
  append_property(&delayed, "DELAY", "1");
  inner.push_back({0, "b0", delayed});
  RemotingCommand batch = send_v2("Later", 0, "", "x");
  batch.code = req::kSendBatchMessage;
  ASSERT_TRUE(remoting::encode_batch(inner, &batch.body).is_ok());
  auto rb = client_.invoke_sync(addr_, batch, 3000);
  ASSERT_TRUE(rb.is_ok());
  EXPECT_EQ(rb->code, rc::kMessageIllegal);
}

TEST_F(BrokerProcessorTest, ARetrySendPastTheLimitGoesToTheDeadLetterTopicAtOnce) {
  // The consumer's fallback when CONSUMER_SEND_MSG_BACK failed: a normal send to %RETRY%<group>
  // with RECONSUME_TIME / MAX_RECONSUME_TIMES and DELAY = 3 + reconsumeTimes.
  auto retry_send = [&](int32_t reconsume_times, const std::string& max) {
    RemotingCommand r = send_v2("%RETRY%cg", 0, "again-" + std::to_string(reconsume_times), "A");
    std::string props(r.ext("i").value_or(""));
    append_property(&props, "RETRY_TOPIC", "Orders");
    if (!max.empty()) append_property(&props, "MAX_RECONSUME_TIMES", max);
    append_property(&props, "DELAY", std::to_string(3 + reconsume_times));
    r.set_ext("i", props);
    r.set_ext_int("j", reconsume_times);
    auto resp = client_.invoke_sync(addr_, r, 3000);
    EXPECT_TRUE(resp.is_ok());
    EXPECT_EQ(resp->code, rc::kSuccess) << resp->remark.value_or("");
  };
  retry_send(16, "");   // at the group's limit (16): still a retry
  retry_send(17, "");   // past it: dead
  retry_send(3, "2");   // past the message's own limit: dead
  settle();
  EXPECT_EQ(store_->get_messages(std::string(kScheduleTopicName), 17, 0, 8).records.size(), 1u);  // 3 + 16 clamped to 18
  GetResult dead = store_->get_messages("%DLQ%cg", 0, 0, 8);
  ASSERT_EQ(dead.records.size(), 2u);
  RecordView v = testing_util::view_of(dead.records[0]);
  EXPECT_EQ(v.body, "again-17");
  EXPECT_EQ(v.reconsume_times, 17);
  EXPECT_EQ(find_property(v.properties, "RETRY_TOPIC"), "Orders");
  EXPECT_EQ(find_property(v.properties, "DELAY"), "");
  EXPECT_EQ(testing_util::view_of(dead.records[1]).body, "again-3");

  // A group holding queue locks consumes in order: its %RETRY% sends go to the DLQ at once.
  send_.reset();
  SendRetryPolicy orderly;
  orderly.group_has_order_locks = [](const std::string& g) { return g == "cg"; };
  send_ = std::make_unique<SendMessageProcessor>(store_.get(), HostAddress::ipv4(127, 0, 0, 1, 10911),
                                                 [](const SendHeader&) -> Result<int32_t> { return 4; }, orderly);
  retry_send(1, "");
  settle();
  EXPECT_EQ(store_->get_messages("%DLQ%cg", 0, 0, 8).records.size(), 3u);
}

TEST_F(BrokerProcessorTest, SendOkCarriesTheMasterEpochItWasAcknowledgedUnder) {
  auto plain = client_.invoke_sync(addr_, send_v2("Ep", 0, "no-epoch", "A"), 3000);
  ASSERT_TRUE(plain.is_ok());
  ASSERT_EQ(plain->code, rc::kSuccess);
  EXPECT_FALSE(plain->ext("masterEpoch").has_value());  // no epoch in the policy: no field
  send_.reset();
  SendRetryPolicy policy;
  policy.master_epoch = 7;
  send_ = std::make_unique<SendMessageProcessor>(store_.get(), HostAddress::ipv4(127, 0, 0, 1, 10911),
                                                 [](const SendHeader&) -> Result<int32_t> { return 4; }, policy);
  auto r = client_.invoke_sync(addr_, send_v2("Ep", 0, "epoch-7", "A"), 3000);
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->code, rc::kSuccess);
  EXPECT_EQ(r->ext("masterEpoch").value_or(""), "7");
}

TEST_F(BrokerProcessorTest, LongPollingWakesOnArrivalAndTimesOut) {
  ASSERT_EQ(client_.invoke_sync(addr_, send_v2("LP", 2, "first", "A"), 3000)->code, rc::kSuccess);
  settle();
  std::promise<Result<RemotingCommand>> p;
  auto fut = p.get_future();
  const auto t0 = std::chrono::steady_clock::now();
  client_.invoke_async(addr_, pull("LP", 2, 1, kPullFlagSuspend, 10000), 15000,
                       [&p](Result<RemotingCommand> r) { p.set_value(std::move(r)); });
  for (int i = 0; i < 2000 && pull_->held_count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(pull_->held_count(), 1u);
  ASSERT_EQ(client_.invoke_sync(addr_, send_v2("LP", 2, "second", "A"), 3000)->code, rc::kSuccess);
  auto r = fut.get();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->code, rc::kSuccess);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "the held pull was not woken";
  auto recs = records(r->body);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].body, "second");
  // Nothing arrives: PULL_NOT_FOUND after the suspend timeout.
  const auto t1 = std::chrono::steady_clock::now();
  auto nf = client_.invoke_sync(addr_, pull("LP", 2, 2, kPullFlagSuspend, 300), 5000);
  ASSERT_TRUE(nf.is_ok());
  EXPECT_EQ(nf->code, rc::kPullNotFound);
  EXPECT_GE(std::chrono::steady_clock::now() - t1, std::chrono::milliseconds(300));
  EXPECT_EQ(nf->ext("nextBeginOffset").value_or(""), "2");
}

TEST_F(BrokerProcessorTest, BadInputGetsReadableErrors) {
  auto bad_topic = client_.invoke_sync(addr_, send_v2("bad topic!", 0, "x", "A"), 3000);
  ASSERT_TRUE(bad_topic.is_ok());
  EXPECT_EQ(bad_topic->code, rc::kInvalidParameter);
  EXPECT_NE(bad_topic->remark.value_or("").find("illegal topic name"), std::string::npos);
  RemotingCommand missing = send_v2("T", 0, "x", "A");
  missing.ext_fields = {};
  auto m = client_.invoke_sync(addr_, missing, 3000);
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->code, rc::kSystemError);
  EXPECT_NE(m->remark.value_or("").find("missing header field 'a'"), std::string::npos);
  auto range = client_.invoke_sync(addr_, send_v2("T", 9, "x", "A"), 3000);
  EXPECT_EQ(range->code, rc::kInvalidParameter);
  RemotingCommand big = send_v2("T", 0, std::string(17 * 1024, 'x'), "A");  // over maxMessageSize 16 KiB
  auto b = client_.invoke_sync(addr_, big, 3000);
  EXPECT_EQ(b->code, rc::kMessageIllegal);
  EXPECT_NE(b->remark.value_or("").find("maxMessageSize"), std::string::npos);
  auto off = client_.invoke_sync(addr_, pull("Nope", 0, 5, 0, 0), 3000);
  EXPECT_EQ(off->code, rc::kPullOffsetMoved);
}

}  // namespace
}  // namespace holdfast::broker
