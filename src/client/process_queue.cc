// ProcessQueue: offset bookkeeping for one pulled queue (facts §10.2).
#include "client/process_queue.h"

namespace holdfast::client {

void ProcessQueue::put(std::vector<ReceivedMessage> messages) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& m : messages) {
    const int64_t offset = m.queue_offset;
    if (offset > highest_put_) highest_put_ = offset;
    const int64_t size = static_cast<int64_t>(m.body.size());
    if (held_.emplace(offset, Entry{std::move(m), -1}).second) bytes_ += size;
  }
}

int ProcessQueue::remove(const std::vector<int64_t>& offsets) {
  std::lock_guard<std::mutex> lock(mu_);
  int removed = 0;
  for (int64_t offset : offsets) {
    auto it = held_.find(offset);
    if (it == held_.end()) continue;
    bytes_ -= static_cast<int64_t>(it->second.message.body.size());
    held_.erase(it);
    ++removed;
  }
  return removed;
}

std::optional<int64_t> ProcessQueue::committable_offset() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!held_.empty()) return held_.begin()->first;
  if (highest_put_ < 0) return std::nullopt;
  return highest_put_ + 1;
}

void ProcessQueue::mark_consume_start(int64_t offset, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(offset);
  if (it != held_.end()) it->second.consume_start_ms = now_ms;
}

std::vector<ReceivedMessage> ProcessQueue::expired(int64_t now_ms, int64_t timeout_ms, size_t max) const {
  std::vector<ReceivedMessage> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [offset, entry] : held_) {
    if (out.size() >= max) break;
    if (entry.consume_start_ms >= 0 && now_ms - entry.consume_start_ms > timeout_ms) out.push_back(entry.message);
  }
  return out;
}

bool ProcessQueue::contains(int64_t offset) const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.count(offset) > 0;
}

size_t ProcessQueue::message_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_.size();
}

int64_t ProcessQueue::message_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

int64_t ProcessQueue::offset_span() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (held_.empty()) return 0;
  return held_.rbegin()->first - held_.begin()->first;
}

}  // namespace holdfast::client
