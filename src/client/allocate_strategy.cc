// The average allocation (facts §10.1): sizes and starts as the Java strategy computes them.
#include "client/allocate_strategy.h"

#include <algorithm>

namespace holdfast::client {

std::vector<MessageQueue> allocate_averagely(const std::string& self, std::vector<std::string> all_clients,
                                             std::vector<MessageQueue> all_queues) {
  std::sort(all_clients.begin(), all_clients.end());
  std::sort(all_queues.begin(), all_queues.end(), [](const MessageQueue& a, const MessageQueue& b) {
    if (a.topic != b.topic) return a.topic < b.topic;
    if (a.broker_name != b.broker_name) return a.broker_name < b.broker_name;
    return a.queue_id < b.queue_id;
  });
  std::vector<MessageQueue> out;
  auto it = std::find(all_clients.begin(), all_clients.end(), self);
  if (it == all_clients.end() || all_queues.empty()) return out;
  const int64_t n = static_cast<int64_t>(all_queues.size());
  const int64_t c = static_cast<int64_t>(all_clients.size());
  const int64_t i = it - all_clients.begin();
  const int64_t mod = n % c;
  const bool gets_extra = mod > 0 && i < mod;
  const int64_t size = n <= c ? 1 : (gets_extra ? n / c + 1 : n / c);
  const int64_t start = gets_extra ? i * size : i * size + mod;
  const int64_t take = std::min(size, n - start);
  for (int64_t k = 0; k < take; ++k) out.push_back(all_queues[static_cast<size_t>(start + k)]);
  return out;
}

}  // namespace holdfast::client
