// Checksums and hashes that must match RocketMQ bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace holdfast {

// CRC32 (IEEE, as java.util.zip.CRC32).
uint32_t crc32_ieee(const void* data, size_t n);
// RocketMQ's stored BODYCRC: crc32 & 0x7FFFFFFF.
inline int32_t body_crc(const void* data, size_t n) {
  return static_cast<int32_t>(crc32_ieee(data, n) & 0x7FFFFFFFu);
}

// Java String.hashCode over the UTF-16 code units of a UTF-8 string (signed 32-bit wrap).
// Invalid UTF-8 bytes are hashed as U+FFFD, as Java's decoder would replace them.
int32_t java_string_hash(std::string_view utf8);

}  // namespace holdfast
