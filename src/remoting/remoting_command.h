// RemotingCommand: the one message type of RocketMQ's remoting protocol (requests and responses
// alike), plus its extFields map and the typed getters processors use to read custom headers.
// Codecs: json_header.h, binary_header.h (headers), frame_codec.h (frames), batch_codec.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "remoting/remoting_format.h"

namespace holdfast::remoting {

// The sender's language (facts §1.2, Java LanguageCode). Values are the wire byte.
enum class LanguageCode : uint8_t {
  kJava = 0,
  kCpp = 1,
  kDotnet = 2,
  kPython = 3,
  kDelphi = 4,
  kErlang = 5,
  kRuby = 6,
  kOther = 7,
  kHttp = 8,
  kGo = 9,
  kPhp = 10,
  kOms = 11,
  kRust = 12,
  kNodeJs = 13,
};

// "JAVA", "CPP", "NODE_JS", ... (the JSON spelling).
const char* language_name(LanguageCode language);
// Exact, case-sensitive name match; nullopt for names not in the table.
std::optional<LanguageCode> language_from_name(std::string_view name);
// Wire byte -> LanguageCode; bytes outside the table map to kOther (the field is informational,
// and mapping keeps every decoded command re-encodable in both header formats).
LanguageCode language_from_code(int64_t code);

// How a frame's header is serialized: the high byte of the frame's header-length word.
enum class SerializeType : uint8_t { kJson = 0, kRocketMQ = 1 };

// MQVersion ordinals (facts §1.5) that code compares against.
namespace mq_version {
inline constexpr int32_t kV3_4_9 = 121;
inline constexpr int32_t kV4_0_0 = 213;
inline constexpr int32_t kV4_1_0_Snapshot = 232;
inline constexpr int32_t kV4_5_0 = 313;
inline constexpr int32_t kV4_9_0 = 393;
inline constexpr int32_t kV4_9_4 = 401;
inline constexpr int32_t kV4_9_8 = 409;
inline constexpr int32_t kV5_0_0 = 413;
inline constexpr int32_t kV5_1_0 = 433;
inline constexpr int32_t kV5_3_0 = 473;
inline constexpr int32_t kV5_3_1 = 475;
inline constexpr int32_t kV5_3_3 = 479;
}  // namespace mq_version

// The version Holdfast writes into the commands it creates (make_request / make_response).
// Clients may remember a broker's version from its responses, so we claim 4.9.8: no client turns
// on a 5.x-only behaviour because of us.
inline constexpr int32_t kLocalVersion = mq_version::kV4_9_8;

// The custom header, flattened to string pairs. Insertion-ordered vector with linear lookup:
// headers hold about 5-15 short keys, where a scan beats hashing. Keys are unique: set()
// replaces, and the decoders resolve duplicate keys on the wire as "last value wins".
class ExtFields {
 public:
  using Entry = std::pair<std::string, std::string>;

  std::optional<std::string_view> get(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Inserts or replaces.
  void set(std::string_view key, std::string_view value);
  // Removes the key; returns whether it was present.
  bool erase(std::string_view key);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }
  void reserve(size_t n) { entries_.reserve(n); }
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }

  // For decoders: append without the uniqueness check (O(1)), then call
  // resolve_duplicates() once when done (O(n) when there are no duplicates and n <= 16,
  // O(n log n) otherwise), so a hostile header with many keys costs no quadratic time.
  void append_unchecked(std::string key, std::string value) {
    entries_.emplace_back(std::move(key), std::move(value));
  }
  // Keeps each key once, at its first position, with its last value.
  void resolve_duplicates();

  // Order-insensitive comparison (same key set, same values).
  bool operator==(const ExtFields& other) const;

 private:
  const Entry* find(std::string_view key) const;
  std::vector<Entry> entries_;
};

// A request or a response. Plain value type: no threads, no I/O. `body` is the frame's body
// bytes; everything else is the header.
struct RemotingCommand {
  int32_t code = 0;  // request code in a request, response code in a response
  LanguageCode language = LanguageCode::kJava;  // Java's default; responses mimic a Java broker
  int32_t version = 0;  // the sender's MQVersion ordinal
  int32_t opaque = 0;   // request id; a response echoes it
  int32_t flag = 0;     // format::kFlagResponse | format::kFlagOneway
  // nullopt = null (JSON: key omitted). The binary format cannot carry "" (length 0 is null).
  std::optional<std::string> remark;
  ExtFields ext_fields;
  std::string body;

  bool is_response() const { return (flag & format::kFlagResponse) != 0; }
  bool is_oneway() const { return (flag & format::kFlagOneway) != 0; }
  void mark_response() { flag |= format::kFlagResponse; }
  void mark_oneway() { flag |= format::kFlagOneway; }

  // A request with `code`, version kLocalVersion, opaque 0 (the transport assigns it).
  static RemotingCommand make_request(int32_t code);
  // The response to this request: same opaque, response flag set, version kLocalVersion,
  // remark null (first overload) or `remark`. Header fields and body start empty.
  RemotingCommand make_response(int32_t code) const;
  RemotingCommand make_response(int32_t code, std::string remark) const;

  // extFields access. The getters' errors are InvalidArgument with the field name and raw
  // text, e.g. "missing header field 'queueId'" or
  // "header field 'queueId' is not an integer: 'abc'".
  std::optional<std::string_view> ext(std::string_view key) const { return ext_fields.get(key); }
  Result<int32_t> get_int32(std::string_view key) const;
  Result<int64_t> get_int64(std::string_view key) const;
  // True only for "true" in any case; anything else, "0" and "1" included, is false, as Java's
  // Boolean.parseBoolean reads RocketMQ headers (rocketmq-client-cpp writes "0"/"1"). Absent = error.
  Result<bool> get_bool(std::string_view key) const;
  // Typed setters (distinct names: an overloaded set_ext(bool) would capture string literals).
  void set_ext(std::string_view key, std::string_view value) { ext_fields.set(key, value); }
  void set_ext_int(std::string_view key, int64_t value);
  void set_ext_bool(std::string_view key, bool value) { ext_fields.set(key, value ? "true" : "false"); }

  bool operator==(const RemotingCommand& other) const = default;
};

// Parses an extFields value the way Java's Integer/Long.parseLong does: optional sign, decimal
// digits, no spaces. Exposed for processors that read numbers out of bodies.
std::optional<int64_t> parse_decimal_int64(std::string_view text);

}  // namespace holdfast::remoting
