// Shared by the examples: the name-server address from argv[1] or NAMESRV_ADDR.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

namespace examples {

// argv[1] if given ("host:port[;host:port]"), else empty: the client then reads NAMESRV_ADDR.
inline std::vector<std::string> name_servers(int argc, char** argv) {
  if (argc > 1) return {argv[1]};
  return {};
}

// argv[2] if given, else `fallback`.
inline std::string topic(int argc, char** argv, const char* fallback) { return argc > 2 ? argv[2] : fallback; }

}  // namespace examples
