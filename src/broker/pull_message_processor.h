// PullMessageProcessor: PULL_MESSAGE with the PullSysFlag bits, tag filtering by tag hash, and
// long polling: a pull that finds nothing new is held until data for its queue arrives or its
// suspend timeout ends (facts §2.4, §4.1). Bodies are the stored records byte for byte, never
// past the store's confirmed offset.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "remoting/remoting_command.h"
#include "storage/message_store.h"
#include "transport/remoting_server.h"

namespace holdfast::broker {

// PullSysFlag bits (facts §2.4).
inline constexpr int32_t kPullFlagCommitOffset = 0x1;
inline constexpr int32_t kPullFlagSuspend = 0x2;
inline constexpr int32_t kPullFlagSubscription = 0x4;

// Tag hashes of a subscription expression: empty set = everything ("*" or empty).
std::vector<int64_t> subscription_tag_codes(std::string_view expression);

class PullMessageProcessor {
 public:
  // commit_offset(group, topic, queue, offset) stores a piggy-backed consumer offset.
  using CommitOffsetFn = std::function<void(const std::string&, const std::string&, int32_t, int64_t)>;
  PullMessageProcessor(MessageStore* store, CommitOffsetFn commit_offset, bool long_polling = true,
                       int64_t short_polling_ms = 1000);
  ~PullMessageProcessor();

  // Told of every store read a pull makes (messages found, 0 for none); set before serving.
  using PullCounter = std::function<void(const std::string& group, const std::string& topic, int64_t messages)>;
  void set_pull_counter(PullCounter counter) { pull_counter_ = std::move(counter); }
  // Slaves only: asked on every pull whether this broker serves reads now (slaveReadEnable, or its
  // master unreachable). When it does not, the pull is answered PULL_RETRY_IMMEDIATELY with
  // suggestWhichBrokerId 0 and nothing read, as a RocketMQ slave does. Set before serving.
  void set_slave_read_policy(std::function<bool()> serves_reads) { slave_serves_reads_ = std::move(serves_reads); }

  void handle(const transport::ConnectionPtr& conn, remoting::RemotingCommand request,
              remoting::SerializeType type);
  // Wakes pulls held on topic/queue (wire to MessageStore::set_arrival_listener).
  void on_arrival(const std::string& topic, int32_t queue_id, int64_t max_offset);
  void stop();
  size_t held_count() const;

 private:
  struct Held {
    transport::ConnectionPtr conn;
    remoting::RemotingCommand request;
    remoting::SerializeType type;
    int64_t offset;
    std::chrono::steady_clock::time_point deadline;
  };
  // Runs a pull; returns false when it found nothing and may be held.
  void process(const transport::ConnectionPtr& conn, remoting::RemotingCommand request,
               remoting::SerializeType type, bool allow_suspend);
  void hold_loop();
  std::function<bool()> slave_serves_reads_;

  MessageStore* store_;
  CommitOffsetFn commit_offset_;
  PullCounter pull_counter_;
  const bool long_polling_;
  const int64_t short_polling_ms_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<std::string, int32_t>, std::vector<Held>> held_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace holdfast::broker
