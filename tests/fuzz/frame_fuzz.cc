// Fuzz target for the frame decoder and both header decoders: no input may crash, hang or
// allocate without bound, and whatever decodes must re-encode to the same command.
#include <string_view>

#include "fuzz_target.h"
#include "remoting/binary_header.h"
#include "remoting/frame_codec.h"
#include "remoting/json_header.h"

namespace holdfast::fuzz {
namespace {

using remoting::RemotingCommand;
using remoting::SerializeType;

// encode(decode(x)) decodes to the same command, in the same format and (where representable)
// in the other one.
void check_round_trips(const RemotingCommand& cmd, SerializeType decoded_from) {
  std::string json;
  remoting::encode_json_header(cmd, &json);
  RemotingCommand back;
  FUZZ_CHECK(remoting::decode_json_header(json, &back).is_ok());
  back.body = cmd.body;
  FUZZ_CHECK(back == cmd);

  std::string binary;
  Status st = remoting::encode_binary_header(cmd, &binary);
  FUZZ_CHECK(st.is_ok() || decoded_from == SerializeType::kJson);  // binary input always fits
  if (st.is_ok()) {
    FUZZ_CHECK(remoting::decode_binary_header(binary, &back).is_ok());
    back.body = cmd.body;
    RemotingCommand expected = cmd;
    if (expected.remark && expected.remark->empty()) expected.remark.reset();  // "" travels as null
    FUZZ_CHECK(back == expected);
  }
}

}  // namespace

std::vector<std::string> seeds() {
  std::vector<std::string> out;
  RemotingCommand send = RemotingCommand::make_request(310);
  send.opaque = 42;
  send.set_ext("a", "please_rename_unique_group_name");
  send.set_ext("b", "TopicTest");
  send.set_ext("e", "3");
  send.set_ext("g", "1700000000123");
  send.set_ext("i", std::string("UNIQ_KEY\x01" "7F0000010000\x02WAIT\x01true\x02"));
  send.body = "Hello RocketMQ";
  RemotingCommand response = send.make_response(10, "flush \"disk\" timeout\n");
  response.set_ext("msgId", "7F00000100002A9F0000000000000000");
  response.set_ext("queueOffset", "12345");
  out.push_back(remoting::encode_frame(send, SerializeType::kJson));
  out.push_back(remoting::encode_frame(send, SerializeType::kRocketMQ));
  out.push_back(remoting::encode_frame(response, SerializeType::kJson) +
                remoting::encode_frame(response, SerializeType::kRocketMQ));
  // A C++-client-style header with numeric values, escapes and an unknown nested key.
  std::string cpp =
      "{\"code\":310,\"extFields\":{\"e\":3,\"g\":1700000000123,\"k\":false,\"x\":-1.5e3,\"s\":\"\\u00e9\\ud83d\\ude00\"},"
      "\"flag\":0,\"language\":\"CPP\",\"opaque\":1,\"remark\":\"\",\"zz\":[{\"a\":[1,null]}],\"version\":335}\n";
  std::string frame(8, '\0');
  frame[3] = static_cast<char>((4 + cpp.size()) & 0xFF);
  frame[2] = static_cast<char>((4 + cpp.size()) >> 8);
  frame[7] = static_cast<char>(cpp.size() & 0xFF);
  frame[6] = static_cast<char>(cpp.size() >> 8);
  out.push_back(frame + cpp);
  // Bare headers, for the direct header decoders.
  out.push_back(cpp);
  std::string binary;
  (void)remoting::encode_binary_header(response, &binary);
  out.push_back(binary);
  return out;
}

}  // namespace holdfast::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace holdfast;
  using namespace holdfast::remoting;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // 1. The header decoders on the raw input.
  RemotingCommand cmd;
  if (decode_json_header(input, &cmd).is_ok()) fuzz::check_round_trips(cmd, SerializeType::kJson);
  if (decode_binary_header(input, &cmd).is_ok()) fuzz::check_round_trips(cmd, SerializeType::kRocketMQ);

  // 2. The stream decoder, fed in chunks whose size the input picks. A small frame limit makes
  //    the oversize path reachable with short inputs.
  const size_t chunk = size == 0 ? 1 : 1 + data[0] % 61;
  const uint32_t max_frame = size > 1 && (data[1] & 1) ? 512 : format::kMaxFrameLength;
  FrameDecoder decoder(max_frame);
  size_t frames = 0;
  bool failed = false;
  for (size_t pos = 0; pos < size && !failed; pos += chunk) {
    decoder.feed(input.substr(pos, chunk));
    FUZZ_CHECK(decoder.buffered_bytes() <= max_frame + chunk);  // bounded buffering
    for (;;) {
      SerializeType type;
      auto r = decoder.next(&cmd, &type);
      if (!r.is_ok()) {
        failed = true;
        FUZZ_CHECK(decoder.buffered_bytes() == 0);
        FUZZ_CHECK(!decoder.next(&cmd).is_ok());  // sticky
        break;
      }
      if (!r.value()) break;
      ++frames;
      fuzz::check_round_trips(cmd, type);
      // The frame re-encodes and decodes to the same command.
      std::string again;
      if (encode_frame_to(cmd, type, &again, max_frame).is_ok()) {
        FrameDecoder second(max_frame);
        second.feed(again);
        RemotingCommand back;
        auto r2 = second.next(&back);
        FUZZ_CHECK(r2.is_ok() && r2.value());
        FUZZ_CHECK(back == cmd);
      }
    }
  }
  FUZZ_CHECK(frames <= size / format::kFramePrefixSize + 1);
  return 0;
}
