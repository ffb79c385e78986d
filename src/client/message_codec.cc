// Message validation, properties, compression and pulled-record decoding.
#include "client/message_codec.h"

#include <zlib.h>

#include <algorithm>
#include <set>

#include "base/logging.h"

namespace holdfast::client {
namespace {

// The system keys a user property may not overwrite (what the broker and consumers interpret).
// CHECK_IMMUNITY_TIME_IN_SECONDS is not among them: a transactional sender sets it (in seconds)
// to defer the broker's first check-back of a long local transaction.
const std::set<std::string, std::less<>>& reserved_keys() {
  static const auto* keys = new std::set<std::string, std::less<>>{
      "TAGS", "KEYS", "WAIT", "DELAY", "UNIQ_KEY", "RETRY_TOPIC", "REAL_TOPIC", "REAL_QID", "TRAN_MSG", "PGROUP",
      "MIN_OFFSET", "MAX_OFFSET", "ORIGIN_MESSAGE_ID", "RECONSUME_TIME", "MAX_RECONSUME_TIMES", "__transactionId__",
      "TRANSACTION_CHECK_TIMES", "INSTANCE_ID", "CLUSTER", "MSG_REGION",
      "TRACE_ON", "TIMER_DELAY_SEC", "TIMER_DELIVER_MS", "TIMER_DELAY_MS"};
  return *keys;
}

bool has_separator(std::string_view s) {
  return s.find('\x01') != std::string_view::npos || s.find('\x02') != std::string_view::npos;
}

}  // namespace

Status validate_message(const Message& msg, int64_t max_message_size) {
  if (!is_legal_topic_name(msg.topic)) {
    return Status::invalid_argument("illegal topic name '" + msg.topic.substr(0, 200) +
                                    "': 1 to 127 characters of [%|a-zA-Z0-9_-] are allowed");
  }
  if (msg.body.empty()) return Status::invalid_argument("message body is empty");
  if (static_cast<int64_t>(msg.body.size()) > max_message_size) {
    return Status::invalid_argument("message body of " + std::to_string(msg.body.size()) +
                                    " bytes exceeds max_message_size " + std::to_string(max_message_size));
  }
  if (msg.delay_level < 0) return Status::invalid_argument("delay_level must not be negative");
  if (has_separator(msg.tags)) return Status::invalid_argument("tags contain a 0x01/0x02 byte");
  for (const auto& k : msg.keys) {
    if (has_separator(k) || k.find(' ') != std::string::npos) {
      return Status::invalid_argument("key '" + k + "' contains a space or a 0x01/0x02 byte");
    }
  }
  for (const auto& [k, v] : msg.properties) {
    if (k.empty() || v.empty()) return Status::invalid_argument("user property with an empty name or value");
    if (has_separator(k) || has_separator(v)) {
      return Status::invalid_argument("user property '" + k + "' contains a 0x01/0x02 byte");
    }
    if (reserved_keys().count(k)) {
      return Status::invalid_argument("user property '" + k + "' is a reserved system property");
    }
  }
  return Status::ok();
}

std::string encode_properties(const Message& msg, std::string_view uniq_key) {
  std::string props;
  if (!msg.tags.empty()) append_property(&props, kPropertyTags, msg.tags);
  std::string keys;
  for (const auto& k : msg.keys) {
    if (k.empty()) continue;
    if (!keys.empty()) keys.push_back(' ');
    keys += k;
  }
  if (!keys.empty()) append_property(&props, kPropertyKeys, keys);
  if (msg.delay_level > 0) append_property(&props, kPropertyDelay, std::to_string(msg.delay_level));
  append_property(&props, kPropertyWait, msg.wait_store_ok ? "true" : "false");
  if (!uniq_key.empty()) append_property(&props, kPropertyUniqKey, uniq_key);
  for (const auto& [k, v] : msg.properties) append_property(&props, k, v);
  return props;
}

Result<std::string> compress_body(std::string_view body) {
  uLongf bound = compressBound(static_cast<uLong>(body.size()));
  std::string out(bound, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &bound,
                           reinterpret_cast<const Bytef*>(body.data()), static_cast<uLong>(body.size()),
                           kCompressLevel);
  if (rc != Z_OK) return Status::invalid_argument("zlib compression failed: " + std::to_string(rc));
  out.resize(bound);
  return out;
}

Result<std::string> decompress_body(std::string_view compressed, size_t max_size) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return Status::corruption("zlib inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return Status::corruption("compressed body is not a valid zlib stream (" + std::to_string(rc) + ")");
    }
    out.append(chunk, sizeof(chunk) - zs.avail_out);
    if (out.size() > max_size) {
      inflateEnd(&zs);
      return Status::corruption("compressed body inflates beyond " + std::to_string(max_size) + " bytes");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return Status::corruption("compressed body is truncated");
    }
  }
  inflateEnd(&zs);
  return out;
}

Result<ReceivedMessage> to_received_message(const RecordView& r, const std::string& broker_name) {
  ReceivedMessage m;
  m.topic = std::string(r.topic);
  m.sys_flag = r.sys_flag;
  m.body = std::string(r.body);
  if (r.sys_flag & kSysFlagCompressed) {
    const int32_t codec = r.sys_flag & kSysFlagCompressionMask;
    if (codec == 0 || codec == kSysFlagCompressionZlib) {
      HF_ASSIGN_OR_RETURN(m.body, decompress_body(r.body));
    } else {
      // LZ4 / ZSTD (5.x writers): handed out as stored; sys_flag tells the caller.
      logger("client")->warn("message at offset {} uses compression type {}; body left compressed",
                             r.physical_offset, codec >> 8);
    }
  }
  for (const auto& [k, v] : parse_properties(r.properties)) m.properties[std::string(k)] = std::string(v);
  if (auto it = m.properties.find(kPropertyTags); it != m.properties.end()) m.tags = it->second;
  if (auto it = m.properties.find(kPropertyKeys); it != m.properties.end()) {
    std::string_view keys = it->second;
    while (!keys.empty()) {
      const size_t sp = keys.find(' ');
      if (sp != 0) m.keys.emplace_back(keys.substr(0, sp));
      if (sp == std::string_view::npos) break;
      keys.remove_prefix(sp + 1);
    }
  }
  m.offset_msg_id = offset_message_id(r.store_host, r.physical_offset);
  auto uniq = m.properties.find(kPropertyUniqKey);
  m.msg_id = uniq != m.properties.end() ? uniq->second : m.offset_msg_id;
  m.broker_name = broker_name;
  m.queue_id = r.queue_id;
  m.queue_offset = r.queue_offset;
  m.commit_log_offset = r.physical_offset;
  m.flag = r.flag;
  m.reconsume_times = r.reconsume_times;
  m.born_timestamp_ms = r.born_timestamp;
  m.store_timestamp_ms = r.store_timestamp;
  m.born_host = r.born_host.to_string();
  m.store_host = r.store_host.to_string();
  return m;
}

TagFilter::TagFilter(std::string_view expr) {
  std::string_view rest = expr;
  while (!rest.empty()) {
    const size_t bar = rest.find("||");
    std::string_view t = rest.substr(0, bar);
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (t == "*") {
      tags_.clear();
      break;
    }
    if (!t.empty()) tags_.emplace_back(t);
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 2);
  }
  all_ = tags_.empty();
}

bool TagFilter::matches(std::string_view tags) const {
  return all_ || std::find(tags_.begin(), tags_.end(), tags) != tags_.end();
}

}  // namespace holdfast::client
