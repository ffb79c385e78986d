// RemotingCommand helpers: language names, extFields storage and the typed header getters.
#include "remoting/remoting_command.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <numeric>

namespace holdfast::remoting {

namespace {

constexpr const char* kLanguageNames[] = {
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY",
    "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST", "NODE_JS",
};
constexpr int kLanguageCount = static_cast<int>(sizeof(kLanguageNames) / sizeof(kLanguageNames[0]));

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('\'');
  out.append(s);
  out.push_back('\'');
  return out;
}

Status missing_field(std::string_view key) {
  return Status::invalid_argument("missing header field " + quoted(key));
}

}  // namespace

const char* language_name(LanguageCode language) {
  int i = static_cast<int>(language);
  return i < kLanguageCount ? kLanguageNames[i] : "OTHER";
}

std::optional<LanguageCode> language_from_name(std::string_view name) {
  for (int i = 0; i < kLanguageCount; ++i) {
    if (name == kLanguageNames[i]) return static_cast<LanguageCode>(i);
  }
  return std::nullopt;
}

LanguageCode language_from_code(int64_t code) {
  if (code < 0 || code >= kLanguageCount) return LanguageCode::kOther;
  return static_cast<LanguageCode>(code);
}

// ---- ExtFields ----

const ExtFields::Entry* ExtFields::find(std::string_view key) const {
  // Size and first byte first: most headers use one-letter keys (SEND_MESSAGE_V2's "a".."n"),
  // where this settles almost every comparison without a memcmp call.
  for (const Entry& e : entries_) {
    if (e.first.size() == key.size() && (key.empty() || e.first[0] == key[0]) && e.first == key) return &e;
  }
  return nullptr;
}

std::optional<std::string_view> ExtFields::get(std::string_view key) const {
  const Entry* e = find(key);
  if (e == nullptr) return std::nullopt;
  return std::string_view(e->second);
}

void ExtFields::set(std::string_view key, std::string_view value) {
  Entry* e = const_cast<Entry*>(find(key));
  if (e != nullptr) {
    e->second.assign(value);
  } else {
    entries_.emplace_back(std::string(key), std::string(value));
  }
}

bool ExtFields::erase(std::string_view key) {
  const Entry* e = find(key);
  if (e == nullptr) return false;
  entries_.erase(entries_.begin() + (e - entries_.data()));
  return true;
}

void ExtFields::resolve_duplicates() {
  const size_t n = entries_.size();
  if (n < 2) return;
  if (n <= 16) {
    // Keys that differ in (first byte, size) differ: when no two keys share a signature slot,
    // which is the rule for real headers, there is nothing to do and no string is compared.
    uint64_t seen[4] = {0, 0, 0, 0};
    bool collision = false;
    for (const Entry& e : entries_) {
      unsigned slot = (static_cast<unsigned>(e.first.empty() ? 0 : static_cast<unsigned char>(e.first[0])) +
                       7u * static_cast<unsigned>(e.first.size())) & 255u;
      uint64_t bit = uint64_t{1} << (slot & 63);
      if (seen[slot >> 6] & bit) {
        collision = true;
        break;
      }
      seen[slot >> 6] |= bit;
    }
    if (!collision) return;
    bool duplicate = false;
    for (size_t i = 1; i < n && !duplicate; ++i) {
      const std::string& key = entries_[i].first;
      for (size_t j = 0; j < i; ++j) {
        const std::string& other = entries_[j].first;
        if (key.size() == other.size() && (key.empty() || key[0] == other[0]) && key == other) {
          duplicate = true;
          break;
        }
      }
    }
    if (!duplicate) return;
  }
  // Group equal keys (stable sort keeps wire order inside a group), keep each group's first
  // position and last value, then compact.
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [this](uint32_t a, uint32_t b) { return entries_[a].first < entries_[b].first; });
  std::vector<bool> drop(n, false);
  for (size_t g = 0; g < n;) {
    size_t h = g + 1;
    while (h < n && entries_[order[h]].first == entries_[order[g]].first) ++h;
    if (h - g > 1) {
      entries_[order[g]].second = std::move(entries_[order[h - 1]].second);
      for (size_t k = g + 1; k < h; ++k) drop[order[k]] = true;
    }
    g = h;
  }
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (drop[i]) continue;
    if (out != i) entries_[out] = std::move(entries_[i]);
    ++out;
  }
  entries_.resize(out);
}

bool ExtFields::operator==(const ExtFields& other) const {
  if (entries_.size() != other.entries_.size()) return false;
  for (const Entry& e : entries_) {
    auto v = other.get(e.first);
    if (!v || *v != e.second) return false;
  }
  return true;
}

// ---- RemotingCommand ----

RemotingCommand RemotingCommand::make_request(int32_t code) {
  RemotingCommand cmd;
  cmd.code = code;
  cmd.version = kLocalVersion;
  return cmd;
}

RemotingCommand RemotingCommand::make_response(int32_t code) const {
  RemotingCommand response;
  response.code = code;
  response.version = kLocalVersion;
  response.opaque = opaque;
  response.mark_response();
  return response;
}

RemotingCommand RemotingCommand::make_response(int32_t code, std::string remark_text) const {
  RemotingCommand response = make_response(code);
  response.remark = std::move(remark_text);
  return response;
}

namespace {

enum class IntSyntax { kOk, kNotInteger, kOutOfRange };

// Java Integer/Long.parseXxx syntax: optional '+' or '-', then one or more decimal digits.
IntSyntax parse_java_integer(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  if (i == text.size()) return IntSyntax::kNotInteger;
  for (size_t k = i; k < text.size(); ++k) {
    if (text[k] < '0' || text[k] > '9') return IntSyntax::kNotInteger;
  }
  // Accumulate negatively so INT64_MIN parses without overflow.
  int64_t value = 0;
  for (size_t k = i; k < text.size(); ++k) {
    int digit = text[k] - '0';
    if (value < (INT64_MIN + digit) / 10) return IntSyntax::kOutOfRange;
    value = value * 10 - digit;
  }
  if (!negative) {
    if (value == INT64_MIN) return IntSyntax::kOutOfRange;
    value = -value;
  }
  if (value < min || value > max) return IntSyntax::kOutOfRange;
  *out = value;
  return IntSyntax::kOk;
}

Result<int64_t> get_integer_field(const RemotingCommand& cmd, std::string_view key, int64_t min,
                                  int64_t max, const char* type_name) {
  auto raw = cmd.ext(key);
  if (!raw) return missing_field(key);
  int64_t value = 0;
  switch (parse_java_integer(*raw, min, max, &value)) {
    case IntSyntax::kOk:
      return value;
    case IntSyntax::kOutOfRange:
      return Status::invalid_argument("header field " + quoted(key) + " is out of range for " +
                                      type_name + ": " + quoted(*raw));
    case IntSyntax::kNotInteger:
      break;
  }
  return Status::invalid_argument("header field " + quoted(key) + " is not an integer: " + quoted(*raw));
}

}  // namespace

std::optional<int64_t> parse_decimal_int64(std::string_view text) {
  int64_t value = 0;
  if (parse_java_integer(text, INT64_MIN, INT64_MAX, &value) != IntSyntax::kOk) return std::nullopt;
  return value;
}

Result<int64_t> RemotingCommand::get_int64(std::string_view key) const {
  return get_integer_field(*this, key, INT64_MIN, INT64_MAX, "int64");
}

Result<int32_t> RemotingCommand::get_int32(std::string_view key) const {
  HF_ASSIGN_OR_RETURN(int64_t v, get_integer_field(*this, key, INT32_MIN, INT32_MAX, "int32"));
  return static_cast<int32_t>(v);
}

Result<bool> RemotingCommand::get_bool(std::string_view key) const {
  auto raw = ext(key);
  if (!raw) return missing_field(key);
  auto equals_ci = [](std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != lower[i]) return false;
    }
    return true;
  };
  // Java's Boolean.parseBoolean, as RocketMQ's header decoder: anything but "true" is false.
  // rocketmq-client-cpp sends "0" and "1".
  return equals_ci(*raw, "true");
}

void RemotingCommand::set_ext_int(std::string_view key, int64_t value) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  ext_fields.set(key, std::string_view(buf, static_cast<size_t>(ptr - buf)));
}

}  // namespace holdfast::remoting
