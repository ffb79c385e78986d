// OffsetStore: the remote (broker) and local-file offset stores.
#include "client/offset_store.h"

#include "env/env.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "remoting/response_code.h"

namespace holdfast::client {

void OffsetStore::update(const MessageQueue& queue, int64_t offset, bool allow_backwards) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = offsets_.emplace(queue, offset);
  if (!inserted && (allow_backwards || offset > it->second)) it->second = offset;
}

std::optional<int64_t> OffsetStore::cached(const MessageQueue& queue) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = offsets_.find(queue);
  if (it == offsets_.end()) return std::nullopt;
  return it->second;
}

void OffsetStore::forget(const MessageQueue& queue) {
  std::lock_guard<std::mutex> lock(mu_);
  offsets_.erase(queue);
}

// --- remote ---

Outcome<std::optional<int64_t>> RemoteOffsetStore::read(const MessageQueue& queue) {
  auto offset = query_(queue);
  if (!offset.ok()) {
    if (offset.error().code == ErrorCode::kBroker &&
        offset.error().response_code == remoting::response_code::kQueryNotFound) {
      return std::optional<int64_t>();
    }
    return offset.error();
  }
  return std::optional<int64_t>(*offset);
}

void RemoteOffsetStore::persist(const MessageQueue& queue) {
  int64_t offset;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = offsets_.find(queue);
    if (it == offsets_.end()) return;
    offset = it->second;
  }
  auto done = commit_(queue, offset);
  if (!done.ok()) {
    logger("client")->warn("commit offset {} of {} failed: {}", offset, queue.to_string(), done.error().to_string());
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  persisted_[queue] = offset;
}

void RemoteOffsetStore::persist_all() {
  std::map<MessageQueue, int64_t> dirty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [q, o] : offsets_) {
      auto it = persisted_.find(q);
      if (it == persisted_.end() || it->second != o) dirty.emplace(q, o);
    }
  }
  for (const auto& [q, o] : dirty) persist(q);
}

// --- local file ---

Status LocalFileOffsetStore::load() {
  std::ifstream in(path_);
  if (!in) {
    if (!std::filesystem::exists(path_)) return Status::ok();
    return Status::io_error("cannot open " + path_);
  }
  std::stringstream text;
  text << in.rdbuf();
  auto json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("offsetTable") || !json["offsetTable"].is_array()) {
    return Status::corruption("offsets file " + path_ + " is not an offset table");
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : json["offsetTable"]) {
    if (!e.is_object() || !e.contains("topic") || !e.contains("brokerName") || !e.contains("queueId") ||
        !e.contains("offset") || !e["topic"].is_string() || !e["brokerName"].is_string() ||
        !e["queueId"].is_number_integer() || !e["offset"].is_number_integer()) {
      return Status::corruption("offsets file " + path_ + " has a malformed entry: " + e.dump());
    }
    MessageQueue q{e["topic"].get<std::string>(), e["brokerName"].get<std::string>(), e["queueId"].get<int32_t>()};
    offsets_[q] = e["offset"].get<int64_t>();
  }
  return Status::ok();
}

Outcome<std::optional<int64_t>> LocalFileOffsetStore::read(const MessageQueue& queue) {
  return cached(queue);
}

void LocalFileOffsetStore::persist_all() {
  Status st = write_file();
  if (!st.is_ok()) logger("client")->warn("writing offsets file failed: {}", st.to_string());
}

Status LocalFileOffsetStore::write_file() {
  nlohmann::json table = nlohmann::json::array();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [q, o] : offsets_) {
      table.push_back({{"topic", q.topic}, {"brokerName", q.broker_name}, {"queueId", q.queue_id}, {"offset", o}});
    }
  }
  const std::string text = nlohmann::json{{"offsetTable", table}}.dump(1);
  std::lock_guard<std::mutex> file_lock(file_mu_);
  const std::filesystem::path path(path_);
  const std::string dir = path.has_parent_path() ? path.parent_path().string() : std::string(".");
  // Temp file, fsync, rename, directory fsync: the Env's one implementation (FaultEnv-testable).
  HF_RETURN_IF_ERROR(Env::posix()->create_dirs(dir));
  HF_RETURN_IF_ERROR(write_file_atomically(Env::posix(), path_, text));
  return Status::ok();
}

}  // namespace holdfast::client
