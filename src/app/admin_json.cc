// fastjson -> standard JSON: a small recursive copier that only rewrites object keys.
#include "app/admin_json.h"

#include <cctype>

namespace holdfast::admin {

namespace {

class Normalizer {
 public:
  explicit Normalizer(std::string_view in) : in_(in) {}

  Result<std::string> run() {
    std::string out;
    HF_RETURN_IF_ERROR(value(&out, 0));
    skip_space();
    if (pos_ != in_.size()) return error("trailing text after the JSON value");
    return out;
  }

 private:
  Status error(const std::string& what) const {
    return Status::corruption("malformed JSON at offset " + std::to_string(pos_) + ": " + what);
  }
  void skip_space() {
    while (pos_ < in_.size() && std::isspace(static_cast<unsigned char>(in_[pos_]))) ++pos_;
  }
  bool at(char c) const { return pos_ < in_.size() && in_[pos_] == c; }

  Status value(std::string* out, int depth) {
    if (depth > kMaxFastjsonDepth) return error("nested too deeply");
    skip_space();
    if (pos_ >= in_.size()) return error("unexpected end of text");
    const char c = in_[pos_];
    if (c == '{') return object(out, depth + 1);
    if (c == '[') return array(out, depth + 1);
    if (c == '"') return string(out);
    return token(out);
  }

  Status object(std::string* out, int depth) {
    ++pos_;  // '{'
    out->push_back('{');
    skip_space();
    if (at('}')) {
      ++pos_;
      out->push_back('}');
      return Status::ok();
    }
    while (true) {
      skip_space();
      HF_RETURN_IF_ERROR(key(out, depth));
      skip_space();
      if (!at(':')) return error("expected ':' after object key");
      ++pos_;
      out->push_back(':');
      HF_RETURN_IF_ERROR(value(out, depth));
      skip_space();
      if (at(',')) {
        ++pos_;
        out->push_back(',');
        continue;
      }
      if (at('}')) {
        ++pos_;
        out->push_back('}');
        return Status::ok();
      }
      return error("expected ',' or '}' in object");
    }
  }

  Status key(std::string* out, int depth) {
    if (pos_ >= in_.size()) return error("unexpected end of text in object");
    const char c = in_[pos_];
    if (c == '"') return string(out);
    std::string raw;
    if (c == '{' || c == '[') {
      HF_RETURN_IF_ERROR(value(&raw, depth));
    } else {
      HF_RETURN_IF_ERROR(token(&raw));
    }
    *out += nlohmann::json(raw).dump();
    return Status::ok();
  }

  Status array(std::string* out, int depth) {
    ++pos_;  // '['
    out->push_back('[');
    skip_space();
    if (at(']')) {
      ++pos_;
      out->push_back(']');
      return Status::ok();
    }
    while (true) {
      HF_RETURN_IF_ERROR(value(out, depth));
      skip_space();
      if (at(',')) {
        ++pos_;
        out->push_back(',');
        continue;
      }
      if (at(']')) {
        ++pos_;
        out->push_back(']');
        return Status::ok();
      }
      return error("expected ',' or ']' in array");
    }
  }

  // Copies a string literal with its escapes untouched (nlohmann validates them later).
  Status string(std::string* out) {
    const size_t start = pos_++;
    while (pos_ < in_.size()) {
      const char c = in_[pos_];
      if (c == '\\') {
        pos_ += 2;
        continue;
      }
      ++pos_;
      if (c == '"') {
        out->append(in_.substr(start, pos_ - start));
        return Status::ok();
      }
    }
    pos_ = start;
    return error("unterminated string");
  }

  // A number, true/false/null, or one of fastjson's bare key tokens.
  Status token(std::string* out) {
    const size_t start = pos_;
    while (pos_ < in_.size()) {
      const unsigned char c = static_cast<unsigned char>(in_[pos_]);
      if (std::isalnum(c) || c == '-' || c == '+' || c == '.' || c == '_' || c == '%' || c == '@') {
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) return error(std::string("unexpected character '") + in_[pos_] + "'");
    out->append(in_.substr(start, pos_ - start));
    return Status::ok();
  }

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::string> fastjson_to_standard(std::string_view text) { return Normalizer(text).run(); }

Result<nlohmann::json> parse_fastjson(std::string_view text, std::string_view what) {
  auto standard = fastjson_to_standard(text);
  if (!standard.is_ok()) return Status::corruption(std::string(what) + ": " + standard.status().message());
  nlohmann::json doc = nlohmann::json::parse(*standard, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::corruption(std::string(what) + ": not valid JSON");
  return doc;
}

Result<MessageQueueKey> parse_message_queue_key(std::string_view key) {
  HF_ASSIGN_OR_RETURN(nlohmann::json doc, parse_fastjson(key, "message queue key"));
  if (!doc.is_object()) return Status::corruption("message queue key is not an object: " + std::string(key));
  MessageQueueKey out;
  auto topic = doc.find("topic");
  auto broker = doc.find("brokerName");
  auto queue = doc.find("queueId");
  if (topic == doc.end() || !topic->is_string() || broker == doc.end() || !broker->is_string() ||
      queue == doc.end() || !queue->is_number_integer()) {
    return Status::corruption("message queue key lacks topic, brokerName or queueId: " + std::string(key));
  }
  out.topic = topic->get<std::string>();
  out.broker_name = broker->get<std::string>();
  out.queue_id = queue->get<int32_t>();
  return out;
}

}  // namespace holdfast::admin
