// Encoding and validation of stored message records (RocketMQ's MessageExt layout, facts §5.1).
#include "storage/message.h"

#include <algorithm>
#include <charconv>

#include <cstdio>
#include <cstring>

#include "base/coding.h"
#include "base/hash.h"
#include "storage/message_format.h"

namespace holdfast {

using namespace format;  // NOLINT(google-build-using-namespace): constants of this format only

HostAddress HostAddress::ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, int32_t port) {
  HostAddress h;
  h.ip[0] = a;
  h.ip[1] = b;
  h.ip[2] = c;
  h.ip[3] = d;
  h.port = port;
  return h;
}

bool HostAddress::parse(std::string_view text, HostAddress* out) {
  // "a.b.c.d:port" with from_chars: runs for every send (the born host), so no sscanf and no copy.
  const char* p = text.data();
  const char* const end = p + text.size();
  unsigned parts[5];
  for (int i = 0; i < 5; ++i) {
    const auto [next, ec] = std::from_chars(p, end, parts[i]);
    if (ec != std::errc() || next == p) return false;
    p = next;
    if (i < 4) {
      if (p == end || *p != (i < 3 ? '.' : ':')) return false;
      ++p;
    }
  }
  if (p != end) return false;
  if (parts[0] > 255 || parts[1] > 255 || parts[2] > 255 || parts[3] > 255 || parts[4] > 65535) return false;
  *out = ipv4(static_cast<uint8_t>(parts[0]), static_cast<uint8_t>(parts[1]), static_cast<uint8_t>(parts[2]),
              static_cast<uint8_t>(parts[3]), static_cast<int32_t>(parts[4]));
  return true;
}

std::string HostAddress::to_string() const {
  char buf[64];
  if (!ipv6) {
    std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u:%d", ip[0], ip[1], ip[2], ip[3], port);
    return buf;
  }
  std::string s = "[";
  for (int i = 0; i < 16; i += 2) {
    std::snprintf(buf, sizeof(buf), "%s%x", i ? ":" : "", (ip[i] << 8) | ip[i + 1]);
    s += buf;
  }
  std::snprintf(buf, sizeof(buf), "]:%d", port);
  return s + buf;
}

int32_t RecordView::transaction_type() const { return sys_flag & kTransactionTypeMask; }

namespace {

char* put_host(char* p, const HostAddress& h) {
  int n = h.ipv6 ? 16 : 4;
  std::memcpy(p, h.ip.data(), n);
  put_be32(p + n, static_cast<uint32_t>(h.port));
  return p + n + 4;
}

const char* get_host(const char* p, bool v6, HostAddress* h) {
  int n = v6 ? 16 : 4;
  h->ipv6 = v6;
  h->ip.fill(0);
  std::memcpy(h->ip.data(), p, n);
  h->port = get_be32s(p + n);
  return p + n + 4;
}

int32_t sys_flag_with_hosts(const MessageToStore& msg) {
  int32_t f = msg.sys_flag & ~(kBornHostV6 | kStoreHostV6);
  if (msg.born_host.ipv6) f |= kBornHostV6;
  if (msg.store_host.ipv6) f |= kStoreHostV6;
  return f;
}

}  // namespace

MessageToStore message_from_record(const RecordView& r) {
  MessageToStore m;
  m.topic.assign(r.topic);
  m.queue_id = r.queue_id;
  m.flag = r.flag;
  m.sys_flag = r.sys_flag;
  m.born_timestamp = r.born_timestamp;
  m.born_host = r.born_host;
  m.store_host = r.store_host;
  m.reconsume_times = r.reconsume_times;
  m.prepared_transaction_offset = r.prepared_transaction_offset;
  m.body.assign(r.body);
  m.properties.assign(r.properties);
  return m;
}

int64_t encoded_record_size(const MessageToStore& msg) {
  return 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + msg.born_host.encoded_size() + 8 +
         msg.store_host.encoded_size() + 4 + 8 + 4 + static_cast<int64_t>(msg.body.size()) + 1 +
         static_cast<int64_t>(msg.topic.size()) + 2 + static_cast<int64_t>(msg.properties.size());
}

void encode_record(const MessageToStore& msg, std::string* out) {
  const int64_t size = encoded_record_size(msg);
  out->resize(static_cast<size_t>(size));
  char* p = out->data();
  put_be32(p, static_cast<uint32_t>(size));
  put_be32(p + 4, kMagicV1);
  put_be32(p + 8, static_cast<uint32_t>(body_crc(msg.body.data(), msg.body.size())));
  put_be32(p + 12, static_cast<uint32_t>(msg.queue_id));
  put_be32(p + 16, static_cast<uint32_t>(msg.flag));
  put_be64(p + 20, 0);  // queue offset: patched under the put lock
  put_be64(p + 28, 0);  // physical offset: patched under the put lock
  put_be32(p + 36, static_cast<uint32_t>(sys_flag_with_hosts(msg)));
  put_be64(p + 40, static_cast<uint64_t>(msg.born_timestamp));
  p = put_host(p + 48, msg.born_host);
  put_be64(p, 0);  // store timestamp: patched under the put lock
  p = put_host(p + 8, msg.store_host);
  put_be32(p, static_cast<uint32_t>(msg.reconsume_times));
  put_be64(p + 4, static_cast<uint64_t>(msg.prepared_transaction_offset));
  put_be32(p + 12, static_cast<uint32_t>(msg.body.size()));
  p += 16;
  std::memcpy(p, msg.body.data(), msg.body.size());
  p += msg.body.size();
  *p++ = static_cast<char>(msg.topic.size());
  std::memcpy(p, msg.topic.data(), msg.topic.size());
  p += msg.topic.size();
  put_be16(p, static_cast<uint16_t>(msg.properties.size()));
  std::memcpy(p + 2, msg.properties.data(), msg.properties.size());
}

void patch_record(char* record, int64_t queue_offset, int64_t physical_offset,
                  int64_t store_timestamp) {
  put_be64(record + kQueueOffsetPos, static_cast<uint64_t>(queue_offset));
  put_be64(record + kPhysicalOffsetPos, static_cast<uint64_t>(physical_offset));
  int32_t sys_flag = get_be32s(record + kSysFlagPos);
  int born_host_size = (sys_flag & kBornHostV6) ? kIpv6HostSize : kIpv4HostSize;
  put_be64(record + kBornHostPos + born_host_size, static_cast<uint64_t>(store_timestamp));
}

void encode_blank_record(char* p, int32_t size) {
  put_be32(p, static_cast<uint32_t>(size));
  put_be32(p + 4, kBlankMagic);
}

DecodeResult decode_record(const char* data, size_t n, bool check_crc, RecordView* out) {
  if (n < 8) return {DecodeOutcome::kIncomplete};
  const int32_t total = get_be32s(data);
  const uint32_t magic = get_be32(data + 4);
  if (total == 0 && magic == 0) return {DecodeOutcome::kEnd};
  if (magic == kBlankMagic) {
    if (total < kEndFileMinBlankLength) return {DecodeOutcome::kCorrupt, 0, "blank record too short"};
    return {DecodeOutcome::kBlank, total};
  }
  if (magic != kMagicV1 && magic != kMagicV2) {
    return {DecodeOutcome::kCorrupt, 0, "bad magic code"};
  }
  if (total < kFixedPrefixIpv4 + 4 + 1 + 2) return {DecodeOutcome::kCorrupt, 0, "record size too small"};
  if (static_cast<size_t>(total) > n) return {DecodeOutcome::kIncomplete, total};
  RecordView& r = *out;
  r.total_size = total;
  r.magic = magic;
  r.body_crc = get_be32s(data + 8);
  r.queue_id = get_be32s(data + 12);
  r.flag = get_be32s(data + 16);
  r.queue_offset = get_be64s(data + 20);
  r.physical_offset = get_be64s(data + 28);
  r.sys_flag = get_be32s(data + 36);
  r.born_timestamp = get_be64s(data + 40);
  const char* end = data + total;
  const char* p = get_host(data + 48, (r.sys_flag & kBornHostV6) != 0, &r.born_host);
  r.store_timestamp = get_be64s(p);
  p = get_host(p + 8, (r.sys_flag & kStoreHostV6) != 0, &r.store_host);
  // From here on every length must fit inside the declared total size.
  if (end - p < 4 + 8 + 4) return {DecodeOutcome::kCorrupt, 0, "record size too small for hosts"};
  r.reconsume_times = get_be32s(p);
  r.prepared_transaction_offset = get_be64s(p + 4);
  const int32_t body_len = get_be32s(p + 12);
  p += 16;
  if (body_len < 0 || end - p < static_cast<int64_t>(body_len) + 1) {
    return {DecodeOutcome::kCorrupt, 0, "body length exceeds record"};
  }
  r.body = std::string_view(p, static_cast<size_t>(body_len));
  p += body_len;
  int topic_len;
  if (magic == kMagicV1) {
    topic_len = static_cast<uint8_t>(*p);
    p += 1;
  } else {
    if (end - p < 2) return {DecodeOutcome::kCorrupt, 0, "topic length exceeds record"};
    topic_len = get_be16(p);
    p += 2;
  }
  if (end - p < topic_len + 2) return {DecodeOutcome::kCorrupt, 0, "topic length exceeds record"};
  r.topic = std::string_view(p, static_cast<size_t>(topic_len));
  p += topic_len;
  const int props_len = get_be16(p);
  p += 2;
  if (props_len > format::kMaxPropertiesLength || end - p != props_len) {
    return {DecodeOutcome::kCorrupt, 0, "record size does not match its fields"};
  }
  r.properties = std::string_view(p, static_cast<size_t>(props_len));
  if (check_crc && body_crc(r.body.data(), r.body.size()) != r.body_crc) {
    return {DecodeOutcome::kCorrupt, 0, "body CRC mismatch"};
  }
  return {DecodeOutcome::kRecord, total};
}

bool is_legal_topic_name(std::string_view topic) {
  if (topic.empty() || topic.size() > static_cast<size_t>(kMaxTopicLength)) return false;
  for (char c : topic) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '%' || c == '|' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Status validate_message(const MessageToStore& msg, int64_t max_message_size) {
  if (!is_legal_topic_name(msg.topic)) {
    return Status::invalid_argument(
        "illegal topic name '" + msg.topic.substr(0, 200) +
        "': 1 to 127 characters of [%|a-zA-Z0-9_-] are allowed");
  }
  if (static_cast<int64_t>(msg.body.size()) > max_message_size) {
    return Status::invalid_argument("message body of " + std::to_string(msg.body.size()) +
                                    " bytes exceeds maxMessageSize " +
                                    std::to_string(max_message_size));
  }
  if (msg.properties.size() > static_cast<size_t>(kMaxPropertiesLength)) {
    return Status::invalid_argument("message properties of " +
                                    std::to_string(msg.properties.size()) +
                                    " bytes exceed the limit of 32767");
  }
  if (msg.queue_id < 0) return Status::invalid_argument("queue id must not be negative");
  return Status::ok();
}

std::string_view find_property(std::string_view props, std::string_view key) {
  size_t pos = 0;
  std::string_view found;
  while (pos < props.size()) {
    size_t sep = props.find(kPropertySeparator, pos);
    if (sep == std::string_view::npos) sep = props.size();
    std::string_view pair = props.substr(pos, sep - pos);
    size_t nv = pair.find(kNameValueSeparator);
    if (nv != std::string_view::npos && nv > 0 && nv + 1 < pair.size() &&
        pair.substr(0, nv) == key) {
      found = pair.substr(nv + 1);  // a later duplicate overrides an earlier one
    }
    pos = sep + 1;
  }
  return found;
}

std::vector<std::pair<std::string_view, std::string_view>> parse_properties(std::string_view props) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  size_t pos = 0;
  while (pos < props.size()) {
    size_t sep = props.find(kPropertySeparator, pos);
    if (sep == std::string_view::npos) sep = props.size();
    std::string_view pair = props.substr(pos, sep - pos);
    size_t nv = pair.find(kNameValueSeparator);
    if (pair.size() >= 3 && nv != std::string_view::npos && nv > 0 && nv + 1 < pair.size()) {
      std::string_view k = pair.substr(0, nv), v = pair.substr(nv + 1);
      bool replaced = false;
      for (auto& e : out) {
        if (e.first == k) { e.second = v; replaced = true; }
      }
      if (!replaced) out.emplace_back(k, v);
    }
    pos = sep + 1;
  }
  return out;
}

void append_property(std::string* props, std::string_view key, std::string_view value) {
  if (!props->empty() && props->back() != kPropertySeparator) props->push_back(kPropertySeparator);
  props->append(key);
  props->push_back(kNameValueSeparator);
  props->append(value);
  props->push_back(kPropertySeparator);
}

MessageProperties::MessageProperties(std::string_view encoded) {
  for (const auto& [key, value] : parse_properties(encoded)) entries_.emplace_back(key, value);
}

std::string_view MessageProperties::get(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return v;
  }
  return {};
}

bool MessageProperties::contains(std::string_view key) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e.first == key; });
}

void MessageProperties::set(std::string_view key, std::string_view value) {
  if (value.empty()) return erase(key);
  for (auto& [k, v] : entries_) {
    if (k == key) {
      v.assign(value);
      return;
    }
  }
  entries_.emplace_back(key, value);
}

void MessageProperties::set_if_absent(std::string_view key, std::string_view value) {
  if (!value.empty() && !contains(key)) entries_.emplace_back(key, value);
}

void MessageProperties::erase(std::string_view key) {
  std::erase_if(entries_, [&](const auto& e) { return e.first == key; });
}

std::string MessageProperties::encode() const {
  size_t size = 0;
  for (const auto& [k, v] : entries_) size += k.size() + v.size() + 2;
  std::string out;
  out.reserve(size);
  for (const auto& [k, v] : entries_) append_property(&out, k, v);
  return out;
}

int64_t tags_code_of(std::string_view props) {
  std::string_view tags = find_property(props, "TAGS");
  if (tags.empty()) return 0;
  return java_string_hash(tags);
}

int32_t delay_level_of(std::string_view props) { return parse_delay_level(find_property(props, "DELAY")); }

int32_t parse_delay_level(std::string_view text) {
  if (text.empty() || text.size() > 9) return 0;
  int32_t level = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    level = level * 10 + (c - '0');
  }
  return level;
}

int64_t schedule_due_time(const RecordView& r, const std::vector<int64_t>& delay_level_ms) {
  if (delay_level_ms.empty()) return r.store_timestamp;
  int64_t level = delay_level_of(r.properties);
  if (level <= 0) level = static_cast<int64_t>(r.queue_id) + 1;
  level = std::clamp<int64_t>(level, 1, static_cast<int64_t>(delay_level_ms.size()));
  return r.store_timestamp + delay_level_ms[static_cast<size_t>(level - 1)];
}

std::vector<std::string_view> index_keys_of(std::string_view props) {
  std::vector<std::string_view> keys;
  std::string_view uniq = find_property(props, "UNIQ_KEY");
  if (!uniq.empty()) keys.push_back(uniq);
  std::string_view all = find_property(props, "KEYS");
  size_t pos = 0;
  while (pos < all.size()) {
    size_t sp = all.find(' ', pos);
    if (sp == std::string_view::npos) sp = all.size();
    if (sp > pos) keys.push_back(all.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return keys;
}

std::string offset_message_id(const HostAddress& host, int64_t physical_offset) {
  static const char kHex[] = "0123456789ABCDEF";
  char raw[28];
  int n = host.ipv6 ? 16 : 4;
  std::memcpy(raw, host.ip.data(), n);
  put_be32(raw + n, static_cast<uint32_t>(host.port));
  put_be64(raw + n + 4, static_cast<uint64_t>(physical_offset));
  std::string out;
  out.reserve(static_cast<size_t>(n + 12) * 2);
  for (int i = 0; i < n + 12; ++i) {
    auto b = static_cast<uint8_t>(raw[i]);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

bool decode_offset_message_id(std::string_view id, HostAddress* host, int64_t* physical_offset) {
  if (id.size() != 32 && id.size() != 56) return false;
  char raw[28];
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < id.size() / 2; ++i) {
    int hi = nib(id[2 * i]), lo = nib(id[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    raw[i] = static_cast<char>((hi << 4) | lo);
  }
  bool v6 = id.size() == 56;
  get_host(raw, v6, host);
  *physical_offset = get_be64s(raw + (v6 ? 20 : 8));
  return true;
}

}  // namespace holdfast
