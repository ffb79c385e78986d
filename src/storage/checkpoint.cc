// StoreCheckpoint encoding: RocketMQ's timestamp fields first, then Holdfast's offsets and a CRC.
#include "storage/checkpoint.h"

#include <cstring>

#include "base/coding.h"
#include "base/hash.h"
#include "base/sync_point.h"

namespace holdfast {
namespace {
constexpr char kMagic[8] = {'H', 'F', 'C', 'K', 'P', 'T', '0', '1'};
constexpr int kMagicPos = 40;
constexpr int kDispatchedPos = 48;
constexpr int kFlushedPos = 56;
constexpr int kIndexEntriesPos = 64;
constexpr int kIndexEndPos = 68;
constexpr int kIndexNamePos = 76;
constexpr int kIndexNameSize = 32;
constexpr int kCrcPos = kIndexNamePos + kIndexNameSize;  // 108
}  // namespace

std::string encode_checkpoint(const StoreCheckpoint& c) {
  std::string b(kCheckpointFileSize, '\0');
  char* p = b.data();
  put_be64(p + 0, static_cast<uint64_t>(c.physic_msg_timestamp));
  put_be64(p + 8, static_cast<uint64_t>(c.logics_msg_timestamp));
  put_be64(p + 16, static_cast<uint64_t>(c.index_msg_timestamp));
  put_be64(p + 24, static_cast<uint64_t>(c.flushed_offset));     // masterFlushedOffset
  put_be64(p + 32, static_cast<uint64_t>(c.dispatched_offset));  // confirmPhyOffset
  std::memcpy(p + kMagicPos, kMagic, 8);
  put_be64(p + kDispatchedPos, static_cast<uint64_t>(c.dispatched_offset));
  put_be64(p + kFlushedPos, static_cast<uint64_t>(c.flushed_offset));
  put_be32(p + kIndexEntriesPos, c.index_point.entry_count);
  put_be64(p + kIndexEndPos, static_cast<uint64_t>(c.index_point.end_physical_offset));
  std::memcpy(p + kIndexNamePos, c.index_point.file_name.data(),
              std::min<size_t>(c.index_point.file_name.size(), kIndexNameSize - 1));
  put_be32(p + kCrcPos, crc32_ieee(p, kCrcPos));
  return b;
}

Result<StoreCheckpoint> decode_checkpoint(const std::string& b) {
  if (b.size() < static_cast<size_t>(kCrcPos + 4)) return Status::corruption("checkpoint too short");
  const char* p = b.data();
  if (std::memcmp(p + kMagicPos, kMagic, 8) != 0) return Status::corruption("checkpoint magic mismatch");
  if (get_be32(p + kCrcPos) != crc32_ieee(p, kCrcPos)) return Status::corruption("checkpoint CRC mismatch");
  StoreCheckpoint c;
  c.physic_msg_timestamp = get_be64s(p);
  c.logics_msg_timestamp = get_be64s(p + 8);
  c.index_msg_timestamp = get_be64s(p + 16);
  c.dispatched_offset = get_be64s(p + kDispatchedPos);
  c.flushed_offset = get_be64s(p + kFlushedPos);
  c.index_point.entry_count = get_be32(p + kIndexEntriesPos);
  c.index_point.end_physical_offset = get_be64s(p + kIndexEndPos);
  c.index_point.file_name = std::string(p + kIndexNamePos, strnlen(p + kIndexNamePos, kIndexNameSize));
  return c;
}

Status write_checkpoint(Env* env, const std::string& path, const StoreCheckpoint& ckpt) {
  HF_SYNC_POINT("checkpoint.write.before");
  Status st = write_file_atomically(env, path, encode_checkpoint(ckpt));
  HF_SYNC_POINT("checkpoint.write.after");
  return st;
}

Result<StoreCheckpoint> read_checkpoint(Env* env, const std::string& path) {
  HF_ASSIGN_OR_RETURN(std::string bytes, read_file_to_string(env, path));
  return decode_checkpoint(bytes);
}

}  // namespace holdfast
