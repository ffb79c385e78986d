// Format tests for the stored record (every field at its documented position) and the decoder's
// corruption catalogue.
#include "storage/message.h"

#include <gtest/gtest.h>

#include <random>

#include "base/coding.h"
#include "base/hash.h"
#include "storage/message_format.h"

namespace holdfast {
namespace {

MessageToStore sample() {
  MessageToStore m;
  m.topic = "TopicTest";
  m.queue_id = 3;
  m.flag = 0x11;
  m.sys_flag = 0;
  m.born_timestamp = 1700000000123;
  m.born_host = HostAddress::ipv4(10, 1, 2, 3, 54321);
  m.store_host = HostAddress::ipv4(192, 168, 0, 9, 10911);
  m.reconsume_times = 2;
  m.prepared_transaction_offset = 0;
  m.body = "hello body";
  append_property(&m.properties, "TAGS", "TagA");
  append_property(&m.properties, "KEYS", "k1 k2");
  append_property(&m.properties, "UNIQ_KEY", "0A0102030000000000000000000000AB");
  return m;
}

TEST(MessageFormat, EveryFieldAtItsPosition) {
  MessageToStore m = sample();
  std::string rec;
  encode_record(m, &rec);
  patch_record(rec.data(), 77, 4096, 1700000000999);
  const char* p = rec.data();
  ASSERT_EQ(static_cast<int64_t>(rec.size()), encoded_record_size(m));
  EXPECT_EQ(get_be32s(p + 0), static_cast<int32_t>(rec.size()));
  EXPECT_EQ(get_be32(p + 4), format::kMagicV1);
  EXPECT_EQ(get_be32s(p + 8), body_crc(m.body.data(), m.body.size()));
  EXPECT_EQ(get_be32s(p + 12), 3);
  EXPECT_EQ(get_be32s(p + 16), 0x11);
  EXPECT_EQ(get_be64s(p + 20), 77);
  EXPECT_EQ(get_be64s(p + 28), 4096);
  EXPECT_EQ(get_be32s(p + 36), 0);
  EXPECT_EQ(get_be64s(p + 40), 1700000000123);
  EXPECT_EQ(static_cast<uint8_t>(p[48]), 10);
  EXPECT_EQ(static_cast<uint8_t>(p[51]), 3);
  EXPECT_EQ(get_be32s(p + 52), 54321);
  EXPECT_EQ(get_be64s(p + 56), 1700000000999);  // store timestamp right after an IPv4 born host
  EXPECT_EQ(static_cast<uint8_t>(p[64]), 192);
  EXPECT_EQ(get_be32s(p + 68), 10911);
  EXPECT_EQ(get_be32s(p + 72), 2);   // reconsume times
  EXPECT_EQ(get_be64s(p + 76), 0);   // prepared transaction offset
  EXPECT_EQ(get_be32s(p + 84), 10);  // body length at the 84-byte fixed prefix
  EXPECT_EQ(std::string(p + 88, 10), "hello body");
  EXPECT_EQ(static_cast<uint8_t>(p[98]), 9);  // topic length, one byte (V1)
  EXPECT_EQ(std::string(p + 99, 9), "TopicTest");
  EXPECT_EQ(get_be16(p + 108), m.properties.size());
  EXPECT_EQ(std::string(p + 110, m.properties.size()), m.properties);

  RecordView v;
  DecodeResult d = decode_record(rec.data(), rec.size(), true, &v);
  ASSERT_EQ(d.outcome, DecodeOutcome::kRecord) << d.reason;
  EXPECT_EQ(v.topic, "TopicTest");
  EXPECT_EQ(v.queue_offset, 77);
  EXPECT_EQ(v.physical_offset, 4096);
  EXPECT_EQ(v.store_timestamp, 1700000000999);
  EXPECT_EQ(v.born_host, m.born_host);
  EXPECT_EQ(v.store_host, m.store_host);
  EXPECT_EQ(v.body, "hello body");
  EXPECT_EQ(v.reconsume_times, 2);
}

TEST(MessageFormat, Ipv6HostsSetSysFlagBitsAndShiftFields) {
  MessageToStore m = sample();
  m.born_host.ipv6 = true;
  m.born_host.ip[15] = 1;
  std::string rec;
  encode_record(m, &rec);
  patch_record(rec.data(), 1, 2, 1700000000555);
  EXPECT_EQ(get_be32s(rec.data() + 36) & format::kBornHostV6, format::kBornHostV6);
  EXPECT_EQ(get_be64s(rec.data() + 48 + 20), 1700000000555);
  RecordView v;
  ASSERT_EQ(decode_record(rec.data(), rec.size(), true, &v).outcome, DecodeOutcome::kRecord);
  EXPECT_TRUE(v.born_host.ipv6);
  EXPECT_EQ(v.store_timestamp, 1700000000555);
}

TEST(MessageFormat, BlankRecord) {
  char b[8];
  encode_blank_record(b, 1234);
  EXPECT_EQ(get_be32s(b), 1234);
  EXPECT_EQ(get_be32(b + 4), format::kBlankMagic);
  RecordView v;
  DecodeResult d = decode_record(b, 8, true, &v);
  EXPECT_EQ(d.outcome, DecodeOutcome::kBlank);
  EXPECT_EQ(d.size, 1234);
}

// Corruption catalogue: each damage is detected, never decoded as a message.
class Corruption : public ::testing::Test {
 protected:
  void SetUp() override {
    encode_record(sample(), &rec_);
    patch_record(rec_.data(), 0, 0, 1);
  }
  DecodeOutcome decode() {
    RecordView v;
    return decode_record(rec_.data(), rec_.size(), true, &v).outcome;
  }
  std::string rec_;
};

TEST_F(Corruption, BadCrc) {
  rec_[90] ^= 0x40;  // a body byte
  EXPECT_EQ(decode(), DecodeOutcome::kCorrupt);
}
TEST_F(Corruption, BadMagic) {
  rec_[5] ^= 1;
  EXPECT_EQ(decode(), DecodeOutcome::kCorrupt);
}
TEST_F(Corruption, SizeTooLargeIsIncomplete) {
  put_be32(rec_.data(), static_cast<uint32_t>(rec_.size() + 100));
  EXPECT_EQ(decode(), DecodeOutcome::kIncomplete);
}
TEST_F(Corruption, SizeNotMatchingFields) {
  put_be32(rec_.data(), static_cast<uint32_t>(rec_.size() - 1));
  EXPECT_EQ(decode(), DecodeOutcome::kCorrupt);
}
TEST_F(Corruption, SizeTooSmall) {
  put_be32(rec_.data(), 20);
  EXPECT_EQ(decode(), DecodeOutcome::kCorrupt);
}
TEST_F(Corruption, BodyLengthOverflow) {
  put_be32(rec_.data() + 84, 0x7FFFFFF0);
  EXPECT_EQ(decode(), DecodeOutcome::kCorrupt);
}
TEST_F(Corruption, TornTail) {
  RecordView v;
  for (size_t n = 0; n < rec_.size(); ++n) {
    DecodeOutcome o = decode_record(rec_.data(), n, true, &v).outcome;
    EXPECT_EQ(o, DecodeOutcome::kIncomplete) << "prefix of " << n << " bytes";
  }
}
TEST_F(Corruption, ZeroFilledTailIsEnd) {
  std::string zeros(64, '\0');
  RecordView v;
  EXPECT_EQ(decode_record(zeros.data(), zeros.size(), true, &v).outcome, DecodeOutcome::kEnd);
}
TEST_F(Corruption, TailReplacedByZeros) {
  std::fill(rec_.begin() + 60, rec_.end(), '\0');
  EXPECT_NE(decode(), DecodeOutcome::kRecord);
}

TEST(MessageLimits, ClearErrors) {
  MessageToStore m = sample();
  EXPECT_TRUE(validate_message(m, format::kDefaultMaxMessageSize).is_ok());
  m.topic = std::string(128, 'a');
  EXPECT_NE(validate_message(m, format::kDefaultMaxMessageSize).message().find("127"), std::string::npos);
  m.topic = "bad topic!";
  EXPECT_FALSE(validate_message(m, format::kDefaultMaxMessageSize).is_ok());
  m = sample();
  m.body.assign(4 * 1024 * 1024 + 1, 'x');
  EXPECT_NE(validate_message(m, format::kDefaultMaxMessageSize).message().find("maxMessageSize"), std::string::npos);
  m = sample();
  m.properties.assign(32768, 'p');
  EXPECT_NE(validate_message(m, format::kDefaultMaxMessageSize).message().find("32767"), std::string::npos);
  m.properties.assign(32767, 'p');
  EXPECT_TRUE(validate_message(m, format::kDefaultMaxMessageSize).is_ok());
}

TEST(Properties, EncodeParseFind) {
  std::string p;
  append_property(&p, "TAGS", "TagA");
  append_property(&p, "KEYS", "a b  c");
  EXPECT_EQ(p, std::string("TAGS\x01TagA\x02KEYS\x01" "a b  c\x02"));
  EXPECT_EQ(find_property(p, "TAGS"), "TagA");
  EXPECT_EQ(find_property(p, "NOPE"), "");
  EXPECT_EQ(tags_code_of(p), java_string_hash("TagA"));
  EXPECT_EQ(tags_code_of(""), 0);
  auto keys = index_keys_of(p);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[2], "c");
  // Tolerant parsing: no trailing separator, short segments, duplicate keys.
  const std::string tolerant("A\x01x\x02zz\x02" "A\x01y");
  auto parsed = parse_properties(tolerant);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].second, "y");
}

// Every byte but the two separators, ASCII control characters, '=' ';' ':' and spaces included,
// plus multi-byte UTF-8 (Java strings travel as UTF-8).
std::string every_legal_character() {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    if (c != format::kNameValueSeparator && c != format::kPropertySeparator) all.push_back(static_cast<char>(c));
  }
  return all + "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80";
}

TEST(MessageProperties, RoundTripsKeysAndValuesWithEveryLegalCharacter) {
  const std::string all = every_legal_character();
  MessageProperties props;
  props.set("TAGS", "TagA");
  props.set(all, all);
  props.set("k", "v");  // the shortest pair the format carries
  props.set("KEYS", "a b  c");
  for (int c = 0; c < 256; ++c) {
    if (c == format::kNameValueSeparator || c == format::kPropertySeparator) continue;
    props.set(std::string("key") + static_cast<char>(c), std::string(1, static_cast<char>(c)));
  }
  const std::string encoded = props.encode();
  EXPECT_EQ(MessageProperties(encoded).entries(), props.entries());
  EXPECT_EQ(MessageProperties(encoded).encode(), encoded) << "encoding is stable";
  EXPECT_EQ(find_property(encoded, all), all);
  EXPECT_EQ(find_property(encoded, "TAGS"), "TagA");
  EXPECT_EQ(parse_properties(encoded).size(), props.entries().size());
}

TEST(MessageProperties, EditsAJavaEncodedStringWithoutRunningPairsTogether) {
  // The Java client 4.9.8 ends its properties string without a final 0x02.
  const std::string java("TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x01ID1\x02user\x01x=y");
  MessageProperties props(java);
  props.set_if_absent("RETRY_TOPIC", "TopicA");
  props.set_if_absent("UNIQ_KEY", "NOT-USED");
  props.set("TAGS", "TagB");
  props.erase("KEYS");
  const std::string encoded = props.encode();
  EXPECT_EQ(encoded, std::string("TAGS\x01TagB\x02UNIQ_KEY\x01ID1\x02user\x01x=y\x02RETRY_TOPIC\x01TopicA\x02"));
  // append_property closes the previous pair first.
  std::string appended = java;
  append_property(&appended, "RETRY_TOPIC", "TopicA");
  EXPECT_EQ(find_property(appended, "user"), "x=y");
  EXPECT_EQ(find_property(appended, "RETRY_TOPIC"), "TopicA");
  // An empty value cannot be carried: set() with one erases the key.
  props.set("user", "");
  EXPECT_FALSE(props.contains("user"));
  props.set_if_absent("empty", "");
  EXPECT_FALSE(props.contains("empty"));
}

TEST(MessageProperties, RandomPropertySetsRoundTrip) {
  std::mt19937 rng(20261204);
  const std::string all = every_legal_character();
  for (int round = 0; round < 500; ++round) {
    MessageProperties props;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      auto word = [&] {
        std::string w;
        const size_t len = 1 + rng() % 8;
        for (size_t j = 0; j < len; ++j) w.push_back(all[rng() % all.size()]);
        return w;
      };
      props.set(word(), word());
    }
    const std::string encoded = props.encode();
    ASSERT_EQ(MessageProperties(encoded).entries(), props.entries()) << "round " << round;
  }
}

TEST(HostAddressTest, ParsesIpv4WithPortAndRejectsTheRest) {
  HostAddress h;
  ASSERT_TRUE(HostAddress::parse("192.168.0.9:10911", &h));
  EXPECT_EQ(h, HostAddress::ipv4(192, 168, 0, 9, 10911));
  ASSERT_TRUE(HostAddress::parse("0.0.0.0:0", &h));
  EXPECT_EQ(h, HostAddress::ipv4(0, 0, 0, 0, 0));
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3:5", "256.1.1.1:1", "1.2.3.4:65536", "1.2.3.4:5x",
                          "a.b.c.d:1", "1.2.3.4:5:6", " 1.2.3.4:5", "1..2.3:4", "[::1]:10911"}) {
    EXPECT_FALSE(HostAddress::parse(bad, &h)) << bad;
  }
}

TEST(MessageId, OffsetMessageIdRoundTrip) {
  HostAddress h = HostAddress::ipv4(192, 168, 0, 1, 10911);
  std::string id = offset_message_id(h, 0x1234);
  EXPECT_EQ(id, "C0A8000100002A9F0000000000001234");
  HostAddress back;
  int64_t off;
  ASSERT_TRUE(decode_offset_message_id(id, &back, &off));
  EXPECT_EQ(back, h);
  EXPECT_EQ(off, 0x1234);
  EXPECT_FALSE(decode_offset_message_id("XYZ", &back, &off));
}

}  // namespace
}  // namespace holdfast
