// ConsumerOffsetManager: the committed consume offset of every group on every queue, kept in
// memory and persisted to consumerOffset.json in the format a Java broker writes, so a store
// directory can move between the two.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "base/status.h"
#include "broker/config_file.h"
#include "env/env.h"

namespace holdfast::broker {

// File format (facts §12.4; fastjson writes the integer map keys without quotes):
//   {"offsetTable":{"<topic>@<group>":{0:12,1:40},...}}
// Both quoted and unquoted keys are accepted on load; persist writes them unquoted.
//
// Owned by the broker's composition root. Thread-safe: commit/query run on network threads, the
// persist thread (start/stop) writes the file. A completed persist() has the table as of its
// start durably in `path` (temp file, fsync, rename, directory fsync); the file it replaced, if
// any, is kept as `path`.bak. A crash between two persists loses at most the commits made since
// the last one (consumers then re-consume from the older offset: duplicates, never loss).
class ConsumerOffsetManager {
 public:
  static constexpr int64_t kDefaultPersistIntervalMs = 5000;  // flushConsumerOffsetInterval

  ConsumerOffsetManager(Env* env, std::string path);
  ~ConsumerOffsetManager();
  ConsumerOffsetManager(const ConsumerOffsetManager&) = delete;
  ConsumerOffsetManager& operator=(const ConsumerOffsetManager&) = delete;

  // Replaces the table with the file's content. A missing file is an empty table; a missing or
  // unreadable main file falls back to `path`.bak; if the main file exists but neither copy can
  // be parsed, returns Corruption and leaves the table empty.
  Status load();
  Status persist();

  // Persists every interval_ms on a background thread until stop(), which persists once more.
  void start(int64_t interval_ms = kDefaultPersistIntervalMs);
  Status stop();

  void commit(const std::string& group, const std::string& topic, int32_t queue_id, int64_t offset);
  std::optional<int64_t> query(const std::string& group, const std::string& topic, int32_t queue_id) const;
  // queue id -> offset for one group on one topic (empty if none).
  std::map<int32_t, int64_t> offsets(const std::string& group, const std::string& topic) const;
  std::set<std::string> topics_of_group(const std::string& group) const;
  std::set<std::string> groups_of_topic(const std::string& topic) const;
  void remove_topic(const std::string& topic);
  void remove_group(const std::string& group);

  // The table in the file format (also the GET_ALL_CONSUMER_OFFSET body).
  std::string encode() const;

  // Slave: takes the master's table (GET_ALL_CONSUMER_OFFSET body) entry by entry, except that an
  // offset committed here since the master last confirmed it (consumers that fell back to this
  // slave while the master was down) is kept while it is ahead of the master's. Entries the master
  // does not have stay. Corruption when the text does not parse (nothing changed).
  Status merge_from_master(const std::string& text);
  // Slave: from now on remember local commits for merge_from_master.
  void track_local_commits() {
    std::lock_guard<std::mutex> lock(mu_);
    track_local_ = true;
  }

 private:
  using Key = std::pair<std::string, std::string>;  // (topic, group)
  using Table = std::map<Key, std::map<int32_t, int64_t>>;

  static Result<Table> decode(const std::string& text);
  void persist_loop(int64_t interval_ms);

  Env* const env_;
  const std::string path_;

  mutable std::mutex mu_;
  Table table_;
  Table local_commits_;  // commits not yet seen in a master's table (kept on slaves only)
  bool track_local_ = false;

  std::mutex persist_mu_;  // one persist at a time; guards file_
  ConfigFileWriter file_;

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_requested_ = false;
  std::thread thread_;
};

}  // namespace holdfast::broker
