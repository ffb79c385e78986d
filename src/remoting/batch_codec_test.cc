// Batch body codec: golden bytes from the facts §5.6 layout, round trips, and the corruption
// catalogue (every truncation, every bad length).
#include "remoting/batch_codec.h"

#include <gtest/gtest.h>

#include <random>

#include "base/coding.h"
#include "remoting/remoting_test_util.h"

namespace holdfast::remoting {
namespace {

using testing::bytes;
using testing::hex;

const char* kOneMessageSpec =
    "00 00 00 1C"  // TOTALSIZE 28 = 22 + 2 + 4
    "00 00 00 00"  // MAGIC (clients write 0)
    "00 00 00 00"  // BODYCRC (clients write 0)
    "00 00 00 05"  // FLAG 5
    "00 00 00 02 'ab'"  // BODYLEN, BODY
    "00 04 'K' 01 'V' 02";  // PROPLEN, PROPS

std::vector<BatchMessage> decode_ok(std::string_view body) {
  auto r = decode_batch(body);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? r.value() : std::vector<BatchMessage>{};
}

std::string encode_ok(const std::vector<BatchMessage>& messages) {
  std::string out;
  Status st = encode_batch(messages, &out);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return out;
}

TEST(BatchCodec, GoldenBytes) {
  const std::string golden = bytes(kOneMessageSpec);
  ASSERT_EQ(golden.size(), 28u);
  std::vector<BatchMessage> one = {{5, "ab", "K\x01V\x02"}};
  EXPECT_EQ(hex(encode_ok(one)), hex(golden));
  auto decoded = decode_ok(golden);
  ASSERT_EQ(decoded.size(), 1u);
  EXPECT_EQ(decoded[0].flag, 5);
  EXPECT_EQ(decoded[0].body, "ab");
  EXPECT_EQ(decoded[0].properties, "K\x01V\x02");
}

TEST(BatchCodec, MagicAndBodyCrcAreIgnored) {
  std::string golden = bytes(kOneMessageSpec);
  put_be32(golden.data() + 4, 0xDAA320A7u);
  put_be32(golden.data() + 8, 0x12345678u);
  auto decoded = decode_ok(golden);
  ASSERT_EQ(decoded.size(), 1u);
  EXPECT_EQ(decoded[0].body, "ab");
}

TEST(BatchCodec, RoundTripAndZeroCopy) {
  // BatchMessage holds views: the bytes must outlive it.
  const std::string big_body(100000, 'q');
  const std::string big_props(32767, 'p');
  std::vector<BatchMessage> messages = {
      {0, "first", "UNIQ_KEY\x01" "A1\x02"},
      {-1, "", ""},
      {INT32_MAX, big_body, std::string_view("TAGS\x01t\x02KEYS\x01k1 k2\x02")},
      {7, std::string_view("\0\0\0", 3), big_props},
  };
  const std::string body = encode_ok(messages);
  auto decoded = decode_ok(body);
  ASSERT_EQ(decoded.size(), messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(decoded[i], messages[i]) << i;
    // Views point into the input: no copies of bodies.
    EXPECT_GE(decoded[i].body.data(), body.data());
    EXPECT_LE(decoded[i].body.data() + decoded[i].body.size(), body.data() + body.size());
  }
}

TEST(BatchCodec, EncodeRejectsOversizedProperties) {
  std::string props(32768, 'p');
  std::vector<BatchMessage> messages = {{0, "ok", "a"}, {0, "b", props}};
  std::string out = "keep";
  Status st = encode_batch(messages, &out);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("batch message #1: properties of 32768 bytes"), std::string::npos) << st.message();
  EXPECT_EQ(out, "keep");
}

TEST(BatchCodec, EmptyBodyIsAnError) {
  auto r = decode_batch("");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("empty"), std::string::npos);
}

TEST(BatchCodec, OnlyWholeMessagePrefixesDecode) {
  std::vector<BatchMessage> messages = {{1, "body-one", "P\x01" "1\x02"}, {2, "two", ""}};
  const std::string body = encode_ok(messages);
  const size_t first_end = 22 + 8 + 4;
  for (size_t n = 1; n <= body.size(); ++n) {
    auto r = decode_batch(std::string_view(body).substr(0, n));
    if (n == first_end || n == body.size()) {
      ASSERT_TRUE(r.is_ok()) << n << ": " << r.status().to_string();
      EXPECT_EQ(r.value().size(), n == first_end ? 1u : 2u);
    } else {
      ASSERT_FALSE(r.is_ok()) << "prefix of " << n << " bytes accepted";
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
    }
  }
}

TEST(BatchCodec, CorruptionCatalogue) {
  // Two messages; the second starts at offset 28.
  const std::string two = bytes(kOneMessageSpec) + bytes(kOneMessageSpec);
  auto patched = [&two](size_t pos, uint32_t value, size_t width) {
    std::string b = two;
    if (width == 2) {
      put_be16(b.data() + pos, static_cast<uint16_t>(value));
    } else {
      put_be32(b.data() + pos, value);
    }
    return b;
  };
  struct Case {
    const char* name;
    std::string body;
    const char* message;
  };
  const Case cases[] = {
      {"short tail", two + std::string(21, '\0'), "message #2 at offset 56: truncated: 21 bytes left"},
      {"TOTALSIZE below minimum", patched(28, 21, 4), "message #1 at offset 28: TOTALSIZE 21 is below the minimum of 22"},
      {"negative TOTALSIZE", patched(0, 0xFFFFFFFFu, 4), "message #0 at offset 0: TOTALSIZE -1 is below"},
      {"TOTALSIZE past the end", patched(28, 29, 4), "TOTALSIZE 29 exceeds the 28 bytes left"},
      {"huge TOTALSIZE", patched(0, 0x7FFFFFFFu, 4), "TOTALSIZE 2147483647 exceeds the 56 bytes left"},
      {"negative BODYLEN", patched(16, 0x80000000u, 4), "BODYLEN -2147483648 does not fit TOTALSIZE 28"},
      {"BODYLEN past TOTALSIZE", patched(16, 7, 4), "BODYLEN 7 does not fit TOTALSIZE 28"},
      {"negative PROPLEN", patched(22, 0x8000, 2), "negative PROPLEN -32768"},
      {"PROPLEN too long", patched(22, 5, 2), "TOTALSIZE 28 does not match the field lengths (29"},
      {"PROPLEN too short", patched(22, 3, 2), "TOTALSIZE 28 does not match the field lengths (27"},
      {"BODYLEN too short", patched(16, 1, 4), "does not match the field lengths"},
  };
  for (const Case& c : cases) {
    auto r = decode_batch(c.body);
    ASSERT_FALSE(r.is_ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << c.name;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find("malformed batch body"), std::string::npos) << r.status().message();
  }
}

TEST(BatchCodec, RandomRoundTrips) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (int i = 0; i < 500; ++i) {
    std::vector<std::string> storage;
    std::vector<BatchMessage> messages;
    int n = 1 + static_cast<int>(rng() % 8);
    storage.reserve(2 * n);
    for (int k = 0; k < n; ++k) {
      storage.emplace_back(rng() % 300, static_cast<char>(rng()));
      storage.emplace_back(rng() % 60, static_cast<char>(rng()));
      messages.push_back({static_cast<int32_t>(rng()), storage[storage.size() - 2], storage.back()});
    }
    const std::string body = encode_ok(messages);
    auto decoded = decode_ok(body);
    ASSERT_EQ(decoded, messages);
  }
}

}  // namespace
}  // namespace holdfast::remoting
