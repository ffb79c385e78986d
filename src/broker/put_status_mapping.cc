// Store outcome -> response code, in exactly one place.
#include "broker/put_status_mapping.h"

#include "remoting/response_code.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;

int32_t response_code_for(PutStatus status) {
  switch (status) {
    case PutStatus::kOk: return rc::kSuccess;
    case PutStatus::kFlushDiskTimeout: return rc::kFlushDiskTimeout;
    case PutStatus::kFlushSlaveTimeout: return rc::kFlushSlaveTimeout;
    case PutStatus::kSlaveNotAvailable: return rc::kSlaveNotAvailable;
    case PutStatus::kMessageIllegal: return rc::kMessageIllegal;
    case PutStatus::kServiceNotAvailable: return rc::kServiceNotAvailable;
    case PutStatus::kUnknownError: return rc::kSystemError;
  }
  return rc::kSystemError;
}

int32_t response_code_for(GetStatus status, int64_t requested_offset) {
  switch (status) {
    case GetStatus::kFound: return rc::kSuccess;
    case GetStatus::kNoMatchedMessage:
    case GetStatus::kMessageWasRemoving: return rc::kPullRetryImmediately;
    case GetStatus::kOffsetOverflowOne: return rc::kPullNotFound;
    case GetStatus::kOffsetTooSmall:
    case GetStatus::kOffsetOverflowBadly: return rc::kPullOffsetMoved;
    case GetStatus::kNoMessageInQueue:
    case GetStatus::kNoMatchedLogicQueue: return requested_offset != 0 ? rc::kPullOffsetMoved : rc::kPullNotFound;
  }
  return rc::kSystemError;
}

}  // namespace holdfast::broker
