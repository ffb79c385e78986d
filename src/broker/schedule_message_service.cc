// ScheduleMessageService and the delay transform (facts §8.2).
#include "broker/schedule_message_service.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "broker/config_file.h"
#include "storage/message_format.h"

namespace holdfast::broker {

namespace {
constexpr int kReadBatch = 32;

std::optional<int32_t> parse_queue_id(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}
}  // namespace

bool park_delayed_message(MessageToStore* msg, MessageProperties* properties, int32_t level_count) {
  int32_t level = parse_delay_level(properties->get("DELAY"));
  if (level <= 0 || level_count <= 0) return false;
  const int32_t tt = msg->sys_flag & format::kTransactionTypeMask;
  if (tt != format::kTransactionNotType && tt != format::kTransactionCommit) return false;
  level = std::min(level, level_count);
  properties->set("DELAY", std::to_string(level));
  properties->set("REAL_TOPIC", msg->topic);
  properties->set("REAL_QID", std::to_string(msg->queue_id));
  msg->topic = std::string(kScheduleTopicName);
  msg->queue_id = level - 1;
  return true;
}

ScheduleMessageService::ScheduleMessageService(Env* env, MessageStore* store, ScheduleMessageServiceOptions options)
    : env_(env),
      store_(store),
      options_(std::move(options)),
      file_(env_, options_.offset_path, [](const std::string& text) { return decode(text).status(); }) {
  for (int32_t level = 1; level <= static_cast<int32_t>(options_.delay_level_ms.size()); ++level) {
    levels_[level] = Level{};
  }
}

ScheduleMessageService::~ScheduleMessageService() { (void)stop(); }

Result<std::map<int32_t, int64_t>> ScheduleMessageService::decode(const std::string& text) {
  // A Java broker writes the integer map keys unquoted ({1:5}).
  HF_ASSIGN_OR_RETURN(nlohmann::json root, parse_json(quote_bare_integer_keys(text), "delayOffset.json"));
  const nlohmann::json* table = json_member(root, "offsetTable");
  std::map<int32_t, int64_t> loaded;
  if (table != nullptr && table->is_object()) {
    for (const auto& [key, value] : table->items()) {
      auto level = parse_queue_id(key);
      auto offset = json_int64(value);
      if (!level || *level < 1 || !offset || *offset < 0) {
        return Status::corruption("delayOffset.json: bad entry '" + key + "'");
      }
      loaded[*level] = *offset;
    }
  }
  return loaded;
}

Status ScheduleMessageService::load() {
  std::string loaded_text;
  ConfigSource source = ConfigSource::kNone;
  HF_RETURN_IF_ERROR(load_config_file(
      env_, options_.offset_path,
      [&](const std::string& text) -> Status {
        HF_ASSIGN_OR_RETURN(auto loaded, decode(text));
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& [level, offset] : loaded) levels_[level].offset = offset;
        loaded_text = text;
        return Status::ok();
      },
      &source));
  std::lock_guard<std::mutex> lock(persist_mu_);
  if (source == ConfigSource::kMain) file_.loaded_from_main(std::move(loaded_text));
  return Status::ok();
}

Status ScheduleMessageService::replace_from_master(const std::string& text) {
  HF_ASSIGN_OR_RETURN(auto loaded, decode(text));
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [level, offset] : loaded) levels_[level].offset = offset;
  }
  return persist();
}

int64_t ScheduleMessageService::offset_of(int32_t level) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = levels_.find(level);
  return it == levels_.end() ? 0 : it->second.offset;
}

int64_t ScheduleMessageService::next_due_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_due_;
}

std::string ScheduleMessageService::encode() const {
  nlohmann::json offsets = nlohmann::json::object();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [level, state] : levels_) offsets[std::to_string(level)] = state.offset;
  }
  return dump_pretty(nlohmann::json{{"offsetTable", offsets}});
}

Status ScheduleMessageService::persist() {
  const std::string text = encode();
  std::lock_guard<std::mutex> lock(persist_mu_);
  return file_.write(text);  // skipped when unchanged
}

int ScheduleMessageService::run_once() {
  std::lock_guard<std::mutex> run(run_mu_);
  const int64_t now = env_->now_ms();
  std::vector<int32_t> levels;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [level, state] : levels_) {
      if (state.retry_after_ms <= now) levels.push_back(level);
    }
  }
  int delivered = 0;
  int64_t next_due = 0;
  for (int32_t level : levels) delivered += deliver_level(level, now, &next_due);
  std::lock_guard<std::mutex> lock(mu_);
  next_due_ = next_due;
  return delivered;
}

int ScheduleMessageService::deliver_level(int32_t level, int64_t now, int64_t* next_due) {
  auto log = logger("broker");
  const std::string topic(kScheduleTopicName);
  const int32_t queue_id = level - 1;
  auto set_offset = [&](int64_t offset) {
    std::lock_guard<std::mutex> lock(mu_);
    levels_[level].offset = offset;
  };
  int delivered = 0;
  for (;;) {
    const int64_t offset = offset_of(level);
    GetResult got = store_->get_messages(topic, queue_id, offset, kReadBatch);
    if (got.status == GetStatus::kOffsetTooSmall || got.status == GetStatus::kMessageWasRemoving ||
        got.status == GetStatus::kOffsetOverflowBadly) {
      // Retention removed what the level had not delivered yet, or the queue is shorter than the
      // saved progress: continue from what the queue holds.
      const int64_t to = got.status == GetStatus::kOffsetOverflowBadly ? got.max_offset
                                                                       : std::max(got.next_begin_offset, got.min_offset);
      if (to == offset) return delivered;
      log->warn("delay level {}: progress {} outside the queue [{}, {}] ({}); moving to {}", level, offset,
                got.min_offset, got.max_offset, get_status_name(got.status), to);
      set_offset(to);
      continue;
    }
    if (got.status != GetStatus::kFound || got.records.empty()) return delivered;
    for (size_t i = 0; i < got.records.size(); ++i) {
      const std::string& bytes = got.records[i];
      RecordView r;
      DecodeResult d = decode_record(bytes.data(), bytes.size(), /*check_crc=*/true, &r);
      if (d.outcome != DecodeOutcome::kRecord) {
        log->error("delay level {}: unreadable record at queue offset {} ({}); skipped", level,
                   got.queue_offsets[i], d.reason);
        set_offset(got.queue_offsets[i] + 1);
        continue;
      }
      const int64_t due = schedule_due_time(r, options_.delay_level_ms);
      if (due > now) {
        if (*next_due == 0 || due < *next_due) *next_due = due;
        return delivered;
      }
      const std::string_view real_topic = find_property(r.properties, "REAL_TOPIC");
      const auto real_queue = parse_queue_id(find_property(r.properties, "REAL_QID"));
      if (real_topic.empty() || !real_queue) {
        log->error("delay level {}: record at queue offset {} has no REAL_TOPIC/REAL_QID; skipped", level,
                   got.queue_offsets[i]);
        set_offset(got.queue_offsets[i] + 1);
        continue;
      }
      MessageToStore m = message_from_record(r);
      m.topic.assign(real_topic);
      m.queue_id = *real_queue;
      MessageProperties properties(r.properties);
      properties.erase("DELAY");
      // WAIT=false would let the put answer before the copy is durable; the level's progress
      // must only move past a message whose copy is.
      properties.erase("WAIT");
      m.properties = properties.encode();
      PutResult put = store_->put(std::move(m));
      if (put.status != PutStatus::kOk) {
        log->warn("delay level {}: re-putting the message at queue offset {} into {}: {} {}; retrying in {} ms",
                  level, got.queue_offsets[i], real_topic, put_status_name(put.status), put.remark,
                  options_.retry_backoff_ms);
        std::lock_guard<std::mutex> lock(mu_);
        levels_[level].retry_after_ms = now + options_.retry_backoff_ms;
        return delivered;
      }
      set_offset(got.queue_offsets[i] + 1);
      ++delivered;
    }
  }
}

void ScheduleMessageService::start() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { loop(); });
}

void ScheduleMessageService::loop() {
  auto log = logger("broker");
  int64_t last_persist_us = env_->now_micros_monotonic();
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_) {
    lock.unlock();
    run_once();
    const int64_t now_us = env_->now_micros_monotonic();
    if (now_us - last_persist_us >= options_.persist_interval_ms * 1000) {
      Status st = persist();
      if (!st.is_ok()) log->error("persisting {}: {}", options_.offset_path, st.to_string());
      last_persist_us = now_us;
    }
    lock.lock();
    stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_interval_ms), [this] { return stop_; });
  }
}

Status ScheduleMessageService::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stop_) return Status::ok();
    stop_ = true;
    stop_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  return persist();
}

}  // namespace holdfast::broker
