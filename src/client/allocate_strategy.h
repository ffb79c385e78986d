// Queue allocation for clustering consumers: the Java client's default average strategy
// (facts §10.1), reproduced exactly so that mixed Java/C++/JavaScript groups agree on owners.
#pragma once

#include <string>
#include <vector>

#include "holdfast/message.h"

namespace holdfast::client {

// The queues `self` owns among `all_queues` shared by the consumers `all_clients`. Both lists are
// sorted here ((topic, broker_name, queue_id) and string order) exactly as every client of the
// group sorts them, so each consumer computes the same partition. Empty when self is absent.
// With n queues and c clients, client i takes a block of n/c queues, one more for the first
// n mod c clients; the blocks are consecutive in sorted order; past n, clients get nothing.
std::vector<MessageQueue> allocate_averagely(const std::string& self, std::vector<std::string> all_clients,
                                             std::vector<MessageQueue> all_queues);

}  // namespace holdfast::client
