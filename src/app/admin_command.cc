// CLI11 registration of `holdfast admin` and the rendering of each subcommand's result.
#include "app/admin_command.h"

#include <cstdio>
#include <cstdlib>

#include "app/admin_client.h"
#include "app/admin_format.h"

namespace holdfast::admin {

namespace {

using Options = std::shared_ptr<AdminCliOptions>;

void print(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

// A leaf subcommand: connection options, and a body whose exit status lands in options.
template <typename Body>
CLI::App* leaf(CLI::App* parent, const std::string& name, const std::string& description, const Options& options,
               Body body) {
  CLI::App* command = parent->add_subcommand(name, description);
  add_connection_options(command, options);
  command->callback([options, body]() { options->exit_code = body(); });
  return command;
}

std::string perm_name(int32_t perm) {
  std::string s;
  s += (perm & 4) ? "R" : "-";
  s += (perm & 2) ? "W" : "-";
  s += (perm & 1) ? "X" : "-";
  return s;
}

void add_topic_commands(CLI::App* admin, const Options& options) {
  CLI::App* topic = admin->add_subcommand("topic", "Topics: create, list, delete, stats");
  topic->require_subcommand(1);
  topic->fallthrough();

  auto spec = std::make_shared<TopicSpec>();
  CLI::App* create = leaf(topic, "create", "Create or update a topic on brokers (mqadmin updateTopic)", options,
                          [options, spec]() {
                            AdminClient client = make_client(*options);
                            auto done = client.create_topic(*spec);
                            if (!done.is_ok()) return report_error("topic create", done.status().message());
                            for (const std::string& addr : *done) {
                              print("created topic " + spec->topic + " on broker " + addr + ": " +
                                    std::to_string(spec->read_queue_nums) + " read / " +
                                    std::to_string(spec->write_queue_nums) + " write queues, perm " +
                                    perm_name(spec->perm) + (spec->order ? ", ordered" : "") + "\n");
                            }
                            return 0;
                          });
  create->add_option("-t,--topic", spec->topic, "Topic name")->required();
  create->add_option("-r,--read-queues", spec->read_queue_nums, "Read queue count")->capture_default_str();
  create->add_option("-w,--write-queues", spec->write_queue_nums, "Write queue count")->capture_default_str();
  create->add_option("-p,--perm", spec->perm, "Permission: 2 W, 4 R, 6 RW")->check(CLI::Range(0, 7))->capture_default_str();
  create->add_flag("-o,--order", spec->order, "Mark the topic as ordered");
  create->add_option("-c,--cluster", spec->cluster, "Create on every master of this cluster (default: all clusters)");
  create->add_option("-b,--broker", spec->broker_addr, "Create on this broker address only (ip:port)");

  leaf(topic, "list", "List the topics the name server knows (mqadmin topicList)", options, [options]() {
    AdminClient client = make_client(*options);
    auto topics = client.topic_list();
    if (!topics.is_ok()) return report_error("topic list", topics.status().message());
    std::string out;
    for (const std::string& t : *topics) out += t + "\n";
    print(out);
    return 0;
  });

  auto del_topic = std::make_shared<std::string>();
  auto del_cluster = std::make_shared<std::string>();
  CLI::App* del = leaf(topic, "delete", "Delete a topic from brokers and name servers (mqadmin deleteTopic)", options,
                       [options, del_topic, del_cluster]() {
                         AdminClient client = make_client(*options);
                         auto done = client.delete_topic(*del_topic, *del_cluster);
                         if (!done.is_ok()) return report_error("topic delete", done.status().message());
                         for (const std::string& addr : *done) {
                           print("deleted topic " + *del_topic + " on broker " + addr + "\n");
                         }
                         print("deleted topic " + *del_topic + " from the name server(s)\n");
                         return 0;
                       });
  del->add_option("-t,--topic", *del_topic, "Topic name")->required();
  del->add_option("-c,--cluster", *del_cluster, "Only on the masters of this cluster (default: all)");

  auto stats_topic = std::make_shared<std::string>();
  CLI::App* stats = leaf(topic, "stats", "Min/max offset and last update per queue (mqadmin topicStatus)", options,
                         [options, stats_topic]() {
                           AdminClient client = make_client(*options);
                           auto queues = client.topic_stats(*stats_topic);
                           if (!queues.is_ok()) return report_error("topic stats", queues.status().message());
                           print(format_topic_stats(*queues));
                           return 0;
                         });
  stats->add_option("-t,--topic", *stats_topic, "Topic name")->required();
}

void add_group_commands(CLI::App* admin, const Options& options) {
  CLI::App* group = admin->add_subcommand("group", "Consumer groups: list, stats");
  group->require_subcommand(1);
  group->fallthrough();

  leaf(group, "list", "List subscription groups and their online clients (mqadmin consumerProgress, no group)",
       options, [options]() {
         AdminClient client = make_client(*options);
         auto groups = client.group_list();
         if (!groups.is_ok()) return report_error("group list", groups.status().message());
         print(format_group_list(*groups));
         return 0;
       });

  auto name = std::make_shared<std::string>();
  auto topic = std::make_shared<std::string>();
  CLI::App* stats = leaf(group, "stats",
                         "Broker offset, consumer offset and lag per queue (mqadmin consumerProgress -g)", options,
                         [options, name, topic]() {
                           AdminClient client = make_client(*options);
                           auto stats = client.group_stats(*name, *topic);
                           if (!stats.is_ok()) return report_error("group stats", stats.status().message());
                           print(format_group_stats(*stats));
                           return 0;
                         });
  stats->add_option("-g,--group", *name, "Consumer group")->required();
  stats->add_option("-t,--topic", *topic, "Only this topic (default: every topic of the group)");
}

void add_message_commands(CLI::App* admin, const Options& options) {
  CLI::App* message = admin->add_subcommand("message", "Look messages up: get by id, query by key");
  message->require_subcommand(1);
  message->fallthrough();

  auto id = std::make_shared<std::string>();
  auto id_topic = std::make_shared<std::string>();
  CLI::App* get = leaf(message, "get",
                       "Show one message by offset message id, or by UNIQ_KEY with --topic (mqadmin queryMsgById)",
                       options, [options, id, id_topic]() {
                         AdminClient client = make_client(*options);
                         auto found = client.message_by_id(*id, *id_topic);
                         if (!found.is_ok()) return report_error("message get", found.status().message());
                         for (size_t i = 0; i < found->size(); ++i) {
                           if (i > 0) print("\n");
                           print(format_message((*found)[i]));
                         }
                         return 0;
                       });
  get->add_option("msgId", *id, "Offset message id (from SendResult.offset_msg_id) or UNIQ_KEY")->required();
  get->add_option("-t,--topic", *id_topic, "Topic, to look the id up as a UNIQ_KEY (the producer's msg id)");

  auto key_topic = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto max_num = std::make_shared<int32_t>(32);
  CLI::App* query = leaf(message, "query", "Find messages by KEYS (mqadmin queryMsgByKey)", options,
                         [options, key_topic, key, max_num]() {
                           AdminClient client = make_client(*options);
                           auto found = client.query_by_key(*key_topic, *key, *max_num);
                           if (!found.is_ok()) return report_error("message query", found.status().message());
                           print(format_message_list(*found));
                           return 0;
                         });
  query->add_option("-t,--topic", *key_topic, "Topic")->required();
  query->add_option("-k,--key", *key, "Message key")->required();
  query->add_option("--max", *max_num, "At most this many per broker (the broker caps it at 64)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

void add_cluster_commands(CLI::App* admin, const Options& options) {
  CLI::App* cluster = admin->add_subcommand("cluster", "Clusters and their brokers");
  cluster->require_subcommand(1);
  cluster->fallthrough();
  leaf(cluster, "list", "Every broker of every cluster with its status (mqadmin clusterList)", options, [options]() {
    AdminClient client = make_client(*options);
    auto rows = client.cluster_list();
    if (!rows.is_ok()) return report_error("cluster list", rows.status().message());
    print(format_cluster_list(*rows));
    return 0;
  });
}

}  // namespace

std::string default_namesrv() {
  const char* env = std::getenv("NAMESRV_ADDR");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:9876";
}

AdminClient make_client(const AdminCliOptions& options) {
  AdminOptions admin_options;
  admin_options.name_servers = split_name_servers(options.namesrv);
  admin_options.timeout_ms = options.timeout_ms;
  return AdminClient(std::move(admin_options));
}

int report_error(const std::string& what, const std::string& message) {
  std::fprintf(stderr, "holdfast admin %s: %s\n", what.c_str(), message.c_str());
  return 1;
}

void add_connection_options(CLI::App* command, const Options& options) {
  command->add_option("-n,--namesrv", options->namesrv, "Name server address(es), ';'-separated")
      ->capture_default_str();
  command->add_option("--timeout-ms", options->timeout_ms, "Timeout of each request")->capture_default_str();
}

CLI::App* add_admin_command(CLI::App& app, Options options) {
  if (options->namesrv.empty()) options->namesrv = default_namesrv();
  CLI::App* admin = app.add_subcommand("admin", "Administer a cluster through its name server (like RocketMQ's mqadmin)");
  admin->require_subcommand(1);
  // Accepted before the subcommand (`admin --namesrv X topic list`) and after it.
  add_connection_options(admin, options);
  add_topic_commands(admin, options);
  add_group_commands(admin, options);
  add_message_commands(admin, options);
  add_cluster_commands(admin, options);
  add_client_commands(admin, options);
  add_dlq_commands(admin, options);
  add_tx_commands(admin, options);
  add_ha_commands(admin, options);
  return admin;
}

}  // namespace holdfast::admin
