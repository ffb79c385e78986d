// JSON header codec: a single-pass scanner over the RemotingCommand object (no DOM, no recursion)
// and the Java-style encoder.
#include "remoting/json_header.h"

#include <charconv>
#include <cstring>

namespace holdfast::remoting {

namespace {

constexpr int kMaxSkipDepth = 256;

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Cursor over the header text. Every method either advances past a complete token or returns
// a Corruption naming the offset where the input stopped making sense.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  void skip_ws() {
    while (p_ < end_ && is_ws(*p_)) ++p_;
  }
  bool at_end() const { return p_ >= end_; }
  // The next character, or '\0' at the end (never a valid token start here).
  char peek() const { return p_ < end_ ? *p_ : '\0'; }
  void advance() { ++p_; }

  Status error(const char* what) const {
    std::string msg = "malformed JSON header at offset ";
    msg += std::to_string(p_ - begin_);
    msg += ": ";
    msg += what;
    return Status::corruption(std::move(msg));
  }

  Status expect(char c, const char* what) {
    skip_ws();
    if (peek() != c) return error(what);
    ++p_;
    return Status::ok();
  }

  // Parses a string literal (cursor at the opening quote). The common no-escape case returns a
  // view into the input without copying; otherwise the decoded text goes to *scratch and the
  // view points there.
  Status parse_string(std::string_view* value, std::string* scratch) {
    if (peek() != '"') return error("expected a string");
    ++p_;
    const char* start = p_;
    while (p_ < end_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *value = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return Status::ok();
      }
      if (c == '\\') break;
      if (c < 0x20) return error("unescaped control character in string");
      ++p_;
    }
    if (p_ >= end_) return error("unterminated string");
    scratch->assign(start, static_cast<size_t>(p_ - start));
    HF_RETURN_IF_ERROR(parse_string_slow(scratch));
    *value = *scratch;
    return Status::ok();
  }

  // Parses a string literal into *out (owned), cursor at the opening quote.
  Status parse_string_into(std::string* out) {
    std::string_view v;
    HF_RETURN_IF_ERROR(parse_string(&v, out));
    if (v.data() != out->data()) out->assign(v);
    return Status::ok();
  }

  // Validates a JSON number and returns its text.
  Status parse_number(std::string_view* token) {
    const char* start = p_;
    if (peek() == '-') ++p_;
    if (peek() == '0') {
      ++p_;
    } else if (is_digit(peek())) {
      while (is_digit(peek())) ++p_;
    } else {
      return error("invalid number");
    }
    if (peek() == '.') {
      ++p_;
      if (!is_digit(peek())) return error("invalid number: digits expected after '.'");
      while (is_digit(peek())) ++p_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++p_;
      if (peek() == '+' || peek() == '-') ++p_;
      if (!is_digit(peek())) return error("invalid number: digits expected in exponent");
      while (is_digit(peek())) ++p_;
    }
    *token = std::string_view(start, static_cast<size_t>(p_ - start));
    return Status::ok();
  }

  // Matches a literal such as "true" at the cursor.
  bool consume_literal(const char* lit) {
    size_t n = std::strlen(lit);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, lit, n) != 0) return false;
    p_ += n;
    return true;
  }

  // An int32 field: a JSON integer, or a string holding one.
  Status parse_int32(const char* field, int32_t* out) {
    std::string_view token;
    std::string scratch;
    const char* at = p_;
    if (peek() == '"') {
      HF_RETURN_IF_ERROR(parse_string(&token, &scratch));
    } else {
      HF_RETURN_IF_ERROR(parse_number(&token));
    }
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
    if (ec != std::errc() || ptr != token.data() + token.size() || token.empty() || v < INT32_MIN ||
        v > INT32_MAX) {
      p_ = at;
      std::string what = "field '";
      what += field;
      what += "' is not an int32: '";
      what += token.substr(0, 64);
      what += "'";
      return error(what.c_str());
    }
    *out = static_cast<int32_t>(v);
    return Status::ok();
  }

  // Skips any JSON value, validating it. Iterative with an explicit stack so a deeply nested
  // unknown key cannot exhaust the call stack.
  Status skip_value() {
    char stack[kMaxSkipDepth];
    int depth = 0;
    std::string scratch;
    for (;;) {
      // Expecting a value.
      skip_ws();
      char c = peek();
      if (c == '"') {
        std::string_view ignored;
        HF_RETURN_IF_ERROR(parse_string(&ignored, &scratch));
      } else if (c == '{' || c == '[') {
        if (depth == kMaxSkipDepth) return error("JSON nested deeper than 256 levels");
        ++p_;
        skip_ws();
        if (peek() == (c == '{' ? '}' : ']')) {
          ++p_;  // empty container: a complete value
        } else {
          stack[depth++] = c == '{' ? '}' : ']';
          if (c == '{') HF_RETURN_IF_ERROR(skip_key_colon(&scratch));
          continue;
        }
      } else if (c == '-' || is_digit(c)) {
        std::string_view ignored;
        HF_RETURN_IF_ERROR(parse_number(&ignored));
      } else if (!(consume_literal("true") || consume_literal("false") || consume_literal("null"))) {
        return error("expected a JSON value");
      }
      // After a complete value: close containers or move to the next element.
      for (;;) {
        if (depth == 0) return Status::ok();
        skip_ws();
        char d = peek();
        if (d == ',') {
          ++p_;
          if (stack[depth - 1] == '}') HF_RETURN_IF_ERROR(skip_key_colon(&scratch));
          break;
        }
        if (d == stack[depth - 1]) {
          ++p_;
          --depth;
          continue;
        }
        return error(stack[depth - 1] == '}' ? "expected ',' or '}' in object" : "expected ',' or ']' in array");
      }
    }
  }

 private:
  Status skip_key_colon(std::string* scratch) {
    skip_ws();
    std::string_view ignored;
    if (peek() != '"') return error("expected a string object key");
    HF_RETURN_IF_ERROR(parse_string(&ignored, scratch));
    return expect(':', "expected ':' after object key");
  }

  // Decodes escapes from the cursor (just past the raw prefix already in *out) to the closing
  // quote, appending to *out.
  Status parse_string_slow(std::string* out) {
    while (p_ < end_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return Status::ok();
      }
      if (c < 0x20) return error("unescaped control character in string");
      if (c != '\\') {
        const char* run = p_;
        while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
        out->append(run, static_cast<size_t>(p_ - run));
        continue;
      }
      ++p_;
      if (p_ >= end_) break;
      char e = *p_++;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          HF_RETURN_IF_ERROR(parse_hex4(&cp));
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate pairs with an immediately following \uDC00-\uDFFF.
            uint32_t low = 0;
            if (end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
              const char* save = p_;
              p_ += 2;
              HF_RETURN_IF_ERROR(parse_hex4(&low));
              if (low >= 0xDC00 && low <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
              } else {
                p_ = save;  // not a pair: the next escape is decoded on its own
                cp = 0xFFFD;
              }
            } else {
              cp = 0xFFFD;
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;  // lone low surrogate
          }
          append_utf8(cp, out);
          break;
        }
        default:
          --p_;
          return error("invalid escape sequence in string");
      }
    }
    return error("unterminated string");
  }

  Status parse_hex4(uint32_t* cp) {
    if (end_ - p_ < 4) return error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex_value(p_[i]);
      if (h < 0) return error("invalid hex digit in \\u escape");
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    p_ += 4;
    *cp = v;
    return Status::ok();
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

Status parse_language(Scanner* s, LanguageCode* out) {
  if (s->peek() == '"') {
    std::string_view name;
    std::string scratch;
    HF_RETURN_IF_ERROR(s->parse_string(&name, &scratch));
    *out = language_from_name(name).value_or(LanguageCode::kOther);
    return Status::ok();
  }
  int32_t code = 0;
  HF_RETURN_IF_ERROR(s->parse_int32("language", &code));
  *out = language_from_code(code);
  return Status::ok();
}

Status parse_ext_fields(Scanner* s, ExtFields* ext) {
  if (s->consume_literal("null")) return Status::ok();
  if (s->peek() != '{') return s->error("field 'extFields' is not an object");
  s->advance();
  s->skip_ws();
  if (s->peek() == '}') {
    s->advance();
    return Status::ok();
  }
  for (;;) {
    s->skip_ws();
    if (s->peek() != '"') return s->error("expected a string key in 'extFields'");
    std::string key;
    HF_RETURN_IF_ERROR(s->parse_string_into(&key));
    HF_RETURN_IF_ERROR(s->expect(':', "expected ':' after object key"));
    s->skip_ws();
    char c = s->peek();
    if (c == '"') {
      std::string value;
      HF_RETURN_IF_ERROR(s->parse_string_into(&value));
      ext->append_unchecked(std::move(key), std::move(value));
    } else if (c == '-' || is_digit(c)) {
      std::string_view token;
      HF_RETURN_IF_ERROR(s->parse_number(&token));
      ext->append_unchecked(std::move(key), std::string(token));
    } else if (s->consume_literal("true")) {
      ext->append_unchecked(std::move(key), "true");
    } else if (s->consume_literal("false")) {
      ext->append_unchecked(std::move(key), "false");
    } else if (s->consume_literal("null")) {
      // Java's map would hold null, which every header reader treats as absent.
    } else {
      return s->error("extFields values must be strings, numbers or booleans");
    }
    s->skip_ws();
    if (s->peek() == ',') {
      s->advance();
      continue;
    }
    if (s->peek() == '}') {
      s->advance();
      return Status::ok();
    }
    return s->error("expected ',' or '}' in 'extFields'");
  }
}

// A known key whose value is null gets the field's default, as if the key were absent.
Status parse_int32_or_null(Scanner* s, const char* field, int32_t* out) {
  if (s->consume_literal("null")) {
    *out = 0;
    return Status::ok();
  }
  return s->parse_int32(field, out);
}

Status parse_field(Scanner* s, std::string_view key, RemotingCommand* out) {
  // Dispatch on length first: the key set is small and fixed.
  switch (key.size()) {
    case 4:
      if (key == "code") return parse_int32_or_null(s, "code", &out->code);
      if (key == "flag") return parse_int32_or_null(s, "flag", &out->flag);
      break;
    case 6:
      if (key == "opaque") return parse_int32_or_null(s, "opaque", &out->opaque);
      if (key == "remark") {
        if (s->consume_literal("null")) {
          out->remark.reset();
          return Status::ok();
        }
        if (s->peek() != '"') return s->error("field 'remark' is not a string");
        std::string remark;
        HF_RETURN_IF_ERROR(s->parse_string_into(&remark));
        out->remark = std::move(remark);
        return Status::ok();
      }
      break;
    case 7:
      if (key == "version") return parse_int32_or_null(s, "version", &out->version);
      break;
    case 8:
      if (key == "language") {
        if (s->consume_literal("null")) {
          out->language = LanguageCode::kJava;
          return Status::ok();
        }
        return parse_language(s, &out->language);
      }
      break;
    case 9:
      if (key == "extFields") {
        out->ext_fields.clear();
        return parse_ext_fields(s, &out->ext_fields);
      }
      break;
    default:
      break;
  }
  return s->skip_value();
}

}  // namespace

Status decode_json_header(std::string_view json, RemotingCommand* out) {
  out->code = 0;
  out->language = LanguageCode::kJava;
  out->version = 0;
  out->opaque = 0;
  out->flag = 0;
  out->remark.reset();
  out->ext_fields.clear();

  Scanner s(json);
  HF_RETURN_IF_ERROR(s.expect('{', "expected '{' at the start of the header"));
  s.skip_ws();
  if (s.peek() == '}') {
    s.advance();
  } else {
    std::string key_scratch;
    for (;;) {
      s.skip_ws();
      if (s.peek() != '"') return s.error("expected a string object key");
      std::string_view key;
      HF_RETURN_IF_ERROR(s.parse_string(&key, &key_scratch));
      HF_RETURN_IF_ERROR(s.expect(':', "expected ':' after object key"));
      s.skip_ws();
      HF_RETURN_IF_ERROR(parse_field(&s, key, out));
      s.skip_ws();
      if (s.peek() == ',') {
        s.advance();
        continue;
      }
      if (s.peek() == '}') {
        s.advance();
        break;
      }
      return s.error("expected ',' or '}' after a header field");
    }
  }
  s.skip_ws();
  if (!s.at_end()) return s.error("unexpected characters after the header object");
  out->ext_fields.resolve_duplicates();
  return Status::ok();
}

void append_json_string(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    const char* run = p;
    while (p < end && static_cast<unsigned char>(*p) >= 0x20 && *p != '"' && *p != '\\') ++p;
    out->append(run, static_cast<size_t>(p - run));
    if (p == end) break;
    unsigned char c = static_cast<unsigned char>(*p++);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out->append(u, sizeof(u));
      }
    }
  }
  out->push_back('"');
}

namespace {
void append_int(int64_t v, std::string* out) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(ptr - buf));
}
}  // namespace

void encode_json_header(const RemotingCommand& cmd, std::string* out) {
  out->append("{\"code\":");
  append_int(cmd.code, out);
  if (!cmd.ext_fields.empty()) {
    out->append(",\"extFields\":{");
    bool first = true;
    for (const auto& [key, value] : cmd.ext_fields) {
      if (!first) out->push_back(',');
      first = false;
      append_json_string(key, out);
      out->push_back(':');
      append_json_string(value, out);
    }
    out->push_back('}');
  }
  out->append(",\"flag\":");
  append_int(cmd.flag, out);
  out->append(",\"language\":\"");
  out->append(language_name(cmd.language));
  out->append("\",\"opaque\":");
  append_int(cmd.opaque, out);
  if (cmd.remark) {
    out->append(",\"remark\":");
    append_json_string(*cmd.remark, out);
  }
  out->append(",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
  append_int(cmd.version, out);
  out->push_back('}');
}

}  // namespace holdfast::remoting
