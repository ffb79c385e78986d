// Batch body codec: a bounds-checked walk over the inner messages, and its inverse.
#include "remoting/batch_codec.h"

#include <climits>

#include "base/coding.h"
#include "remoting/remoting_format.h"

namespace holdfast::remoting {

namespace {

Status batch_error(size_t index, size_t offset, const std::string& what) {
  return Status::corruption("malformed batch body: message #" + std::to_string(index) + " at offset " +
                            std::to_string(offset) + ": " + what);
}

}  // namespace

Result<std::vector<BatchMessage>> decode_batch(std::string_view batch_body) {
  if (batch_body.empty()) return Status::corruption("malformed batch body: empty (a batch needs at least one message)");
  std::vector<BatchMessage> messages;
  size_t pos = 0;
  size_t index = 0;
  const char* base = batch_body.data();
  while (pos < batch_body.size()) {
    const size_t remaining = batch_body.size() - pos;
    if (remaining < format::kBatchMinMessageSize) {
      return batch_error(index, pos, "truncated: " + std::to_string(remaining) + " bytes left, a message needs at least " +
                                         std::to_string(format::kBatchMinMessageSize));
    }
    const char* p = base + pos;
    const int32_t total_size = get_be32s(p + format::kBatchTotalSizePos);
    if (total_size < static_cast<int32_t>(format::kBatchMinMessageSize)) {
      return batch_error(index, pos, "TOTALSIZE " + std::to_string(total_size) + " is below the minimum of " +
                                         std::to_string(format::kBatchMinMessageSize));
    }
    if (static_cast<size_t>(total_size) > remaining) {
      return batch_error(index, pos, "TOTALSIZE " + std::to_string(total_size) + " exceeds the " +
                                         std::to_string(remaining) + " bytes left");
    }
    const int32_t body_len = get_be32s(p + format::kBatchBodyLengthPos);
    // Invariant: BODY and PROPLEN lie inside TOTALSIZE, which lies inside the input.
    if (body_len < 0 ||
        static_cast<size_t>(body_len) > static_cast<size_t>(total_size) - format::kBatchMinMessageSize) {
      return batch_error(index, pos, "BODYLEN " + std::to_string(body_len) + " does not fit TOTALSIZE " +
                                         std::to_string(total_size));
    }
    const size_t props_len_pos = format::kBatchBodyPos + static_cast<size_t>(body_len);
    const int16_t props_len = static_cast<int16_t>(get_be16(p + props_len_pos));
    if (props_len < 0) {
      return batch_error(index, pos, "negative PROPLEN " + std::to_string(props_len));
    }
    const size_t expected = props_len_pos + format::kBatchPropertiesLengthSize + static_cast<size_t>(props_len);
    if (expected != static_cast<size_t>(total_size)) {
      return batch_error(index, pos, "TOTALSIZE " + std::to_string(total_size) +
                                         " does not match the field lengths (" + std::to_string(expected) +
                                         " = 22 + BODYLEN " + std::to_string(body_len) + " + PROPLEN " +
                                         std::to_string(props_len) + ")");
    }
    BatchMessage m;
    m.flag = get_be32s(p + format::kBatchFlagPos);
    m.body = std::string_view(p + format::kBatchBodyPos, static_cast<size_t>(body_len));
    m.properties = std::string_view(p + props_len_pos + format::kBatchPropertiesLengthSize,
                                    static_cast<size_t>(props_len));
    messages.push_back(m);
    pos += static_cast<size_t>(total_size);
    ++index;
  }
  return messages;
}

Status encode_batch(std::span<const BatchMessage> messages, std::string* out) {
  size_t needed = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    const BatchMessage& m = messages[i];
    if (m.properties.size() > format::kBatchMaxPropertiesLength) {
      return Status::invalid_argument("batch message #" + std::to_string(i) + ": properties of " +
                                      std::to_string(m.properties.size()) + " bytes exceed the limit of 32767");
    }
    const size_t size = format::kBatchMinMessageSize + m.body.size() + m.properties.size();
    if (size > static_cast<size_t>(INT32_MAX)) {
      return Status::invalid_argument("batch message #" + std::to_string(i) + " is too large");
    }
    needed += size;
  }
  out->reserve(out->size() + needed);
  for (const BatchMessage& m : messages) {
    const size_t size = format::kBatchMinMessageSize + m.body.size() + m.properties.size();
    append_be32(out, static_cast<uint32_t>(size));
    append_be32(out, static_cast<uint32_t>(format::kBatchClientMagic));
    append_be32(out, static_cast<uint32_t>(format::kBatchClientBodyCrc));
    append_be32(out, static_cast<uint32_t>(m.flag));
    append_be32(out, static_cast<uint32_t>(m.body.size()));
    out->append(m.body);
    append_be16(out, static_cast<uint16_t>(m.properties.size()));
    out->append(m.properties);
  }
  return Status::ok();
}

}  // namespace holdfast::remoting
