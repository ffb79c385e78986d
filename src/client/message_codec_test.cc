// Properties, validation, zlib compression (as Java's Deflater/Inflater see it) and pulled-record
// decoding into ReceivedMessage.
#include "client/message_codec.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

#include "storage/message_format.h"

namespace holdfast::client {
namespace {

TEST(MessageCodecTest, PropertiesCarryTagsKeysDelayWaitUniqKeyAndUserProps) {
  Message m("T", "body", "TagA");
  m.keys = {"k1", "k2"};
  m.delay_level = 3;
  m.wait_store_ok = false;
  m.properties["color"] = "blue";
  const std::string p = encode_properties(m, "UNIQ");
  EXPECT_EQ(find_property(p, "TAGS"), "TagA");
  EXPECT_EQ(find_property(p, "KEYS"), "k1 k2");
  EXPECT_EQ(find_property(p, "DELAY"), "3");
  EXPECT_EQ(find_property(p, "WAIT"), "false");
  EXPECT_EQ(find_property(p, "UNIQ_KEY"), "UNIQ");
  EXPECT_EQ(find_property(p, "color"), "blue");
  EXPECT_EQ(p.back(), '\x02');
  Message plain("T", "b");
  const std::string q = encode_properties(plain, "");
  EXPECT_EQ(q, std::string("WAIT\x01true\x02"));
}

TEST(MessageCodecTest, Validation) {
  EXPECT_TRUE(validate_message(Message("T", "b"), 100).is_ok());
  EXPECT_FALSE(validate_message(Message("bad topic", "b"), 100).is_ok());
  EXPECT_FALSE(validate_message(Message("T", ""), 100).is_ok());
  EXPECT_FALSE(validate_message(Message("T", std::string(101, 'x')), 100).is_ok());
  Message reserved("T", "b");
  reserved.properties["UNIQ_KEY"] = "x";
  EXPECT_FALSE(validate_message(reserved, 100).is_ok());
  Message sep("T", "b");
  sep.properties["a"] = std::string("x\x02y");
  EXPECT_FALSE(validate_message(sep, 100).is_ok());
  Message key_space("T", "b");
  key_space.keys = {"a b"};
  EXPECT_FALSE(validate_message(key_space, 100).is_ok());
}

TEST(MessageCodecTest, CompressionRoundTripIsStandardZlib) {
  std::mt19937 rng(7);
  std::string body;
  for (int i = 0; i < 10000; ++i) body.push_back(static_cast<char>('a' + rng() % 4));
  auto z = compress_body(body);
  ASSERT_TRUE(z.is_ok());
  EXPECT_LT(z->size(), body.size());
  EXPECT_EQ(static_cast<uint8_t>((*z)[0]), 0x78);  // zlib header (RFC 1950, deflate 32K window)
  // Plain zlib (what Java's Inflater is) reads it.
  std::string out(body.size(), '\0');
  uLongf n = out.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(z->data()), z->size()),
            Z_OK);
  EXPECT_EQ(out, body);
  auto back = decompress_body(*z);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(*back, body);
}

TEST(MessageCodecTest, DecompressRejectsDamage) {
  auto z = compress_body(std::string(5000, 'q'));
  ASSERT_TRUE(z.is_ok());
  EXPECT_FALSE(decompress_body(z->substr(0, z->size() / 2)).is_ok());
  EXPECT_FALSE(decompress_body("not zlib at all").is_ok());
  EXPECT_FALSE(decompress_body(*z, 100).is_ok());  // inflates beyond the limit
}

std::string stored_record(const std::string& body, int32_t sys_flag, const std::string& props) {
  MessageToStore m;
  m.topic = "T";
  m.queue_id = 2;
  m.sys_flag = sys_flag;
  m.born_timestamp = 111;
  m.born_host = HostAddress::ipv4(10, 0, 0, 9, 5000);
  m.store_host = HostAddress::ipv4(127, 0, 0, 1, 10911);
  m.body = body;
  m.properties = props;
  std::string rec;
  encode_record(m, &rec);
  patch_record(rec.data(), 7, 4096, 222);
  return rec;
}

TEST(MessageCodecTest, PulledCompressedRecordIsInflated) {
  const std::string body(6000, 'z');
  auto z = compress_body(body);
  ASSERT_TRUE(z.is_ok());
  std::string props;
  append_property(&props, "TAGS", "TagA");
  append_property(&props, "KEYS", "k1 k2");
  append_property(&props, "UNIQ_KEY", "C0A8000112340A0B0C0D0001E2400007");
  for (int32_t flag : {kSysFlagCompressed, kSysFlagCompressed | kSysFlagCompressionZlib}) {
    const std::string rec = stored_record(*z, flag, props);
    RecordView view;
    ASSERT_EQ(decode_record(rec.data(), rec.size(), true, &view).outcome, DecodeOutcome::kRecord);
    auto m = to_received_message(view, "broker-a");
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    EXPECT_EQ(m->body, body);
    EXPECT_EQ(m->sys_flag, flag);
    EXPECT_EQ(m->tags, "TagA");
    EXPECT_EQ(m->keys, (std::vector<std::string>{"k1", "k2"}));
    EXPECT_EQ(m->msg_id, "C0A8000112340A0B0C0D0001E2400007");
    EXPECT_EQ(m->offset_msg_id, offset_message_id(HostAddress::ipv4(127, 0, 0, 1, 10911), 4096));
    EXPECT_EQ(m->queue_offset, 7);
    EXPECT_EQ(m->queue_id, 2);
    EXPECT_EQ(m->broker_name, "broker-a");
    EXPECT_EQ(m->born_timestamp_ms, 111);
    EXPECT_EQ(m->store_timestamp_ms, 222);
  }
}

TEST(MessageCodecTest, UncompressedRecordWithoutUniqKeyUsesOffsetId) {
  const std::string rec = stored_record("plain", 0, "");
  RecordView view;
  ASSERT_EQ(decode_record(rec.data(), rec.size(), true, &view).outcome, DecodeOutcome::kRecord);
  auto m = to_received_message(view, "b");
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->body, "plain");
  EXPECT_EQ(m->msg_id, m->offset_msg_id);
  EXPECT_EQ(m->msg_id.size(), 32u);
}

TEST(MessageCodecTest, TagFilter) {
  EXPECT_TRUE(TagFilter("*").match_all());
  EXPECT_TRUE(TagFilter("").match_all());
  TagFilter f("TagA || TagB");
  EXPECT_TRUE(f.matches("TagA"));
  EXPECT_TRUE(f.matches("TagB"));
  EXPECT_FALSE(f.matches("TagC"));
  EXPECT_FALSE(f.matches(""));
}

}  // namespace
}  // namespace holdfast::client
