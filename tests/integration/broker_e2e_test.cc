// A whole broker (BrokerController: store, managers, processors, registration) and a name server
// in this process, driven over loopback with plain remoting requests the way clients send them:
// routes, send, pull, long polling, consumer offsets, heartbeats, restart, unregister.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "broker/config_file.h"

#include "app/broker_config.h"
#include "app/broker_controller.h"
#include "broker/pull_message_processor.h"
#include "broker_test_support.h"
#include "env/env.h"
#include "namesrv/name_server.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "transport/remoting_client.h"

namespace holdfast {
namespace {

namespace ts = test_support;
namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

class BrokerE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_broker_e2e_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    namesrv::NameServerOptions ns_options;
    ns_options.server.host = "127.0.0.1";
    ns_ = std::make_unique<namesrv::NameServer>(ns_options);
    ASSERT_TRUE(ns_->start().is_ok());
    ns_addr_ = "127.0.0.1:" + std::to_string(ns_->port());
    port_ = ts::free_port();
    ASSERT_NO_FATAL_FAILURE(start_broker());
  }
  void TearDown() override {
    client_.shutdown();
    if (broker_) broker_->stop();
    ns_->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start_broker() {
    BrokerConfig c = default_broker_config();
    c.broker_name = "broker-e2e";
    c.broker_cluster_name = "E2ECluster";
    c.namesrv_addr = ns_addr_;
    c.listen_port = port_;
    // listenPort - 2 and + 1 were not checked when the listen port was picked (a client
    // connection elsewhere can hold them): no fast port, and an HA port picked on its own.
    c.fast_listen_port_enable = false;
    if (ha_port_ == 0) ha_port_ = ts::free_port();
    c.ha_listen_port = ha_port_;
    c.broker_ip1 = "127.0.0.1";
    c.store_path_root_dir = dir_;
    c.mapped_file_size_commit_log = 8 << 20;
    c.flush_consumer_offset_interval_ms = 200;
    if (!delay_levels_.empty()) c.message_delay_level = delay_levels_;
    BrokerRuntimeOptions runtime;
    runtime.listen_host = "127.0.0.1";
    broker_ = std::make_unique<BrokerController>(Env::posix(), c, runtime);
    Status st = broker_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    addr_ = broker_->address();
    ASSERT_EQ(addr_, "127.0.0.1:" + std::to_string(port_));
  }

  uint16_t ha_port_ = 0;  // kept across restarts of the broker

  RemotingCommand call(const std::string& addr, RemotingCommand r) {
    auto resp = client_.invoke_sync(addr, std::move(r), 5000);
    EXPECT_TRUE(resp.is_ok()) << resp.status().to_string();
    if (!resp.is_ok()) {
      RemotingCommand failed;
      failed.code = -1;
      failed.remark = resp.status().to_string();
      return failed;
    }
    return std::move(resp).value();
  }

  RemotingCommand send(const std::string& topic, int queue, const std::string& body, const std::string& tags = "T") {
    static int n = 0;
    char uniq[33];
    std::snprintf(uniq, sizeof uniq, "7F00000100004E2E%016X", ++n);
    return call(addr_, ts::send_v2(topic, queue, body, tags, "key-" + body, uniq));
  }

  // Polls the name server for a route of `topic` naming this broker, up to 10 s.
  bool route_has_broker(const std::string& topic) {
    for (int i = 0; i < 100; ++i) {
      RemotingCommand r = RemotingCommand::make_request(req::kGetRouteinfoByTopic);
      r.set_ext("topic", topic);
      RemotingCommand resp = call(ns_addr_, r);
      if (resp.code == rc::kSuccess && resp.body.find(addr_) != std::string::npos &&
          resp.body.find("broker-e2e") != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  RemotingCommand offset_request(int32_t code, const std::string& topic, int queue) {
    RemotingCommand r = RemotingCommand::make_request(code);
    r.set_ext("topic", topic);
    r.set_ext_int("queueId", queue);
    return r;
  }

  int64_t header_int(const RemotingCommand& r, const char* name) {
    auto v = r.ext(name);
    EXPECT_TRUE(v.has_value()) << "missing response header " << name << " (remark: " << r.remark.value_or("") << ")";
    return v ? std::atoll(std::string(*v).c_str()) : -1;
  }

  std::string heartbeat_body(const std::string& client_id, const std::string& group, const std::string& topic) {
    nlohmann::json sub = {{"topic", topic}, {"subString", "*"}, {"tagsSet", nlohmann::json::array()},
                          {"codeSet", nlohmann::json::array()}, {"subVersion", 1700000000000LL},
                          {"expressionType", "TAG"}, {"classFilterMode", false}};
    nlohmann::json consumer = {{"groupName", group}, {"consumeType", "CONSUME_PASSIVELY"},
                               {"messageModel", "CLUSTERING"}, {"consumeFromWhere", "CONSUME_FROM_LAST_OFFSET"},
                               {"subscriptionDataSet", nlohmann::json::array({sub})}, {"unitMode", false}};
    nlohmann::json hb = {{"clientID", client_id},
                         {"producerDataSet", nlohmann::json::array({{{"groupName", "pg"}}})},
                         {"consumerDataSet", nlohmann::json::array({consumer})}};
    return hb.dump();
  }

  // Waits (up to 15 s) for the record at `offset` of topic/queue 0 and returns it.
  std::string wait_record(const std::string& group, const std::string& topic, int64_t offset) {
    for (int i = 0; i < 150; ++i) {
      RemotingCommand pulled = call(addr_, ts::pull(group, topic, 0, offset, 1, 0, 0));
      if (pulled.code == rc::kSuccess && !pulled.body.empty()) return pulled.body;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "no record at " << topic << " offset " << offset;
    return {};
  }

  std::string dir_, ns_addr_, addr_;
  std::string delay_levels_;  // messageDelayLevel for the next start_broker(), "" = default
  uint16_t port_ = 0;
  std::unique_ptr<namesrv::NameServer> ns_;
  std::unique_ptr<BrokerController> broker_;
  transport::RemotingClient client_;
};

TEST_F(BrokerE2ETest, RegistersWithNameServerAndRoutesAutoCreatedTopics) {
  // TBW102 is announced while auto-creation is on; clients route unknown topics through it.
  EXPECT_TRUE(route_has_broker("TBW102"));
  RemotingCommand resp = send("AutoCreated", -1, "hello");
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  // A topic created by a send is registered at once, not only at the next 30 s round.
  EXPECT_TRUE(route_has_broker("AutoCreated"));
  RemotingCommand r = RemotingCommand::make_request(req::kGetRouteinfoByTopic);
  r.set_ext("topic", "AutoCreated");
  RemotingCommand route = call(ns_addr_, r);
  ASSERT_EQ(route.code, rc::kSuccess);
  // min(client's 4, TBW102's 8) queues.
  EXPECT_NE(route.body.find("\"writeQueueNums\":4"), std::string::npos) << route.body;
}

TEST_F(BrokerE2ETest, SendPullAndOffsetQueries) {
  for (int i = 0; i < 5; ++i) {
    RemotingCommand resp = send("Orders", 2, "order-" + std::to_string(i), i % 2 ? "B" : "A");
    ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
    EXPECT_EQ(header_int(resp, "queueOffset"), i);
  }
  broker_->store()->wait_dispatched(broker_->store()->confirmed_offset());
  RemotingCommand pulled = call(addr_, ts::pull("g1", "Orders", 2, 0, 32, broker::kPullFlagSubscription, 0, "A"));
  ASSERT_EQ(pulled.code, rc::kSuccess);
  bool ok = false;
  auto recs = ts::decode_records(pulled.body, &ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(recs.size(), 3u);  // tag filter: A only
  EXPECT_EQ(recs[0].body, "order-0");
  EXPECT_EQ(recs[2].body, "order-4");
  EXPECT_EQ(header_int(pulled, "nextBeginOffset"), 5);

  EXPECT_EQ(header_int(call(addr_, offset_request(req::kGetMaxOffset, "Orders", 2)), "offset"), 5);
  EXPECT_EQ(header_int(call(addr_, offset_request(req::kGetMinOffset, "Orders", 2)), "offset"), 0);
  RemotingCommand earliest = call(addr_, offset_request(req::kGetEarliestMsgStoretime, "Orders", 2));
  ASSERT_EQ(earliest.code, rc::kSuccess) << earliest.remark.value_or("");
  int64_t first_store = header_int(earliest, "timestamp");
  EXPECT_EQ(first_store, recs[0].store_timestamp);
  RemotingCommand search = offset_request(req::kSearchOffsetByTimestamp, "Orders", 2);
  search.set_ext_int("timestamp", recs[2].store_timestamp);
  RemotingCommand found = call(addr_, search);
  ASSERT_EQ(found.code, rc::kSuccess) << found.remark.value_or("");
  int64_t at = header_int(found, "offset");
  EXPECT_GE(at, 0);
  EXPECT_LE(at, 4);
}

// Rates an operator reads: the store's put totals and putTps in GET_BROKER_RUNTIME_INFO, and a
// group's consumeTps in GET_CONSUME_STATS once it has pulled (sampled once a second).
TEST_F(BrokerE2ETest, RuntimeInfoAndConsumeStatsReportMeasuredRates) {
  for (int i = 0; i < 7; ++i) ASSERT_EQ(send("Rates", 0, "r" + std::to_string(i)).code, rc::kSuccess);
  broker_->store()->wait_dispatched(broker_->store()->confirmed_offset());
  RemotingCommand pulled = call(addr_, ts::pull("rate_group", "Rates", 0, 0, 32, 0, 0));
  ASSERT_EQ(pulled.code, rc::kSuccess) << pulled.remark.value_or("");

  double consume_tps = 0;
  for (int i = 0; i < 60 && consume_tps <= 0; ++i) {
    RemotingCommand stats = RemotingCommand::make_request(req::kGetConsumeStats);
    stats.set_ext("consumerGroup", "rate_group");
    stats.set_ext("topic", "Rates");
    RemotingCommand resp = call(addr_, stats);
    ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
    // The body has object keys (fastjson), so read the one number directly.
    const auto at = resp.body.find("\"consumeTps\":");
    ASSERT_NE(at, std::string::npos) << resp.body;
    consume_tps = std::stod(resp.body.substr(at + 13));
    if (consume_tps <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GT(consume_tps, 0.0);  // 7 messages pulled within the last samples

  RemotingCommand info = call(addr_, RemotingCommand::make_request(req::kGetBrokerRuntimeInfo));
  ASSERT_EQ(info.code, rc::kSuccess);
  auto table = nlohmann::json::parse(info.body).at("table");
  EXPECT_GE(std::stoll(table.at("putMessageTimesTotal").get<std::string>()), 7);
  EXPECT_GT(std::stoll(table.at("putMessageSizeTotal").get<std::string>()), 7 * 100);
  for (const char* key : {"putTps", "getFoundTps", "getMissTps", "getTotalTps", "getTransferedTps"}) {
    const std::string v = table.at(key).get<std::string>();
    EXPECT_EQ(std::count(v.begin(), v.end(), ' '), 2) << key << "='" << v << "'";  // 10 s, 60 s, 600 s
  }
}

TEST_F(BrokerE2ETest, LongPollingPullIsWokenBySend) {
  ASSERT_EQ(send("Waits", 0, "first").code, rc::kSuccess);
  broker_->store()->wait_dispatched(broker_->store()->confirmed_offset());
  auto started = std::chrono::steady_clock::now();
  std::promise<Result<RemotingCommand>> done;
  client_.invoke_async(addr_, ts::pull("g1", "Waits", 0, 1, 32, broker::kPullFlagSuspend, 15000), 20000,
                       [&](Result<RemotingCommand> r) { done.set_value(std::move(r)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(send("Waits", 0, "second").code, rc::kSuccess);
  auto fut = done.get_future();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "held pull was not woken";
  Result<RemotingCommand> r = fut.get();
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ((*r).code, rc::kSuccess);
  bool ok = false;
  auto recs = ts::decode_records((*r).body, &ok);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].body, "second");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(BrokerE2ETest, ConsumerOffsetsSurviveRestart) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(send("Offsets", 1, "m" + std::to_string(i)).code, rc::kSuccess);
  RemotingCommand q = RemotingCommand::make_request(req::kQueryConsumerOffset);
  q.set_ext("consumerGroup", "cg");
  q.set_ext("topic", "Offsets");
  q.set_ext_int("queueId", 1);
  // No offset yet and the queue starts at 0: SUCCESS with offset 0.
  RemotingCommand first = call(addr_, q);
  ASSERT_EQ(first.code, rc::kSuccess) << first.remark.value_or("");
  EXPECT_EQ(header_int(first, "offset"), 0);

  RemotingCommand u = RemotingCommand::make_request(req::kUpdateConsumerOffset);
  u.set_ext("consumerGroup", "cg");
  u.set_ext("topic", "Offsets");
  u.set_ext_int("queueId", 1);
  u.set_ext_int("commitOffset", 2);
  ASSERT_EQ(call(addr_, u).code, rc::kSuccess);
  EXPECT_EQ(header_int(call(addr_, q), "offset"), 2);

  broker_->stop();
  broker_.reset();
  client_.close_connection(addr_);
  ASSERT_NO_FATAL_FAILURE(start_broker());
  RemotingCommand after = call(addr_, q);
  ASSERT_EQ(after.code, rc::kSuccess) << after.remark.value_or("");
  EXPECT_EQ(header_int(after, "offset"), 2);
  // The topic came back from topics.json and its messages from the store.
  EXPECT_EQ(header_int(call(addr_, offset_request(req::kGetMaxOffset, "Offsets", 1)), "offset"), 3);

  // What a slave copies: every committed offset (43) and the delay levels' progress (45).
  RemotingCommand all = call(addr_, RemotingCommand::make_request(req::kGetAllConsumerOffset));
  ASSERT_EQ(all.code, rc::kSuccess);
  // Integer map keys come unquoted, as a Java broker writes them.
  EXPECT_NE(all.body.find("\"Offsets@cg\":{1:2}"), std::string::npos) << all.body;
  auto offsets = nlohmann::json::parse(broker::quote_bare_integer_keys(all.body), nullptr, false);
  ASSERT_TRUE(offsets.is_object()) << all.body;
  EXPECT_EQ(offsets["offsetTable"]["Offsets@cg"]["1"], 2) << all.body;
  RemotingCommand delay = call(addr_, RemotingCommand::make_request(req::kGetAllDelayOffset));
  ASSERT_EQ(delay.code, rc::kSuccess);
  auto levels = nlohmann::json::parse(broker::quote_bare_integer_keys(delay.body), nullptr, false);
  ASSERT_TRUE(levels.is_object()) << delay.body;
  EXPECT_EQ(levels["offsetTable"].size(), 18u) << delay.body;  // one entry per delay level
}

TEST_F(BrokerE2ETest, HeartbeatListsConsumersAndCreatesRetryTopic) {
  ASSERT_EQ(send("Hb", 0, "x").code, rc::kSuccess);
  RemotingCommand hb = RemotingCommand::make_request(req::kHeartBeat);
  hb.body = heartbeat_body("127.0.0.1@e2e", "hb_group", "Hb");
  RemotingCommand resp = call(addr_, hb);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  RemotingCommand list = RemotingCommand::make_request(req::kGetConsumerListByGroup);
  list.set_ext("consumerGroup", "hb_group");
  RemotingCommand ids = call(addr_, list);
  ASSERT_EQ(ids.code, rc::kSuccess) << ids.remark.value_or("");
  auto parsed = nlohmann::json::parse(ids.body, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << ids.body;
  ASSERT_EQ(parsed["consumerIdList"].size(), 1u);
  EXPECT_EQ(parsed["consumerIdList"][0], "127.0.0.1@e2e");
  // The group's retry topic exists once it has sent a heartbeat, and is routed.
  EXPECT_TRUE(route_has_broker("%RETRY%hb_group"));
}

// The Java client 4.9.8's sequence of CONSUMER_SEND_MSG_BACK requests for a message that always
// fails with maxReconsumeTimes 2: first naming the original in its topic, then the retry copies in
// %RETRY%<group> by their commit-log offsets (originMsgId = UNIQ_KEY, originTopic = the original
// topic, delayLevel 0), until the copy lands in %DLQ%<group>. The message's properties string is
// written as that client writes it (no 0x02 after the last pair). Every property of every copy is
// compared with RocketMQ's rules: body, tags, keys, user properties and UNIQ_KEY unchanged;
// RETRY_TOPIC = the original topic and ORIGIN_MESSAGE_ID = the original's offset msgId, set once.
TEST_F(BrokerE2ETest, JavaClientSendBackSequenceKeepsEveryPropertyThroughRetriesAndDeadLetter) {
  broker_->stop();
  broker_.reset();
  delay_levels_ = "1s 1s 1s 1s 1s";  // the levels 3 and 4 a first and second retry wait
  ASSERT_NO_FATAL_FAILURE(start_broker());
  const std::string topic = "PaymentEvents", group = "ledger_group", uniq = "7F000001A1B200000000000000000042";
  RemotingCommand hb = RemotingCommand::make_request(req::kHeartBeat);
  hb.body = heartbeat_body("127.0.0.1@java-sequence", group, topic);
  ASSERT_EQ(call(addr_, hb).code, rc::kSuccess);

  const std::string user_value = "a=b;c:d e\t%|{}\"'\xe4\xb8\xad";
  const std::string java_properties = "KEYS\x01order-7 order-8\x02UNIQ_KEY\x01" + uniq +
                                      "\x02WAIT\x01true\x02" "biz.note\x01" + user_value + "\x02TAGS\x01TagPay";
  RemotingCommand send_request = ts::send_v2(topic, 0, std::string("pay\0load", 8), "", "", "");
  send_request.set_ext("i", java_properties);
  RemotingCommand sent = call(addr_, send_request);
  ASSERT_EQ(sent.code, rc::kSuccess) << sent.remark.value_or("");
  const std::string offset_msg_id(sent.ext("msgId").value_or(""));
  ASSERT_EQ(offset_msg_id.size(), 32u);

  // Kept unchanged by every copy. (WAIT is not: the delay service stores the copy it delivers
  // under the full durability contract and drops the entry, which means the same as WAIT=true.)
  const std::map<std::string, std::string> unchanged = {
      {"KEYS", "order-7 order-8"}, {"UNIQ_KEY", uniq}, {"biz.note", user_value}, {"TAGS", "TagPay"},
      {"CLUSTER", "E2ECluster"}};  // added by the broker to every stored message
  auto check_copy = [&](const std::string& body, const std::string& where, int32_t reconsume_times,
                        const std::map<std::string, std::string>& extra) -> int64_t {
    bool ok = false;
    auto recs = ts::decode_records(body, &ok);
    EXPECT_TRUE(ok) << where;
    if (recs.size() != 1) {
      ADD_FAILURE() << where << ": " << recs.size() << " records";
      return -1;
    }
    const RecordView& r = recs[0];
    EXPECT_EQ(r.body, std::string("pay\0load", 8)) << where;
    EXPECT_EQ(r.reconsume_times, reconsume_times) << where;
    std::map<std::string, std::string> expected = unchanged;
    expected.insert(extra.begin(), extra.end());
    std::map<std::string, std::string> actual;
    const MessageProperties properties(r.properties);
    for (const auto& [k, v] : properties.entries()) actual[k] = v;
    EXPECT_EQ(actual, expected) << where;
    EXPECT_EQ(tags_code_of(r.properties), tags_code_of("TAGS\x01TagPay")) << where;
    return r.physical_offset;
  };
  auto send_back = [&](int64_t physical_offset) {
    RemotingCommand r = RemotingCommand::make_request(req::kConsumerSendMsgBack);
    r.set_ext_int("offset", physical_offset);
    r.set_ext("group", group);
    r.set_ext_int("delayLevel", 0);
    r.set_ext("originMsgId", uniq);
    r.set_ext("originTopic", topic);
    r.set_ext("unitMode", "false");
    r.set_ext_int("maxReconsumeTimes", 2);
    RemotingCommand resp = call(addr_, r);
    EXPECT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  };

  const int64_t original = check_copy(wait_record(group, topic, 0), "original", 0, {{"WAIT", "true"}});
  ASSERT_GE(original, 0);
  const std::map<std::string, std::string> retry_props = {{"RETRY_TOPIC", topic},
                                                          {"ORIGIN_MESSAGE_ID", offset_msg_id},
                                                          {"REAL_TOPIC", "%RETRY%" + group},
                                                          {"REAL_QID", "0"}};
  send_back(original);
  const int64_t first = check_copy(wait_record(group, "%RETRY%" + group, 0), "first retry", 1, retry_props);
  ASSERT_GE(first, 0);
  send_back(first);
  const int64_t second = check_copy(wait_record(group, "%RETRY%" + group, 1), "second retry", 2, retry_props);
  ASSERT_GE(second, 0);
  send_back(second);  // reconsumeTimes 2 = maxReconsumeTimes: the dead-letter queue, at once
  check_copy(wait_record(group, "%DLQ%" + group, 0), "dead letter", 3, retry_props);
}

TEST_F(BrokerE2ETest, TransactionalHalfMessageGoesToTheHalfTopicOnly) {
  ASSERT_EQ(send("Ledger", 0, "before").code, rc::kSuccess);
  broker_->store()->wait_dispatched(broker_->store()->confirmed_offset());
  const int64_t halves_before =
      header_int(call(addr_, offset_request(req::kGetMaxOffset, "RMQ_SYS_TRANS_HALF_TOPIC", 0)), "offset");
  RemotingCommand half = ts::send_v2("Ledger", 0, "half", "T", "k", "7F000001A1B200000000000000000099");
  half.set_ext("i", std::string(half.ext("i").value_or("")) + "TRAN_MSG\x01true\x02PGROUP\x01pg\x02");
  half.set_ext_int("f", 0x4);  // sysFlag: PREPARED
  RemotingCommand resp = call(addr_, half);
  ASSERT_EQ(resp.code, rc::kSuccess) << resp.remark.value_or("");
  EXPECT_EQ(resp.ext("transactionId").value_or(""), "7F000001A1B200000000000000000099");
  EXPECT_EQ(resp.ext("queueId").value_or(""), "0");  // the real queue, as RocketMQ answers
  EXPECT_EQ(header_int(resp, "queueOffset"), halves_before);  // the half queue's offset
  // A ROLLBACK type is never a send.
  RemotingCommand rollback = ts::send_v2("Ledger", 0, "rollback", "T", "k", "7F000001A1B2000000000000000000AA");
  rollback.set_ext_int("f", 0xC);
  EXPECT_EQ(call(addr_, rollback).code, rc::kMessageIllegal);
  // The half is not in the real topic; plain messages to it still go through.
  ASSERT_EQ(send("Ledger", 0, "after").code, rc::kSuccess);
  broker_->store()->wait_dispatched(broker_->store()->confirmed_offset());
  EXPECT_EQ(header_int(call(addr_, offset_request(req::kGetMaxOffset, "Ledger", 0)), "offset"), 2);
  EXPECT_EQ(header_int(call(addr_, offset_request(req::kGetMaxOffset, "RMQ_SYS_TRANS_HALF_TOPIC", 0)), "offset"),
            halves_before + 1);
}

// rocketmq-client-cpp 2.2.0 sending to a topic that does not exist yet: it reads TBW102's route
// (request version 333: integer map keys unquoted), caps the queues at 4, then sends
// SEND_MESSAGE_V2 with its own header shape — numbers as JSON numbers, its booleans k and m as
// "0" / "1" (RocketMQ reads both as false), empty ONS fields. The TBW102 route is pinned byte for
// byte in both key forms.
TEST_F(BrokerE2ETest, ClientCppCreatesATopicThroughTbw102) {
  ASSERT_TRUE(route_has_broker("TBW102"));
  auto route = [&](const std::string& topic, int32_t version) {
    RemotingCommand r = RemotingCommand::make_request(req::kGetRouteinfoByTopic);
    r.version = version;
    r.set_ext("topic", topic);
    return call(ns_addr_, r);
  };
  RemotingCommand unknown = route("CppNewTopic", 333);
  EXPECT_EQ(unknown.code, rc::kTopicNotExist);
  const std::string broker_data = R"("brokerName":"broker-e2e","cluster":"E2ECluster","enableActingMaster":false}],)";
  const std::string queue_data =
      R"("filterServerTable":{},"queueDatas":[{"brokerName":"broker-e2e","perm":7,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]})";
  RemotingCommand old_form = route("TBW102", 333);
  ASSERT_EQ(old_form.code, rc::kSuccess);
  EXPECT_FALSE(old_form.remark.has_value());
  EXPECT_EQ(old_form.body, R"({"brokerDatas":[{"brokerAddrs":{0:")" + addr_ + R"("},)" + broker_data + queue_data);
  RemotingCommand new_form = route("TBW102", 401);
  ASSERT_EQ(new_form.code, rc::kSuccess);
  EXPECT_EQ(new_form.body, R"({"brokerDatas":[{"brokerAddrs":{"0":")" + addr_ + R"("},)" + broker_data + queue_data);

  for (const char* batch : {"0", "1"}) {
    RemotingCommand r = RemotingCommand::make_request(req::kSendMessageV2);
    r.version = 333;
    r.language = remoting::LanguageCode::kCpp;
    r.ext_fields.set("a", "cpp_producer_group");
    r.ext_fields.set("b", "CppNewTopic");
    r.ext_fields.set("c", "TBW102");
    r.set_ext_int("d", 4);
    r.set_ext_int("e", 1);
    r.set_ext_int("f", 0);
    r.set_ext("g", "1700000000123");
    r.set_ext_int("h", 0);
    r.set_ext("i", std::string("TAGS\x01TagC\x02KEYS\x01") + "cpp-" + batch + "\x02WAIT\x01true\x02");
    r.set_ext("j", "0");
    r.set_ext("k", "0");
    r.set_ext_int("l", 16);
    r.set_ext("m", batch);
    r.set_ext("Signature", "");
    r.set_ext("AccessKey", "");
    r.set_ext("ONSChannelKey", "");
    r.body = std::string("from client-cpp ") + batch;
    RemotingCommand sent = call(addr_, r);
    ASSERT_EQ(sent.code, rc::kSuccess) << "m=" << batch << ": " << sent.remark.value_or("");
    EXPECT_EQ(sent.ext("queueId").value_or(""), "1");
    EXPECT_EQ(sent.ext("msgId").value_or("").size(), 32u);
    EXPECT_TRUE(sent.ext("queueOffset").has_value());
  }
  ASSERT_TRUE(route_has_broker("CppNewTopic"));
  RemotingCommand created = route("CppNewTopic", 333);
  ASSERT_EQ(created.code, rc::kSuccess);
  EXPECT_NE(created.body.find(R"("perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4)"), std::string::npos)
      << created.body;
  broker_->store()->wait_dispatched(broker_->store()->confirmed_offset());
  RemotingCommand pulled = call(addr_, ts::pull("cpp_group", "CppNewTopic", 1, 0, 32, 0, 0));
  bool ok = false;
  auto recs = ts::decode_records(pulled.body, &ok);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1].body, "from client-cpp 1");  // "1" is not a batch to RocketMQ either: one record
}

TEST_F(BrokerE2ETest, CleanStopUnregistersFromNameServer) {
  ASSERT_TRUE(route_has_broker("TBW102"));
  broker_->stop();
  RemotingCommand r = RemotingCommand::make_request(req::kGetRouteinfoByTopic);
  r.set_ext("topic", "TBW102");
  RemotingCommand route = call(ns_addr_, r);
  EXPECT_EQ(route.code, rc::kTopicNotExist) << route.body;
  broker_.reset();
}

// Each kind of bad input gets its documented answer (a response code with a readable remark) or
// closes only its own connection, while a well-behaved client keeps sending and pulling.
TEST_F(BrokerE2ETest, BadInputNeverDisturbsOtherClients) {
  transport::RemotingClient good;
  auto good_send = [&](const std::string& body) {
    auto r = good.invoke_sync(addr_, ts::send_v2("Good", 0, body, "T", "", ""), 5000);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_EQ((*r).code, rc::kSuccess) << (*r).remark.value_or("");
  };
  ASSERT_NO_FATAL_FAILURE(good_send("before"));

  // Frames that cannot be parsed: the server closes that connection.
  const std::vector<std::string> frames = {
      std::string("\x7f\xff\xff\xff\x00\x00\x00\x10", 8),              // length over 16 MiB
      std::string("\x01\x00\x00\x10\x00\x00\x00\x10", 8),              // 16 MiB + 16
      std::string("\x00\x00\x00\x0c\x00\x00\x00\x40{\"code\":", 16),   // header longer than the frame
      std::string("\x00\x00\x00\x0c\x00\x00\x00\x08{\"code\":", 16),   // truncated JSON
      std::string("\x00\x00\x00\x0c\x00\x00\x00\x08{code:1]}", 16),    // not JSON
  };
  for (const auto& bytes : frames) {
    transport::RemotingClient evil;
    ASSERT_TRUE(evil.send_raw(addr_, bytes).is_ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_NO_FATAL_FAILURE(good_send("during frames"));
    evil.shutdown();
  }

  auto expect_code = [&](RemotingCommand request, int32_t code, const std::string& remark_part) {
    RemotingCommand resp = call(addr_, std::move(request));
    EXPECT_EQ(resp.code, code) << "remark: " << resp.remark.value_or("");
    if (!remark_part.empty()) {
      EXPECT_NE(resp.remark.value_or("").find(remark_part), std::string::npos)
          << "remark '" << resp.remark.value_or("") << "' lacks '" << remark_part << "'";
    }
  };
  // Unknown request code.
  expect_code(RemotingCommand::make_request(987654), rc::kRequestCodeNotSupported, "987654");
  // Missing header fields.
  RemotingCommand no_topic = ts::pull("g", "Good", 0, 0, 32, 0, 0);
  no_topic.ext_fields = {};
  expect_code(no_topic, rc::kSystemError, "");
  expect_code(RemotingCommand::make_request(req::kQueryConsumerOffset), rc::kSystemError, "");
  expect_code(RemotingCommand::make_request(req::kGetMaxOffset), rc::kSystemError, "topic");
  RemotingCommand bad_number = offset_request(req::kGetMaxOffset, "Good", 0);
  bad_number.set_ext("queueId", "zero");
  expect_code(bad_number, rc::kSystemError, "queueId");
  // A heartbeat whose body is not JSON.
  RemotingCommand hb = RemotingCommand::make_request(req::kHeartBeat);
  hb.body = "{not json";
  RemotingCommand hb_resp = call(addr_, hb);
  EXPECT_NE(hb_resp.code, rc::kSuccess);
  EXPECT_FALSE(hb_resp.remark.value_or("").empty());
  // A body over maxMessageSize (4 MiB by default).
  expect_code(ts::send_v2("Good", 0, std::string((4 << 20) + 1, 'b'), "T", "", ""), rc::kMessageIllegal,
              "maxMessageSize");
  // Illegal topic names.
  expect_code(ts::send_v2("no spaces", 0, "x", "T", "", ""), rc::kInvalidParameter, "illegal topic name");
  expect_code(ts::send_v2(std::string(300, 'L'), 0, "x", "T", "", ""), rc::kInvalidParameter, "illegal topic name");
  RemotingCommand create = RemotingCommand::make_request(req::kUpdateAndCreateTopic);
  create.set_ext("topic", "bad/name");
  create.set_ext_int("readQueueNums", 4);
  create.set_ext_int("writeQueueNums", 4);
  create.set_ext_int("perm", 6);
  RemotingCommand created = call(addr_, create);
  EXPECT_NE(created.code, rc::kSuccess);
  EXPECT_FALSE(created.remark.value_or("").empty());

  // The well-behaved client was never disturbed and its messages are all there.
  ASSERT_NO_FATAL_FAILURE(good_send("after"));
  broker_->store()->wait_dispatched(broker_->store()->confirmed_offset());
  auto pulled = good.invoke_sync(addr_, ts::pull("g", "Good", 0, 0, 32, 0, 0), 5000);
  ASSERT_TRUE(pulled.is_ok());
  bool ok = false;
  auto recs = ts::decode_records((*pulled).body, &ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(recs.size(), 2u + frames.size());
  EXPECT_EQ(recs.front().body, "before");
  EXPECT_EQ(recs.back().body, "after");
  good.shutdown();
}

}  // namespace
}  // namespace holdfast
