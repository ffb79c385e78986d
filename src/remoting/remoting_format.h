// Named constants of the RocketMQ remoting wire format (facts §1.1, §1.2, §5.6). The byte tables
// live in docs/format/remoting.md; every codec in src/remoting uses these names, never literals.
#pragma once

#include <cstddef>
#include <cstdint>

namespace holdfast::remoting::format {

// Frame: [int32 length][int32 serialize-type/header-length word][header][body].
// `length` = 4 + headerLen + bodyLen; it does not count itself.
inline constexpr size_t kLengthFieldSize = 4;
inline constexpr size_t kHeaderWordSize = 4;
inline constexpr size_t kFramePrefixSize = kLengthFieldSize + kHeaderWordSize;  // 8
// Largest frame a peer accepts, counting the 4-byte length prefix (Java NettyDecoder default).
inline constexpr uint32_t kMaxFrameLength = 16u * 1024 * 1024;  // 16,777,216
// Largest value of the length field itself.
inline constexpr uint32_t kMaxLengthField = kMaxFrameLength - static_cast<uint32_t>(kLengthFieldSize);
// The header-length word: serialize type in the high byte, header length in the low 24 bits.
inline constexpr int kSerializeTypeShift = 24;
inline constexpr uint32_t kHeaderLengthMask = 0x00FFFFFFu;

// ROCKETMQ binary header: int16 code, int8 language, int16 version, int32 opaque, int32 flag,
// int32 remark length (+ bytes), int32 extFields length (+ entries).
inline constexpr size_t kBinaryCodeSize = 2;
inline constexpr size_t kBinaryLanguageSize = 1;
inline constexpr size_t kBinaryVersionSize = 2;
inline constexpr size_t kBinaryOpaqueSize = 4;
inline constexpr size_t kBinaryFlagSize = 4;
inline constexpr size_t kBinaryRemarkLengthSize = 4;
inline constexpr size_t kBinaryExtLengthSize = 4;
inline constexpr size_t kBinaryHeaderFixedSize = kBinaryCodeSize + kBinaryLanguageSize +
                                                  kBinaryVersionSize + kBinaryOpaqueSize +
                                                  kBinaryFlagSize + kBinaryRemarkLengthSize +
                                                  kBinaryExtLengthSize;  // 21
// Offset of the remark length: code, language, version, opaque and flag come first.
inline constexpr size_t kBinaryRemarkPos =
    kBinaryCodeSize + kBinaryLanguageSize + kBinaryVersionSize + kBinaryOpaqueSize + kBinaryFlagSize;  // 13
// One extFields entry: [int16 keyLen][key][int32 valLen][val].
inline constexpr size_t kBinaryExtKeyLengthSize = 2;
inline constexpr size_t kBinaryExtValueLengthSize = 4;
inline constexpr size_t kBinaryMaxExtKeyLength = 32767;  // keyLen is a signed int16

// RemotingCommand.flag bits.
inline constexpr int32_t kFlagResponse = 1 << 0;  // 0 = request
inline constexpr int32_t kFlagOneway = 1 << 1;

// SEND_BATCH_MESSAGE body, per inner message:
// TOTALSIZE(4) MAGIC(4) BODYCRC(4) FLAG(4) BODYLEN(4) BODY PROPLEN(2) PROPS.
inline constexpr size_t kBatchTotalSizePos = 0;
inline constexpr size_t kBatchMagicPos = 4;
inline constexpr size_t kBatchBodyCrcPos = 8;
inline constexpr size_t kBatchFlagPos = 12;
inline constexpr size_t kBatchBodyLengthPos = 16;
inline constexpr size_t kBatchBodyPos = 20;        // fixed part before BODY
inline constexpr size_t kBatchPropertiesLengthSize = 2;
inline constexpr size_t kBatchMinMessageSize = kBatchBodyPos + kBatchPropertiesLengthSize;  // 22
inline constexpr size_t kBatchMaxPropertiesLength = 32767;  // PROPLEN is a signed int16
// What clients write into MAGIC and BODYCRC of an inner message; the broker ignores both.
inline constexpr int32_t kBatchClientMagic = 0;
inline constexpr int32_t kBatchClientBodyCrc = 0;

}  // namespace holdfast::remoting::format
