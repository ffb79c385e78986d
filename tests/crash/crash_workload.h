// The workload shared by store_writer (the process that gets killed) and store_kill_test (which
// checks what survived): store options and deterministic message contents, so the test can
// recompute every byte a writer thread put from (round, thread, seq) alone.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "storage/message.h"
#include "storage/store_options.h"

namespace holdfast::crash {

inline constexpr const char* kTopic = "crash_kill";
inline constexpr int kQueues = 4;
inline constexpr int kWriterThreads = 4;

// SYNC_FLUSH with small segments so that kills land on segment edges too.
inline StoreOptions kill_test_options(const std::string& root) {
  StoreOptions o;
  o.root_dir = root;
  o.flush_disk_type = FlushDiskType::kSyncFlush;
  o.commit_log_segment_size = 1024 * 1024;
  o.max_message_size = 64 * 1024;
  o.consume_queue_units_per_file = 1024;
  o.index.hash_slot_count = 1021;
  o.index.max_index_count = 4096;
  o.sync_flush_timeout_ms = 5000;
  o.checkpoint_interval_ms = 50;
  o.clean_resource_interval_ms = 3600 * 1000;  // no retention while the test runs
  return o;
}

inline uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline uint64_t message_hash(int round, int thread, int64_t seq) {
  return mix64((static_cast<uint64_t>(round) << 48) ^ (static_cast<uint64_t>(thread) << 40) ^
               static_cast<uint64_t>(seq));
}

// "r<round>-w<thread>-<seq>-" followed by a pattern derived from the same triple; 50..3000 bytes.
inline std::string expected_body(int round, int thread, int64_t seq) {
  const uint64_t h = message_hash(round, thread, seq);
  const size_t size = 50 + static_cast<size_t>(h % 2951);
  std::string body = "r" + std::to_string(round) + "-w" + std::to_string(thread) + "-" +
                     std::to_string(seq) + "-";
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (size_t i = body.size(); i < size; ++i) {
    body.push_back(kAlphabet[(h >> (i % 29) ^ (i * 7)) % 62]);
  }
  return body;
}

inline int32_t expected_queue(int round, int thread, int64_t seq) {
  return static_cast<int32_t>((message_hash(round, thread, seq) >> 32) % kQueues);
}

inline std::string expected_key(int round, int thread, int64_t seq) {
  return "k" + std::to_string(round) + "-" + std::to_string(thread) + "-" + std::to_string(seq);
}

// Parses the "r<round>-w<thread>-<seq>-" prefix of a body; false if it is not one of ours.
inline bool parse_body_id(std::string_view body, int* round, int* thread, int64_t* seq) {
  std::string head(body.substr(0, 48));
  long long s = 0;
  int consumed = 0;
  if (std::sscanf(head.c_str(), "r%d-w%d-%lld-%n", round, thread, &s, &consumed) != 3 || consumed == 0) {
    return false;
  }
  *seq = s;
  return true;
}

inline MessageToStore workload_message(int round, int thread, int64_t seq) {
  MessageToStore m;
  m.topic = kTopic;
  m.queue_id = expected_queue(round, thread, seq);
  m.born_timestamp = 1700000000000;
  m.born_host = HostAddress::ipv4(127, 0, 0, 1, 40000 + thread);
  m.store_host = HostAddress::ipv4(127, 0, 0, 1, 10911);
  m.body = expected_body(round, thread, seq);
  append_property(&m.properties, "KEYS", expected_key(round, thread, seq));
  return m;
}

}  // namespace holdfast::crash
