// PutStatus: the outcome of storing a message, mapped to RocketMQ response codes in exactly one
// place by the broker (facts §3.2).
#pragma once

#include <cstdint>
#include <string>

namespace holdfast {

enum class PutStatus {
  kOk,
  kFlushDiskTimeout,      // stored; fdatasync did not complete within syncFlushTimeout
  kFlushSlaveTimeout,     // stored; replication did not complete in time (replication issue)
  kSlaveNotAvailable,     // stored on the master only (replication issue)
  kServiceNotAvailable,   // not stored: disk full, store fenced, or shutting down
  kMessageIllegal,        // not stored: topic, body or properties break a limit
  kUnknownError,          // not stored
};

const char* put_status_name(PutStatus s);
inline bool put_status_stored(PutStatus s) {
  return s == PutStatus::kOk || s == PutStatus::kFlushDiskTimeout ||
         s == PutStatus::kFlushSlaveTimeout || s == PutStatus::kSlaveNotAvailable;
}

struct PutResult {
  PutStatus status = PutStatus::kUnknownError;
  std::string remark;               // readable reason when not kOk
  int64_t physical_offset = -1;
  int32_t wrote_bytes = 0;
  int32_t queue_id = 0;
  int64_t queue_offset = -1;
  int64_t store_timestamp = 0;
  std::string msg_id;               // offset message id (store host + physical offset)
  bool stored() const { return put_status_stored(status); }
};

}  // namespace holdfast
