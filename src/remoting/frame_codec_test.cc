// Frame codec: golden frame bytes, the streaming decoder under every chunking (byte by byte,
// many frames per chunk, random splits), and the stream errors that close a connection.
#include "remoting/frame_codec.h"

#include <gtest/gtest.h>

#include <random>

#include "base/coding.h"
#include "remoting/binary_header.h"
#include "remoting/json_header.h"
#include "remoting/remoting_test_util.h"

namespace holdfast::remoting {
namespace {

using testing::bytes;
using testing::hex;

std::vector<RemotingCommand> sample_commands() {
  std::vector<RemotingCommand> cmds;
  cmds.push_back(testing::sample_send_v2());
  RemotingCommand response = cmds[0].make_response(10, "flush disk timeout");
  response.set_ext("msgId", "7F00000100002A9F0000000000000000");
  response.set_ext_int("queueOffset", 12345);
  cmds.push_back(response);
  RemotingCommand empty;  // no ext, no remark, no body
  empty.code = 34;
  cmds.push_back(empty);
  RemotingCommand big_body = RemotingCommand::make_request(320);
  big_body.body.assign(70000, 'x');
  big_body.mark_oneway();
  cmds.push_back(big_body);
  return cmds;
}

// Frames alternate between JSON and binary headers.
std::string encode_all(const std::vector<RemotingCommand>& cmds) {
  std::string stream;
  for (size_t i = 0; i < cmds.size(); ++i) {
    Status st = encode_frame_to(cmds[i], i % 2 ? SerializeType::kRocketMQ : SerializeType::kJson, &stream);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
  }
  return stream;
}

TEST(FrameCodec, JsonFrameGoldenLayout) {
  RemotingCommand cmd;
  cmd.code = 34;
  cmd.opaque = 1;
  cmd.body = "hi";
  const std::string frame = encode_frame(cmd, SerializeType::kJson);
  std::string header;
  encode_json_header(cmd, &header);
  ASSERT_EQ(header.size(), 94u) << header;  // {"code":34,"flag":0,...}
  // length = 4 + 94 + 2 = 100 = 0x64; word = type 0 << 24 | 94 (0x5E).
  EXPECT_EQ(hex(frame.substr(0, 8)), hex(bytes("00 00 00 64 00 00 00 5E")));
  EXPECT_EQ(frame.substr(8, header.size()), header);
  EXPECT_EQ(frame.substr(8 + header.size()), "hi");
  EXPECT_EQ(frame.size(), 4u + 100u);
}

TEST(FrameCodec, BinaryFrameGoldenBytes) {
  RemotingCommand cmd;
  cmd.code = 10;
  cmd.version = 409;
  cmd.opaque = 7;
  cmd.set_ext("topic", "T1");
  cmd.body = "B";
  const std::string frame = encode_frame(cmd, SerializeType::kRocketMQ);
  const std::string expected = bytes(
      "00 00 00 27"  // length 39 = 4 + 34 + 1
      "01 00 00 22"  // serialize type 1, header length 34
      "00 0A 00 01 99 00 00 00 07 00 00 00 00 00 00 00 00 00 00 00 0D"
      "00 05 'topic' 00 00 00 02 'T1'"
      "'B'");
  EXPECT_EQ(hex(frame), hex(expected));
}

TEST(FrameCodec, EncodeFailsCleanly) {
  std::string out = "prefix";
  RemotingCommand pop;
  pop.code = 200050;
  EXPECT_FALSE(encode_frame_to(pop, SerializeType::kRocketMQ, &out).is_ok());
  EXPECT_EQ(out, "prefix");
  ASSERT_TRUE(encode_frame_to(pop, SerializeType::kJson, &out).is_ok());  // JSON can carry it

  RemotingCommand big;
  big.body.assign(100, 'b');
  out = "prefix";
  Status st = encode_frame_to(big, SerializeType::kJson, &out, 64);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("exceeds the frame limit of 64 bytes"), std::string::npos) << st.message();
  EXPECT_EQ(out, "prefix");
}

TEST(FrameCodec, LargestFrameRoundTripsAndOneMoreByteIsRefused) {
  RemotingCommand cmd;
  std::string header;
  encode_json_header(cmd, &header);
  cmd.body.assign(format::kMaxFrameLength - format::kFramePrefixSize - header.size(), 'z');
  std::string frame;
  ASSERT_TRUE(encode_frame_to(cmd, SerializeType::kJson, &frame).is_ok());
  ASSERT_EQ(frame.size(), format::kMaxFrameLength);
  FrameDecoder decoder;
  decoder.feed(frame);
  RemotingCommand back;
  auto got = decoder.next(&back);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_TRUE(got.value());
  EXPECT_EQ(back.body.size(), cmd.body.size());

  cmd.body.push_back('z');
  std::string too_big;
  EXPECT_FALSE(encode_frame_to(cmd, SerializeType::kJson, &too_big).is_ok());
}

TEST(FrameDecoder, ByteByByte) {
  const auto cmds = sample_commands();
  const std::string stream = encode_all(cmds);
  FrameDecoder decoder;
  std::vector<RemotingCommand> got;
  std::vector<SerializeType> types;
  for (size_t i = 0; i < stream.size(); ++i) {
    decoder.feed(std::string_view(stream).substr(i, 1));
    RemotingCommand cmd;
    SerializeType type;
    auto r = decoder.next(&cmd, &type);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    if (r.value()) {
      got.push_back(std::move(cmd));
      types.push_back(type);
      // A frame completes exactly at its last byte, never earlier.
      size_t consumed = 0;
      for (size_t k = 0; k < got.size(); ++k) consumed += 4 + get_be32(stream.data() + consumed);
      EXPECT_EQ(consumed, i + 1);
    }
  }
  ASSERT_EQ(got.size(), cmds.size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    EXPECT_EQ(got[i], cmds[i]) << "frame " << i;
    EXPECT_EQ(types[i], i % 2 ? SerializeType::kRocketMQ : SerializeType::kJson);
  }
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoder, ManyFramesInOneChunk) {
  const auto cmds = sample_commands();
  FrameDecoder decoder;
  decoder.feed(encode_all(cmds));
  for (size_t i = 0; i < cmds.size(); ++i) {
    RemotingCommand cmd;
    auto r = decoder.next(&cmd);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_TRUE(r.value()) << "frame " << i;
    EXPECT_EQ(cmd, cmds[i]);
  }
  RemotingCommand none;
  auto r = decoder.next(&none);
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r.value());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoder, RandomChunking) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const auto cmds = sample_commands();
  std::string stream;
  for (int rep = 0; rep < 5; ++rep) stream += encode_all(cmds);
  for (int round = 0; round < 20; ++round) {
    FrameDecoder decoder;
    size_t decoded = 0;
    for (size_t pos = 0; pos < stream.size();) {
      size_t n = std::min<size_t>(stream.size() - pos, 1 + rng() % 9000);
      decoder.feed(std::string_view(stream).substr(pos, n));
      pos += n;
      for (;;) {
        RemotingCommand cmd;
        auto r = decoder.next(&cmd);
        ASSERT_TRUE(r.is_ok()) << r.status().to_string();
        if (!r.value()) break;
        ASSERT_EQ(cmd, cmds[decoded % cmds.size()]);
        ++decoded;
      }
    }
    EXPECT_EQ(decoded, 5 * cmds.size());
  }
}

TEST(FrameDecoder, RawFramesExposeHeaderAndBody) {
  RemotingCommand cmd = testing::sample_send_v2();
  FrameDecoder decoder;
  decoder.feed(encode_frame(cmd, SerializeType::kRocketMQ));
  RawFrame frame;
  auto r = decoder.next_frame(&frame);
  ASSERT_TRUE(r.is_ok() && r.value());
  EXPECT_EQ(frame.serialize_type, SerializeType::kRocketMQ);
  EXPECT_EQ(frame.body, "Hello RocketMQ");
  std::string header;
  ASSERT_TRUE(encode_binary_header(cmd, &header).is_ok());
  EXPECT_EQ(frame.header, header);
}

// Feeds `prefix` and expects a stream error containing `message`, then checks that it sticks.
void expect_stream_error(std::string_view prefix, const std::string& message, uint32_t max = format::kMaxFrameLength) {
  FrameDecoder decoder(max);
  decoder.feed(prefix);
  RemotingCommand cmd;
  auto r = decoder.next(&cmd);
  ASSERT_FALSE(r.is_ok()) << "accepted: " << hex(prefix);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
  // Sticky: later bytes, even a valid frame, change nothing, and nothing stays buffered.
  decoder.feed(encode_frame(testing::sample_send_v2(), SerializeType::kJson));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  auto again = decoder.next(&cmd);
  ASSERT_FALSE(again.is_ok());
  EXPECT_EQ(again.status().message(), r.status().message());
  RawFrame frame;
  EXPECT_FALSE(decoder.next_frame(&frame).is_ok());
  EXPECT_FALSE(decoder.error().is_ok());
}

TEST(FrameDecoder, OversizedLengthIsRejectedFromTheFirstFourBytes) {
  // 16,777,212 is the largest length field (16 MiB counting the prefix): it just waits.
  {
    FrameDecoder decoder;
    decoder.feed(bytes("00 FF FF FC"));
    RemotingCommand cmd;
    auto r = decoder.next(&cmd);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_FALSE(r.value());
  }
  expect_stream_error(bytes("00 FF FF FD"), "frame length 16777213 exceeds the maximum of 16777212");
  expect_stream_error(bytes("7F FF FF FF"), "exceeds the maximum");
  expect_stream_error(bytes("FF FF FF FF 00 00 00 00"), "frame length 4294967295 exceeds");  // Java: -1
  expect_stream_error(bytes("00 00 00 3D"), "frame length 61 exceeds the maximum of 60", 64);
}

TEST(FrameDecoder, LengthBelowFour) {
  expect_stream_error(bytes("00 00 00 00"), "frame length 0 is smaller than the 4-byte header-length field");
  expect_stream_error(bytes("00 00 00 03 00 00 00"), "frame length 3 is smaller");
}

TEST(FrameDecoder, HeaderLengthBeyondFrame) {
  expect_stream_error(bytes("00 00 00 0A 00 00 00 07"), "header length 7 exceeds the frame's 6 bytes");
  expect_stream_error(bytes("00 00 00 04 00 FF FF FF"), "header length 16777215 exceeds the frame's 0 bytes");
  // Header length == length - 4 is a frame with an empty body.
  FrameDecoder decoder;
  decoder.feed(bytes("00 00 00 06 00 00 00 02 '{}'"));
  RemotingCommand cmd;
  auto r = decoder.next(&cmd);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(r.value());
  EXPECT_TRUE(cmd.body.empty());
}

TEST(FrameDecoder, UnknownSerializeType) {
  expect_stream_error(bytes("00 00 00 06 02 00 00 02 '{}'"), "unknown serialize type 2");
  expect_stream_error(bytes("00 00 00 06 FF 00 00 02"), "unknown serialize type 255");
}

TEST(FrameDecoder, UndecodableHeaderClosesTheStream) {
  expect_stream_error(bytes("00 00 00 06 00 00 00 02 '{]'"), "malformed JSON header");
  expect_stream_error(bytes("00 00 00 07 01 00 00 03 00 0A 00"), "malformed binary header");
  // next_frame() does not look inside the header.
  FrameDecoder decoder;
  decoder.feed(bytes("00 00 00 06 00 00 00 02 '{]'"));
  RawFrame frame;
  auto r = decoder.next_frame(&frame);
  ASSERT_TRUE(r.is_ok() && r.value());
  EXPECT_EQ(frame.header, "{]");
}

TEST(FrameDecoder, BufferHoldsOnlyWhatIsPending) {
  const auto cmds = sample_commands();
  const std::string one = encode_frame(cmds[0], SerializeType::kJson);
  FrameDecoder decoder;
  for (int i = 0; i < 1000; ++i) {
    decoder.feed(one.substr(0, 10));
    decoder.feed(one.substr(10));
    RemotingCommand cmd;
    auto r = decoder.next(&cmd);
    ASSERT_TRUE(r.is_ok() && r.value());
    ASSERT_EQ(decoder.buffered_bytes(), 0u);
  }
}

TEST(FrameDecoder, ConsumedBytesAreReleasedWhenChunksStraddleFrames) {
  // Chunks of a prime size rarely end on a frame boundary (once every 997 frames at most), so
  // the buffer is almost never empty after a drain: without compaction it would grow with the
  // stream.
  RemotingCommand cmd = testing::sample_send_v2();
  const std::string one = encode_frame(cmd, SerializeType::kJson);
  std::string stream;
  for (int i = 0; i < 2000; ++i) stream += one;
  FrameDecoder decoder;
  size_t decoded = 0;
  size_t largest = 0;
  constexpr size_t kChunk = 997;
  ASSERT_NE(one.size() % kChunk, 0u);
  for (size_t pos = 0; pos < stream.size(); pos += kChunk) {
    decoder.feed(std::string_view(stream).substr(pos, kChunk));
    largest = std::max(largest, decoder.buffer_size());
    RemotingCommand got;
    for (;;) {
      auto r = decoder.next(&got);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      if (!r.value()) break;
      ++decoded;
    }
  }
  EXPECT_EQ(decoded, 2000u);
  EXPECT_LE(largest, 2 * one.size() + kChunk) << "stream of " << stream.size() << " bytes";
}

}  // namespace
}  // namespace holdfast::remoting
