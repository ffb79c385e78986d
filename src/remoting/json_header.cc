// JSON header codec: one pass over the RemotingCommand object with a JsonScanner (no DOM, no
// recursion), and the Java-style encoder.
#include "remoting/json_header.h"

#include <charconv>

#include "remoting/json_scanner.h"

namespace holdfast::remoting {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

Status parse_language(JsonScanner* s, LanguageCode* out) {
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

Status parse_ext_fields(JsonScanner* s, ExtFields* ext) {
  if (s->consume_literal("null")) return Status::ok();
  if (s->peek() != '{') return s->error("field 'extFields' is not an object");
  s->advance();
  ext->reserve(16);  // one allocation for a typical header instead of five regrowths
  s->skip_ws();
  if (s->peek() == '}') {
    s->advance();
    return Status::ok();
  }
  for (;;) {
    s->skip_ws();
    if (s->peek() != '"') return s->error("expected a string key in 'extFields'");
    std::string key;
    HF_RETURN_IF_ERROR(s->parse_owned_string(&key));
    HF_RETURN_IF_ERROR(s->expect(':', "expected ':' after object key"));
    s->skip_ws();
    char c = s->peek();
    if (c == '"') {
      std::string value;
      HF_RETURN_IF_ERROR(s->parse_owned_string(&value));
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
Status parse_int32_or_null(JsonScanner* s, const char* field, int32_t* out) {
  if (s->consume_literal("null")) {
    *out = 0;
    return Status::ok();
  }
  return s->parse_int32(field, out);
}

Status parse_field(JsonScanner* s, std::string_view key, RemotingCommand* out) {
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
        HF_RETURN_IF_ERROR(s->parse_owned_string(&remark));
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

  JsonScanner s(json);
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
