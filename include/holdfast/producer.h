// Producer: sends messages to the brokers that serve a topic, discovered from name servers.
//
// A completed send() promises exactly one of:
//  - Outcome with SendResult::status == kSendOk: the broker stored the message and met its
//    durability promise (SYNC_FLUSH: on disk; SYNC_MASTER: on the slave too);
//  - status kFlushDiskTimeout / kFlushSlaveTimeout / kSlaveNotAvailable: stored, but the promise
//    was not confirmed in time (the message is usually there; see docs/durability.md);
//  - an Error: the client could not get it stored within send_msg_timeout_ms after its retries.
//    The message may still have been stored by an attempt whose answer was lost (a retry can then
//    store a duplicate with the same msg_id / UNIQ_KEY); nothing is ever dropped silently.
// send_oneway() promises nothing: it is documented as possibly lossy.
//
// Thread-safe: any number of threads may send concurrently. send_async never blocks the caller on
// the network; when max_in_flight requests are outstanding it waits (bounded by the send timeout)
// for a slot, then fails with kBusy/kTimeout. Every callback is called exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "holdfast/message.h"
#include "holdfast/outcome.h"

namespace holdfast {

enum class SendStatus { kSendOk, kFlushDiskTimeout, kFlushSlaveTimeout, kSlaveNotAvailable };
const char* send_status_name(SendStatus status);  // "SEND_OK", ...

struct SendResult {
  SendStatus status = SendStatus::kSendOk;
  std::string msg_id;         // UNIQ_KEY, in the Java client's format (comma-joined for a batch)
  std::string offset_msg_id;  // from the broker: store host + commit-log offset
  MessageQueue queue;
  int64_t queue_offset = 0;
  std::string transaction_id;
  // The master epoch the broker acknowledged under (a Holdfast broker's "masterEpoch" response
  // field; -1 from brokers that do not send it). Two SEND_OKs of one broker group with falling
  // epochs mean two masters acknowledged at once.
  int64_t master_epoch = -1;
};

struct ProducerOptions {
  std::string group = "DEFAULT_PRODUCER";
  std::vector<std::string> name_servers;  // "host:port"; empty = NAMESRV_ADDR (';'-separated)
  std::string instance_name;              // empty = the process id, as the Java client does
  int retry_times_when_send_failed = 2;          // extra attempts for send()
  int retry_times_when_send_async_failed = 2;    // extra attempts for send_async()
  int64_t send_msg_timeout_ms = 3000;            // total budget per send, retries included
  bool retry_another_broker_when_not_store_ok = false;
  int32_t compress_msg_body_over_howmuch = 4096;  // zlib (level 5) above this many bytes
  int32_t max_message_size = 4 * 1024 * 1024;
  bool send_latency_fault_enable = true;  // avoid slow or failing brokers for a while
  int32_t max_in_flight = 1024;           // outstanding async/oneway requests per producer
  int64_t poll_name_server_interval_ms = 30000;
  int64_t heartbeat_broker_interval_ms = 30000;
  int32_t default_topic_queue_nums = 4;
};

// Picks the queue for a message (ordered sends: hash a key onto the queue list). `queues` is the
// topic's writable queues, ordered by broker name then queue id; `arg` is passed through.
using MessageQueueSelector =
    std::function<MessageQueue(const std::vector<MessageQueue>& queues, const Message& msg, const std::string& arg)>;

// A selector that hashes `arg` onto the queues (same arg -> same queue while the route holds).
MessageQueueSelector select_queue_by_hash();

class Producer {
 public:
  // Validates options, connects to the name servers lazily, starts route refresh and heartbeats.
  static Outcome<std::unique_ptr<Producer>> start(ProducerOptions options);
  virtual ~Producer() = default;

  virtual Outcome<SendResult> send(const Message& msg) = 0;
  // Ordered send: the selector picks the queue; failures are retried on the same queue only.
  virtual Outcome<SendResult> send(const Message& msg, const MessageQueueSelector& selector, const std::string& arg) = 0;
  // One SEND_BATCH_MESSAGE; all messages must share a topic; no delay levels.
  virtual Outcome<SendResult> send(const std::vector<Message>& batch) = 0;
  using SendCallback = std::function<void(Outcome<SendResult>)>;
  virtual void send_async(Message msg, SendCallback callback) = 0;
  // Possibly lossy: no answer is awaited and nothing is retried.
  virtual Outcome<void> send_oneway(const Message& msg) = 0;
  // The writable queues of a topic (refreshing the route if unknown).
  virtual Outcome<std::vector<MessageQueue>> queues_of(const std::string& topic) = 0;
  // Waits for in-flight async sends (their callbacks run), unregisters, closes connections.
  virtual void shutdown() = 0;
  virtual std::string client_id() const = 0;
};

}  // namespace holdfast
