// Format tests for the stored record (every field at its documented position) and the decoder's
// corruption catalogue.
#include "storage/message.h"

#include <gtest/gtest.h>

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
