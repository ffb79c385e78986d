// `holdfast admin` against a real `holdfast standalone` process: AdminClient's functions (topic
// create/list/stats/delete, group stats after a commit, message get by offset id and UNIQ_KEY,
// query by key, cluster list) and the CLI's exit status and one-line errors when peers are down.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/admin_client.h"
#include "app/admin_format.h"
#include "broker_test_support.h"
#include "storage/message.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "transport/remoting_client.h"

namespace holdfast::admin {
namespace {

namespace ts = test_support;
namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

using ts::CommandOutput;
using ts::run_command;

// The JSON summary: the last line of the output (log lines may come before it).
nlohmann::json json_summary(const std::string& output) {
  std::string text = output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const size_t start = text.rfind('\n');
  return nlohmann::json::parse(start == std::string::npos ? text : text.substr(start + 1), nullptr, false);
}

// Polls `check` for up to timeout_ms (name-server registration and index dispatch are async).
template <typename F>
bool eventually(F check, int64_t timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return check();
}

class AdminTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/hf_admin_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    bin_ = new std::string(ts::self_dir() + "/holdfast");
    ASSERT_TRUE(std::filesystem::exists(*bin_)) << *bin_;
    const uint16_t ns_port = ts::free_port();
    const uint16_t broker_port = ts::free_port();
    ns_addr_ = new std::string("127.0.0.1:" + std::to_string(ns_port));
    broker_addr_ = new std::string("127.0.0.1:" + std::to_string(broker_port));
    proc_ = new ts::ChildProcess();
    std::vector<std::string> argv{*bin_, "standalone", "--data", *dir_, "--host", "127.0.0.1", "--namesrv-port",
                                  std::to_string(ns_port), "--broker-port", std::to_string(broker_port)};
    for (auto& s : ts::test_broker_settings(broker_port, {})) argv.push_back(std::move(s));
    std::string err = proc_->start(argv);
    ASSERT_EQ(err, "");
    ASSERT_FALSE(proc_->wait_for_line("Holdfast standalone:", 60000, &err).empty()) << err;
  }
  static void TearDownTestSuite() {
    if (proc_) proc_->terminate(10000);
    delete proc_;
    std::error_code ec;
    if (dir_) std::filesystem::remove_all(*dir_, ec);
  }

  AdminClient client() { return AdminClient(AdminOptions{{*ns_addr_}, 5000}); }

  // SEND_MESSAGE_V2 straight to the broker; returns the response (msgId = offset message id).
  RemotingCommand send(const std::string& topic, int32_t queue, const std::string& body, const std::string& keys,
                       const std::string& uniq) {
    auto resp = raw_.invoke_sync(*broker_addr_, ts::send_v2(topic, queue, body, "TagA", keys, uniq), 5000);
    EXPECT_TRUE(resp.is_ok()) << resp.status().to_string();
    if (!resp.is_ok()) return RemotingCommand{};
    EXPECT_EQ(resp->code, rc::kSuccess) << resp->remark.value_or("");
    return std::move(resp).value();
  }

  transport::RemotingClient raw_;
  static inline std::string* dir_ = nullptr;
  static inline std::string* bin_ = nullptr;
  static inline std::string* ns_addr_ = nullptr;
  static inline std::string* broker_addr_ = nullptr;
  static inline ts::ChildProcess* proc_ = nullptr;
};

TEST_F(AdminTest, ClusterListShowsTheStandaloneBroker) {
  AdminClient admin = client();
  auto rows = admin.cluster_list();
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].broker_name, "standalone");
  EXPECT_EQ((*rows)[0].broker_id, 0);
  EXPECT_EQ((*rows)[0].addr, *broker_addr_);
  EXPECT_EQ((*rows)[0].error, "");
  EXPECT_FALSE((*rows)[0].runtime["brokerVersionDesc"].empty());
  EXPECT_EQ((*rows)[0].runtime.count("putTps"), 1u);
  // mqadmin clusterList's in/out rates: the first (10 s) value of putTps / getTransferedTps.
  const std::string table = format_cluster_list(*rows);
  EXPECT_NE(table.find("#InTPS"), std::string::npos) << table;
  EXPECT_NE(table.find("#OutTPS"), std::string::npos) << table;
}

TEST_F(AdminTest, TopicCreateListStatsDelete) {
  AdminClient admin = client();
  TopicSpec spec;
  spec.topic = "AdminTopic";
  spec.read_queue_nums = 4;
  spec.write_queue_nums = 4;
  auto created = admin.create_topic(spec);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  EXPECT_EQ(*created, std::vector<std::string>{*broker_addr_});
  auto listed = [&](bool want) {
    auto topics = admin.topic_list();
    if (!topics.is_ok()) return false;
    return (std::find(topics->begin(), topics->end(), "AdminTopic") != topics->end()) == want;
  };
  EXPECT_TRUE(eventually([&] { return listed(true); }));

  send("AdminTopic", 2, "one", "", "");
  send("AdminTopic", 2, "two", "", "");
  // The consume queue is built asynchronously from the commit log.
  Result<std::vector<QueueStats>> stats = Status::not_found("not yet");
  EXPECT_TRUE(eventually([&] {
    stats = admin.topic_stats("AdminTopic");
    return stats.is_ok() && stats->size() == 4 && (*stats)[2].max_offset == 2;
  }));
  ASSERT_TRUE(stats.is_ok()) << stats.status().to_string();
  ASSERT_EQ(stats->size(), 4u);
  EXPECT_EQ((*stats)[2].broker_name, "standalone");
  EXPECT_EQ((*stats)[2].queue_id, 2);
  EXPECT_EQ((*stats)[2].max_offset, 2);
  EXPECT_GT((*stats)[2].last_update_ms, 0);
  EXPECT_EQ((*stats)[0].max_offset, 0);

  auto deleted = admin.delete_topic("AdminTopic", "");
  ASSERT_TRUE(deleted.is_ok()) << deleted.status().to_string();
  EXPECT_TRUE(eventually([&] { return listed(false); }));
  auto gone = admin.topic_stats("AdminTopic");
  ASSERT_FALSE(gone.is_ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  EXPECT_NE(gone.status().message().find("AdminTopic"), std::string::npos);
}

TEST_F(AdminTest, GroupStatsShowLagAfterACommit) {
  AdminClient admin = client();
  for (int i = 0; i < 5; ++i) send("LagTopic", 0, "m" + std::to_string(i), "", "");
  RemotingCommand commit = RemotingCommand::make_request(req::kUpdateConsumerOffset);
  commit.set_ext("consumerGroup", "LagGroup");
  commit.set_ext("topic", "LagTopic");
  commit.set_ext_int("queueId", 0);
  commit.set_ext_int("commitOffset", 3);
  auto committed = raw_.invoke_sync(*broker_addr_, commit, 5000);
  ASSERT_TRUE(committed.is_ok());
  ASSERT_EQ(committed->code, rc::kSuccess);

  // Broker offsets follow the asynchronously built consume queue.
  Result<GroupStats> stats = Status::not_found("not yet");
  const QueueProgress* q0 = nullptr;
  EXPECT_TRUE(eventually([&] {
    stats = admin.group_stats("LagGroup", "");
    q0 = nullptr;
    if (!stats.is_ok()) return false;
    for (const QueueProgress& q : stats->queues) {
      if (q.topic == "LagTopic" && q.queue_id == 0) q0 = &q;
    }
    return q0 != nullptr && q0->broker_offset == 5;
  }));
  ASSERT_TRUE(stats.is_ok()) << stats.status().to_string();
  ASSERT_NE(q0, nullptr);
  EXPECT_EQ(q0->broker_offset, 5);
  EXPECT_EQ(q0->consumer_offset, 3);
  EXPECT_EQ(q0->lag, 2);
  EXPECT_EQ(stats->total_lag, 2);

  auto unknown = admin.group_stats("NoSuchGroup", "");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("NoSuchGroup"), std::string::npos);

  auto groups = admin.group_list();
  ASSERT_TRUE(groups.is_ok()) << groups.status().to_string();
}

TEST_F(AdminTest, MessageGetByOffsetIdAndUniqKeyAndQueryByKey) {
  AdminClient admin = client();
  const std::string uniq = "7F00000100002A9F0000000000000001";
  RemotingCommand sent = send("MsgTopic", 1, "hello admin", "order-42 other", uniq);
  const std::string offset_id(sent.ext("msgId").value_or(""));
  ASSERT_EQ(offset_id.size(), 32u);

  auto by_offset = admin.message_by_id(offset_id, "");
  ASSERT_TRUE(by_offset.is_ok()) << by_offset.status().to_string();
  ASSERT_EQ(by_offset->size(), 1u);
  const ReceivedMessage& m = (*by_offset)[0];
  EXPECT_EQ(m.body, "hello admin");
  EXPECT_EQ(m.topic, "MsgTopic");
  EXPECT_EQ(m.tags, "TagA");
  EXPECT_EQ(m.keys, (std::vector<std::string>{"order-42", "other"}));
  EXPECT_EQ(m.msg_id, uniq);
  EXPECT_EQ(m.offset_msg_id, offset_id);
  EXPECT_EQ(m.queue_id, 1);
  EXPECT_EQ(m.broker_name, "standalone");

  // The index is built asynchronously.
  Result<std::vector<ReceivedMessage>> by_uniq = Status::not_found("not yet");
  EXPECT_TRUE(eventually([&] {
    by_uniq = admin.message_by_id(uniq, "MsgTopic");
    return by_uniq.is_ok();
  }));
  ASSERT_TRUE(by_uniq.is_ok()) << by_uniq.status().to_string();
  EXPECT_EQ((*by_uniq)[0].offset_msg_id, offset_id);

  auto by_key = admin.query_by_key("MsgTopic", "order-42");
  ASSERT_TRUE(by_key.is_ok()) << by_key.status().to_string();
  ASSERT_EQ(by_key->size(), 1u);
  EXPECT_EQ((*by_key)[0].body, "hello admin");

  auto missing = admin.query_by_key("MsgTopic", "no-such-key");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto bad_id = admin.message_by_id("not-an-id", "");
  ASSERT_FALSE(bad_id.is_ok());
  EXPECT_EQ(bad_id.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AdminTest, NameServerOrBrokerDownGivesOneReadableLine) {
  const std::string dead = "127.0.0.1:" + std::to_string(ts::free_port());
  AdminClient admin(AdminOptions{{dead}, 2000});
  auto topics = admin.topic_list();
  ASSERT_FALSE(topics.is_ok());
  EXPECT_NE(topics.status().message().find("name server " + dead + " is unreachable"), std::string::npos)
      << topics.status().message();

  // A second, live name server is tried after the dead one.
  AdminClient fallback(AdminOptions{{dead, *ns_addr_}, 2000});
  EXPECT_TRUE(fallback.topic_list().is_ok());

  // An offset id naming a broker that is not running.
  HostAddress host = HostAddress::ipv4(127, 0, 0, 1, ts::free_port());
  auto view = client().message_by_id(offset_message_id(host, 0), "");
  ASSERT_FALSE(view.is_ok());
  EXPECT_NE(view.status().message().find("is unreachable"), std::string::npos) << view.status().message();

  CommandOutput cli = run_command(*bin_ + " admin topic list --namesrv " + dead);
  EXPECT_EQ(cli.exit_code, 1) << cli.output;
  EXPECT_EQ(std::count(cli.output.begin(), cli.output.end(), '\n'), 1) << cli.output;
  EXPECT_EQ(cli.output.rfind("holdfast admin topic list: name server " + dead + " is unreachable", 0), 0u)
      << cli.output;
}

TEST_F(AdminTest, CliSubcommandsRunAndNameTheirMqadminEquivalent) {
  const std::string ns = " --namesrv " + *ns_addr_;
  CommandOutput create = run_command(*bin_ + " admin topic create -t CliTopic -r 2 -w 2" + ns);
  EXPECT_EQ(create.exit_code, 0) << create.output;
  EXPECT_NE(create.output.find("created topic CliTopic"), std::string::npos) << create.output;
  CommandOutput stats = run_command(*bin_ + " admin topic stats -t CliTopic" + ns);
  EXPECT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_NE(stats.output.find("#Max Offset"), std::string::npos) << stats.output;
  // The global option may also come before the subcommand.
  CommandOutput cluster = run_command(*bin_ + " admin" + ns + " cluster list");
  EXPECT_EQ(cluster.exit_code, 0) << cluster.output;
  EXPECT_NE(cluster.output.find("standalone"), std::string::npos) << cluster.output;

  const std::vector<std::pair<std::string, std::string>> helps = {
      {"topic create", "updateTopic"},   {"topic list", "topicList"},      {"topic delete", "deleteTopic"},
      {"topic stats", "topicStatus"},    {"group stats", "consumerProgress"}, {"group list", "consumerProgress"},
      {"message get", "queryMsgById"},   {"message query", "queryMsgByKey"}, {"cluster list", "clusterList"}};
  for (const auto& [command, mqadmin] : helps) {
    CommandOutput help = run_command(*bin_ + " admin " + command + " --help");
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.output.find(mqadmin), std::string::npos) << command << ":\n" << help.output;
  }
}

// `admin send`, `admin consume`, `bench produce` and `bench consume` on the C++ client; the bench
// consumer commits its offsets, so `group stats` then shows no lag.
TEST_F(AdminTest, SendConsumeAndBenchFromTheShell) {
  const std::string ns = " --namesrv " + *ns_addr_;
  CommandOutput sent = run_command(*bin_ + " admin send -t ShellTopic -p hello-shell -c TagS -k shell-key" + ns);
  EXPECT_EQ(sent.exit_code, 0) << sent.output;
  EXPECT_EQ(sent.output.rfind("SEND_OK msgId=", 0), 0u) << sent.output;
  CommandOutput consumed = run_command(*bin_ + " admin consume -t ShellTopic --bodies --wait 1" + ns);
  EXPECT_EQ(consumed.exit_code, 0) << consumed.output;
  EXPECT_NE(consumed.output.find("hello-shell\n"), std::string::npos) << consumed.output;

  CommandOutput produce =
      run_command(*bin_ + " bench produce -t BenchSmoke --threads 2 --size 128 --duration 2 --json" + ns);
  ASSERT_EQ(produce.exit_code, 0) << produce.output;
  nlohmann::json p = json_summary(produce.output);
  ASSERT_TRUE(p.is_object()) << produce.output;
  const int64_t messages = p["messages"].get<int64_t>();
  EXPECT_GT(messages, 0);
  EXPECT_EQ(p["failures"].get<int64_t>(), 0);
  EXPECT_GT(p["p99_rt_ms"].get<double>(), 0);

  CommandOutput consume = run_command(*bin_ + " bench consume -t BenchSmoke -g BenchSmokeGroup --from first --count " +
                                      std::to_string(messages) + " --duration 60 --json" + ns);
  ASSERT_EQ(consume.exit_code, 0) << consume.output;
  nlohmann::json c = json_summary(consume.output);
  ASSERT_TRUE(c.is_object()) << consume.output;
  EXPECT_EQ(c["messages"].get<int64_t>(), messages);
  EXPECT_EQ(c["pull_failures"].get<int64_t>(), 0);

  auto stats = client().group_stats("BenchSmokeGroup", "BenchSmoke");
  ASSERT_TRUE(stats.is_ok()) << stats.status().to_string();
  EXPECT_FALSE(stats->queues.empty());
  EXPECT_EQ(stats->total_lag, 0);
  int64_t consumed_total = 0;
  for (const QueueProgress& q : stats->queues) consumed_total += q.consumer_offset;
  EXPECT_EQ(consumed_total, messages);

  CommandOutput bad = run_command(*bin_ + " bench produce -t BenchSmoke --duration 1 --namesrv 127.0.0.1:1");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_EQ(bad.output.rfind("holdfast bench produce: ", 0), 0u) << bad.output;
}

// A group's dead-letter queue: messages sent back with delayLevel -1 land there at once; `dlq list`
// shows their original topic, ids and reconsume times; `dlq resend` puts copies into the group's
// retry topic (reconsume times 0) and the list then counts each resend.
TEST_F(AdminTest, DlqListAndResend) {
  const std::string group = "dlq_group";
  std::vector<std::string> uniq = {"0A0000010000DEAD0000000000000001", "0A0000010000DEAD0000000000000002"};
  std::vector<std::string> offset_ids;  // ORIGIN_MESSAGE_ID: the original's offset msgId
  for (size_t i = 0; i < uniq.size(); ++i) {
    RemotingCommand sent = send("DlqTopic", 0, "dead-" + std::to_string(i), "dk" + std::to_string(i), uniq[i]);
    offset_ids.emplace_back(sent.ext("msgId").value_or(""));
    HostAddress host;
    int64_t offset = 0;
    ASSERT_TRUE(decode_offset_message_id(sent.ext("msgId").value_or(""), &host, &offset));
    RemotingCommand back = RemotingCommand::make_request(req::kConsumerSendMsgBack);
    back.set_ext_int("offset", offset);
    back.set_ext("group", group);
    back.set_ext_int("delayLevel", -1);
    back.set_ext("originMsgId", uniq[i]);
    // The original is readable once dispatched; retry the send-back briefly.
    ASSERT_TRUE(eventually([&] {
      auto resp = raw_.invoke_sync(*broker_addr_, back, 5000);
      return resp.is_ok() && resp->code == rc::kSuccess;
    }));
  }
  AdminClient admin = client();
  Result<std::vector<DlqMessage>> listed = Status::not_found("");
  ASSERT_TRUE(eventually([&] {
    listed = admin.dlq_list(group);
    return listed.is_ok() && listed->size() == 2;
  })) << (listed.is_ok() ? std::to_string(listed->size()) : listed.status().to_string());
  for (size_t i = 0; i < 2; ++i) {
    const DlqMessage& d = (*listed)[i];
    EXPECT_EQ(d.message.body, "dead-" + std::to_string(i));
    EXPECT_EQ(d.original_topic, "DlqTopic");
    EXPECT_EQ(d.origin_msg_id, offset_ids[i]);
    EXPECT_EQ(d.message.msg_id, uniq[i]);
    EXPECT_EQ(d.message.reconsume_times, 1);
    EXPECT_EQ(d.resent, 0);
  }

  auto one = admin.dlq_resend(group, uniq[0]);
  ASSERT_TRUE(one.is_ok()) << one.status().to_string();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].source.message.msg_id, uniq[0]);
  // The copy is in the retry topic, ready for the group, with a fresh retry count.
  auto copy = admin.message_by_id((*one)[0].new_offset_msg_id, "");
  ASSERT_TRUE(copy.is_ok()) << copy.status().to_string();
  EXPECT_EQ((*copy)[0].topic, "%RETRY%" + group);
  EXPECT_EQ((*copy)[0].body, "dead-0");
  EXPECT_EQ((*copy)[0].reconsume_times, 0);
  EXPECT_EQ((*copy)[0].properties["RETRY_TOPIC"], "DlqTopic");
  EXPECT_EQ((*copy)[0].msg_id, uniq[0]);
  ASSERT_TRUE(eventually([&] {
    listed = admin.dlq_list(group);
    return listed.is_ok() && listed->size() == 2 && (*listed)[0].resent == 1;
  }));
  EXPECT_EQ((*listed)[1].resent, 0);
  EXPECT_FALSE(admin.dlq_resend(group, "NO-SUCH-ID").is_ok());

  // The CLI: resend --all names every message and says which were resent before.
  const std::string ns = " --namesrv " + *ns_addr_;
  CommandOutput all = run_command(*bin_ + " admin dlq resend -g " + group + " --all" + ns);
  EXPECT_EQ(all.exit_code, 0) << all.output;
  EXPECT_NE(all.output.find("msgId " + uniq[0]), std::string::npos) << all.output;
  EXPECT_NE(all.output.find("msgId " + uniq[1]), std::string::npos) << all.output;
  EXPECT_NE(all.output.find("(resent 1 time(s) before)"), std::string::npos) << all.output;
  ASSERT_TRUE(eventually([&] {
    CommandOutput list = run_command(*bin_ + " admin dlq list -g " + group + ns);
    return list.exit_code == 0 && list.output.find("#Original Topic") != std::string::npos &&
           list.output.find("2 message(s)") != std::string::npos;
  }));
  listed = admin.dlq_list(group);
  ASSERT_TRUE(listed.is_ok());
  EXPECT_EQ((*listed)[0].resent, 2);
  EXPECT_EQ((*listed)[1].resent, 1);
  CommandOutput neither = run_command(*bin_ + " admin dlq resend -g " + group + ns);
  EXPECT_EQ(neither.exit_code, 1) << neither.output;
}

}  // namespace
}  // namespace holdfast::admin
