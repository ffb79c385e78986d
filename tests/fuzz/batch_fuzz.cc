// Fuzz target for the SEND_BATCH_MESSAGE body decoder: no input may crash or read out of
// bounds, and a decoded batch re-encodes to a body of the same size that decodes the same.
#include <string_view>

#include "fuzz_target.h"
#include "remoting/batch_codec.h"

namespace holdfast::fuzz {

std::vector<std::string> seeds() {
  using remoting::BatchMessage;
  std::vector<std::string> out;
  static const std::string big_body(300, 'b');  // BatchMessage holds views: keep the bytes alive
  static const std::string big_props(100, 'p');
  const std::vector<std::vector<BatchMessage>> batches = {
      {{0, "hello", "UNIQ_KEY\x01" "A1\x02WAIT\x01true\x02"}},
      {{1, "a", ""}, {2, "", "TAGS\x01t\x02"}, {-1, std::string_view("\0\x01\x02", 3), "KEYS\x01k1 k2\x02"}},
      {{7, big_body, big_props}},
  };
  for (const auto& batch : batches) {
    std::string body;
    (void)remoting::encode_batch(batch, &body);
    out.push_back(std::move(body));
  }
  return out;
}

}  // namespace holdfast::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace holdfast;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoded = remoting::decode_batch(input);
  if (!decoded.is_ok()) return 0;
  const auto& messages = decoded.value();
  FUZZ_CHECK(!messages.empty());
  for (const auto& m : messages) {
    // Every view lies inside the input.
    FUZZ_CHECK(m.body.data() >= input.data() && m.body.data() + m.body.size() <= input.data() + input.size());
    FUZZ_CHECK(m.properties.data() >= input.data() &&
               m.properties.data() + m.properties.size() <= input.data() + input.size());
  }
  std::string again;
  FUZZ_CHECK(remoting::encode_batch(messages, &again).is_ok());
  FUZZ_CHECK(again.size() == size);
  auto back = remoting::decode_batch(again);
  FUZZ_CHECK(back.is_ok());
  FUZZ_CHECK(back.value() == messages);
  return 0;
}
