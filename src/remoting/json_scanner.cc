// JsonScanner: tokens of the JSON header format, iterative (no recursion on nesting).
#include "remoting/json_scanner.h"

#include <array>
#include <charconv>

namespace holdfast::remoting {

namespace {

// Bytes that end the fast scan of a string: the closing quote, a backslash, control characters.
constexpr std::array<bool, 256> make_string_stop_table() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = true;
  t['\\'] = true;
  return t;
}
constexpr std::array<bool, 256> kStringStop = make_string_stop_table();

bool is_string_stop(char c) { return kStringStop[static_cast<unsigned char>(c)]; }

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

}  // namespace

Status JsonScanner::error(const char* what) const {
  std::string msg = "malformed JSON header at offset ";
  msg += std::to_string(p_ - begin_);
  msg += ": ";
  msg += what;
  return Status::corruption(std::move(msg));
}

Status JsonScanner::expect(char c, const char* what) {
  skip_ws();
  if (peek() != c) return error(what);
  ++p_;
  return Status::ok();
}

Status JsonScanner::parse_string(std::string_view* value, std::string* scratch) {
  if (peek() != '"') return error("expected a string");
  ++p_;
  const char* start = p_;
  while (p_ < end_ && !is_string_stop(*p_)) ++p_;
  if (p_ >= end_) return error("unterminated string");
  if (*p_ == '"') {
    *value = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return Status::ok();
  }
  if (*p_ != '\\') return error("unescaped control character in string");
  scratch->assign(start, static_cast<size_t>(p_ - start));
  HF_RETURN_IF_ERROR(parse_string_slow(scratch));
  *value = *scratch;
  return Status::ok();
}

Status JsonScanner::parse_owned_string(std::string* out) {
  std::string scratch;
  std::string_view v;
  HF_RETURN_IF_ERROR(parse_string(&v, &scratch));
  if (v.data() == scratch.data()) {
    *out = std::move(scratch);
  } else {
    *out = std::string(v);  // constructing is cheaper than assigning into an empty string
  }
  return Status::ok();
}

Status JsonScanner::parse_number(std::string_view* token) {
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

Status JsonScanner::parse_int32(const char* field, int32_t* out) {
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

Status JsonScanner::skip_value() {
  char stack[kJsonMaxSkipDepth];
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
      if (depth == kJsonMaxSkipDepth) return error("JSON nested deeper than 256 levels");
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

Status JsonScanner::skip_key_colon(std::string* scratch) {
  skip_ws();
  std::string_view ignored;
  if (peek() != '"') return error("expected a string object key");
  HF_RETURN_IF_ERROR(parse_string(&ignored, scratch));
  return expect(':', "expected ':' after object key");
}

Status JsonScanner::parse_string_slow(std::string* out) {
  while (p_ < end_) {
    unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      ++p_;
      return Status::ok();
    }
    if (c < 0x20) return error("unescaped control character in string");
    if (c != '\\') {
      const char* run = p_;
      while (p_ < end_ && !is_string_stop(*p_)) ++p_;
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
        p_ -= 2;  // point at the backslash
        return error("invalid escape sequence in string");
    }
  }
  return error("unterminated string");
}

Status JsonScanner::parse_hex4(uint32_t* cp) {
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

}  // namespace holdfast::remoting
