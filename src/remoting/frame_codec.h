// Frame codec (facts §1.1): [int32 length][int32 type<<24 | headerLen][header][body], where
// length = 4 + headerLen + bodyLen. encode_frame writes one; FrameDecoder cuts a byte stream
// into frames and commands.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "remoting/remoting_command.h"
#include "remoting/remoting_format.h"

namespace holdfast::remoting {

// Appends one complete frame for `cmd` with its header in `type`. Fails (InvalidArgument),
// appending nothing, when the binary header cannot represent the command (see
// encode_binary_header) or the frame would exceed `max_frame_length` (counting the length
// prefix), which the peer would answer by closing the connection. The server write path uses
// this form.
Status encode_frame_to(const RemotingCommand& cmd, SerializeType type, std::string* out,
                       uint32_t max_frame_length = format::kMaxFrameLength);

// The same, returned as a string, for commands whose size and codes the caller controls (tests,
// clients, small responses). A failure is a caller bug: HF_CHECK aborts.
std::string encode_frame(const RemotingCommand& cmd, SerializeType type);

// Decodes a header of either serialize type into the header fields of *out.
Status decode_header(SerializeType type, std::string_view header, RemotingCommand* out);

// One frame cut out of the stream, not yet decoded. The views point into the decoder's buffer
// and stay valid until the next call to feed() or next*().
struct RawFrame {
  SerializeType serialize_type = SerializeType::kJson;
  std::string_view header;
  std::string_view body;
};

// Streaming decoder for one connection: feed() whatever the socket returned, then call next()
// until it reports that more bytes are needed. Not thread-safe (one connection, one reader
// thread). Memory is bounded: the length prefix is checked as soon as its 4 bytes arrive, so
// the buffer never holds more than one frame (<= max_frame_length) plus the unconsumed rest of
// the last chunk fed.
//
// Stream errors are sticky: after the first error every later next*() returns it again and
// feed() drops its input; the caller must close the connection (as the Java server does).
// Errors (Corruption): length < 4, length > max_frame_length - 4, header length > length - 4,
// unknown serialize type, and (next() only) an undecodable header.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_length = format::kMaxFrameLength);

  // Appends bytes from the peer.
  void feed(std::string_view bytes);

  // Cuts the next complete frame. Returns true and fills *frame, false when more bytes are
  // needed, or the sticky stream error.
  Result<bool> next_frame(RawFrame* frame);

  // next_frame() plus header decoding: fills *cmd (header fields and body) and records the
  // frame's serialize type in *type when non-null.
  Result<bool> next(RemotingCommand* cmd, SerializeType* type = nullptr);

  // Bytes received but not yet returned as frames.
  size_t buffered_bytes() const { return buffer_.size() - read_pos_; }
  // Bytes held, consumed ones included (for tests and metrics): stays within about twice
  // max_frame_length plus one chunk however the stream is split.
  size_t buffer_size() const { return buffer_.size(); }
  const Status& error() const { return error_; }

 private:
  Status fail(Status status);

  uint32_t max_frame_length_;
  std::string buffer_;
  size_t read_pos_ = 0;
  Status error_;
};

}  // namespace holdfast::remoting
