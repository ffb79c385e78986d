#include "base/coding.h"

#include <gtest/gtest.h>

namespace holdfast {
namespace {

TEST(Coding, BigEndianRoundTrip) {
  char b[8];
  put_be32(b, 0xDAA320A7u);
  EXPECT_EQ(static_cast<uint8_t>(b[0]), 0xDA);
  EXPECT_EQ(static_cast<uint8_t>(b[3]), 0xA7);
  EXPECT_EQ(get_be32(b), 0xDAA320A7u);
  EXPECT_EQ(get_be32s(b), -626843481);
  put_be64(b, 0x0102030405060708ull);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[7], 8);
  EXPECT_EQ(get_be64(b), 0x0102030405060708ull);
  put_be16(b, 0xBEEF);
  EXPECT_EQ(get_be16(b), 0xBEEF);
  std::string s;
  append_be16(&s, 1);
  append_be32(&s, 2);
  append_be64(&s, 3);
  ASSERT_EQ(s.size(), 14u);
  EXPECT_EQ(get_be64(s.data() + 6), 3u);
}

}  // namespace
}  // namespace holdfast
