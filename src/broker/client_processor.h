// ClientProcessor: the requests consumers and producers make besides send and pull —
// heartbeats and unregistration, consumer lists, consumer offsets and queue offsets, consume
// statistics, and CONSUMER_SEND_MSG_BACK (facts §2.5, §2.6, §2.7, §8.3).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/status.h"
#include "broker/client_manager.h"
#include "broker/consumer_offset_manager.h"
#include "remoting/remoting_command.h"
#include "storage/message_store.h"
#include "transport/remoting_server.h"

namespace holdfast::broker {

// Broker identity and the hooks into the topic and subscription-group tables (owned elsewhere).
// Every hook may be left empty; the comment gives the behaviour then.
struct ClientProcessorOptions {
  std::string broker_name = "broker-a";
  HostAddress store_host = HostAddress::ipv4(127, 0, 0, 1, 10911);
  // True if the subscription group exists or was auto-created. Empty: every group exists.
  std::function<bool(const std::string& group)> ensure_group;
  // Creates %RETRY%<group> when missing (retryQueueNums queues, perm RW) and returns its write
  // queue count. Empty: one queue.
  std::function<Result<int32_t>(const std::string& group)> ensure_retry_topic;
  // Creates %DLQ%<group> when missing (1 queue). Empty: nothing to do.
  std::function<Status(const std::string& group)> ensure_dlq_topic;
  // The group's retryMaxTimes, used when a send-back carries no maxReconsumeTimes. Empty: 16.
  std::function<int32_t(const std::string& group)> retry_max_times;
  // How many delay levels messageDelayLevel defines; a send-back's level is clamped to it.
  int32_t delay_level_count = 18;
  // A topic's read queue count for GET_CONSUME_STATS; nullopt (or empty hook): the queues the
  // store and the offset table know.
  std::function<std::optional<int32_t>(const std::string& topic)> read_queue_count;
  // Messages per second the group pulled from the topic lately (consumeTps). Empty: 0.
  std::function<double(const std::string& group, const std::string& topic)> consume_tps;
};

// Handles HEART_BEAT (34), UNREGISTER_CLIENT (35), GET_CONSUMER_LIST_BY_GROUP (38),
// QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15), SEARCH_OFFSET_BY_TIMESTAMP (29),
// GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32),
// GET_CONSUME_STATS (208), CONSUMER_SEND_MSG_BACK (36), GET_CONSUMER_CONNECTION_LIST (203) and
// QUERY_TOPIC_CONSUME_BY_WHO (300).
//
// Handlers run on network threads and never block: a send-back answers from the store's put
// callback. A send-back is acknowledged with SUCCESS only once its copy is stored under the
// store's durability contract; the original record is never touched.
class ClientProcessor {
 public:
  ClientProcessor(MessageStore* store, ConsumerOffsetManager* offsets, ClientManager* clients,
                  ClientProcessorOptions options);

  void register_to(transport::RemotingServer& server);
  // Dispatches one request by code (what register_to installs for each code).
  void handle(const transport::ConnectionPtr& conn, remoting::RemotingCommand request, remoting::SerializeType type);

 private:
  using Reply = std::function<void(remoting::RemotingCommand)>;

  remoting::RemotingCommand heartbeat(const transport::ConnectionPtr& conn, const remoting::RemotingCommand& request);
  remoting::RemotingCommand unregister_client(const transport::ConnectionPtr& conn,
                                              const remoting::RemotingCommand& request);
  remoting::RemotingCommand consumer_list(const remoting::RemotingCommand& request);
  // GET_CONSUMER_CONNECTION_LIST: ConsumerConnection JSON, or CONSUMER_NOT_ONLINE.
  remoting::RemotingCommand consumer_connections(const remoting::RemotingCommand& request);
  // QUERY_TOPIC_CONSUME_BY_WHO: {"groupList":[...]}, the groups subscribed now or holding offsets.
  remoting::RemotingCommand topic_consumed_by(const remoting::RemotingCommand& request);
  remoting::RemotingCommand query_consumer_offset(const remoting::RemotingCommand& request);
  remoting::RemotingCommand update_consumer_offset(const remoting::RemotingCommand& request);
  remoting::RemotingCommand queue_offset(const remoting::RemotingCommand& request);
  remoting::RemotingCommand search_offset_by_timestamp(const remoting::RemotingCommand& request);
  remoting::RemotingCommand earliest_store_time(const remoting::RemotingCommand& request);
  remoting::RemotingCommand consume_stats(const remoting::RemotingCommand& request);
  void send_back(const remoting::RemotingCommand& request, Reply reply);

  // A string header field that must be present (and, unless allow_empty, non-empty).
  static Result<std::string> required_field(const remoting::RemotingCommand& request, std::string_view name,
                                            bool allow_empty = false);
  // The `topic` and `queueId` header fields of a queue-level request.
  struct QueueHeader {
    std::string topic;
    int32_t queue_id = 0;
  };
  static Result<QueueHeader> queue_header(const remoting::RemotingCommand& request);
  bool group_exists(const std::string& group) const;

  MessageStore* const store_;
  ConsumerOffsetManager* const offsets_;
  ClientManager* const clients_;
  const ClientProcessorOptions options_;
};

}  // namespace holdfast::broker
