// The broker's JSON configuration files (topics.json, subscriptionGroup.json, ...): loading with
// fallback to the ".bak" copy, atomic persisting that keeps the previous content as ".bak", the
// DataVersion stamp, and lenient field readers for files and bodies written by Java brokers/tools.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "env/env.h"

namespace holdfast::broker {

// RocketMQ's DataVersion: name servers re-read a broker's topics only when it changes.
struct DataVersion {
  int64_t state_version = 0;
  int64_t timestamp = 0;
  int64_t counter = 0;

  // The next version after a change at now_ms.
  void next(int64_t now_ms) {
    timestamp = now_ms;
    ++counter;
  }
  friend bool operator==(const DataVersion&, const DataVersion&) = default;
};

nlohmann::json data_version_json(const DataVersion& version);
// Missing fields keep their zero default.
Result<DataVersion> data_version_from_json(const nlohmann::json& value);

// Compact JSON text (no whitespace, keys in alphabetical order as fastjson writes them). Invalid
// UTF-8 is replaced rather than thrown on.
std::string dump_compact(const nlohmann::json& value);
// Tab-indented JSON, the layout of the files a Java broker writes.
std::string dump_pretty(const nlohmann::json& value);
// Parses JSON text; Corruption with the parser's position on failure. Never throws.
Result<nlohmann::json> parse_json(std::string_view text, std::string_view what);

// Field readers for JSON objects. A missing or null field gives `fallback`. Numbers may also be
// strings holding a decimal integer ("8"), booleans may be "true"/"false": Java tools send both.
// A wrong type or an out-of-range value is InvalidArgument naming the field.
Result<int64_t> int_field(const nlohmann::json& object, std::string_view key, int64_t fallback);
Result<int32_t> int32_field(const nlohmann::json& object, std::string_view key, int32_t fallback);
Result<bool> bool_field(const nlohmann::json& object, std::string_view key, bool fallback);
Result<std::string> string_field(const nlohmann::json& object, std::string_view key, std::string fallback);

// Building blocks for readers more lenient still (bodies where a bad entry is skipped, not an
// error). The member `key` of `object`; nullptr when `object` is not an object, or the member is
// missing or null.
const nlohmann::json* json_member(const nlohmann::json& object, std::string_view key);
// An integer, or a string holding a decimal integer (parse_decimal_int64); nullopt otherwise.
std::optional<int64_t> json_int64(const nlohmann::json& value);

// Which copy load_config_file used.
enum class ConfigSource { kNone, kMain, kBackup };

// Reads `path` and hands its text to `parse`. If the file is missing, or `parse` rejects it,
// `path`.bak is tried the same way. Returns OK without calling `parse` when neither file exists;
// returns the main file's error when it exists but neither copy could be used (a broker must not
// start with an empty table over a damaged file). `parse` must leave its target unchanged unless
// it returns OK. On OK, `*source` (if given) says which copy was parsed.
Status load_config_file(Env* env, const std::string& path,
                        const std::function<Status(const std::string& text)>& parse,
                        ConfigSource* source = nullptr);

// Writes one config file whole, durably and atomically (temp file, sync, rename, directory sync),
// after saving the content it replaces as `path`.bak the same way. It remembers the content it
// last wrote or was told the main file holds (loaded_from_main), so:
//   - a write of that same content is skipped;
//   - only the first write of a process reads the old file back, and keeps it as .bak only when
//     `check` (the loader's parser, without side effects) accepts it: a damaged main file never
//     replaces a good .bak.
// Creates the parent directory when missing. Not thread-safe: its owner serialises writes.
class ConfigFileWriter {
 public:
  ConfigFileWriter(Env* env, std::string path, std::function<Status(const std::string& text)> check)
      : env_(env), path_(std::move(path)), check_(std::move(check)) {}
  // The main file holds `text` (it was just loaded from there).
  void loaded_from_main(std::string text) { current_ = std::move(text); }
  // What the main file holds is not known (it was loaded from .bak, or not at all).
  void forget_contents() { current_.clear(); }
  Status write(const std::string& contents);
  const std::string& path() const { return path_; }

 private:
  Env* const env_;
  const std::string path_;
  const std::function<Status(const std::string& text)> check_;
  std::string current_;  // what the main file holds; "" = unknown
};

// Wraps bare integer object keys in quotes: {0:12,1:40} -> {"0":12,"1":40}, leaving strings
// untouched. In standard JSON a number never sits between '{' or ',' and ':', so only the
// non-standard keys fastjson writes for integer-keyed maps (Java brokers' offset files) change.
std::string quote_bare_integer_keys(std::string_view in);

}  // namespace holdfast::broker
