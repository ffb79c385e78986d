// Remoting codec speed: ns per operation for a typical Java SEND_MESSAGE_V2 header (JSON and
// binary), whole frames through FrameDecoder, and a 16-message batch body.
// usage: remoting_bench [iterations]   (default 1,000,000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "remoting/batch_codec.h"
#include "remoting/binary_header.h"
#include "remoting/frame_codec.h"
#include "remoting/json_header.h"

using namespace holdfast;
using namespace holdfast::remoting;

namespace {

// What the Java client sends for producer.send(msg) (fastjson, keys sorted, \u0001 escapes).
const char kJavaSendV2Header[] =
    R"({"code":310,"extFields":{"a":"please_rename_unique_group_name","b":"TopicTest","c":"TBW102",)"
    R"("d":"4","e":"3","f":"0","g":"1700000000123","h":"0",)"
    R"("i":"UNIQ_KEY\u00017F00000100002A9F0000000000000001\u0002WAIT\u0001true\u0002TAGS\u0001TagA\u0002",)"
    R"("j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":42,)"
    R"("serializeTypeCurrentRPC":"JSON","version":409})";

// Keeps a result alive without volatile compound assignments (deprecated in C++20).
inline void sink(int64_t v) { asm volatile("" : : "r"(v) : "memory"); }

template <typename Fn>
void measure(const char* name, long iterations, Fn&& fn) {
  for (long i = 0; i < iterations / 10; ++i) fn();  // warm up
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) fn();
  std::chrono::duration<double, std::nano> elapsed = std::chrono::steady_clock::now() - start;
  std::printf("%-48s %9.1f ns/op\n", name, elapsed.count() / static_cast<double>(iterations));
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 1000000;
  const std::string json(kJavaSendV2Header);
  RemotingCommand parsed;
  if (!decode_json_header(json, &parsed).is_ok()) {
    std::fprintf(stderr, "sample header does not decode\n");
    return 1;
  }
  parsed.body = std::string(128, 'x');
  std::string binary;
  if (!encode_binary_header(parsed, &binary).is_ok()) return 1;
  std::printf("SEND_MESSAGE_V2 header: %zu bytes JSON, %zu bytes binary, %zu ext fields\n", json.size(),
              binary.size(), parsed.ext_fields.size());

  RemotingCommand reused;
  measure("decode_json_header (reused command)", iterations, [&] {
    Status st = decode_json_header(json, &reused);
    sink(st.is_ok() + reused.opaque);
  });
  measure("decode_json_header (fresh command)", iterations, [&] {
    RemotingCommand cmd;
    Status st = decode_json_header(json, &cmd);
    sink(st.is_ok() + cmd.opaque);
  });
  measure("decode_json_header + get_int32/get_int64", iterations, [&] {
    Status st = decode_json_header(json, &reused);
    sink(st.is_ok() + reused.get_int32("e").value() + reused.get_int64("g").value());
  });
  std::string out;
  measure("encode_json_header", iterations, [&] {
    out.clear();
    encode_json_header(parsed, &out);
    sink(static_cast<int64_t>(out.size()));
  });
  measure("decode_binary_header", iterations, [&] {
    Status st = decode_binary_header(binary, &reused);
    sink(st.is_ok() + reused.opaque);
  });
  measure("encode_binary_header", iterations, [&] {
    out.clear();
    Status st = encode_binary_header(parsed, &out);
    sink(st.is_ok() + static_cast<int64_t>(out.size()));
  });

  // 64 JSON frames per feed, as a busy connection delivers them.
  std::string stream;
  for (int i = 0; i < 64; ++i) stream += encode_frame(parsed, SerializeType::kJson);
  FrameDecoder decoder;
  measure("FrameDecoder::next (JSON frame, 128 B body) x64", iterations / 64, [&] {
    decoder.feed(stream);
    for (int i = 0; i < 64; ++i) {
      auto r = decoder.next(&reused);
      sink(r.is_ok() && r.value());
    }
  });

  std::vector<std::string> bodies(16, std::string(256, 'b'));
  std::vector<BatchMessage> batch;
  for (const auto& b : bodies) batch.push_back({0, b, "UNIQ_KEY\x01" "7F00000100002A9F0000000000000001\x02"});
  std::string batch_body;
  if (!encode_batch(batch, &batch_body).is_ok()) return 1;
  measure("decode_batch (16 messages)", iterations / 16, [&] {
    auto r = decode_batch(batch_body);
    sink(static_cast<int64_t>(r.value().size()));
  });
  return 0;
}
