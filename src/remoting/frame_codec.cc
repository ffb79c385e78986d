// Frame encoding and the streaming frame decoder.
#include "remoting/frame_codec.h"

#include "base/coding.h"
#include "remoting/binary_header.h"
#include "remoting/json_header.h"

namespace holdfast::remoting {

Status encode_frame_to(const RemotingCommand& cmd, SerializeType type, std::string* out,
                       uint32_t max_frame_length) {
  const size_t start = out->size();
  out->append(format::kFramePrefixSize, '\0');  // patched below, once the header length is known
  if (type == SerializeType::kRocketMQ) {
    Status st = encode_binary_header(cmd, out);
    if (!st.is_ok()) {
      out->resize(start);
      return st;
    }
  } else {
    encode_json_header(cmd, out);
  }
  const uint64_t header_len = out->size() - start - format::kFramePrefixSize;
  const uint64_t frame_len = format::kFramePrefixSize + header_len + cmd.body.size();
  if (header_len > format::kHeaderLengthMask || frame_len > max_frame_length) {
    out->resize(start);
    return Status::invalid_argument("frame of " + std::to_string(frame_len) + " bytes (header " +
                                    std::to_string(header_len) + ") exceeds the frame limit of " +
                                    std::to_string(max_frame_length) + " bytes");
  }
  const uint32_t length_field = static_cast<uint32_t>(frame_len - format::kLengthFieldSize);
  const uint32_t header_word =
      (static_cast<uint32_t>(type) << format::kSerializeTypeShift) | static_cast<uint32_t>(header_len);
  put_be32(out->data() + start, length_field);
  put_be32(out->data() + start + format::kLengthFieldSize, header_word);
  out->append(cmd.body);
  return Status::ok();
}

std::string encode_frame(const RemotingCommand& cmd, SerializeType type) {
  std::string out;
  Status st = encode_frame_to(cmd, type, &out);
  HF_CHECK(st.is_ok(), "encode_frame: ", st.to_string());
  return out;
}

Status decode_header(SerializeType type, std::string_view header, RemotingCommand* out) {
  switch (type) {
    case SerializeType::kJson:
      return decode_json_header(header, out);
    case SerializeType::kRocketMQ:
      return decode_binary_header(header, out);
  }
  return Status::corruption("unknown serialize type " + std::to_string(static_cast<int>(type)));
}

FrameDecoder::FrameDecoder(uint32_t max_frame_length) : max_frame_length_(max_frame_length) {
  HF_CHECK(max_frame_length >= format::kFramePrefixSize, "max_frame_length too small: ", max_frame_length);
}

Status FrameDecoder::fail(Status status) {
  error_ = std::move(status);
  buffer_.clear();
  buffer_.shrink_to_fit();
  read_pos_ = 0;
  return error_;
}

void FrameDecoder::feed(std::string_view bytes) {
  if (!error_.is_ok() || bytes.empty()) return;
  // Drop consumed bytes before growing: cheap when everything was consumed (the common case),
  // and a memmove of at most one partial frame otherwise.
  if (read_pos_ == buffer_.size()) {
    buffer_.clear();
    read_pos_ = 0;
  } else if (read_pos_ > 0 && read_pos_ >= buffer_.size() / 2) {
    buffer_.erase(0, read_pos_);
    read_pos_ = 0;
  }
  buffer_.append(bytes);
}

Result<bool> FrameDecoder::next_frame(RawFrame* frame) {
  if (!error_.is_ok()) return error_;
  const size_t available = buffer_.size() - read_pos_;
  if (available < format::kLengthFieldSize) return false;
  const char* p = buffer_.data() + read_pos_;

  // Invariant: the length is validated before we wait for (and buffer) the frame it announces.
  const uint32_t length = get_be32(p);
  if (length < format::kHeaderWordSize) {
    return fail(Status::corruption("frame length " + std::to_string(length) +
                                   " is smaller than the 4-byte header-length field"));
  }
  if (static_cast<uint64_t>(length) + format::kLengthFieldSize > max_frame_length_) {
    return fail(Status::corruption("frame length " + std::to_string(length) + " exceeds the maximum of " +
                                   std::to_string(max_frame_length_ - format::kLengthFieldSize)));
  }
  if (available < format::kFramePrefixSize) return false;
  const uint32_t header_word = get_be32(p + format::kLengthFieldSize);
  const uint32_t type_byte = header_word >> format::kSerializeTypeShift;
  const uint32_t header_len = header_word & format::kHeaderLengthMask;
  if (type_byte != static_cast<uint32_t>(SerializeType::kJson) &&
      type_byte != static_cast<uint32_t>(SerializeType::kRocketMQ)) {
    return fail(Status::corruption("unknown serialize type " + std::to_string(type_byte) + " in frame header"));
  }
  if (header_len > length - format::kHeaderWordSize) {
    return fail(Status::corruption("header length " + std::to_string(header_len) + " exceeds the frame's " +
                                   std::to_string(length - format::kHeaderWordSize) + " bytes after the length fields"));
  }
  const size_t total = format::kLengthFieldSize + length;
  if (available < total) return false;

  frame->serialize_type = static_cast<SerializeType>(type_byte);
  frame->header = std::string_view(p + format::kFramePrefixSize, header_len);
  frame->body = std::string_view(p + format::kFramePrefixSize + header_len,
                                 length - format::kHeaderWordSize - header_len);
  read_pos_ += total;
  return true;
}

Result<bool> FrameDecoder::next(RemotingCommand* cmd, SerializeType* type) {
  RawFrame frame;
  HF_ASSIGN_OR_RETURN(bool got, next_frame(&frame));
  if (!got) return false;
  Status st = decode_header(frame.serialize_type, frame.header, cmd);
  if (!st.is_ok()) return fail(std::move(st));
  cmd->body.assign(frame.body);
  if (type != nullptr) *type = frame.serialize_type;
  return true;
}

}  // namespace holdfast::remoting
