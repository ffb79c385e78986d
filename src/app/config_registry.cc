// ConfigRegistry: parsing and validation of `key=value` configuration, and its renderings.
// Numbers are parsed with std::from_chars, so malformed input becomes a Status, never an exception.
#include "app/config_registry.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "env/env.h"

namespace holdfast {
namespace {

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  const size_t begin = s.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Levenshtein distance, two rows.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Java's Integer.parseInt accepts one leading '+'; from_chars does not, so strip it first.
bool parse_int64(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool parse_double(std::string_view s, double* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(*out);
}

std::string format_double(double v) {
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, ptr) : std::to_string(v);
}

int64_t type_min(ConfigType t) {
  return t == ConfigType::kInt32 ? std::numeric_limits<int32_t>::min()
                                 : std::numeric_limits<int64_t>::min();
}
int64_t type_max(ConfigType t) {
  return t == ConfigType::kInt32 ? std::numeric_limits<int32_t>::max()
                                 : std::numeric_limits<int64_t>::max();
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

// Table cells: '|' would end the cell and '<' could open an HTML tag that hides the text.
std::string markdown_cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '<') {
      out += "&lt;";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

const char* config_type_name(ConfigType type) {
  switch (type) {
    case ConfigType::kBool: return "bool";
    case ConfigType::kInt32: return "int32";
    case ConfigType::kInt64: return "int64";
    case ConfigType::kDouble: return "double";
    case ConfigType::kString: return "string";
    case ConfigType::kEnum: return "enum";
  }
  return "?";
}

ConfigEntry& ConfigEntry::with_rule(std::string rule,
                                    std::function<std::string(const ConfigValue&)> fn) {
  rule_doc = std::move(rule);
  check = std::move(fn);
  return *this;
}

ConfigEntry& ConfigEntry::with_documented_default(std::string text) {
  default_text = std::move(text);
  default_is_description = true;
  return *this;
}

ConfigEntry& ConfigEntry::with_normalize(std::function<std::string(std::string)> fn) {
  HF_CHECK(type == ConfigType::kString, key, ": only string entries are normalized");
  normalize = std::move(fn);
  return *this;
}

std::string ConfigEntry::expectation() const {
  switch (type) {
    case ConfigType::kBool: return "true or false";
    case ConfigType::kEnum: return "one of " + join(allowed, ", ");
    case ConfigType::kString: return "a string";
    case ConfigType::kInt32:
    case ConfigType::kInt64:
      if (min_int && max_int) {
        return "an integer between " + std::to_string(*min_int) + " and " + std::to_string(*max_int);
      }
      if (min_int) return "an integer >= " + std::to_string(*min_int);
      if (max_int) return "an integer <= " + std::to_string(*max_int);
      return "an integer";
    case ConfigType::kDouble:
      if (min_real && max_real) {
        return "a number between " + format_double(*min_real) + " and " + format_double(*max_real);
      }
      if (min_real) return "a number >= " + format_double(*min_real);
      if (max_real) return "a number <= " + format_double(*max_real);
      return "a number";
  }
  return "?";
}

std::string ConfigEntry::range_text() const {
  std::vector<std::string> parts;
  if (type == ConfigType::kEnum) parts.push_back(join(allowed, ", "));
  if (type == ConfigType::kInt32 || type == ConfigType::kInt64) {
    if (min_int && max_int) {
      parts.push_back(std::to_string(*min_int) + " .. " + std::to_string(*max_int));
    } else if (min_int) {
      parts.push_back(">= " + std::to_string(*min_int));
    } else if (max_int) {
      parts.push_back("<= " + std::to_string(*max_int));
    }
  }
  if (type == ConfigType::kDouble) {
    if (min_real && max_real) {
      parts.push_back(format_double(*min_real) + " .. " + format_double(*max_real));
    } else if (min_real) {
      parts.push_back(">= " + format_double(*min_real));
    } else if (max_real) {
      parts.push_back("<= " + format_double(*max_real));
    }
  }
  if (!rule_doc.empty()) parts.push_back(rule_doc);
  return join(parts, "; ");
}

ConfigEntry& ConfigRegistry::add_entry(ConfigEntry entry) {
  HF_CHECK(!entry.key.empty(), "config key must not be empty");
  HF_CHECK(!index_.count(entry.key), "config key registered twice: ", entry.key);
  HF_CHECK(entry.set && entry.get, entry.key, ": setter and getter are required");
  entry.group = group_;
  index_.emplace(entry.key, entries_.size());
  origins_.push_back("default");
  entries_.push_back(std::move(entry));
  return entries_.back();
}

ConfigEntry& ConfigRegistry::add_bool(std::string key, bool* field, bool default_value,
                                      std::string doc) {
  ConfigEntry e;
  e.key = std::move(key);
  e.type = ConfigType::kBool;
  e.doc = std::move(doc);
  e.default_text = default_value ? "true" : "false";
  *field = default_value;
  e.set = [field](const ConfigValue& v) { *field = std::get<bool>(v); };
  e.get = [field] { return std::string(*field ? "true" : "false"); };
  return add_entry(std::move(e));
}

ConfigEntry& ConfigRegistry::add_int32(std::string key, int32_t* field, int32_t default_value,
                                       int32_t min, int32_t max, std::string doc) {
  HF_CHECK(min <= default_value && default_value <= max, key, ": default out of its own bounds");
  ConfigEntry e;
  e.key = std::move(key);
  e.type = ConfigType::kInt32;
  e.doc = std::move(doc);
  e.default_text = std::to_string(default_value);
  // A bound equal to the type's limit is no bound at all; leaving it out keeps docs readable.
  if (min != std::numeric_limits<int32_t>::min()) e.min_int = min;
  if (max != std::numeric_limits<int32_t>::max()) e.max_int = max;
  *field = default_value;
  e.set = [field](const ConfigValue& v) { *field = static_cast<int32_t>(std::get<int64_t>(v)); };
  e.get = [field] { return std::to_string(*field); };
  return add_entry(std::move(e));
}

ConfigEntry& ConfigRegistry::add_int64(std::string key, int64_t* field, int64_t default_value,
                                       int64_t min, int64_t max, std::string doc) {
  HF_CHECK(min <= default_value && default_value <= max, key, ": default out of its own bounds");
  ConfigEntry e;
  e.key = std::move(key);
  e.type = ConfigType::kInt64;
  e.doc = std::move(doc);
  e.default_text = std::to_string(default_value);
  if (min != std::numeric_limits<int64_t>::min()) e.min_int = min;
  if (max != std::numeric_limits<int64_t>::max()) e.max_int = max;
  *field = default_value;
  e.set = [field](const ConfigValue& v) { *field = std::get<int64_t>(v); };
  e.get = [field] { return std::to_string(*field); };
  return add_entry(std::move(e));
}

ConfigEntry& ConfigRegistry::add_double(std::string key, double* field, double default_value,
                                        double min, double max, std::string doc) {
  HF_CHECK(min <= default_value && default_value <= max, key, ": default out of its own bounds");
  ConfigEntry e;
  e.key = std::move(key);
  e.type = ConfigType::kDouble;
  e.doc = std::move(doc);
  e.default_text = format_double(default_value);
  if (min != std::numeric_limits<double>::lowest()) e.min_real = min;
  if (max != std::numeric_limits<double>::max()) e.max_real = max;
  *field = default_value;
  e.set = [field](const ConfigValue& v) { *field = std::get<double>(v); };
  e.get = [field] { return format_double(*field); };
  return add_entry(std::move(e));
}

ConfigEntry& ConfigRegistry::add_string(std::string key, std::string* field,
                                        std::string default_value, std::string doc) {
  ConfigEntry e;
  e.key = std::move(key);
  e.type = ConfigType::kString;
  e.doc = std::move(doc);
  e.default_text = default_value;
  *field = std::move(default_value);
  e.set = [field](const ConfigValue& v) { *field = std::get<std::string>(v); };
  e.get = [field] { return *field; };
  return add_entry(std::move(e));
}

void ConfigRegistry::add_unsupported(std::string key, std::string reason,
                                     std::string harmless_value) {
  HF_CHECK(!index_.count(key), "config key both supported and unsupported: ", key);
  unsupported_.emplace(std::move(key), Unsupported{std::move(reason), lower(harmless_value)});
}

const ConfigEntry* ConfigRegistry::find(std::string_view key) const {
  const auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::string ConfigRegistry::closest_key(std::string_view key) const {
  const std::string wanted = lower(key);
  // Farther than this is not a typo but a different word; a wrong suggestion misleads.
  const size_t limit = std::max<size_t>(2, wanted.size() / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const ConfigEntry& e : entries_) {
    const size_t d = edit_distance(wanted, lower(e.key));
    if (d < best_distance) {
      best_distance = d;
      best = e.key;
    }
  }
  return best;
}

std::string ConfigRegistry::parse_assignment(const std::string& where, std::string_view line,
                                             std::vector<Assignment>* out,
                                             std::vector<std::string>* notes) const {
  const size_t eq = line.find('=');
  if (eq == std::string_view::npos) {
    return where + ": expected key=value, got '" + std::string(line) + "'";
  }
  const std::string key(trim(line.substr(0, eq)));
  const std::string_view raw = trim(line.substr(eq + 1));
  if (key.empty()) return where + ": missing key before '=' in '" + std::string(line) + "'";
  if (const auto u = unsupported_.find(key); u != unsupported_.end()) {
    if (!u->second.harmless_value.empty() && lower(raw) == u->second.harmless_value) {
      notes->push_back(where + ": ignored RocketMQ key '" + key + "=" + std::string(raw) +
                       "' (not implemented; this value changes nothing)");
      return "";
    }
    return where + ": unsupported RocketMQ key '" + key + "': " + u->second.reason;
  }
  const auto it = index_.find(key);
  if (it == index_.end()) {
    const std::string suggestion = closest_key(key);
    return where + ": unknown key '" + key + "'" +
           (suggestion.empty() ? " (see --help for the known keys)"
                               : " (did you mean '" + suggestion + "'?)");
  }
  const ConfigEntry& e = entries_[it->second];
  const std::string type_error =
      where + ": " + e.key + " must be " + e.expectation() + ", got '" + std::string(raw) + "'";
  ConfigValue value;
  switch (e.type) {
    case ConfigType::kBool: {
      // Java's Boolean.parseBoolean reads any other text as false; a typo must not flip a switch.
      const std::string v = lower(raw);
      if (v != "true" && v != "false") return type_error;
      value = (v == "true");
      break;
    }
    case ConfigType::kInt32:
    case ConfigType::kInt64: {
      int64_t v = 0;
      if (!parse_int64(raw, &v) || v < e.min_int.value_or(type_min(e.type)) ||
          v > e.max_int.value_or(type_max(e.type))) {
        return type_error;
      }
      value = v;
      break;
    }
    case ConfigType::kDouble: {
      double v = 0;
      if (!parse_double(raw, &v) || (e.min_real && v < *e.min_real) ||
          (e.max_real && v > *e.max_real)) {
        return type_error;
      }
      value = v;
      break;
    }
    case ConfigType::kString:
      value = e.normalize ? e.normalize(std::string(raw)) : std::string(raw);
      break;
    case ConfigType::kEnum:
      if (std::find(e.allowed.begin(), e.allowed.end(), raw) == e.allowed.end()) return type_error;
      value = std::string(raw);
      break;
  }
  if (e.check) {
    const std::string problem = e.check(value);
    if (!problem.empty()) return where + ": " + e.key + " " + problem + ", got '" + std::string(raw) + "'";
  }
  out->push_back(Assignment{it->second, std::move(value), where});
  return "";
}

void ConfigRegistry::apply(const std::vector<Assignment>& assignments,
                           std::vector<std::string> notes) {
  for (std::string& note : notes) warnings_.push_back(std::move(note));
  std::unordered_map<size_t, std::string> first_seen;
  for (const Assignment& a : assignments) {
    const auto [it, inserted] = first_seen.emplace(a.entry, a.origin);
    if (!inserted) {
      warnings_.push_back(a.origin + ": duplicate key '" + entries_[a.entry].key + "' (also set at " +
                          it->second + "); the later value wins");
      it->second = a.origin;
    }
    entries_[a.entry].set(a.value);
    origins_[a.entry] = a.origin;
  }
}

Status ConfigRegistry::parse_text(std::string_view source, std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 byte-order mark
  std::vector<Assignment> assignments;
  std::vector<std::string> notes;
  std::vector<std::string> errors;
  size_t line_number = 0;
  while (!text.empty() || line_number == 0) {
    ++line_number;
    const size_t nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    const std::string where = std::string(source) + ":" + std::to_string(line_number);
    // java.util.Properties would join the next line; refusing beats silently misreading it.
    if (line.back() == '\\') {
      errors.push_back(where + ": line continuation ('\\' at the end of a line) is not supported");
      continue;
    }
    std::string error = parse_assignment(where, line, &assignments, &notes);
    if (!error.empty()) errors.push_back(std::move(error));
  }
  if (!errors.empty()) return Status::invalid_argument(join(errors, "\n"));
  apply(assignments, std::move(notes));
  return Status::ok();
}

Status ConfigRegistry::load_file(Env* env, const std::string& path) {
  Result<std::string> text = read_file_to_string(env, path);
  if (!text.is_ok()) {
    return Status(text.status().code(),
                  "cannot read config file '" + path + "': " + text.status().message(),
                  text.status().sys_errno());
  }
  return parse_text(path, text.value());
}

Status ConfigRegistry::parse_overrides(const std::vector<std::string>& args) {
  std::vector<Assignment> assignments;
  std::vector<std::string> notes;
  std::vector<std::string> errors;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = trim(args[i]);
    if (arg.substr(0, 2) == "--") arg.remove_prefix(2);
    std::string error = parse_assignment("command line argument " + std::to_string(i + 1), arg,
                                         &assignments, &notes);
    if (!error.empty()) errors.push_back(std::move(error));
  }
  if (!errors.empty()) return Status::invalid_argument(join(errors, "\n"));
  apply(assignments, std::move(notes));
  return Status::ok();
}

namespace {

// Groups in registration order, each with its entries in registration order.
std::vector<std::pair<std::string, std::vector<const ConfigEntry*>>> grouped(
    const std::deque<ConfigEntry>& entries) {
  std::vector<std::pair<std::string, std::vector<const ConfigEntry*>>> groups;
  for (const ConfigEntry& e : entries) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == e.group; });
    if (it == groups.end()) it = groups.insert(groups.end(), {e.group, {}});
    it->second.push_back(&e);
  }
  return groups;
}

}  // namespace

std::string ConfigRegistry::help_text() const {
  std::string out =
      "Configuration keys (RocketMQ names), set in the config file as key=value or on the\n"
      "command line as key=value (command line wins):\n";
  for (const auto& [group, entries] : grouped(entries_)) {
    out += "\n" + group + ":\n";
    for (const ConfigEntry* e : entries) {
      const std::string range = e->range_text();
      out += "  " + e->key + " (" + config_type_name(e->type) + (range.empty() ? "" : ": " + range) +
             "; default " + (e->default_text.empty() ? "empty" : e->default_text) + ")\n";
      out += "      " + e->doc + "\n";
    }
  }
  return out;
}

std::string ConfigRegistry::markdown(std::string_view preamble) const {
  std::string out(preamble);
  for (const auto& [group, entries] : grouped(entries_)) {
    out += "\n## " + group + "\n\n";
    out += "| Key | Type | Default | Range | Meaning |\n";
    out += "|---|---|---|---|---|\n";
    for (const ConfigEntry* e : entries) {
      out += "| `" + e->key + "` | " + config_type_name(e->type) + " | " +
             (e->default_text.empty()       ? std::string("(empty)")
              : e->default_is_description ? markdown_cell(e->default_text)
                                          : "`" + e->default_text + "`") +
             " | " +
             markdown_cell(e->range_text()) + " | " + markdown_cell(e->doc) + " |\n";
    }
  }
  if (!unsupported_.empty()) {
    out += "\n## RocketMQ keys not supported\n\n";
    out += "Setting one of these stops start-up, except to the harmless value shown, which is only a "
           "warning.\n\n";
    out += "| Key | Harmless value | Why |\n";
    out += "|---|---|---|\n";
    for (const auto& [key, u] : unsupported_) {
      out += "| `" + key + "` | " +
             (u.harmless_value.empty() ? std::string() : "`" + u.harmless_value + "`") + " | " +
             markdown_cell(u.reason) + " |\n";
    }
  }
  return out;
}

std::vector<std::string> ConfigRegistry::effective_lines() const {
  std::vector<std::string> lines;
  lines.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) {
    lines.push_back(entries_[i].key + "=" + entries_[i].get() + " (" + origins_[i] + ")");
  }
  return lines;
}

}  // namespace holdfast
