// AdminClient: what `holdfast admin` does, as functions returning structured results, so the CLI
// only renders and tests call the same code. It speaks plain remoting requests to name servers
// (cluster info, topic list, topic deletion) and to brokers (topics, groups, offsets, messages,
// runtime info), the way RocketMQ's mqadmin does, so it works against Apache RocketMQ too.
//
// Errors are Status values with one readable sentence, e.g.
//   "name server 127.0.0.1:9876 is unreachable: connect failed: Connection refused".
// Thread-compatible: one caller at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "holdfast/message.h"
#include "remoting/remoting_command.h"

namespace holdfast::transport {
class RemotingClient;
}

namespace holdfast::admin {

struct AdminOptions {
  std::vector<std::string> name_servers;  // "host:port"; tried in order
  int64_t timeout_ms = 5000;              // per request
};

// Splits "a:1;b:2" (NAMESRV_ADDR's format) into addresses.
std::vector<std::string> split_name_servers(const std::string& text);

// One broker group as the name server knows it.
struct BrokerGroup {
  std::string cluster;
  std::string broker_name;
  std::map<int64_t, std::string> addrs;  // brokerId -> "ip:port"; 0 is the master
  std::string master_addr() const;       // "" when no master is registered
};

struct ClusterView {
  std::map<std::string, BrokerGroup> brokers;                    // by broker name
  std::map<std::string, std::vector<std::string>> clusters;      // cluster -> broker names
};

// One row of `cluster list` (mqadmin clusterList).
struct BrokerStatus {
  std::string cluster;
  std::string broker_name;
  int64_t broker_id = 0;
  std::string addr;
  std::map<std::string, std::string> runtime;  // GET_BROKER_RUNTIME_INFO's table
  std::string error;                           // non-empty when the broker did not answer
};

struct TopicSpec {
  std::string topic;
  int32_t read_queue_nums = 8;
  int32_t write_queue_nums = 8;
  int32_t perm = 6;  // RW
  bool order = false;
  std::string cluster;      // create on every master of this cluster ("" = every cluster)
  std::string broker_addr;  // or on this one broker only
};

// One queue of `topic stats` (mqadmin topicStatus).
struct QueueStats {
  std::string broker_name;
  int32_t queue_id = 0;
  int64_t min_offset = 0;
  int64_t max_offset = 0;
  int64_t last_update_ms = 0;
};

// One subscription group on one broker (`group list`).
struct GroupInfo {
  std::string group;
  std::string broker_name;
  bool consume_enable = true;
  bool consume_broadcast_enable = true;
  int32_t retry_queue_nums = 1;
  int32_t retry_max_times = 16;
  std::vector<std::string> consumers;  // online client ids (GET_CONSUMER_LIST_BY_GROUP)
};

// One queue of `group stats` (mqadmin consumerProgress). lag = broker_offset - consumer_offset.
struct QueueProgress {
  std::string topic;
  std::string broker_name;
  int32_t queue_id = 0;
  int64_t broker_offset = 0;
  int64_t consumer_offset = 0;
  int64_t lag = 0;
  int64_t last_timestamp_ms = 0;
};

struct GroupStats {
  std::string group;
  std::vector<QueueProgress> queues;  // sorted by topic, broker, queue
  int64_t total_lag = 0;
  double consume_tps = 0;
  std::vector<std::string> consumers;  // online client ids
};

// One message of a group's dead-letter queue (`dlq list`).
struct DlqMessage {
  ReceivedMessage message;      // as stored in %DLQ%<group>
  std::string broker_addr;
  std::string original_topic;   // RETRY_TOPIC: the topic the message was first sent to
  std::string origin_msg_id;    // ORIGIN_MESSAGE_ID: the id of that first message
  int32_t resent = 0;           // copies `dlq resend` has already put back for the group
};

// One message `dlq resend` put back.
struct DlqResend {
  DlqMessage source;
  std::string new_offset_msg_id;  // of the copy in %RETRY%<group>
};

// One transaction as `tx list` shows it: pending (a half message without an end) or moved to
// TRANS_CHECK_MAX_TIME_TOPIC after transactionCheckMax check-backs.
// One broker's replication state (HOLDFAST_HA_STATUS), as `holdfast admin ha status` shows it.
struct HaBrokerStatus {
  std::string cluster;
  std::string broker_name;
  int64_t broker_id = 0;
  std::string addr;
  std::string error;  // non-empty when the broker did not answer (or is not a Holdfast broker)
  std::string json;   // the broker's answer
};

struct TransactionInfo {
  std::string broker_name;
  std::string broker_addr;
  bool check_max = false;          // in TRANS_CHECK_MAX_TIME_TOPIC
  std::string transaction_id;      // UNIQ_KEY
  std::string producer_group;
  std::string topic;               // the real topic
  int32_t queue_id = 0;
  int64_t table_offset = 0;        // tranStateTableOffset of the latest copy
  int64_t commit_log_offset = 0;
  int64_t born_ms = 0;
  int32_t check_times = 0;
  int64_t immunity_ms = 0;
  bool committed = false;          // check-max only: already resolved by a commit
};

// The KEYS entry a resent copy carries, naming the DLQ record it came from; `dlq list` counts
// the copies by it.
std::string dlq_resend_key(const std::string& dlq_offset_msg_id);

class AdminClient {
 public:
  explicit AdminClient(AdminOptions options);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // --- name server ---
  Result<ClusterView> cluster_view();
  Result<std::vector<std::string>> topic_list();
  // Every broker of every cluster (masters and slaves) with its runtime table.
  Result<std::vector<BrokerStatus>> cluster_list();

  // --- topics ---
  // UPDATE_AND_CREATE_TOPIC on each target master; returns the addresses updated.
  Result<std::vector<std::string>> create_topic(const TopicSpec& spec);
  // DELETE_TOPIC_IN_BROKER on every master of `cluster` ("" = all), then DELETE_TOPIC_IN_NAMESRV
  // on every name server. Returns the broker addresses it was deleted on.
  Result<std::vector<std::string>> delete_topic(const std::string& topic, const std::string& cluster);
  // GET_TOPIC_STATS_INFO from every master; brokers without the topic are skipped. NotFound when
  // no broker has it.
  Result<std::vector<QueueStats>> topic_stats(const std::string& topic);

  // --- groups ---
  Result<std::vector<GroupInfo>> group_list();
  // GET_CONSUME_STATS from every master (topic "" = all the group's topics). NotFound when the
  // group has neither offsets nor online consumers anywhere.
  Result<GroupStats> group_stats(const std::string& group, const std::string& topic);

  // --- messages ---
  // An offset message id (store host + commit-log offset) is looked up with VIEW_MESSAGE_BY_ID
  // on that broker. Anything else is taken as a UNIQ_KEY and needs `topic`: QUERY_MESSAGE with
  // _UNIQUE_KEY_QUERY on every master. NotFound when nothing matches.
  Result<std::vector<ReceivedMessage>> message_by_id(const std::string& id, const std::string& topic);
  // QUERY_MESSAGE by KEYS on every master, newest store time first.
  Result<std::vector<ReceivedMessage>> query_by_key(const std::string& topic, const std::string& key,
                                                    int32_t max_num = 32);

  // --- dead-letter queues ---
  // Every message in %DLQ%<group> on every master, oldest first. NotFound when no broker has
  // the topic.
  Result<std::vector<DlqMessage>> dlq_list(const std::string& group);
  // Puts DLQ messages back for the group: each copy goes to %RETRY%<group> on the DLQ's broker
  // with reconsumeTimes 0 (a full set of retries again), the same body, properties and UNIQ_KEY,
  // and the KEYS entry dlq_resend_key(). `msg_id` selects one message by UNIQ_KEY or offset id;
  // empty = all. NotFound when nothing matches. The DLQ record itself stays.
  Result<std::vector<DlqResend>> dlq_resend(const std::string& group, const std::string& msg_id);

  // --- transactions ---
  // HOLDFAST_TRANSACTION_LIST on every master (group "" = all groups).
  Result<std::vector<TransactionInfo>> tx_list(const std::string& group);
  // Every broker of every broker group the name server knows, with its replication state.
  Result<std::vector<HaBrokerStatus>> ha_status();
  // Ends one transaction by hand (END_TRANSACTION as its producer group, from a check): commit
  // delivers the message, rollback drops it. A check-max message can be committed once.
  // NotFound when no broker holds the id pending or in TRANS_CHECK_MAX_TIME_TOPIC.
  Result<TransactionInfo> tx_resolve(const std::string& transaction_id, bool commit);

  // One request to a name server (tried in order) / to a broker, with readable errors for
  // unreachable peers and non-success response codes (`what` names the operation).
  Result<remoting::RemotingCommand> call_name_server(remoting::RemotingCommand request, const std::string& what);
  Result<remoting::RemotingCommand> call_broker(const std::string& addr, remoting::RemotingCommand request,
                                                const std::string& what);

 private:
  // Sends one request of `code` to every broker of every group the name server lists, cluster by
  // cluster, and hands each broker's answer (or the error) to `visit`.
  using BrokerVisit = std::function<void(const std::string& cluster, const std::string& broker_name,
                                         int64_t broker_id, const std::string& addr,
                                         const Result<remoting::RemotingCommand>& answer)>;
  Status ask_every_broker(int32_t code, const std::string& what, const BrokerVisit& visit);

  // Masters of `cluster` ("" = all clusters) as (broker name, addr), sorted by broker name.
  Result<std::vector<std::pair<std::string, std::string>>> masters(const std::string& cluster);

  AdminOptions options_;
  std::unique_ptr<transport::RemotingClient> client_;
};

// Decodes the stored records of a VIEW_MESSAGE_BY_ID / QUERY_MESSAGE / pull body (bodies inflated
// when COMPRESSED is set). `broker_name` is copied into each message.
Result<std::vector<ReceivedMessage>> decode_messages(std::string_view body, const std::string& broker_name);

}  // namespace holdfast::admin
