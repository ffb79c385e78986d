// Delay-level messages (facts §8.2): parking a message with DELAY > 0 in SCHEDULE_TOPIC_XXXX, and
// the ScheduleMessageService that puts each one back into its real topic once it is due.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "broker/config_file.h"
#include "env/env.h"
#include "storage/message_store.h"

namespace holdfast::broker {

// If `msg` asks for a delay (DELAY > 0 in `properties`) and is not a transaction half or rollback,
// turns it into a schedule-topic message: the level is clamped to `level_count`, REAL_TOPIC /
// REAL_QID keep the destination, the topic becomes SCHEDULE_TOPIC_XXXX and the queue level - 1.
// Edits `properties` only; the caller encodes them into msg->properties once, after its own
// edits. Returns whether it parked. The store then records the due time (store time + delay) as
// the unit's tags code.
bool park_delayed_message(MessageToStore* msg, MessageProperties* properties, int32_t level_count);

struct ScheduleMessageServiceOptions {
  std::vector<int64_t> delay_level_ms;  // messageDelayLevel, level 1 first
  std::string offset_path;              // <storePathRootDir>/config/delayOffset.json
  int64_t poll_interval_ms = 100;       // how often each level's queue is looked at
  // How often changed progress is written. RocketMQ writes every 10 s; a shorter interval bounds
  // the duplicates a crash causes (everything delivered since the last write is delivered again).
  int64_t persist_interval_ms = 1000;
  int64_t retry_backoff_ms = 1000;      // after a failed re-put
};

// Owns one thread (start/stop) that scans every level's queue of SCHEDULE_TOPIC_XXXX from the
// level's saved offset. A message whose due time (store time + delay of its level) has come is
// restored — topic and queue from REAL_TOPIC / REAL_QID, DELAY removed — and put back with the full
// durability contract; the level's offset moves past it only once that put returned kOk, so a
// delayed message is never lost and never delivered before its due time. Progress is persisted
// atomically to delayOffset.json ({"offsetTable":{level:offset}}) every persist_interval_ms and
// on stop; after a crash the messages delivered since the last persist are delivered again
// (at-least-once). run_once() is the thread's body, callable directly by tests on a fake clock.
class ScheduleMessageService {
 public:
  ScheduleMessageService(Env* env, MessageStore* store, ScheduleMessageServiceOptions options);
  ~ScheduleMessageService();

  // Reads delayOffset.json (or its .bak); a missing file means every level starts at 0.
  Status load();
  void start();
  // Stops the thread and persists the progress. Idempotent.
  Status stop();

  // Delivers every message due at env->now_ms(); returns how many were put back.
  int run_once();
  Status persist();
  // The progress as delayOffset.json holds it ({"offsetTable":{level:offset}}): the body of
  // GET_ALL_DELAY_OFFSET (45), which slaves copy.
  std::string encode() const;
  // Slave (the service is not started there): takes the master's progress (GET_ALL_DELAY_OFFSET
  // body) and persists it, so that a slave promoted by hand does not deliver twice what the
  // master delivered. Corruption when the text does not parse (nothing changed).
  Status replace_from_master(const std::string& text);

  int64_t offset_of(int32_t level) const;
  // The earliest due time among messages not yet delivered that run_once looked at (0: none).
  int64_t next_due_ms() const;

 private:
  // delayOffset.json's text -> level -> offset (Java's bare integer keys accepted).
  static Result<std::map<int32_t, int64_t>> decode(const std::string& text);
  struct Level {
    int64_t offset = 0;
    int64_t retry_after_ms = 0;  // after a failed put, wait before trying the level again
  };
  int deliver_level(int32_t level, int64_t now_ms, int64_t* next_due);
  void loop();

  Env* const env_;
  MessageStore* const store_;
  const ScheduleMessageServiceOptions options_;

  mutable std::mutex mu_;  // levels_, next_due_
  std::map<int32_t, Level> levels_;
  std::mutex persist_mu_;  // file_
  ConfigFileWriter file_;
  int64_t next_due_ = 0;

  std::mutex run_mu_;  // one run_once at a time
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace holdfast::broker
