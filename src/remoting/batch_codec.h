// SEND_BATCH_MESSAGE body codec (facts §5.6): the inner messages back to back, each
// TOTALSIZE(4) MAGIC(4) BODYCRC(4) FLAG(4) BODYLEN(4) BODY PROPLEN(2) PROPS, big-endian.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace holdfast::remoting {

// One inner message of a batch. The views point into the batch body passed to decode_batch and
// are valid while it lives (the broker turns them into commit-log records before the request's
// body is released).
struct BatchMessage {
  int32_t flag = 0;
  std::string_view body;
  std::string_view properties;  // "key\x01value\x02..." (facts §5.4), not parsed here

  bool operator==(const BatchMessage&) const = default;
};

// Decodes a batch body. Checks, per message: at least 22 bytes remain; TOTALSIZE fits in what
// remains and equals 22 + BODYLEN + PROPLEN (clients write exactly that); BODYLEN and PROPLEN
// are not negative and fit. MAGIC and BODYCRC are ignored (clients write 0; the broker
// recomputes the CRC). An empty body is an error: a batch has at least one message.
// Errors are Corruption naming the message index and byte offset.
Result<std::vector<BatchMessage>> decode_batch(std::string_view batch_body);

// Appends the encoded batch (MAGIC = BODYCRC = 0, as clients write them). Fails
// (InvalidArgument) when a message cannot be represented: properties over 32767 bytes or a
// message of 2 GiB or more.
Status encode_batch(std::span<const BatchMessage> messages, std::string* out);

}  // namespace holdfast::remoting
