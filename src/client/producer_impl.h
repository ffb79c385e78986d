// ProducerImpl: the Producer behind include/holdfast/producer.h. Builds each message's request once
// (properties, UNIQ_KEY, compression), then runs attempts under SendPolicy's rules: a total time
// budget, another broker after a failure, latency fault avoidance. Async attempts and callbacks run
// on the producer's Executor; max_in_flight bounds outstanding async and oneway requests.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/client_instance.h"
#include "client/executor.h"
#include "client/send_policy.h"
#include "holdfast/producer.h"

namespace holdfast::client {

class ProducerImpl final : public Producer {
 public:
  static Outcome<std::unique_ptr<Producer>> create(ProducerOptions options);
  ~ProducerImpl() override;

  Outcome<SendResult> send(const Message& msg) override;
  Outcome<SendResult> send(const Message& msg, const MessageQueueSelector& selector, const std::string& arg) override;
  Outcome<SendResult> send(const std::vector<Message>& batch) override;
  void send_async(Message msg, SendCallback callback) override;
  Outcome<void> send_oneway(const Message& msg) override;
  Outcome<std::vector<MessageQueue>> queues_of(const std::string& topic) override;
  // Must not be called from a send callback (it waits for callbacks to finish).
  void shutdown() override;
  std::string client_id() const override { return instance_->client_id(); }

  // Transactions (TransactionProducer): a half message (TRAN_MSG, PGROUP, PREPARED; delay level
  // dropped) sent like send(); END_TRANSACTION, oneway, to the broker that stored `half`.
  Outcome<SendResult> send_half(const Message& msg);
  Status end_transaction(const SendResult& half, int32_t commit_or_rollback, const std::string& remark);
  const ProducerOptions& options() const { return options_; }
  ClientInstance& instance() { return *instance_; }

  // A message ready for the wire; built once, sent by every attempt.
  struct Prepared {
    std::string topic;
    std::string body;  // compressed, or the encoded batch
    std::string properties;
    std::string msg_id;  // UNIQ_KEY; comma-joined for a batch
    int32_t sys_flag = 0;
    int32_t flag = 0;
    bool batch = false;
  };

 private:
  struct AsyncSend;
  ProducerImpl(ProducerOptions options, std::shared_ptr<ClientInstance> instance);

  Outcome<Prepared> prepare(const Message& msg) const;
  Outcome<Prepared> prepare_batch(const std::vector<Message>& batch) const;
  remoting::RemotingCommand build_request(const Prepared& p, const MessageQueue& queue) const;
  // The route's writable queues, or kNoRoute / kConnection.
  Outcome<std::shared_ptr<const TopicRouteInfo>> publish_route(const std::string& topic);
  // The master address of queue's broker, or kNoRoute.
  Outcome<std::string> broker_address(const TopicRouteInfo& route, const MessageQueue& queue);
  // The synchronous attempt loop. fixed_queue (ordered sends) pins every attempt to one queue.
  Outcome<SendResult> send_sync(const Prepared& p, SendMode mode, const MessageQueue* fixed_queue);
  void async_attempt(const std::shared_ptr<AsyncSend>& s);
  void async_finish(const std::shared_ptr<AsyncSend>& s, Outcome<SendResult> outcome);

  // In-flight accounting. acquire waits until a slot frees, the deadline passes (kBusy) or the
  // producer shuts down (kShutdown).
  Outcome<void> acquire_slot(int64_t wait_ms);
  void release_slot();
  bool begin_sync();
  void end_sync();

  const ProducerOptions options_;
  const std::shared_ptr<ClientInstance> instance_;
  const NowMs now_;
  LatencyFaultTolerance faults_;
  QueueSelector selector_;
  Executor executor_;

  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;    // async + oneway requests holding a slot
  int active_sync_ = 0;  // synchronous sends running
  bool shutdown_ = false;
};

}  // namespace holdfast::client
