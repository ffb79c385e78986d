// SendMessageProcessor: SEND_MESSAGE (long header names), SEND_MESSAGE_V2 (one-letter names) and
// SEND_BATCH_MESSAGE into the store, answering with msgId / queueId / queueOffset once the store's
// durability promise is met (facts §2.2, §2.3, §3.2, §4, §5.6).
#pragma once

#include <functional>
#include <string>

#include "remoting/remoting_command.h"
#include "storage/message_store.h"
#include "transport/remoting_server.h"

namespace holdfast::broker {

// The send header with V2's one-letter names mapped to V1's long names.
struct SendHeader {
  std::string producer_group;
  std::string topic;
  std::string default_topic;
  int32_t default_topic_queue_nums = 4;
  int32_t queue_id = -1;
  int32_t sys_flag = 0;
  int64_t born_timestamp = 0;
  int32_t flag = 0;
  std::string properties;
  int32_t reconsume_times = 0;
  bool batch = false;
};

// Reads either header form; missing or malformed required fields give InvalidArgument naming the
// field (mapped to a response with a readable remark by the processor).
Result<SendHeader> decode_send_header(const remoting::RemotingCommand& request);

// Decides the number of queues of a topic (and whether it may be written), creating it when
// auto-creation allows. Returns the write queue count, or a Status (TopicNotExist-like message).
using TopicResolver = std::function<Result<int32_t>(const SendHeader& header)>;

// Delay levels and the retry limit as the send path applies them (facts §8.2, §8.3). A message
// with DELAY > 0 is parked in SCHEDULE_TOPIC_XXXX; a send to %RETRY%<group> (a consumer's fallback
// when CONSUMER_SEND_MSG_BACK failed) whose reconsumeTimes exceeds the limit — MAX_RECONSUME_TIMES
// of the message, else the group's retryMaxTimes — goes to %DLQ%<group> at once instead.
struct SendRetryPolicy {
  int32_t delay_level_count = 18;
  // The group's retryMaxTimes. Empty: 16.
  std::function<int32_t(const std::string& group)> retry_max_times;
  // Creates %DLQ%<group> when missing. Empty: nothing to do.
  std::function<Status(const std::string& group)> ensure_dlq_topic;
  // Whether the group holds unexpired queue locks (orderly consumption). Empty: never.
  std::function<bool(const std::string& group)> group_has_order_locks;
  // brokerClusterName, added to every stored message as CLUSTER (as RocketMQ's broker does;
  // facts §5.4). Empty: none.
  std::string cluster_name;
  // SYNC_MASTER (facts §7.2): after the store answered a WAIT=true send OK (or
  // FLUSH_DISK_TIMEOUT), the response waits for await_replica(end of the last record, done); a
  // status other than OK passed to `done` replaces the store's (SLAVE_NOT_AVAILABLE,
  // FLUSH_SLAVE_TIMEOUT), the offsets and msgId stay in the response. Empty: no wait.
  std::function<void(int64_t end_offset, std::function<void(PutStatus)> done)> await_replica;
  // Automatic failover: asked right before a SEND_OK leaves; false turns it into
  // SERVICE_NOT_AVAILABLE (this broker may no longer be the master: its lease ran out). Empty: yes.
  std::function<bool()> may_acknowledge;
  // The master epoch this broker acknowledges under (epochs.json), returned with every stored
  // send as the ext field "masterEpoch" (Holdfast's; RocketMQ clients ignore fields they do not
  // know). -1: none (a slave).
  int64_t master_epoch = -1;
};

class SendMessageProcessor {
 public:
  SendMessageProcessor(MessageStore* store, HostAddress store_host, TopicResolver resolve_topic,
                       SendRetryPolicy policy = {});
  void handle(const transport::ConnectionPtr& conn, remoting::RemotingCommand request,
              remoting::SerializeType type);

 private:
  // Replaces a kOk first result by SERVICE_NOT_AVAILABLE when policy_.may_acknowledge says no.
  void fence_acknowledgement(std::vector<PutResult>& results) const;
  void respond_to_send(const remoting::RemotingCommand& request, const std::vector<PutResult>& results,
                       const std::string& transaction_id, int32_t queue_id,
                       const std::function<void(remoting::RemotingCommand)>& reply) const;
  MessageStore* store_;
  HostAddress store_host_;
  TopicResolver resolve_topic_;
  SendRetryPolicy policy_;
};

}  // namespace holdfast::broker
