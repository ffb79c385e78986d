// Helpers shared by storage tests: small store options and message builders.
#pragma once

#include <string>

#include "env/env.h"
#include "storage/message_store.h"

namespace holdfast::testing_util {

// Options for tests: tiny segments and index, short timeouts, SYNC_FLUSH.
StoreOptions small_options(const std::string& root);
MessageToStore make_message(const std::string& topic, int32_t queue_id, const std::string& body,
                            const std::string& keys = "", const std::string& tags = "",
                            bool wait = true);
// Decodes a stored record; fails the current test if it is not one.
RecordView view_of(const std::string& record);

}  // namespace holdfast::testing_util
