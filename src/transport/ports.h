// Loopback port probing for programs that start servers on free ports (the drill, the tests).
// A port reported free was free when probed; another process may take it before it is used, so
// callers that can retry on a bind failure should.
#pragma once

#include <cstdint>

namespace holdfast::transport {

// A TCP port on 127.0.0.1 that the kernel handed out a moment ago, or 0 if none could be bound.
uint16_t pick_free_port();

// True if 127.0.0.1:port can be bound right now (false for port 0).
bool port_is_free(uint16_t port);

}  // namespace holdfast::transport
