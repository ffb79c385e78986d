// libholdfast-drill-bind.so: a server preloaded with it that binds every address (0.0.0.0 or ::)
// listens on HOLDFAST_DRILL_BIND_HOST only; without the variable it binds as it asked. The server
// here is `holdfast namesrv`, which binds what --host says.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "broker_test_support.h"

namespace holdfast::test_support {
namespace {

bool accepts(const char* host, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, host, &a.sin_addr);
  a.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Starts `holdfast namesrv --host <listen> --port <port>` with the library preloaded and the
// variable set to bind_host ("" = unset).
std::string start_namesrv(ChildProcess& p, const std::string& listen, uint16_t port, const std::string& bind_host) {
  const std::string lib = self_dir() + "/libholdfast-drill-bind.so";
  if (!std::filesystem::exists(lib)) return "no " + lib;
  ::setenv("LD_PRELOAD", lib.c_str(), 1);
  if (!bind_host.empty()) ::setenv("HOLDFAST_DRILL_BIND_HOST", bind_host.c_str(), 1);
  std::string err = p.start({self_dir() + "/holdfast", "namesrv", "--host", listen, "--port", std::to_string(port)});
  ::unsetenv("LD_PRELOAD");
  ::unsetenv("HOLDFAST_DRILL_BIND_HOST");
  if (!err.empty()) return err;
  if (p.wait_for_line("Holdfast name server on", 15000, &err).empty()) return err;
  return "";
}

class BindShim : public ::testing::Test {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_ADDRESS__)
    // An ASan-built holdfast refuses to start with another library preloaded before its runtime;
    // the drill preloads the library into brokers built without sanitizers.
    GTEST_SKIP() << "not under AddressSanitizer: the preloaded library would come before the ASan runtime";
#endif
  }
};

TEST_F(BindShim, EveryAddressBecomesTheGivenOne) {
  const uint16_t port = free_port();
  ChildProcess p;
  ASSERT_EQ(start_namesrv(p, "0.0.0.0", port, "127.0.0.2"), "");
  EXPECT_TRUE(accepts("127.0.0.2", port));
  EXPECT_FALSE(accepts("127.0.0.1", port)) << "the server still listens on every address";
  // The address is free elsewhere: another server takes 127.0.0.3 on the same port.
  ChildProcess q;
  ASSERT_EQ(start_namesrv(q, "0.0.0.0", port, "127.0.0.3"), "");
  EXPECT_TRUE(accepts("127.0.0.3", port));
  q.terminate(5000);
  p.terminate(5000);
}

TEST_F(BindShim, WithoutTheVariableEveryAddressStays) {
  const uint16_t port = free_port();
  ChildProcess p;
  ASSERT_EQ(start_namesrv(p, "0.0.0.0", port, ""), "");
  EXPECT_TRUE(accepts("127.0.0.1", port));
  EXPECT_TRUE(accepts("127.0.0.2", port));
  p.terminate(5000);
}

TEST_F(BindShim, ASpecificAddressIsLeftAlone) {
  const uint16_t port = free_port();
  ChildProcess p;
  ASSERT_EQ(start_namesrv(p, "127.0.0.1", port, "127.0.0.2"), "");
  EXPECT_TRUE(accepts("127.0.0.1", port));
  EXPECT_FALSE(accepts("127.0.0.2", port));
  p.terminate(5000);
}

}  // namespace
}  // namespace holdfast::test_support
