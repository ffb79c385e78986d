// ProcessQueue: the messages pulled from one queue and not yet finished by the listener, in offset
// order. It decides the offset a consumer may commit for the queue and drives flow control.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "holdfast/message.h"

namespace holdfast::client {

// Shared (shared_ptr) by the queue's pull thread, the consume threads working on its messages and
// the rebalance / housekeeping thread; every method is thread-safe.
//
// Invariant: committable_offset() never passes a message that was put and not yet removed, so a
// later success never commits past an earlier failure or an unfinished message (the committed
// value is the next offset to consume: redelivery after a crash, never loss).
class ProcessQueue {
 public:
  // Adds pulled messages (ascending offsets, any offset already held is ignored).
  void put(std::vector<ReceivedMessage> messages);
  // Removes finished messages by queue offset. Returns how many of them were still held (a
  // message removed by the timeout scan, or after the queue was dropped, is not held).
  int remove(const std::vector<int64_t>& offsets);
  // The lowest offset still held, or (highest offset ever put + 1) when none is; nullopt before
  // the first put.
  std::optional<int64_t> committable_offset() const;

  // Marks when the listener started on a message (for the consume timeout).
  void mark_consume_start(int64_t offset, int64_t now_ms);
  // Up to `max` held messages, lowest offsets first, whose listener started before
  // now_ms - timeout_ms and has not returned.
  std::vector<ReceivedMessage> expired(int64_t now_ms, int64_t timeout_ms, size_t max) const;

  bool contains(int64_t offset) const;
  size_t message_count() const;
  int64_t message_bytes() const;
  // Highest minus lowest held offset (0 when empty): the span flow control bounds.
  int64_t offset_span() const;

  // Listener calls running on this queue's messages. A consume task enters, then checks
  // dropped(); a drop sets dropped, then waits for running_listeners() == 0: every call that saw
  // the queue still owned has finished (bounded by the drop's wait) before the offset is committed.
  void enter_listener() { running_.fetch_add(1); }
  void leave_listener() { running_.fetch_sub(1); }
  int running_listeners() const { return running_.load(); }

  // A dropped queue is no longer owned: its pull thread stops and late results are ignored.
  void set_dropped() {
    std::lock_guard<std::mutex> lock(mu_);
    dropped_ = true;
  }
  bool dropped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_;
  }

 private:
  struct Entry {
    ReceivedMessage message;
    int64_t consume_start_ms = -1;
  };
  mutable std::mutex mu_;
  std::map<int64_t, Entry> held_;
  int64_t bytes_ = 0;
  int64_t highest_put_ = -1;
  bool dropped_ = false;
  std::atomic<int> running_{0};
};

}  // namespace holdfast::client
