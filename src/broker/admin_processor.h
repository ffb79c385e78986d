// AdminProcessor: the broker's administration and message-lookup requests — topic and
// subscription-group management, query by key, view by offset id, topic stats and runtime info
// (facts §2.1, §2.7, §12.4) — plus the send path's topic resolver built on TopicConfigManager.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "broker/send_message_processor.h"
#include "broker/subscription_group_manager.h"
#include "broker/topic_config_manager.h"
#include "env/env.h"
#include "remoting/remoting_command.h"
#include "storage/message_store.h"
#include "transport/remoting_server.h"

namespace holdfast::broker {

struct AdminProcessorOptions {
  MessageStore* store = nullptr;
  TopicConfigManager* topics = nullptr;
  SubscriptionGroupManager* groups = nullptr;
  Env* env = nullptr;  // clock and disk usage; Env::posix() when null
  std::string broker_name;
  std::string cluster_name;
  std::string broker_address;  // "ip:port"
  // QUERY_MESSAGE limits: the count used for UNIQ_KEY lookups (defaultQueryMaxNum) and the cap on
  // any query (maxMsgsNumBatch).
  int32_t default_query_max_num = 32;
  int32_t max_query_num = 64;
  // Called after DELETE_TOPIC_IN_BROKER removed a topic from the config (drop its consumer offsets
  // and consume queues); an error is answered as SYSTEM_ERROR with its text.
  std::function<Status(const std::string& topic)> on_topic_deleted;
  // Entries merged into GET_BROKER_RUNTIME_INFO's table (they override the built-in ones): the
  // counters only the broker sees, e.g. msgPutTotalTodayNow, putTps, getTransferedTps.
  std::function<std::map<std::string, std::string>()> extra_runtime_info;
};

// Stateless apart from its boot time; handlers run on network threads and may block briefly on
// configuration-file writes (admin requests only, never the send or pull path).
class AdminProcessor {
 public:
  explicit AdminProcessor(AdminProcessorOptions options);

  // Registers UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG,
  // UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, GET_ALL_SUBSCRIPTIONGROUP_CONFIG, QUERY_MESSAGE,
  // VIEW_MESSAGE_BY_ID, GET_TOPIC_STATS_INFO and GET_BROKER_RUNTIME_INFO.
  void register_to(transport::RemotingServer& server);

  // Builds the response to one request (exposed for tests and for callers without a server).
  remoting::RemotingCommand process(const remoting::RemotingCommand& request);

  // The GET_BROKER_RUNTIME_INFO table.
  std::map<std::string, std::string> runtime_info() const;

 private:
  using Command = remoting::RemotingCommand;
  Command update_and_create_topic(const Command& request);
  Command delete_topic(const Command& request);
  Command get_all_topic_config(const Command& request);
  Command update_and_create_subscription_group(const Command& request);
  Command get_all_subscription_group_config(const Command& request);
  Command query_message(const Command& request);
  Command view_message_by_id(const Command& request);
  Command get_topic_stats(const Command& request);
  Command get_runtime_info(const Command& request);

  AdminProcessorOptions options_;
  Env* env_;
  int64_t boot_timestamp_ms_;
};

// The SendMessageProcessor's TopicResolver backed by TopicConfigManager::resolve_for_send: the
// write queue count, or the manager's Status (map it with send_error_code).
TopicResolver make_topic_resolver(TopicConfigManager* topics);

}  // namespace holdfast::broker
