#include "base/hash.h"

#include <gtest/gtest.h>

namespace holdfast {
namespace {

TEST(Crc32, MatchesJavaUtilZipCrc32) {
  // java.util.zip.CRC32 over "123456789" is 0xCBF43926.
  EXPECT_EQ(crc32_ieee("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(body_crc("123456789", 9), static_cast<int32_t>(0xCBF43926u & 0x7FFFFFFF));
  EXPECT_EQ(crc32_ieee("", 0), 0u);
}

TEST(JavaStringHash, MatchesJavaForAsciiAndUnicode) {
  EXPECT_EQ(java_string_hash(""), 0);
  EXPECT_EQ(java_string_hash("a"), 97);
  EXPECT_EQ(java_string_hash("TagA"), 2598919);
  // "hello world".hashCode() == 1794106052
  EXPECT_EQ(java_string_hash("hello world"), 1794106052);
  // Wraps negative: "polygenelubricants".hashCode() == Integer.MIN_VALUE
  EXPECT_EQ(java_string_hash("polygenelubricants"), INT32_MIN);
  // U+00E9 is one UTF-16 unit: "\u00e9".hashCode() == 233
  EXPECT_EQ(java_string_hash("\xC3\xA9"), 233);
  // U+1F600 is a surrogate pair D83D DE00: 31*0xD83D + 0xDE00
  EXPECT_EQ(java_string_hash("\xF0\x9F\x98\x80"), 31 * 0xD83D + 0xDE00);
}

}  // namespace
}  // namespace holdfast
