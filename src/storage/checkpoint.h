// StoreCheckpoint: how far the commit log, consume queues and index are known durable, written
// atomically (temp file, fsync, rename, directory fsync). Layout: docs/format/checkpoint.md.
#pragma once

#include <cstdint>
#include <string>

#include "env/env.h"
#include "storage/index_service.h"

namespace holdfast {

struct StoreCheckpoint {
  int64_t physic_msg_timestamp = 0;   // store time of the last flushed commit-log record
  int64_t logics_msg_timestamp = 0;   // store time of the last record in durable consume queues
  int64_t index_msg_timestamp = 0;    // store time of the last record in the durable index
  // Every commit-log byte below this offset was fdatasync'ed when the checkpoint was written.
  int64_t flushed_offset = 0;
  // Every record below this offset has its consume-queue units and index entries durable, and
  // the consume queues and index hold nothing durable for records at or above it.
  int64_t dispatched_offset = 0;
  IndexDurablePoint index_point;
};

inline constexpr int kCheckpointFileSize = 4096;

std::string encode_checkpoint(const StoreCheckpoint& ckpt);
// Fails with kCorruption on a bad magic or CRC (the caller then recovers from the start).
Result<StoreCheckpoint> decode_checkpoint(const std::string& bytes);
Status write_checkpoint(Env* env, const std::string& path, const StoreCheckpoint& ckpt);
Result<StoreCheckpoint> read_checkpoint(Env* env, const std::string& path);

}  // namespace holdfast
