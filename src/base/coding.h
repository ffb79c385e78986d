// Big-endian fixed-width encoding, as RocketMQ uses on the wire and on disk (Java ByteBuffer order).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace holdfast {

inline void put_be16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
inline void put_be32(char* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline void put_be64(char* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
inline uint16_t get_be16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}
inline uint32_t get_be32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline uint64_t get_be64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
inline int32_t get_be32s(const char* p) { return static_cast<int32_t>(get_be32(p)); }
inline int64_t get_be64s(const char* p) { return static_cast<int64_t>(get_be64(p)); }

inline void append_be16(std::string* s, uint16_t v) { char b[2]; put_be16(b, v); s->append(b, 2); }
inline void append_be32(std::string* s, uint32_t v) { char b[4]; put_be32(b, v); s->append(b, 4); }
inline void append_be64(std::string* s, uint64_t v) { char b[8]; put_be64(b, v); s->append(b, 8); }

}  // namespace holdfast
