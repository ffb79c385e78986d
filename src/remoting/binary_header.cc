// Binary (ROCKETMQ) header codec with a bounds-checked reader: no length read from the wire is
// trusted before it is compared with the bytes that remain.
#include "remoting/binary_header.h"

#include <climits>

#include "base/coding.h"

namespace holdfast::remoting {

namespace {

class Reader {
 public:
  explicit Reader(std::string_view data) : begin_(data.data()), p_(data.data()), end_(data.data() + data.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }

  Status error(const std::string& what) const {
    return Status::corruption("malformed binary header at offset " + std::to_string(offset()) + ": " + what);
  }
  Status need(size_t n, const char* field) const {
    if (remaining() >= n) return Status::ok();
    return error(std::string("truncated ") + field + ": need " + std::to_string(n) + " bytes, " +
                 std::to_string(remaining()) + " left");
  }
  int16_t i16() {
    auto v = static_cast<int16_t>(get_be16(p_));
    p_ += 2;
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(*p_++); }
  int32_t i32() {
    int32_t v = get_be32s(p_);
    p_ += 4;
    return v;
  }
  std::string_view bytes(size_t n) {
    std::string_view v(p_, n);
    p_ += n;
    return v;
  }
  // A sub-reader over the next n bytes (already checked), which this reader skips.
  Reader split(size_t n) {
    Reader sub(std::string_view(p_, n));
    sub.begin_ = begin_;  // offsets in errors stay relative to the whole header
    p_ += n;
    return sub;
  }

 private:
  const char* begin_;
  const char* p_;
  const char* end_;
};

Status read_ext_fields(Reader* r, ExtFields* ext) {
  while (r->remaining() > 0) {
    HF_RETURN_IF_ERROR(r->need(format::kBinaryExtKeyLengthSize, "extFields key length"));
    int16_t key_len = r->i16();
    if (key_len < 0) return r->error("negative extFields key length " + std::to_string(key_len));
    HF_RETURN_IF_ERROR(r->need(static_cast<size_t>(key_len), "extFields key"));
    std::string_view key = r->bytes(static_cast<size_t>(key_len));
    HF_RETURN_IF_ERROR(r->need(format::kBinaryExtValueLengthSize, "extFields value length"));
    int32_t value_len = r->i32();
    if (value_len < 0) return r->error("negative extFields value length " + std::to_string(value_len));
    HF_RETURN_IF_ERROR(r->need(static_cast<size_t>(value_len), "extFields value"));
    std::string_view value = r->bytes(static_cast<size_t>(value_len));
    ext->append_unchecked(std::string(key), std::string(value));
  }
  ext->resolve_duplicates();
  return Status::ok();
}

}  // namespace

Status decode_binary_header(std::string_view header, RemotingCommand* out) {
  Reader r(header);
  HF_RETURN_IF_ERROR(r.need(format::kBinaryRemarkPos + format::kBinaryRemarkLengthSize, "fixed fields"));
  out->code = r.i16();
  out->language = language_from_code(r.u8());
  out->version = r.i16();
  out->opaque = r.i32();
  out->flag = r.i32();

  int32_t remark_len = r.i32();
  if (remark_len < 0) return r.error("negative remark length " + std::to_string(remark_len));
  HF_RETURN_IF_ERROR(r.need(static_cast<size_t>(remark_len), "remark"));
  if (remark_len == 0) {
    out->remark.reset();
  } else {
    out->remark.emplace(r.bytes(static_cast<size_t>(remark_len)));
  }

  HF_RETURN_IF_ERROR(r.need(format::kBinaryExtLengthSize, "extFields length"));
  int32_t ext_len = r.i32();
  if (ext_len < 0) return r.error("negative extFields length " + std::to_string(ext_len));
  HF_RETURN_IF_ERROR(r.need(static_cast<size_t>(ext_len), "extFields block"));
  Reader ext_reader = r.split(static_cast<size_t>(ext_len));
  out->ext_fields.clear();
  HF_RETURN_IF_ERROR(read_ext_fields(&ext_reader, &out->ext_fields));
  if (r.remaining() != 0) {
    return r.error(std::to_string(r.remaining()) + " unexpected bytes after the extFields block");
  }
  return Status::ok();
}

Status encode_binary_header(const RemotingCommand& cmd, std::string* out) {
  if (cmd.code < INT16_MIN || cmd.code > INT16_MAX) {
    return Status::invalid_argument("code " + std::to_string(cmd.code) +
                                    " does not fit the int16 code of a binary header; use JSON");
  }
  if (cmd.version < INT16_MIN || cmd.version > INT16_MAX) {
    return Status::invalid_argument("version " + std::to_string(cmd.version) +
                                    " does not fit the int16 version of a binary header; use JSON");
  }
  uint64_t ext_len = 0;
  for (const auto& [key, value] : cmd.ext_fields) {
    if (key.size() > format::kBinaryMaxExtKeyLength) {
      return Status::invalid_argument("extFields key of " + std::to_string(key.size()) +
                                      " bytes exceeds the binary header limit of 32767");
    }
    ext_len += format::kBinaryExtKeyLengthSize + key.size() + format::kBinaryExtValueLengthSize + value.size();
  }
  size_t remark_len = cmd.remark ? cmd.remark->size() : 0;
  if (ext_len > INT32_MAX || remark_len > INT32_MAX) {
    return Status::invalid_argument("remark or extFields too large for a binary header");
  }

  out->reserve(out->size() + format::kBinaryHeaderFixedSize + remark_len + ext_len);
  append_be16(out, static_cast<uint16_t>(static_cast<int16_t>(cmd.code)));
  out->push_back(static_cast<char>(cmd.language));
  append_be16(out, static_cast<uint16_t>(static_cast<int16_t>(cmd.version)));
  append_be32(out, static_cast<uint32_t>(cmd.opaque));
  append_be32(out, static_cast<uint32_t>(cmd.flag));
  append_be32(out, static_cast<uint32_t>(remark_len));
  if (remark_len > 0) out->append(*cmd.remark);
  append_be32(out, static_cast<uint32_t>(ext_len));
  for (const auto& [key, value] : cmd.ext_fields) {
    append_be16(out, static_cast<uint16_t>(key.size()));
    out->append(key);
    append_be32(out, static_cast<uint32_t>(value.size()));
    out->append(value);
  }
  return Status::ok();
}

}  // namespace holdfast::remoting
