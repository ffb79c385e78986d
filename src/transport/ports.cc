#include "transport/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <random>

namespace holdfast::transport {
namespace {

// Binds 127.0.0.1:want (0: a port of the kernel's choosing); returns the bound port or 0.
uint16_t bind_probe(uint16_t want) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(want);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

uint16_t pick_free_port() {
  int low = 32768;  // the kernel's default start of the ephemeral range
  if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    int lo = 0, hi = 0;
    if (std::fscanf(f, "%d %d", &lo, &hi) == 2 && lo > 0) low = lo;
    std::fclose(f);
  }
  // [20000, 26000): below the ephemeral range, and apart from the ports the java test scripts
  // draw (tests/java/java_env.sh, 26000-31999), so that the two never race for one port.
  constexpr int kFloor = 20000;
  low = std::min(low, 26000);
  if (low - kFloor >= 1000) {
    static std::mutex mu;
    static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(::getpid()));
    for (int attempt = 0; attempt < 200; ++attempt) {
      uint16_t want;
      {
        std::lock_guard<std::mutex> l(mu);
        want = static_cast<uint16_t>(kFloor + static_cast<int>(rng() % static_cast<unsigned>(low - kFloor)));
      }
      if (bind_probe(want) == want) return want;
    }
  }
  return bind_probe(0);
}

bool port_is_free(uint16_t port) { return port != 0 && bind_probe(port) == port; }

}  // namespace holdfast::transport
