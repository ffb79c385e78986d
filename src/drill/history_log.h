// HistoryLog: the drill runner's recorder of a history (history.h) while the drill runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "drill/history.h"

namespace holdfast::drill {

// Owned by the runner; producers, consumers and the fault injector append from their own threads
// (every method is thread-safe). Times come from a steady clock that starts at construction.
// When streaming to a file, append() has written and flushed the event's line to the operating
// system before it returns, so a runner that dies mid-drill leaves every appended event on disk
// (not fsynced: the drill host is not the machine under test). Lines in the file appear in append
// order, which for stamped events is also time order.
class HistoryLog {
 public:
  // Keeps the history in memory only.
  HistoryLog();
  // Also streams every event to `path` (created or truncated).
  static Result<std::unique_ptr<HistoryLog>> open(const std::string& path);
  ~HistoryLog();
  HistoryLog(const HistoryLog&) = delete;
  HistoryLog& operator=(const HistoryLog&) = delete;

  // Milliseconds since construction.
  int64_t now_ms() const;
  // Sets e.t to now_ms() and appends; returns that time.
  int64_t append(Event e);
  // Appends e with the e.t the caller set (events timed elsewhere, replayed histories).
  void append_with_time(Event e);

  // A copy of every event appended so far, in append order.
  std::vector<Event> events() const;
  size_t size() const;
  // OK, or the first error writing the stream; once set it stays (later lines are not written,
  // the in-memory history still grows).
  Status stream_status() const;
  // Flushes and closes the stream; later appends stay in memory. Returns stream_status().
  Status close();

 private:
  void append_locked(Event e);

  const std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;
  std::vector<Event> events_;
  std::FILE* file_ = nullptr;
  std::string path_;
  Status stream_status_;
};

}  // namespace holdfast::drill
