// PersistedTable: a name -> config table kept whole in one JSON file in RocketMQ's wrapper layout
// ({"dataVersion":{..},"<table key>":{name: config}}), with the DataVersion bumped on every
// change. TopicConfigManager and SubscriptionGroupManager are built on it.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "base/status.h"
#include "broker/config_file.h"
#include "env/env.h"

namespace holdfast::broker {

// Owned by one manager; thread-safe (one mutex around the table and version; the file is written
// under it so persisted versions never go backwards). A change that returns OK has bumped the
// version and persisted the whole table; a change that fails leaves table and version as they
// were. The change listener runs after each successful change, outside the mutex.
template <typename Config>
class PersistedTable {
 public:
  struct Schema {
    std::string_view table_key;   // "topicConfigTable": the wrapper's member holding the table
    std::string_view file_what;   // "topic config file": parse errors and log lines
    std::string_view noun;        // "topic": NotFound messages and log lines
    std::string_view entry_noun;  // "topic": names the damaged entry in load errors
    std::string Config::*name;    // the field that holds the table key
    nlohmann::json (*to_json)(const Config&);
    Result<Config> (*from_json)(const nlohmann::json& value, std::string_view key_name);
  };

  // Exclusive access for a compound change, handed out by with_lock.
  class Locked {
   public:
    const Config* find(const std::string& name) const {
      auto it = table_.entries_.find(name);
      return it == table_.entries_.end() ? nullptr : &it->second;
    }
    // Inserts or replaces `config` and commits it.
    Status put(Config config) {
      const std::string name = config.*(table_.schema_.name);
      std::optional<Config> previous;
      if (const Config* c = find(name)) previous = *c;
      table_.entries_[name] = std::move(config);
      return commit(name, previous);
    }
    // NotFound when absent.
    Status erase(const std::string& name) {
      auto it = table_.entries_.find(name);
      if (it == table_.entries_.end()) {
        return Status::not_found(std::string(table_.schema_.noun) + " " + name + " does not exist on this broker");
      }
      std::optional<Config> previous = std::move(it->second);
      table_.entries_.erase(it);
      return commit(name, previous);
    }
    // Adds `config` in memory only, unless its name is taken (defaults the broker always has).
    void add_unpersisted(Config config) {
      std::string name = config.*(table_.schema_.name);
      table_.entries_.try_emplace(std::move(name), std::move(config));
    }
    size_t size() const { return table_.entries_.size(); }

   private:
    friend class PersistedTable;
    explicit Locked(PersistedTable& table) : table_(table) {}

    // Bumps the version and persists; on failure restores `previous` for `name` and the version.
    Status commit(const std::string& name, const std::optional<Config>& previous) {
      const DataVersion old_version = table_.version_;
      table_.version_.next(table_.env_->now_ms());
      Status st = table_.file_.write(dump_pretty(table_.wrapper_locked()));
      if (st.is_ok()) {
        changed_ = true;
        return st;
      }
      table_.version_ = old_version;
      if (previous) {
        table_.entries_[name] = *previous;
      } else {
        table_.entries_.erase(name);
      }
      logger("broker")->error("{} not persisted to {}: {}", table_.schema_.file_what, table_.path_, st.to_string());
      return st;
    }

    PersistedTable& table_;
    bool changed_ = false;
  };

  PersistedTable(Env* env, std::string path, Schema schema)
      : env_(env),
        path_(std::move(path)),
        schema_(schema),
        file_(env_, path_, [this](const std::string& text) {
          std::map<std::string, Config> ignored;
          DataVersion v;
          return parse(text, &ignored, &v);
        }) {
    version_.timestamp = env_->now_ms();
  }

  // Replaces table and version with the file's (or its .bak's; see load_config_file), then runs
  // `then` under the same lock. No file: an empty table, the version kept. Unchanged on error.
  Status load(const std::function<void(Locked&)>& then = nullptr) {
    std::map<std::string, Config> loaded;
    std::optional<DataVersion> loaded_version;
    std::string loaded_text;
    ConfigSource source = ConfigSource::kNone;
    HF_RETURN_IF_ERROR(load_config_file(
        env_, path_,
        [&](const std::string& text) -> Status {
          DataVersion v;
          HF_RETURN_IF_ERROR(parse(text, &loaded, &v));
          loaded_version = v;
          loaded_text = text;
          return Status::ok();
        },
        &source));
    std::lock_guard<std::mutex> lock(mu_);
    if (source == ConfigSource::kMain) {
      file_.loaded_from_main(std::move(loaded_text));
    } else {
      file_.forget_contents();
    }
    entries_ = std::move(loaded);
    if (loaded_version) version_ = *loaded_version;
    if (then) {
      Locked locked(*this);
      then(locked);
    }
    return Status::ok();
  }

  // A slave's copy of its master's table (wrapper text as GET_ALL_*_CONFIG returns it): when the
  // master's data version differs from this table's, entries and version become the master's and
  // are persisted, then `then` runs under the lock (adds built-in defaults); returns whether
  // anything changed. Unchanged on error.
  Result<bool> replace_from(const std::string& text, const std::function<void(Locked&)>& then = nullptr) {
    std::map<std::string, Config> table;
    DataVersion v;
    HF_RETURN_IF_ERROR(parse(text, &table, &v));
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (v == version_) return false;
      std::map<std::string, Config> old_entries = std::move(entries_);
      const DataVersion old_version = version_;
      entries_ = std::move(table);
      version_ = v;
      if (then) {
        Locked locked(*this);
        then(locked);
      }
      Status st = file_.write(dump_pretty(wrapper_locked()));
      if (!st.is_ok()) {
        entries_ = std::move(old_entries);
        version_ = old_version;
        return st;
      }
      changed = true;
    }
    notify_changed();
    return changed;
  }

  // The file's text -> entries and version; *table and *version are written only on OK.
  Status parse(const std::string& text, std::map<std::string, Config>* table_out, DataVersion* version) const {
    HF_ASSIGN_OR_RETURN(nlohmann::json doc, parse_json(text, schema_.file_what));
    if (!doc.is_object()) return Status::corruption(std::string(schema_.file_what) + " is not a JSON object");
    std::map<std::string, Config> table;
    auto it = doc.find(std::string(schema_.table_key));
    if (it != doc.end() && !it->is_null()) {
      if (!it->is_object()) return Status::corruption(std::string(schema_.table_key) + " is not an object");
      for (const auto& [name, value] : it->items()) {
        auto c = schema_.from_json(value, name);
        if (!c.is_ok()) {
          return Status::corruption(std::string(schema_.entry_noun) + " " + name + ": " + c.status().message());
        }
        table[name] = std::move(c).value();
        table[name].*(schema_.name) = name;  // the key is authoritative
      }
    }
    DataVersion v;
    if (auto dv = doc.find("dataVersion"); dv != doc.end()) {
      auto parsed = data_version_from_json(*dv);
      if (!parsed.is_ok()) return Status::corruption(parsed.status().message());
      v = *parsed;
    }
    *table_out = std::move(table);
    *version = v;
    return Status::ok();
  }

  // Runs fn(Locked&) under the mutex and returns its result; if fn committed a change, the change
  // listener runs after the mutex is released.
  template <typename Fn>
  std::invoke_result_t<Fn&, Locked&> with_lock(Fn&& fn) {
    bool changed = false;
    std::optional<std::invoke_result_t<Fn&, Locked&>> result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Locked locked(*this);
      result.emplace(fn(locked));
      changed = locked.changed_;
    }
    if (changed) notify_changed();
    return std::move(*result);
  }

  // Creates or replaces `config` (the caller validates it first).
  Status update(Config config) {
    const std::string name = config.*(schema_.name);
    return with_lock([&](Locked& table) -> Status {
      const bool existed = table.find(name) != nullptr;
      HF_RETURN_IF_ERROR(table.put(std::move(config)));
      logger("broker")->info("{} {} {}", schema_.noun, name, existed ? "updated" : "created");
      return Status::ok();
    });
  }

  // NotFound when absent.
  Status remove(const std::string& name) {
    return with_lock([&](Locked& table) -> Status {
      HF_RETURN_IF_ERROR(table.erase(name));
      logger("broker")->info("{} {} deleted", schema_.noun, name);
      return Status::ok();
    });
  }

  std::optional<Config> find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<Config> all() const {  // sorted by name
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Config> out;
    out.reserve(entries_.size());
    for (const auto& [name, c] : entries_) out.push_back(c);
    return out;
  }

  DataVersion data_version() const {
    std::lock_guard<std::mutex> lock(mu_);
    return version_;
  }

  // {"dataVersion":{..},"<table key>":{name: config}}: the file's content and the wire body.
  nlohmann::json wrapper_json() const {
    std::lock_guard<std::mutex> lock(mu_);
    return wrapper_locked();
  }

  void set_change_listener(std::function<void()> listener) {
    std::lock_guard<std::mutex> lock(listener_mu_);
    listener_ = std::move(listener);
  }

  const std::string& path() const { return path_; }

 private:
  nlohmann::json wrapper_locked() const {
    nlohmann::json table = nlohmann::json::object();
    for (const auto& [name, c] : entries_) table[name] = schema_.to_json(c);
    return nlohmann::json{{"dataVersion", data_version_json(version_)}, {std::string(schema_.table_key), std::move(table)}};
  }

  void notify_changed() {
    std::function<void()> listener;
    {
      std::lock_guard<std::mutex> lock(listener_mu_);
      listener = listener_;
    }
    if (listener) listener();
  }

  Env* const env_;
  const std::string path_;
  const Schema schema_;
  mutable std::mutex mu_;  // entries_, version_, file_ (written under it, so versions never go back)
  ConfigFileWriter file_;
  std::map<std::string, Config> entries_;
  DataVersion version_;
  std::mutex listener_mu_;
  std::function<void()> listener_;
};

}  // namespace holdfast::broker
