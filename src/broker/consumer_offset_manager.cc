// Consumer offsets: the table, its file format (with fastjson's unquoted integer keys) and the
// periodic persist thread.
#include "broker/consumer_offset_manager.h"

#include <chrono>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "broker/config_file.h"
#include "remoting/remoting_command.h"

namespace holdfast::broker {

namespace {


}  // namespace

ConsumerOffsetManager::ConsumerOffsetManager(Env* env, std::string path)
    : env_(env), path_(std::move(path)), file_(env_, path_, [](const std::string& text) { return decode(text).status(); }) {}

ConsumerOffsetManager::~ConsumerOffsetManager() {
  if (thread_.joinable()) {
    Status st = stop();
    if (!st.is_ok()) logger("broker")->error("consumer offsets: final persist failed: {}", st.to_string());
  }
}

Result<ConsumerOffsetManager::Table> ConsumerOffsetManager::decode(const std::string& text) {
  const std::string normalized = quote_bare_integer_keys(text);
  nlohmann::json root = nlohmann::json::parse(normalized, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return Status::corruption("not a JSON object");
  Table table;
  auto it = root.find("offsetTable");
  if (it == root.end() || it->is_null()) return table;
  if (!it->is_object()) return Status::corruption("offsetTable is not an object");
  for (const auto& [key, queues] : it->items()) {
    const size_t at = key.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == key.size() || !queues.is_object()) {
      logger("broker")->warn("consumer offsets: skipping malformed entry '{}'", key);
      continue;
    }
    auto& row = table[Key(key.substr(0, at), key.substr(at + 1))];
    for (const auto& [queue_text, offset_value] : queues.items()) {
      auto queue_id = remoting::parse_decimal_int64(queue_text);
      const std::optional<int64_t> offset = json_int64(offset_value);
      if (!queue_id || *queue_id < 0 || *queue_id > std::numeric_limits<int32_t>::max() || !offset) {
        logger("broker")->warn("consumer offsets: skipping malformed queue entry {} in '{}'", queue_text, key);
        continue;
      }
      row[static_cast<int32_t>(*queue_id)] = *offset;
    }
  }
  return table;
}

std::string ConsumerOffsetManager::encode() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "{\"offsetTable\":{";
  bool first_row = true;
  for (const auto& [key, row] : table_) {
    out += first_row ? "\n\t" : ",\n\t";
    first_row = false;
    out += nlohmann::json(key.first + "@" + key.second).dump();
    out += ":{";
    bool first = true;
    for (const auto& [queue_id, offset] : row) {
      if (!first) out += ",";
      first = false;
      out += std::to_string(queue_id);
      out += ":";
      out += std::to_string(offset);
    }
    out += "}";
  }
  out += first_row ? "}}" : "\n}}";
  out += "\n";
  return out;
}

Status ConsumerOffsetManager::load() {
  Table loaded;
  std::string loaded_text;
  ConfigSource source = ConfigSource::kNone;
  Status st = load_config_file(
      env_, path_,
      [&](const std::string& text) -> Status {
        HF_ASSIGN_OR_RETURN(loaded, decode(text));
        loaded_text = text;
        return Status::ok();
      },
      &source);
  if (!st.is_ok() || source == ConfigSource::kNone) {
    std::lock_guard<std::mutex> lock(mu_);
    table_.clear();
    return st;  // OK when neither file exists
  }
  std::lock_guard<std::mutex> pl(persist_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  table_ = std::move(loaded);
  if (source == ConfigSource::kMain) {
    file_.loaded_from_main(std::move(loaded_text));
  } else {
    file_.forget_contents();  // the main file does not hold this content
    logger("broker")->warn("consumer offsets: loaded from {}.bak", path_);
  }
  return Status::ok();
}

Status ConsumerOffsetManager::persist() {
  std::lock_guard<std::mutex> pl(persist_mu_);
  return file_.write(encode());  // skipped when the file already holds this table
}

void ConsumerOffsetManager::start(int64_t interval_ms) {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable()) return;
  stop_requested_ = false;
  thread_ = std::thread([this, interval_ms] { persist_loop(interval_ms); });
}

Status ConsumerOffsetManager::stop() {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stop_requested_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  return persist();
}

void ConsumerOffsetManager::persist_loop(int64_t interval_ms) {
  std::unique_lock<std::mutex> lock(thread_mu_);
  while (!stop_requested_) {
    thread_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [this] { return stop_requested_; });
    if (stop_requested_) break;
    lock.unlock();
    Status st = persist();
    if (!st.is_ok()) logger("broker")->error("consumer offsets: persist to {} failed: {}", path_, st.to_string());
    lock.lock();
  }
}

void ConsumerOffsetManager::commit(const std::string& group, const std::string& topic, int32_t queue_id,
                                   int64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  table_[Key(topic, group)][queue_id] = offset;
  if (track_local_) local_commits_[Key(topic, group)][queue_id] = offset;
}

Status ConsumerOffsetManager::merge_from_master(const std::string& text) {
  HF_ASSIGN_OR_RETURN(Table master, decode(text));
  std::lock_guard<std::mutex> lock(mu_);
  track_local_ = true;
  for (auto& [key, queues] : master) {
    auto local_row = local_commits_.find(key);
    for (auto& [queue, offset] : queues) {
      int64_t value = offset;
      if (local_row != local_commits_.end()) {
        auto local = local_row->second.find(queue);
        if (local != local_row->second.end()) {
          if (local->second > offset) {
            value = local->second;
          } else {
            local_row->second.erase(local);  // the master has caught up with this commit
          }
        }
      }
      table_[key][queue] = value;
    }
    if (local_row != local_commits_.end() && local_row->second.empty()) local_commits_.erase(local_row);
  }
  return Status::ok();
}

std::optional<int64_t> ConsumerOffsetManager::query(const std::string& group, const std::string& topic,
                                                    int32_t queue_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto row = table_.find(Key(topic, group));
  if (row == table_.end()) return std::nullopt;
  auto it = row->second.find(queue_id);
  if (it == row->second.end()) return std::nullopt;
  return it->second;
}

std::map<int32_t, int64_t> ConsumerOffsetManager::offsets(const std::string& group, const std::string& topic) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto row = table_.find(Key(topic, group));
  return row == table_.end() ? std::map<int32_t, int64_t>{} : row->second;
}

std::set<std::string> ConsumerOffsetManager::topics_of_group(const std::string& group) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;
  for (const auto& [key, row] : table_) {
    if (key.second == group) out.insert(key.first);
  }
  return out;
}

std::set<std::string> ConsumerOffsetManager::groups_of_topic(const std::string& topic) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;
  for (auto it = table_.lower_bound(Key(topic, "")); it != table_.end() && it->first.first == topic; ++it) {
    out.insert(it->first.second);
  }
  return out;
}

void ConsumerOffsetManager::remove_topic(const std::string& topic) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = table_.lower_bound(Key(topic, ""));
  while (it != table_.end() && it->first.first == topic) it = table_.erase(it);
}

void ConsumerOffsetManager::remove_group(const std::string& group) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(table_, [&](const auto& entry) { return entry.first.second == group; });
}

}  // namespace holdfast::broker
