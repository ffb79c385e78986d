// Loopback port probing for programs that start servers on free ports (the drill, the tests).
// A port reported free was free when probed; another process may take it before it is used, so
// callers that can retry on a bind failure should.
#pragma once

#include <cstdint>

namespace holdfast::transport {

// A TCP port on 127.0.0.1 that could be bound a moment ago, or 0 if none could be found. It is
// taken at random from 20000-25999: below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), so that no outgoing connection of this or another process is
// handed it as its local port between the pick and the bind, and apart from the java test
// scripts' 26000-31999, so that the two never race for one. Falls back to a kernel-chosen port
// when the ephemeral range leaves no room below it.
uint16_t pick_free_port();

// True if 127.0.0.1:port can be bound right now (false for port 0).
bool port_is_free(uint16_t port);

}  // namespace holdfast::transport
