// The one place where a store outcome becomes a RocketMQ response code (facts §3.2).
#pragma once

#include <cstdint>

#include "storage/message_store.h"

namespace holdfast::broker {

// Response code for a put outcome: PUT_OK -> SUCCESS, FLUSH_DISK_TIMEOUT -> 10,
// FLUSH_SLAVE_TIMEOUT -> 12, SLAVE_NOT_AVAILABLE -> 11, MESSAGE_ILLEGAL -> 13,
// SERVICE_NOT_AVAILABLE (disk full, fenced, shutting down) -> 14, anything else -> SYSTEM_ERROR.
int32_t response_code_for(PutStatus status);

// Pull response code for a store read outcome (facts §4.1).
int32_t response_code_for(GetStatus status, int64_t requested_offset);

}  // namespace holdfast::broker
