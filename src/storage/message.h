// The stored message record: building one from a put, decoding one from the log, properties
// strings and offset message ids. Layout: docs/format/commitlog.md and message_format.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace holdfast {

// An IPv4 or IPv6 address with a port, as stored in BORNHOST / STOREHOST.
struct HostAddress {
  bool ipv6 = false;
  std::array<uint8_t, 16> ip{};  // first 4 bytes for IPv4
  int32_t port = 0;

  static HostAddress ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, int32_t port);
  // Parses "a.b.c.d:port"; returns nullopt-like false on failure.
  static bool parse(std::string_view text, HostAddress* out);
  int encoded_size() const { return ipv6 ? 20 : 8; }
  std::string to_string() const;
  bool operator==(const HostAddress& o) const = default;
};

// What a producer asks the store to keep (RocketMQ's MessageExtBrokerInner without derived
// fields). `properties` is the encoded properties string (facts §5.4).
struct MessageToStore {
  std::string topic;
  int32_t queue_id = 0;
  int32_t flag = 0;
  int32_t sys_flag = 0;
  int64_t born_timestamp = 0;
  HostAddress born_host;
  HostAddress store_host;
  int32_t reconsume_times = 0;
  int64_t prepared_transaction_offset = 0;
  std::string body;
  std::string properties;
};

// A decoded view of one stored record; string_views point into the caller's buffer.
struct RecordView {
  int32_t total_size = 0;
  uint32_t magic = 0;
  int32_t body_crc = 0;
  int32_t queue_id = 0;
  int32_t flag = 0;
  int64_t queue_offset = 0;
  int64_t physical_offset = 0;
  int32_t sys_flag = 0;
  int64_t born_timestamp = 0;
  HostAddress born_host;
  int64_t store_timestamp = 0;
  HostAddress store_host;
  int32_t reconsume_times = 0;
  int64_t prepared_transaction_offset = 0;
  std::string_view body;
  std::string_view topic;
  std::string_view properties;

  int32_t transaction_type() const;
};

enum class DecodeOutcome {
  kRecord,      // a valid message record of total_size bytes
  kBlank,       // the end-of-file blank record: the rest of the segment is filler
  kEnd,         // zero size: nothing was ever written here (preallocated zeros)
  kCorrupt,     // bad magic, impossible size, field overflow or CRC mismatch
  kIncomplete,  // the buffer ends inside the record (read more, or a torn tail at end of data)
};

struct DecodeResult {
  DecodeOutcome outcome;
  int32_t size = 0;     // bytes consumed for kRecord / kBlank
  std::string reason;   // for kCorrupt
};

// Validates and decodes the record at data[0..n). Checks size, magic, field lengths against the
// total size, and (if check_crc) the body CRC.
DecodeResult decode_record(const char* data, size_t n, bool check_crc, RecordView* out);

// A stored record as a message to store again (topic, queue, flag, sysFlag, born, hosts, reconsume
// times, prepared offset, body and properties copied; the caller changes what differs).
MessageToStore message_from_record(const RecordView& record);

// Size of the record that encode_record would produce.
int64_t encoded_record_size(const MessageToStore& msg);

// Encodes msg as a stored record into *out (replacing its content). QUEUEOFFSET, PHYSICALOFFSET
// and STORETIMESTAMP are left zero: the appender fills them with patch_record under the put lock.
// The caller must have validated limits (validate_message).
void encode_record(const MessageToStore& msg, std::string* out);
void patch_record(char* record, int64_t queue_offset, int64_t physical_offset,
                  int64_t store_timestamp);
// Writes an 8-byte-or-longer blank record header (size, blank magic) at p.
void encode_blank_record(char* p, int32_t size);

// Checks the store limits; the Status message is readable by an operator or client.
Status validate_message(const MessageToStore& msg, int64_t max_message_size);
bool is_legal_topic_name(std::string_view topic);

// --- properties (facts §5.4) ---
// Value of `key` in an encoded properties string, or empty view if absent.
std::string_view find_property(std::string_view properties, std::string_view key);
std::vector<std::pair<std::string_view, std::string_view>> parse_properties(std::string_view properties);
// Appends one `key 0x01 value 0x02` pair. A string whose last pair has no closing 0x02 (the Java
// client 4.9.8 writes none) gets one first, so the new pair never runs into the previous value.
void append_property(std::string* properties, std::string_view key, std::string_view value);

// A stored message's properties, parsed once for a rewrite (send-back, delay levels, retries,
// dead-letter resend, transaction commit) and encoded once. Parsing follows facts §5.4 (a pair
// needs a non-empty key and value, a later duplicate replaces an earlier one, a missing final
// 0x02 is fine); encode() writes every pair with its closing 0x02, in the original order, with
// new keys at the end. Invariant: MessageProperties(p.encode()) holds the same pairs as p for
// any keys and values free of 0x01 and 0x02 (the separators; nothing else is reserved).
class MessageProperties {
 public:
  MessageProperties() = default;
  explicit MessageProperties(std::string_view encoded);

  // Value of `key`, or an empty view when absent. Valid until the next change.
  std::string_view get(std::string_view key) const;
  bool contains(std::string_view key) const;
  // Replaces the value in place, or appends the pair when the key is new. An empty value erases
  // the key: the format cannot carry one.
  void set(std::string_view key, std::string_view value);
  void set_if_absent(std::string_view key, std::string_view value);
  void erase(std::string_view key);

  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  std::string encode() const;

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// tagsCode of a message (facts §5.5): Java hashCode of TAGS, 0 without tags.
int64_t tags_code_of(std::string_view properties);
// The internal topic that holds delay-level messages until they are due (facts §8.2); queue id =
// level - 1, DELAY = the level, REAL_TOPIC / REAL_QID = where the message goes when due.
inline constexpr std::string_view kScheduleTopicName = "SCHEDULE_TOPIC_XXXX";
// The DELAY property of a message as a level (0 when absent, malformed or not positive).
int32_t delay_level_of(std::string_view properties);
// A DELAY value as a level (0 when empty, malformed or not positive).
int32_t parse_delay_level(std::string_view value);
// When a schedule-topic record is due: its store time plus the delay of its level (DELAY, else
// queue id + 1), the level clamped to the configured ones. This is the record's tags code.
int64_t schedule_due_time(const RecordView& record, const std::vector<int64_t>& delay_level_ms);
// Space-separated KEYS plus UNIQ_KEY, the keys the index stores for a record.
std::vector<std::string_view> index_keys_of(std::string_view properties);

// --- message ids (facts §5.7) ---
// Offset message id: store host + physical offset, upper-case hex (32 chars for IPv4).
std::string offset_message_id(const HostAddress& store_host, int64_t physical_offset);
bool decode_offset_message_id(std::string_view id, HostAddress* host, int64_t* physical_offset);

}  // namespace holdfast
