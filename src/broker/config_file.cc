// Configuration files: JSON helpers and the main/.bak load and persist protocol.
#include "broker/config_file.h"

#include <limits>

#include "base/logging.h"
#include "remoting/remoting_command.h"

namespace holdfast::broker {

using nlohmann::json;

json data_version_json(const DataVersion& version) {
  return json{{"counter", version.counter}, {"stateVersion", version.state_version},
              {"timestamp", version.timestamp}};
}

Result<DataVersion> data_version_from_json(const json& value) {
  if (value.is_null()) return DataVersion{};
  if (!value.is_object()) return Status::invalid_argument("dataVersion is not an object");
  DataVersion v;
  HF_ASSIGN_OR_RETURN(v.counter, int_field(value, "counter", 0));
  HF_ASSIGN_OR_RETURN(v.state_version, int_field(value, "stateVersion", 0));
  HF_ASSIGN_OR_RETURN(v.timestamp, int_field(value, "timestamp", 0));
  return v;
}

std::string dump_compact(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string dump_pretty(const json& value) {
  return value.dump(1, '\t', false, json::error_handler_t::replace);
}

Result<json> parse_json(std::string_view text, std::string_view what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return Status::corruption("malformed " + std::string(what) + ": " + e.what());
  }
}

const json* json_member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<int64_t> json_int64(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_string()) return remoting::parse_decimal_int64(value.get_ref<const std::string&>());
  return std::nullopt;
}

Result<int64_t> int_field(const json& object, std::string_view key, int64_t fallback) {
  const json* v = json_member(object, key);
  if (v == nullptr) return fallback;
  if (v->is_number_integer() && !v->is_number_unsigned()) return v->get<int64_t>();
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return static_cast<int64_t>(u);
  } else if (v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    bool digits = i < s.size() && s.size() - i <= 18;
    for (size_t k = i; k < s.size(); ++k) digits = digits && s[k] >= '0' && s[k] <= '9';
    if (digits) return static_cast<int64_t>(std::stoll(s));
  }
  return Status::invalid_argument("field '" + std::string(key) + "' is not an integer: " + dump_compact(*v));
}

Result<int32_t> int32_field(const json& object, std::string_view key, int32_t fallback) {
  HF_ASSIGN_OR_RETURN(int64_t v, int_field(object, key, fallback));
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return Status::invalid_argument("field '" + std::string(key) + "' is out of range: " + std::to_string(v));
  }
  return static_cast<int32_t>(v);
}

Result<bool> bool_field(const json& object, std::string_view key, bool fallback) {
  const json* v = json_member(object, key);
  if (v == nullptr) return fallback;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    if (s == "true") return true;
    if (s == "false") return false;
  }
  return Status::invalid_argument("field '" + std::string(key) + "' is not a boolean: " + dump_compact(*v));
}

Result<std::string> string_field(const json& object, std::string_view key, std::string fallback) {
  const json* v = json_member(object, key);
  if (v == nullptr) return fallback;
  if (!v->is_string()) {
    return Status::invalid_argument("field '" + std::string(key) + "' is not a string: " + dump_compact(*v));
  }
  return v->get<std::string>();
}

namespace {

// NotFound when the file is absent; otherwise the read or parse outcome.
Status load_one(Env* env, const std::string& path, const std::function<Status(const std::string&)>& parse) {
  if (!env->file_exists(path)) return Status::not_found(path + " does not exist");
  HF_ASSIGN_OR_RETURN(std::string text, read_file_to_string(env, path));
  Status st = parse(text);
  if (!st.is_ok()) return Status(st.code() == StatusCode::kNotFound ? StatusCode::kCorruption : st.code(),
                                 path + ": " + st.message());
  return st;
}

}  // namespace

Status load_config_file(Env* env, const std::string& path,
                        const std::function<Status(const std::string& text)>& parse, ConfigSource* source) {
  ConfigSource ignored;
  if (source == nullptr) source = &ignored;
  *source = ConfigSource::kMain;
  Status main = load_one(env, path, parse);
  if (main.is_ok()) return main;
  *source = ConfigSource::kBackup;
  Status bak = load_one(env, path + ".bak", parse);
  if (bak.is_ok()) {
    if (main.code() != StatusCode::kNotFound) {
      logger("broker")->warn("{} unusable ({}); loaded {}.bak instead", path, main.to_string(), path);
    }
    return bak;
  }
  *source = ConfigSource::kNone;
  if (main.code() == StatusCode::kNotFound && bak.code() == StatusCode::kNotFound) return Status::ok();
  return main.code() == StatusCode::kNotFound ? bak : main;
}

Status ConfigFileWriter::write(const std::string& contents) {
  if (!current_.empty() && contents == current_) return Status::ok();
  std::string previous = current_;
  if (previous.empty() && env_->file_exists(path_)) {
    HF_ASSIGN_OR_RETURN(previous, read_file_to_string(env_, path_));
    if (Status st = check_(previous); !st.is_ok()) {
      logger("broker")->warn("{} unusable ({}); replacing it without copying it over {}.bak", path_, st.to_string(),
                             path_);
      previous.clear();
    }
  }
  HF_RETURN_IF_ERROR(env_->create_dirs(parent_dir(path_)));
  if (!previous.empty()) HF_RETURN_IF_ERROR(write_file_atomically(env_, path_ + ".bak", previous));
  HF_RETURN_IF_ERROR(write_file_atomically(env_, path_, contents));
  current_ = contents;
  return Status::ok();
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::string quote_bare_integer_keys(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    out.push_back(c);
    if (in_string) {
      if (c == '\\' && i + 1 < in.size()) {
        out.push_back(in[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c != '{' && c != ',') continue;
    size_t j = i + 1;
    while (j < in.size() && is_space(in[j])) ++j;
    size_t k = j;
    if (k < in.size() && in[k] == '-') ++k;
    const size_t digits_begin = k;
    while (k < in.size() && is_digit(in[k])) ++k;
    if (k == digits_begin) continue;
    size_t m = k;
    while (m < in.size() && is_space(in[m])) ++m;
    if (m >= in.size() || in[m] != ':') continue;
    out.append(in.substr(i + 1, j - (i + 1)));
    out.push_back('"');
    out.append(in.substr(j, k - j));
    out.push_back('"');
    i = k - 1;
  }
  return out;
}

}  // namespace holdfast::broker
