// The properties of the copy a push consumer sends to %RETRY%<group> itself when
// CONSUMER_SEND_MSG_BACK failed (facts §8.3, client side).
#pragma once

#include <string>

#include "holdfast/message.h"

namespace holdfast::client {

// The message's properties minus the per-pull and per-send ones (MIN_OFFSET, MAX_OFFSET, TRAN_MSG,
// RECONSUME_TIME, MAX_RECONSUME_TIMES, DELAY, WAIT), plus RETRY_TOPIC = the original topic and
// ORIGIN_MESSAGE_ID = msg_id (each only when absent: a retried copy keeps the first values),
// DELAY = 3 + reconsume_times and WAIT = true. message.topic must already be the original topic.
// The reconsume count travels in the SEND_MESSAGE_V2 header (j = reconsume_times + 1, l = max).
std::string retry_properties(const ReceivedMessage& message);

}  // namespace holdfast::client
