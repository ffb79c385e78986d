// libholdfast-drill-bind.so, preloaded (LD_PRELOAD) into a server the drill starts: a bind() to
// every address (0.0.0.0, or :: for an IPv6 socket) on a non-zero port becomes a bind() to the
// IPv4 address in HOLDFAST_DRILL_BIND_HOST (as ::ffff:a.b.c.d for an IPv6 socket). Every other
// bind() passes through unchanged, and so does everything when the variable is unset or not an
// IPv4 address.
//
// Why: the network scenarios put a proxy on a broker's advertised address and the same port
// numbers (docs/drills.md, "Faults"), which needs the broker to listen on its own loopback
// address only. Holdfast has --host for that; a broker without such a setting (Apache RocketMQ 4
// binds its ports on every address) runs under this library instead.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

namespace {

using BindFn = int (*)(int, const sockaddr*, socklen_t);

BindFn next_bind() {
  static BindFn fn = reinterpret_cast<BindFn>(::dlsym(RTLD_NEXT, "bind"));
  return fn;
}

}  // namespace

extern "C" int bind(int fd, const sockaddr* addr, socklen_t len) {
  const char* host = std::getenv("HOLDFAST_DRILL_BIND_HOST");
  in_addr v4{};
  if (host != nullptr && addr != nullptr && ::inet_pton(AF_INET, host, &v4) == 1) {
    if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
      sockaddr_in a;
      std::memcpy(&a, addr, sizeof a);
      if (a.sin_addr.s_addr == htonl(INADDR_ANY) && a.sin_port != 0) {
        a.sin_addr = v4;
        return next_bind()(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
      }
    } else if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
      sockaddr_in6 a;
      std::memcpy(&a, addr, sizeof a);
      if (IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr) && a.sin6_port != 0) {
        std::memset(&a.sin6_addr, 0, sizeof a.sin6_addr);
        a.sin6_addr.s6_addr[10] = 0xff;
        a.sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(&a.sin6_addr.s6_addr[12], &v4, 4);
        return next_bind()(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
      }
    }
  }
  return next_bind()(fd, addr, len);
}
