// Between the public Message types and the wire: validation, the properties string a producer
// sends (facts §5.4), body compression (zlib, facts §5.3), and pulled records -> ReceivedMessage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "holdfast/message.h"
#include "storage/message.h"

namespace holdfast::client {

// sysFlag bits a producer sets (facts §5.3).
inline constexpr int32_t kSysFlagCompressed = 0x1;
inline constexpr int32_t kSysFlagCompressionMask = 0x700;
inline constexpr int32_t kSysFlagTransactionPrepared = 0x4;
inline constexpr int32_t kSysFlagCompressionZlib = 0x300;  // 0 also means zlib (4.x writers)
inline constexpr int kCompressLevel = 5;

// Property keys the client sets itself; user properties may not use them.
inline constexpr char kPropertyTags[] = "TAGS";
inline constexpr char kPropertyKeys[] = "KEYS";
inline constexpr char kPropertyDelay[] = "DELAY";
inline constexpr char kPropertyWait[] = "WAIT";
inline constexpr char kPropertyUniqKey[] = "UNIQ_KEY";
inline constexpr char kPropertyMinOffset[] = "MIN_OFFSET";
inline constexpr char kPropertyMaxOffset[] = "MAX_OFFSET";

// Checks what the broker would reject anyway, so the caller gets a clear kInvalidArgument at
// once: topic name, empty or oversized body, delay level range, reserved or malformed property
// names and values (0x01 / 0x02 are the properties string's separators).
Status validate_message(const Message& msg, int64_t max_message_size);

// The properties string for msg: TAGS, KEYS (space-joined), DELAY, WAIT, UNIQ_KEY (when not
// empty), then the user properties.
std::string encode_properties(const Message& msg, std::string_view uniq_key);

// zlib stream (RFC 1950) at kCompressLevel, as Java's Deflater writes it.
Result<std::string> compress_body(std::string_view body);
// Inflates a zlib stream; Corruption when damaged or larger than max_size.
Result<std::string> decompress_body(std::string_view compressed, size_t max_size = 64u << 20);

// A decoded pulled record as the consumer hands it out: body inflated (when compressed with
// zlib), TAGS/KEYS split out, all properties kept, msg_id = UNIQ_KEY or the offset id.
Result<ReceivedMessage> to_received_message(const RecordView& record, const std::string& broker_name);

// Tag filter of a subscription expression: "*" or "" = everything, else "A || B".
class TagFilter {
 public:
  explicit TagFilter(std::string_view expression);
  bool matches(std::string_view tags) const;
  bool match_all() const { return all_; }

 private:
  bool all_ = true;
  std::vector<std::string> tags_;
};

}  // namespace holdfast::client
