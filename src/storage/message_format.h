// Named constants of RocketMQ's stored-message record (facts §5.1, §5.3, §6.2); the byte table
// lives in docs/format/commitlog.md. The same bytes are stored, pulled, queried and replicated.
#pragma once

#include <cstdint>

namespace holdfast::format {

inline constexpr uint32_t kMagicV1 = 0xDAA320A7u;     // topic length is 1 byte
inline constexpr uint32_t kMagicV2 = 0xDAA320ABu;     // topic length is 2 bytes (not written)
inline constexpr uint32_t kBlankMagic = 0xCBD43194u;  // end-of-file filler record

// Fixed positions (IPv4 born host).
inline constexpr int kTotalSizePos = 0;
inline constexpr int kMagicPos = 4;
inline constexpr int kBodyCrcPos = 8;
inline constexpr int kQueueIdPos = 12;
inline constexpr int kFlagPos = 16;
inline constexpr int kQueueOffsetPos = 20;
inline constexpr int kPhysicalOffsetPos = 28;
inline constexpr int kSysFlagPos = 36;
inline constexpr int kBornTimestampPos = 40;
inline constexpr int kBornHostPos = 48;

inline constexpr int kIpv4HostSize = 8;   // 4 address bytes + int32 port
inline constexpr int kIpv6HostSize = 20;  // 16 address bytes + int32 port
// Bytes before BODYLENGTH when both hosts are IPv4 (facts §5.1: 84).
inline constexpr int kFixedPrefixIpv4 = 84;

// A record never spans segment files; at least this many bytes end a file as a blank record.
inline constexpr int kEndFileMinBlankLength = 8;

// sysFlag bits (facts §5.3).
inline constexpr int32_t kCompressed = 0x1;
inline constexpr int32_t kMultiTags = 0x2;
inline constexpr int32_t kTransactionTypeMask = 0xC;
inline constexpr int32_t kTransactionNotType = 0x0;
inline constexpr int32_t kTransactionPrepared = 0x4;
inline constexpr int32_t kTransactionCommit = 0x8;
inline constexpr int32_t kTransactionRollback = 0xC;
inline constexpr int32_t kBornHostV6 = 0x10;
inline constexpr int32_t kStoreHostV6 = 0x20;

// Limits (facts §5.1).
inline constexpr int kMaxTopicLength = 127;
inline constexpr int kMaxPropertiesLength = 32767;
inline constexpr int64_t kDefaultMaxMessageSize = 4 * 1024 * 1024;

// Properties string separators (facts §5.4).
inline constexpr char kNameValueSeparator = 1;
inline constexpr char kPropertySeparator = 2;

}  // namespace holdfast::format
