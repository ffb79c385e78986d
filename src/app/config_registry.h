// ConfigRegistry: the typed, documented list of configuration keys (RocketMQ's names) of one
// binary. It parses broker.conf `key=value` text and command-line overrides into plain structs, and
// renders --help, docs/config.md and the effective config for the start-up log (STYLE §7).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "base/check.h"
#include "base/status.h"

namespace holdfast {

class Env;

enum class ConfigType { kBool, kInt32, kInt64, kDouble, kString, kEnum };

// "bool", "int32", "int64", "double", "string", "enum".
const char* config_type_name(ConfigType type);

// A value that passed its type and bounds checks: bool, any integer type (as int64_t), double,
// string and enum (the value's name). This is what checks and setters receive.
using ConfigValue = std::variant<bool, int64_t, double, std::string>;

// One key. Created by ConfigRegistry::add_*, which also writes the default into the bound field;
// the with_* calls refine it during registration.
struct ConfigEntry {
  std::string key;    // RocketMQ's key, spelled exactly as RocketMQ spells it
  ConfigType type = ConfigType::kString;
  std::string group;  // a section of --help and a table of docs/config.md
  std::string doc;    // one line
  // The default as documented. Equal to the applied default except for computed defaults
  // (hostname, $HOME), whose documented form must not depend on the machine that renders docs.
  std::string default_text;
  bool default_is_description = false;  // default_text describes a value ("host name")
  std::optional<int64_t> min_int, max_int;     // kInt32 / kInt64; absent = the type's limit
  std::optional<double> min_real, max_real;    // kDouble
  std::vector<std::string> allowed;            // kEnum, in documentation order
  // An extra rule beyond type and bounds. `check` returns "" when the value is fine, else what is
  // wrong phrased to follow the key ("must be a multiple of 20"); `rule_doc` shows it in docs.
  std::string rule_doc;
  std::function<std::string(const ConfigValue&)> check;
  // kString only: rewrites the trimmed text before check and set (e.g. expanding "~/").
  std::function<std::string(std::string)> normalize;
  std::function<void(const ConfigValue&)> set;  // writes into the bound struct field
  std::function<std::string()> get;             // the bound field's current value as text

  ConfigEntry& with_rule(std::string rule_doc, std::function<std::string(const ConfigValue&)> check);
  ConfigEntry& with_documented_default(std::string text);
  ConfigEntry& with_normalize(std::function<std::string(std::string)> normalize);

  // "an integer between 1 and 65535", "one of SYNC_FLUSH, ASYNC_FLUSH", ... (for messages).
  std::string expectation() const;
  // "1 .. 65535", ">= 0", "`SYNC_FLUSH`, `ASYNC_FLUSH`", plus rule_doc (for docs and --help).
  std::string range_text() const;
};

// Owned by the composition root of one binary, used on its start-up thread only. Entries bind
// pointers to the fields of plain option structs that must outlive the registry; subsystems
// receive those structs, never the registry. Errors come back as Status; nothing throws.
class ConfigRegistry {
 public:
  ConfigRegistry() = default;
  ConfigRegistry(const ConfigRegistry&) = delete;  // entries point into caller-owned structs
  ConfigRegistry& operator=(const ConfigRegistry&) = delete;

  // Later add_* calls belong to this group (a --help section, a table in docs/config.md).
  void begin_group(std::string name) { group_ = std::move(name); }

  // Each add_* registers `key`, writes `default_value` into `*field` and returns the entry for
  // with_* refinements. Registering a key twice is a bug (HF_CHECK).
  ConfigEntry& add_bool(std::string key, bool* field, bool default_value, std::string doc);
  ConfigEntry& add_int32(std::string key, int32_t* field, int32_t default_value, int32_t min,
                         int32_t max, std::string doc);
  ConfigEntry& add_int64(std::string key, int64_t* field, int64_t default_value, int64_t min,
                         int64_t max, std::string doc);
  ConfigEntry& add_double(std::string key, double* field, double default_value, double min,
                          double max, std::string doc);
  ConfigEntry& add_string(std::string key, std::string* field, std::string default_value,
                          std::string doc);
  // `values` maps each accepted name (case-sensitive, as Java's Enum.valueOf) to its enumerator.
  template <typename E>
  ConfigEntry& add_enum(std::string key, E* field, E default_value,
                        std::vector<std::pair<std::string, E>> values, std::string doc);

  // A key RocketMQ has and this binary does not implement. Setting it is an error that says so
  // (`reason` tells the operator what to do), instead of "unknown key" with a misleading
  // suggestion (brokerIP2 is not a typo of brokerIP1). Setting it to `harmless_value` (compared
  // case-insensitively; typically a feature switch's "false") is only a warning.
  void add_unsupported(std::string key, std::string reason, std::string harmless_value = "");

  // Parses RocketMQ broker.conf text: `key=value` lines, whole-line `#` or `!` comments, blank
  // lines; key and value are trimmed; a later duplicate overrides an earlier one (with a warning).
  // `source` names the text in messages ("broker.conf:7: ..."). All or nothing: on error no field
  // changes and the Status lists every bad line, one per line of its message.
  Status parse_text(std::string_view source, std::string_view text);
  // Reads `path` through `env` and parses it with the path as the source name.
  Status load_file(Env* env, const std::string& path);
  // Command-line overrides, each `key=value` (a leading "--" is accepted). Same rules and
  // all-or-nothing behaviour as parse_text; call it after load_file so the command line wins.
  Status parse_overrides(const std::vector<std::string>& args);

  // Warnings from the parses so far (duplicate keys, ignored RocketMQ keys), for the caller to log.
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::deque<ConfigEntry>& entries() const { return entries_; }
  const ConfigEntry* find(std::string_view key) const;
  // The registered key nearest to `key` by case-insensitive edit distance, or "" when none is
  // close enough to be a plausible typo.
  std::string closest_key(std::string_view key) const;

  // --help text: keys grouped, each with its type, range, default and meaning.
  std::string help_text() const;
  // Markdown: `preamble` verbatim, then one table per group (key, type, default, range, meaning),
  // then the unsupported RocketMQ keys.
  std::string markdown(std::string_view preamble) const;
  // The effective value of every key with where it came from, for the start-up log:
  // "listenPort=10911 (broker.conf:5)", "flushDiskType=SYNC_FLUSH (default)".
  std::vector<std::string> effective_lines() const;

 private:
  struct Assignment {
    size_t entry;
    ConfigValue value;
    std::string origin;
  };

  ConfigEntry& add_entry(ConfigEntry entry);
  // Parses one `key=value` item at `where` ("broker.conf:7"); on success appends to `out` (or,
  // for an ignored key, to `notes`) and returns "", else returns the full error message.
  std::string parse_assignment(const std::string& where, std::string_view line,
                               std::vector<Assignment>* out, std::vector<std::string>* notes) const;
  // Applies after every item of one source parsed cleanly; warns about duplicates within it.
  void apply(const std::vector<Assignment>& assignments, std::vector<std::string> notes);

  std::string group_ = "General";
  std::deque<ConfigEntry> entries_;  // a deque: add_* hands out references that must stay valid
  std::vector<std::string> origins_;  // parallel to entries_: "default", "broker.conf:5", ...
  std::unordered_map<std::string, size_t> index_;
  struct Unsupported {
    std::string reason;
    std::string harmless_value;
  };
  std::map<std::string, Unsupported, std::less<>> unsupported_;  // sorted: stable docs
  std::vector<std::string> warnings_;
};

template <typename E>
ConfigEntry& ConfigRegistry::add_enum(std::string key, E* field, E default_value,
                                      std::vector<std::pair<std::string, E>> values,
                                      std::string doc) {
  ConfigEntry e;
  e.key = std::move(key);
  e.type = ConfigType::kEnum;
  e.doc = std::move(doc);
  for (const auto& [name, value] : values) {
    e.allowed.push_back(name);
    if (value == default_value) e.default_text = name;
  }
  HF_CHECK(!e.default_text.empty(), "default of ", e.key, " is not among its values");
  *field = default_value;
  e.set = [field, values](const ConfigValue& v) {
    for (const auto& [name, value] : values) {
      if (name == std::get<std::string>(v)) *field = value;
    }
  };
  e.get = [field, values]() -> std::string {
    for (const auto& [name, value] : values) {
      if (value == *field) return name;
    }
    return "?";
  };
  return add_entry(std::move(e));
}

}  // namespace holdfast
