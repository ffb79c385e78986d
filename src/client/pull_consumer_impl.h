// PullConsumerImpl: the PullConsumer behind include/holdfast/pull_consumer.h. Every call is one
// request to the master of the queue's broker group (found through the ClientInstance's routes);
// pulled records are decoded, inflated and tag-filtered here.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "client/client_instance.h"
#include "holdfast/pull_consumer.h"

namespace holdfast::client {

class PullConsumerImpl final : public PullConsumer {
 public:
  static Outcome<std::unique_ptr<PullConsumer>> create(PullConsumerOptions options);
  ~PullConsumerImpl() override;

  Outcome<std::vector<MessageQueue>> queues_of(const std::string& topic) override;
  Outcome<PullResult> pull(const MessageQueue& queue, const std::string& subscription, int64_t offset,
                           int32_t max_messages, int64_t long_poll_ms) override;
  Outcome<void> commit_offset(const MessageQueue& queue, int64_t offset) override;
  Outcome<int64_t> committed_offset(const MessageQueue& queue) override;
  Outcome<int64_t> min_offset(const MessageQueue& queue) override;
  Outcome<int64_t> max_offset(const MessageQueue& queue) override;
  Outcome<int64_t> offset_for_timestamp(const MessageQueue& queue, int64_t timestamp_ms) override;
  void shutdown() override;
  std::string client_id() const override { return instance_->client_id(); }

  // For the push consumer: pull() that also piggy-backs `commit_offset` (when >= 0, facts §2.4)
  // and stops waiting for the answer once `cancelled()` is true (checked every 50 ms; the late
  // answer is then dropped) — so dropping a queue or shutting down never waits for a long poll.
  Outcome<PullResult> pull_cancellable(const MessageQueue& queue, const std::string& subscription, int64_t offset,
                                       int32_t max_messages, int64_t long_poll_ms, int64_t commit_offset,
                                       const std::function<bool()>& cancelled);
  // QUERY_CONSUMER_OFFSET with setZeroIfNotFound=false: QUERY_NOT_FOUND (22) for a group with no
  // offset even when the queue still starts at 0, so consume_from_where applies (facts §2.5).
  Outcome<int64_t> stored_offset(const MessageQueue& queue);
  ClientInstance& instance() { return *instance_; }
  const std::string& group() const { return options_.group; }
  // The master address of queue's broker group (or another replica when it has no master).
  Outcome<std::string> broker_address(const MessageQueue& queue) { return address_of(queue); }

 private:
  PullConsumerImpl(PullConsumerOptions options, std::shared_ptr<ClientInstance> instance);
  // The broker address for queue: its master (or, when the group has none, any replica).
  Outcome<std::string> address_of(const MessageQueue& queue);
  // Sends request to queue's broker; the response, or the transport failure as an Error.
  Outcome<remoting::RemotingCommand> call(const MessageQueue& queue, remoting::RemotingCommand request,
                                          int64_t timeout_ms);
  // A call whose SUCCESS response carries header field `field` (an int64).
  Outcome<int64_t> call_for_offset(const MessageQueue& queue, remoting::RemotingCommand request, const char* field);

  const PullConsumerOptions options_;
  const std::shared_ptr<ClientInstance> instance_;
  std::atomic<bool> shutdown_{false};
};

}  // namespace holdfast::client
