// Name-server JSON: a compact writer with fastjson's two map-key forms and a small recursive
// reader (depth-limited, no DOM) for the REGISTER_BROKER body.
#include "namesrv/route_json.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <string_view>

namespace holdfast::namesrv {

namespace {

// ---------------------------------------------------------------------------------------------
// Writer

constexpr char kHexDigits[] = "0123456789ABCDEF";  // fastjson writes \u escapes in upper case
// Characters with a two-character escape, and the letter after the backslash ('/' is read only).
constexpr std::string_view kEscapedChars = "\"\\\b\f\n\r\t/";
constexpr std::string_view kEscapeLetters = "\"\\bfnrt/";

void append_u_escape(uint32_t unit, std::string* out) {
  out->append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHexDigits[(unit >> shift) & 0xF]);
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
    return;
  }
  constexpr uint32_t kLeadBits[] = {0, 0xC0, 0xE0, 0xF0};
  const int continuation = cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
  out->push_back(static_cast<char>(kLeadBits[continuation] | (cp >> (6 * continuation))));
  for (int k = continuation - 1; k >= 0; --k) out->push_back(static_cast<char>(0x80 | ((cp >> (6 * k)) & 0x3F)));
}

// Decodes one UTF-8 sequence starting at s[i] (a non-ASCII byte). Returns the code point and
// sets *len; malformed, overlong, surrogate or out-of-range sequences give U+FFFD with *len = 1.
uint32_t decode_utf8(std::string_view s, size_t i, size_t* len) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = b(0);
  size_t n = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2, cp = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3, cp = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4, cp = lead & 0x07, min = 0x10000;
  }
  *len = 1;
  if (n == 0 || i + n > s.size()) return 0xFFFD;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
  *len = n;
  return cp;
}

// Appends `s` as a JSON string literal. ascii_only writes non-ASCII as \uXXXX (UTF-16 units).
void append_string(std::string_view s, bool ascii_only, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      const size_t short_escape = kEscapedChars.substr(0, 7).find(static_cast<char>(c));  // not '/'
      if (short_escape != std::string_view::npos) {
        out->push_back('\\');
        out->push_back(kEscapeLetters[short_escape]);
      } else if (c < 0x20) {
        append_u_escape(c, out);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    size_t len = 0;
    const uint32_t cp = decode_utf8(s, i, &len);
    if (!ascii_only) {
      if (cp == 0xFFFD && len == 1) {
        append_utf8(cp, out);
      } else {
        out->append(s.substr(i, len));
      }
    } else if (cp < 0x10000) {
      append_u_escape(cp, out);
    } else {
      append_u_escape(0xD800 + ((cp - 0x10000) >> 10), out);
      append_u_escape(0xDC00 + ((cp - 0x10000) & 0x3FF), out);
    }
    i += len;
  }
  out->push_back('"');
}

void append_int(int64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// Writes compact JSON; tracks commas per open container so callers only name keys and values.
class JsonWriter {
 public:
  explicit JsonWriter(bool standard_json) : standard_json_(standard_json) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  void key(std::string_view k) {
    value_prefix();
    append_string(k, standard_json_, &out_);
    out_.push_back(':');
    after_key_ = true;
  }
  // A Long map key: quoted in standard JSON, bare in fastjson's default output.
  void numeric_key(int64_t k) {
    value_prefix();
    if (standard_json_) out_.push_back('"');
    append_int(k, &out_);
    out_.append(standard_json_ ? "\":" : ":");
    after_key_ = true;
  }
  void string_value(std::string_view v) {
    value_prefix();
    append_string(v, standard_json_, &out_);
  }
  void string_member(std::string_view k, std::string_view v) { key(k), string_value(v); }
  void int_member(std::string_view k, int64_t v) { key(k), value_prefix(), append_int(v, &out_); }
  void bool_member(std::string_view k, bool v) { key(k), value_prefix(), out_.append(v ? "true" : "false"); }
  std::string take() { return std::move(out_); }

 private:
  // Before a key or a value: a comma unless first in its container or right after a key.
  void value_prefix() {
    if (!first_in_container_ && !after_key_) out_.push_back(',');
    first_in_container_ = after_key_ = false;
  }
  void open(char c) {
    value_prefix();
    out_.push_back(c);
    first_in_container_ = true;
  }
  void close(char c) {
    out_.push_back(c);
    first_in_container_ = false;
  }

  bool standard_json_;
  bool first_in_container_ = true;
  bool after_key_ = false;
  std::string out_;
};

void write_broker_data(const BrokerData& b, JsonWriter* w) {
  w->begin_object();
  w->key("brokerAddrs");
  w->begin_object();
  for (const auto& [id, addr] : b.broker_addrs) {
    w->numeric_key(id);
    w->string_value(addr);
  }
  w->end_object();
  w->string_member("brokerName", b.broker_name);
  w->string_member("cluster", b.cluster);
  w->bool_member("enableActingMaster", b.enable_acting_master);
  if (!b.zone_name.empty()) w->string_member("zoneName", b.zone_name);
  w->end_object();
}

void write_queue_data(const QueueData& q, JsonWriter* w) {
  w->begin_object();
  w->string_member("brokerName", q.broker_name);
  w->int_member("perm", q.perm);
  w->int_member("readQueueNums", q.read_queue_nums);
  w->int_member("topicSysFlag", q.topic_sys_flag);
  w->int_member("writeQueueNums", q.write_queue_nums);
  w->end_object();
}

// ---------------------------------------------------------------------------------------------
// Reader

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
// Characters of fastjson's unquoted keys (Long and identifier-like keys).
bool is_bare_key_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c == '-' ||
         c == '+' || c == '.';
}
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Cursor over the body. Every method consumes one complete token (after leading whitespace) or
// returns a Corruption naming the offset where the input stopped making sense.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  Status error(std::string_view what) const {
    std::string msg = "malformed register body at offset " + std::to_string(pos_) + ": ";
    msg.append(what);
    return Status::corruption(std::move(msg));
  }
  char peek() {
    while (pos_ < text_.size() && is_ws(text_[pos_])) ++pos_;
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool at_end() { return peek() == '\0' && pos_ >= text_.size(); }
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  Status expect(char c, const char* what) { return consume(c) ? Status::ok() : error(what); }
  // Consumes `null` if it is next (a null value means "keep the default").
  bool consume_null() {
    if (peek() != 'n' || text_.substr(pos_, 4) != "null") return false;
    pos_ += 4;
    return true;
  }

  Status parse_string(std::string* out) {
    HF_RETURN_IF_ERROR(expect('"', "expected a string"));
    out->clear();
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return Status::ok();
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return error("unescaped control character in string");
      }
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      if (e == 'u') {
        uint32_t cp = 0;
        HF_RETURN_IF_ERROR(parse_hex4(&cp));
        if (cp >= 0xD800 && cp <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
          const size_t save = pos_;
          pos_ += 2;
          uint32_t low = 0;
          HF_RETURN_IF_ERROR(parse_hex4(&low));
          if (low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else {
            pos_ = save;  // not a pair: the second escape stands on its own
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogate
        append_utf8(cp, out);
        continue;
      }
      const size_t letter = kEscapeLetters.find(e);
      if (letter == std::string_view::npos) {
        --pos_;
        return error("invalid escape in string");
      }
      out->push_back(kEscapedChars[letter]);
    }
    return error("unterminated string");
  }

  // Validates a JSON number and returns its text.
  Status parse_number(std::string_view* token) {
    peek();
    const size_t start = pos_;
    const auto at = [&] { return pos_ < text_.size() ? text_[pos_] : '\0'; };
    if (at() == '-') ++pos_;
    if (at() == '0') {
      ++pos_;
    } else if (is_digit(at())) {
      while (is_digit(at())) ++pos_;
    } else {
      return error("invalid number");
    }
    if (at() == '.') {
      ++pos_;
      if (!is_digit(at())) return error("invalid number: digits expected after '.'");
      while (is_digit(at())) ++pos_;
    }
    if (at() == 'e' || at() == 'E') {
      ++pos_;
      if (at() == '+' || at() == '-') ++pos_;
      if (!is_digit(at())) return error("invalid number: digits expected in exponent");
      while (is_digit(at())) ++pos_;
    }
    *token = text_.substr(start, pos_ - start);
    return Status::ok();
  }

  // An integer field: a JSON integer or a string holding one (fastjson accepts both).
  Status parse_int(std::string_view field, int64_t min, int64_t max, int64_t* out) {
    std::string_view token;
    std::string quoted;
    if (peek() == '"') {
      HF_RETURN_IF_ERROR(parse_string(&quoted));
      token = quoted;
    } else {
      HF_RETURN_IF_ERROR(parse_number(&token));
    }
    int64_t v = 0;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
    if (ec != std::errc() || end != token.data() + token.size() || token.empty() || v < min || v > max) {
      return error(std::string(field) + " is not an integer in [" + std::to_string(min) + ", " +
                   std::to_string(max) + "]: '" + std::string(token) + "'");
    }
    *out = v;
    return Status::ok();
  }

  Status parse_bool(std::string_view field, bool* out) {
    std::string quoted;
    std::string_view token;
    if (peek() == '"') {
      HF_RETURN_IF_ERROR(parse_string(&quoted));
      token = quoted;
    } else if (text_.substr(pos_, 4) == "true" || text_.substr(pos_, 5) == "false") {
      token = text_.substr(pos_, text_[pos_] == 't' ? 4 : 5);
      pos_ += token.size();
    }
    if (token != "true" && token != "false") return error(std::string(field) + " is not a boolean");
    *out = token == "true";
    return Status::ok();
  }

  // Skips any value: nested containers (to the depth limit), strings, numbers, literals.
  Status skip_value(int depth) {
    const char c = peek();
    if (c == '{') return parse_object(depth, [&](std::string_view) { return skip_value(depth + 1); });
    if (c == '[') return parse_array(depth, [&] { return skip_value(depth + 1); });
    if (c == '"') {
      std::string ignored;
      return parse_string(&ignored);
    }
    if (c == '-' || is_digit(c)) {
      std::string_view ignored;
      return parse_number(&ignored);
    }
    for (std::string_view literal : {"true", "false", "null"}) {
      if (text_.substr(pos_, literal.size()) == literal) {
        pos_ += literal.size();
        return Status::ok();
      }
    }
    return error("expected a value");
  }

  // Iterates an object's members; on_member(key) must consume the member's value. The key is
  // a string, a bare fastjson token, or empty for fastjson's object-literal keys (skipped).
  template <typename OnMember>
  Status parse_object(int depth, OnMember&& on_member) {
    HF_RETURN_IF_ERROR(check_depth(depth));
    HF_RETURN_IF_ERROR(expect('{', "expected '{'"));
    if (consume('}')) return Status::ok();
    std::string key;
    while (true) {
      const char c = peek();
      if (c == '"') {
        HF_RETURN_IF_ERROR(parse_string(&key));
      } else if (c == '{' || c == '[') {
        HF_RETURN_IF_ERROR(skip_value(depth + 1));
        key.clear();
      } else if (c != '\0' && is_bare_key_char(c)) {
        const size_t start = pos_;
        while (pos_ < text_.size() && is_bare_key_char(text_[pos_])) ++pos_;
        key.assign(text_.substr(start, pos_ - start));
      } else {
        return error("expected an object key");
      }
      HF_RETURN_IF_ERROR(expect(':', "expected ':' after object key"));
      HF_RETURN_IF_ERROR(on_member(std::string_view(key)));
      if (!consume(',')) return expect('}', "expected ',' or '}' in object");
    }
  }

  template <typename OnElement>
  Status parse_array(int depth, OnElement&& on_element) {
    HF_RETURN_IF_ERROR(check_depth(depth));
    HF_RETURN_IF_ERROR(expect('[', "expected '['"));
    if (consume(']')) return Status::ok();
    while (true) {
      HF_RETURN_IF_ERROR(on_element());
      if (!consume(',')) return expect(']', "expected ',' or ']' in array");
    }
  }

 private:
  Status check_depth(int depth) const {
    if (depth <= kMaxRegisterBodyDepth) return Status::ok();
    return error("nesting deeper than " + std::to_string(kMaxRegisterBodyDepth) + " levels");
  }
  Status parse_hex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return error("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex_value(text_[pos_ + k]);
      if (h < 0) return error("invalid hex digit in \\u escape");
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    pos_ += 4;
    *out = v;
    return Status::ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

Status read_int32(Reader* r, std::string_view field, int32_t* out) {
  int64_t v = 0;
  HF_RETURN_IF_ERROR(r->parse_int(field, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), &v));
  *out = static_cast<int32_t>(v);
  return Status::ok();
}

Status read_topic_config(Reader* r, int depth, std::string_view map_key, RegisterBody* body) {
  if (r->consume_null()) return Status::ok();  // nothing to register
  TopicConfig config;
  HF_RETURN_IF_ERROR(r->parse_object(depth, [&](std::string_view key) -> Status {
    if (r->consume_null()) return Status::ok();
    if (key == "topicName") return r->parse_string(&config.topic_name);
    if (key == "readQueueNums") return read_int32(r, key, &config.read_queue_nums);
    if (key == "writeQueueNums") return read_int32(r, key, &config.write_queue_nums);
    if (key == "perm") return read_int32(r, key, &config.perm);
    if (key == "topicSysFlag") return read_int32(r, key, &config.topic_sys_flag);
    if (key == "order") return r->parse_bool(key, &config.order);
    if (key == "topicFilterType") {
      std::string type;
      HF_RETURN_IF_ERROR(r->parse_string(&type));
      if (type == "SINGLE_TAG") {
        config.topic_filter_type = TopicFilterType::kSingleTag;
      } else if (type == "MULTI_TAG") {
        config.topic_filter_type = TopicFilterType::kMultiTag;
      } else {
        return r->error("topicFilterType must be SINGLE_TAG or MULTI_TAG, got '" + type + "'");
      }
      return Status::ok();
    }
    return r->skip_value(depth + 1);
  }));
  if (config.topic_name.empty()) config.topic_name = std::string(map_key);
  if (config.topic_name.empty()) return r->error("topic config without a topicName");
  body->topic_configs.push_back(std::move(config));
  return Status::ok();
}

Status read_data_version(Reader* r, int depth, DataVersion* version) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  return r->parse_object(depth, [&](std::string_view key) -> Status {
    if (r->consume_null()) return Status::ok();
    if (key == "stateVersion") return r->parse_int(key, kMin, kMax, &version->state_version);
    if (key == "timestamp") return r->parse_int(key, kMin, kMax, &version->timestamp);
    if (key == "counter") return r->parse_int(key, kMin, kMax, &version->counter);
    return r->skip_value(depth + 1);
  });
}

Status read_wrapper(Reader* r, int depth, RegisterBody* body) {
  return r->parse_object(depth, [&](std::string_view key) -> Status {
    if (r->consume_null()) return Status::ok();
    if (key == "topicConfigTable") {
      return r->parse_object(depth + 1, [&](std::string_view topic) {
        return read_topic_config(r, depth + 2, topic, body);
      });
    }
    if (key == "dataVersion") return read_data_version(r, depth + 1, &body->data_version);
    return r->skip_value(depth + 1);
  });
}

}  // namespace

bool route_json_standard_for(int request_version, bool accept_standard_json_only) {
  return accept_standard_json_only || request_version >= kRouteStandardJsonMinVersion;
}

std::string encode_topic_route(const TopicRouteData& route, bool standard_json) {
  JsonWriter w(standard_json);
  w.begin_object();
  w.key("brokerDatas");
  w.begin_array();
  for (const BrokerData& b : route.broker_datas) write_broker_data(b, &w);
  w.end_array();
  // Filter servers were removed in 5.x; Java always writes the (empty) map.
  w.key("filterServerTable");
  w.begin_object();
  w.end_object();
  if (!route.order_topic_conf.empty()) w.string_member("orderTopicConf", route.order_topic_conf);
  w.key("queueDatas");
  w.begin_array();
  for (const QueueData& q : route.queue_datas) write_queue_data(q, &w);
  w.end_array();
  w.end_object();
  return w.take();
}

std::string encode_cluster_info(const ClusterInfo& info, bool standard_json) {
  JsonWriter w(standard_json);
  w.begin_object();
  w.key("brokerAddrTable");
  w.begin_object();
  for (const auto& [broker_name, broker_data] : info.broker_addr_table) {
    w.key(broker_name);
    write_broker_data(broker_data, &w);
  }
  w.end_object();
  w.key("clusterAddrTable");
  w.begin_object();
  for (const auto& [cluster, broker_names] : info.cluster_addr_table) {
    w.key(cluster);
    w.begin_array();
    for (const std::string& name : broker_names) w.string_value(name);
    w.end_array();
  }
  w.end_object();
  w.end_object();
  return w.take();
}

std::string encode_topic_list(const std::vector<std::string>& topics) {
  JsonWriter w(/*standard_json=*/false);
  w.begin_object();
  w.key("topicList");
  w.begin_array();
  for (const std::string& topic : topics) w.string_value(topic);
  w.end_array();
  w.end_object();
  return w.take();
}

Result<RegisterBody> decode_register_body(std::string_view json) {
  Reader r(json);
  if (r.at_end()) return r.error("empty body");
  RegisterBody body;
  HF_RETURN_IF_ERROR(r.parse_object(1, [&](std::string_view key) -> Status {
    if (r.consume_null()) return Status::ok();
    if (key == "topicConfigSerializeWrapper") return read_wrapper(&r, 2, &body);
    if (key == "filterServerList") {
      return r.parse_array(2, [&]() -> Status {
        if (r.consume_null()) return Status::ok();
        std::string server;
        HF_RETURN_IF_ERROR(r.parse_string(&server));
        body.filter_server_list.push_back(std::move(server));
        return Status::ok();
      });
    }
    return r.skip_value(2);
  }));
  if (!r.at_end()) return r.error("unexpected text after the body");
  return body;
}

}  // namespace holdfast::namesrv
