// OffsetStore: the remote (broker) and local-file offset stores.
#include "client/offset_store.h"

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

namespace {
Status errno_status(const std::string& what) { return Status::io_error(what + ": " + std::strerror(errno)); }
}  // namespace

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
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io_error("cannot create " + dir.string() + ": " + ec.message());
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("open " + tmp);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = errno_status("write " + tmp);
      ::close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status st = errno_status("fsync " + tmp);
    ::close(fd);
    return st;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return errno_status("rename " + tmp);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno_status("open " + dir.string());
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return errno_status("fsync " + dir.string());
  return Status::ok();
}

}  // namespace holdfast::client
