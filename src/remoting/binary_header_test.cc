// Binary (ROCKETMQ) header codec: golden bytes built by hand from the facts §1.2 table, and the
// corruption catalogue (every truncation, every bad length).
#include "remoting/binary_header.h"

#include <gtest/gtest.h>

#include <random>

#include "base/coding.h"
#include "remoting/remoting_test_util.h"

namespace holdfast::remoting {
namespace {

using testing::bytes;
using testing::hex;

// code 10, JAVA, version 409, opaque 7, flag 0, remark null, extFields {topic: T1}.
const char* kGoldenSpec =
    "00 0A"          // code 10 (int16)
    "00"             // language JAVA (0)
    "01 99"          // version 409 (int16)
    "00 00 00 07"    // opaque 7
    "00 00 00 00"    // flag 0
    "00 00 00 00"    // remark length 0 = null
    "00 00 00 0D"    // extFields length 13 = 2 + 5 + 4 + 2
    "00 05 'topic'"  // key length, key
    "00 00 00 02 'T1'";  // value length, value

RemotingCommand golden_command() {
  RemotingCommand cmd;
  cmd.code = 10;
  cmd.language = LanguageCode::kJava;
  cmd.version = 409;
  cmd.opaque = 7;
  cmd.flag = 0;
  cmd.set_ext("topic", "T1");
  return cmd;
}

TEST(BinaryHeader, GoldenBytesEncode) {
  std::string out;
  ASSERT_TRUE(encode_binary_header(golden_command(), &out).is_ok());
  const std::string expected = bytes(kGoldenSpec);
  ASSERT_EQ(expected.size(), 34u);
  EXPECT_EQ(hex(out), hex(expected));
}

TEST(BinaryHeader, GoldenBytesDecode) {
  RemotingCommand cmd;
  ASSERT_TRUE(decode_binary_header(bytes(kGoldenSpec), &cmd).is_ok());
  EXPECT_EQ(cmd, golden_command());
  EXPECT_FALSE(cmd.remark.has_value());
}

TEST(BinaryHeader, GoldenResponseWithRemarkAndNegativeCode) {
  RemotingCommand cmd;
  cmd.code = -1000;
  cmd.language = LanguageCode::kGo;
  cmd.version = 317;
  cmd.opaque = -2;
  cmd.flag = 3;
  cmd.remark = "ok";
  cmd.set_ext("a", "");
  cmd.set_ext("bc", "xyz");
  const std::string expected = bytes(
      "FC 18"          // -1000
      "09"             // GO
      "01 3D"          // 317
      "FF FF FF FE"    // -2
      "00 00 00 03"    // response | oneway
      "00 00 00 02 'ok'"
      "00 00 00 12"    // 18 = (2+1+4+0) + (2+2+4+3)
      "00 01 'a' 00 00 00 00"
      "00 02 'bc' 00 00 00 03 'xyz'");
  std::string out;
  ASSERT_TRUE(encode_binary_header(cmd, &out).is_ok());
  EXPECT_EQ(hex(out), hex(expected));
  RemotingCommand back;
  ASSERT_TRUE(decode_binary_header(expected, &back).is_ok());
  EXPECT_EQ(back, cmd);
  EXPECT_EQ(back.ext("a"), "");
}

TEST(BinaryHeader, FixedPartIs21Bytes) {
  RemotingCommand cmd;
  std::string out;
  ASSERT_TRUE(encode_binary_header(cmd, &out).is_ok());
  EXPECT_EQ(out.size(), 21u);
  EXPECT_EQ(out, std::string(21, '\0'));
  RemotingCommand back;
  back.remark = "stale";
  back.set_ext("stale", "1");
  ASSERT_TRUE(decode_binary_header(out, &back).is_ok());
  EXPECT_EQ(back, cmd);
}

TEST(BinaryHeader, EmptyRemarkTravelsAsNull) {
  RemotingCommand cmd;
  cmd.remark = "";
  std::string out;
  ASSERT_TRUE(encode_binary_header(cmd, &out).is_ok());
  RemotingCommand back;
  ASSERT_TRUE(decode_binary_header(out, &back).is_ok());
  EXPECT_FALSE(back.remark.has_value());
}

TEST(BinaryHeader, UnknownLanguageByteBecomesOther) {
  std::string h = bytes(kGoldenSpec);
  h[2] = static_cast<char>(0xC8);
  RemotingCommand cmd;
  ASSERT_TRUE(decode_binary_header(h, &cmd).is_ok());
  EXPECT_EQ(cmd.language, LanguageCode::kOther);
}

TEST(BinaryHeader, DuplicateKeysLastValueWins) {
  std::string h = bytes(
      "00 0A 00 01 99 00 00 00 07 00 00 00 00 00 00 00 00"
      "00 00 00 16"  // 22 = 2 * (2+1+4+4)
      "00 01 'k' 00 00 00 04 'val1'"
      "00 01 'k' 00 00 00 04 'val2'");
  RemotingCommand cmd;
  ASSERT_TRUE(decode_binary_header(h, &cmd).is_ok());
  EXPECT_EQ(cmd.ext_fields.size(), 1u);
  EXPECT_EQ(cmd.ext("k"), "val2");
}

TEST(BinaryHeader, UnrepresentableCommandsAreRejected) {
  std::string out = "keep";
  RemotingCommand pop;
  pop.code = 200050;  // POP_MESSAGE
  Status st = encode_binary_header(pop, &out);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("200050"), std::string::npos) << st.message();
  EXPECT_EQ(out, "keep");

  RemotingCommand v;
  v.version = 40000;
  EXPECT_FALSE(encode_binary_header(v, &out).is_ok());
  v.version = -32769;
  EXPECT_FALSE(encode_binary_header(v, &out).is_ok());

  RemotingCommand k;
  k.set_ext(std::string(32768, 'k'), "v");
  EXPECT_FALSE(encode_binary_header(k, &out).is_ok());
  k = RemotingCommand();
  k.set_ext(std::string(32767, 'k'), "v");
  out.clear();
  ASSERT_TRUE(encode_binary_header(k, &out).is_ok());
  RemotingCommand back;
  ASSERT_TRUE(decode_binary_header(out, &back).is_ok());
  EXPECT_EQ(back, k);
  // Codes at the int16 edges are fine.
  RemotingCommand edge;
  edge.code = 32767;
  edge.version = -32768;
  out.clear();
  ASSERT_TRUE(encode_binary_header(edge, &out).is_ok());
  ASSERT_TRUE(decode_binary_header(out, &back).is_ok());
  EXPECT_EQ(back.code, 32767);
  EXPECT_EQ(back.version, -32768);
}

TEST(BinaryHeader, EveryTruncationIsAnError) {
  const std::string h = bytes(kGoldenSpec);
  for (size_t n = 0; n < h.size(); ++n) {
    RemotingCommand cmd;
    Status st = decode_binary_header(std::string_view(h).substr(0, n), &cmd);
    EXPECT_FALSE(st.is_ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_EQ(st.code(), StatusCode::kCorruption);
  }
}

// Writes a big-endian value into a copy of the golden header.
std::string patched(size_t pos, uint32_t value, size_t width) {
  std::string h = bytes(kGoldenSpec);
  if (width == 2) {
    put_be16(h.data() + pos, static_cast<uint16_t>(value));
  } else {
    put_be32(h.data() + pos, value);
  }
  return h;
}

TEST(BinaryHeader, CorruptionCatalogue) {
  // Offsets in the golden header: remark length 13, extFields length 17, key length 21,
  // value length 28.
  struct Case {
    const char* name;
    std::string header;
    const char* message;
  };
  const Case cases[] = {
      {"negative remark length", patched(13, 0xFFFFFFFFu, 4), "negative remark length -1"},
      {"remark past the end", patched(13, 100, 4), "truncated remark: need 100 bytes"},
      {"huge remark length", patched(13, 0x7FFFFFFFu, 4), "truncated remark"},
      {"negative extFields length", patched(17, 0x80000000u, 4), "negative extFields length"},
      {"extFields past the end", patched(17, 14, 4), "truncated extFields block"},
      {"extFields cut inside an entry", patched(17, 12, 4), "truncated extFields value: need 2 bytes, 1 left"},
      {"extFields length too short", patched(17, 0, 4), "13 unexpected bytes after the extFields block"},
      {"negative key length", patched(21, 0x8000, 2), "negative extFields key length -32768"},
      {"key past the block", patched(21, 9, 2), "truncated extFields value length"},
      {"key far past the block", patched(21, 200, 2), "truncated extFields key"},
      {"negative value length", patched(28, 0xFFFFFFFEu, 4), "negative extFields value length -2"},
      {"value past the block", patched(28, 3, 4), "truncated extFields value: need 3 bytes, 2 left"},
      {"trailing bytes", bytes(kGoldenSpec) + "x", "1 unexpected bytes after the extFields block"},
  };
  for (const Case& c : cases) {
    RemotingCommand cmd;
    Status st = decode_binary_header(c.header, &cmd);
    ASSERT_FALSE(st.is_ok()) << c.name;
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << c.name;
    EXPECT_NE(st.message().find(c.message), std::string::npos) << c.name << ": " << st.message();
    EXPECT_NE(st.message().find("malformed binary header at offset"), std::string::npos) << st.message();
  }
}

TEST(BinaryHeader, RandomRoundTrips) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  auto random_string = [&rng](size_t max) {
    std::string s(rng() % max, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    return s;
  };
  for (int i = 0; i < 2000; ++i) {
    RemotingCommand cmd;
    cmd.code = static_cast<int16_t>(rng());
    cmd.language = language_from_code(rng() % 14);
    cmd.version = static_cast<int16_t>(rng());
    cmd.opaque = static_cast<int32_t>(rng());
    cmd.flag = static_cast<int32_t>(rng());
    std::string remark = random_string(20);
    if (!remark.empty()) cmd.remark = remark;  // "" would come back as null
    int n = static_cast<int>(rng() % 6);
    for (int k = 0; k < n; ++k) cmd.set_ext(random_string(10), random_string(30));
    std::string out;
    ASSERT_TRUE(encode_binary_header(cmd, &out).is_ok());
    RemotingCommand back;
    Status st = decode_binary_header(out, &back);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    ASSERT_EQ(back, cmd);
  }
}

}  // namespace
}  // namespace holdfast::remoting
