// HistoryLog: a mutex-guarded vector plus an optional line-flushed stream.
#include "drill/history_log.h"

#include <cerrno>

namespace holdfast::drill {

HistoryLog::HistoryLog() : start_(std::chrono::steady_clock::now()) {}

Result<std::unique_ptr<HistoryLog>> HistoryLog::open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return Status::from_errno("cannot create history " + path, errno);
  auto log = std::make_unique<HistoryLog>();
  log->file_ = file;
  log->path_ = path;
  return log;
}

HistoryLog::~HistoryLog() { (void)close(); }

int64_t HistoryLog::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_).count();
}

int64_t HistoryLog::append(Event e) {
  std::lock_guard lock(mu_);
  // Stamped under the lock, so the stream's lines are in time order.
  e.t = now_ms();
  const int64_t t = e.t;
  append_locked(std::move(e));
  return t;
}

void HistoryLog::append_with_time(Event e) {
  std::lock_guard lock(mu_);
  append_locked(std::move(e));
}

void HistoryLog::append_locked(Event e) {
  if (file_ != nullptr && stream_status_.is_ok()) {
    const std::string line = to_json_line(e) + "\n";
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
      stream_status_ = Status::from_errno("cannot write history " + path_, errno);
    }
  }
  events_.push_back(std::move(e));
}

std::vector<Event> HistoryLog::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

size_t HistoryLog::size() const {
  std::lock_guard lock(mu_);
  return events_.size();
}

Status HistoryLog::stream_status() const {
  std::lock_guard lock(mu_);
  return stream_status_;
}

Status HistoryLog::close() {
  std::lock_guard lock(mu_);
  if (file_ != nullptr) {
    if (std::fclose(file_) != 0 && stream_status_.is_ok()) {
      stream_status_ = Status::from_errno("cannot close history " + path_, errno);
    }
    file_ = nullptr;
  }
  return stream_status_;
}

}  // namespace holdfast::drill
