// Millisecond clocks of the client: steady (intervals, deadlines) and wall (timestamps sent to
// brokers, message ids).
#pragma once

#include <chrono>
#include <cstdint>

namespace holdfast::client {

inline int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace holdfast::client
