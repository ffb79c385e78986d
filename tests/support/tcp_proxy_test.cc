// TcpProxy: bytes flow both ways; cut() blackholes open connections without closing them and holds
// new ones; heal() resets the connections from the cut and forwards new ones; a one-way cut drops
// one direction only; closes and resets travel through; stop() closes everything; cut/heal under
// load neither crashes nor wedges the proxy; set_delay() holds every byte for the delay, in order;
// the proxy can listen on a chosen loopback address and port.
#include "drill/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_test_support.h"

namespace holdfast::test_support {
namespace {

using drill::TcpProxy;

// An echo server that counts what it sees and can push bytes to its clients unasked.
class EchoServer {
 public:
  EchoServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "echo server cannot listen: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~EchoServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : conns_) ::close(fd);
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  int64_t accepted() const { return accepted_.load(); }
  int64_t bytes_received() const { return bytes_received_.load(); }
  int64_t closed_by_peer() const { return closed_by_peer_.load(); }  // EOF or reset seen

  // Sends `data` on every open connection.
  void broadcast(const std::string& data) {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : conns_) ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
  }
  // Closes every accepted connection (FIN).
  void close_all() {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : conns_) ::close(fd);
    conns_.clear();
  }

 private:
  void run() {
    char buf[65536];
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      {
        std::lock_guard<std::mutex> l(mu_);
        for (int fd : conns_) fds.push_back({fd, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      std::lock_guard<std::mutex> l(mu_);
      if (fds[0].revents & POLLIN) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          accepted_.fetch_add(1);
          conns_.push_back(fd);
        }
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const int fd = fds[i].fd;
        bool still_ours = false;
        for (int c : conns_) still_ours |= c == fd;
        if (!still_ours) continue;  // closed by close_all() meanwhile
        const ssize_t r = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r > 0) {
          bytes_received_.fetch_add(r);
          size_t sent = 0;
          while (sent < static_cast<size_t>(r)) {
            const ssize_t w = ::send(fd, buf + sent, static_cast<size_t>(r) - sent, MSG_NOSIGNAL);
            if (w <= 0) break;
            sent += static_cast<size_t>(w);
          }
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          closed_by_peer_.fetch_add(1);
          ::close(fd);
          for (auto it = conns_.begin(); it != conns_.end(); ++it) {
            if (*it == fd) {
              conns_.erase(it);
              break;
            }
          }
        }
      }
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> bytes_received_{0};
  std::atomic<int64_t> closed_by_peer_{0};
  std::mutex mu_;
  std::vector<int> conns_;
  std::thread thread_;
};

int connect_to(uint16_t port, const char* host = "127.0.0.1") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, host, &a.sin_addr);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t w = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) return false;
    sent += static_cast<size_t>(w);
  }
  return true;
}

enum class Seen { kData, kSilent, kEof, kReset, kError };

const char* name(Seen s) {
  switch (s) {
    case Seen::kData: return "data";
    case Seen::kSilent: return "silence";
    case Seen::kEof: return "EOF";
    case Seen::kReset: return "reset";
    case Seen::kError: return "error";
  }
  return "?";
}

// What the socket shows within wait_ms; data read is appended to *data.
Seen observe(int fd, int wait_ms, std::string* data = nullptr) {
  pollfd p{fd, POLLIN, 0};
  const int n = ::poll(&p, 1, wait_ms);
  if (n == 0) return Seen::kSilent;
  char buf[65536];
  const ssize_t r = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (r > 0) {
    if (data != nullptr) data->append(buf, static_cast<size_t>(r));
    return Seen::kData;
  }
  if (r == 0) return Seen::kEof;
  return errno == ECONNRESET ? Seen::kReset : Seen::kError;
}

// Reads until `n` bytes arrived or timeout_ms passed.
std::string read_n(int fd, size_t n, int timeout_ms) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (out.size() < n) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    if (observe(fd, static_cast<int>(left), &out) != Seen::kData) break;
  }
  return out;
}

// A fresh connection through the proxy completes an echo round trip.
bool round_trip_works(uint16_t port, const std::string& payload = "round-trip") {
  const int fd = connect_to(port);
  if (fd < 0) return false;
  const bool ok = send_all(fd, payload) && read_n(fd, payload.size(), 2000) == payload;
  ::close(fd);
  return ok;
}

template <typename F>
bool eventually(F f, int timeout_ms = 2000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return f();
}

TEST(TcpProxy, ForwardsBothWays) {
  EchoServer server;
  TcpProxy proxy("127.0.0.1", server.port());
  ASSERT_EQ(proxy.start(), "");
  ASSERT_NE(proxy.port(), 0);
  EXPECT_EQ(proxy.address(), "127.0.0.1:" + std::to_string(proxy.port()));

  const int fd = connect_to(proxy.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "hello"));
  EXPECT_EQ(read_n(fd, 5, 2000), "hello");

  // A payload larger than the proxy's and the kernel's buffers, written while it is read back.
  std::string big(4 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 9));
  std::thread writer([&] { EXPECT_TRUE(send_all(fd, big)); });
  const std::string back = read_n(fd, big.size(), 20000);
  writer.join();
  EXPECT_EQ(back.size(), big.size());
  EXPECT_TRUE(back == big) << "the echoed payload differs";
  ::close(fd);

  EXPECT_EQ(proxy.connections_accepted(), 1);
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_TRUE(round_trip_works(proxy.port()));
  EXPECT_EQ(proxy.connections_accepted(), 2);
}

TEST(TcpProxy, CutBlackholesOpenConnectionsAndHoldsNewOnes) {
  EchoServer server;
  TcpProxy proxy("127.0.0.1", server.port());
  ASSERT_EQ(proxy.start(), "");
  const int a = connect_to(proxy.port());
  ASSERT_GE(a, 0);
  ASSERT_TRUE(send_all(a, "before"));
  ASSERT_EQ(read_n(a, 6, 2000), "before");
  ASSERT_TRUE(eventually([&] { return server.accepted() == 1; }));
  const int64_t received_before = server.bytes_received();

  proxy.cut();

  // Client to server: the write succeeds locally, nothing arrives, nothing comes back, and
  // neither side sees its connection end.
  ASSERT_TRUE(send_all(a, "lost-in-the-partition"));
  std::string got;
  EXPECT_EQ(observe(a, 500, &got), Seen::kSilent) << "got '" << got << "'";
  EXPECT_EQ(server.bytes_received(), received_before);
  EXPECT_EQ(server.closed_by_peer(), 0);
  // Server to client: dropped as well.
  server.broadcast("pushed");
  EXPECT_EQ(observe(a, 500, &got), Seen::kSilent) << "got '" << got << "'";

  // A connection made during the cut is accepted but never reaches the server.
  const int b = connect_to(proxy.port());
  ASSERT_GE(b, 0);
  EXPECT_TRUE(eventually([&] { return proxy.connections_accepted() == 2; }));
  ASSERT_TRUE(send_all(b, "hello?"));
  EXPECT_EQ(observe(b, 500, &got), Seen::kSilent) << "got '" << got << "'";
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(server.closed_by_peer(), 0);

  proxy.heal();

  // The connections from the cut are reset at heal, on both ends.
  EXPECT_EQ(observe(a, 2000), Seen::kReset);
  EXPECT_EQ(observe(b, 2000), Seen::kReset);
  EXPECT_TRUE(eventually([&] { return server.closed_by_peer() == 1; }));
  ::close(a);
  ::close(b);

  // New connections forward again.
  EXPECT_TRUE(round_trip_works(proxy.port()));
  EXPECT_EQ(server.accepted(), 2);
}

TEST(TcpProxy, OneWayCutClientToTargetDropsOnlyThatDirection) {
  EchoServer server;
  TcpProxy proxy("127.0.0.1", server.port());
  ASSERT_EQ(proxy.start(), "");
  const int a = connect_to(proxy.port());
  ASSERT_GE(a, 0);
  ASSERT_TRUE(send_all(a, "x"));
  ASSERT_EQ(read_n(a, 1, 2000), "x");
  const int64_t received_before = server.bytes_received();

  proxy.cut_one_way(/*client_to_target=*/true);

  ASSERT_TRUE(send_all(a, "dropped"));
  EXPECT_EQ(observe(a, 500), Seen::kSilent);
  EXPECT_EQ(server.bytes_received(), received_before);
  server.broadcast("down");
  EXPECT_EQ(read_n(a, 4, 2000), "down");

  proxy.heal();
  EXPECT_EQ(observe(a, 2000), Seen::kReset);
  ::close(a);
  EXPECT_TRUE(round_trip_works(proxy.port()));
}

TEST(TcpProxy, OneWayCutTargetToClientDropsOnlyThatDirection) {
  EchoServer server;
  TcpProxy proxy("127.0.0.1", server.port());
  ASSERT_EQ(proxy.start(), "");
  const int a = connect_to(proxy.port());
  ASSERT_GE(a, 0);
  ASSERT_TRUE(send_all(a, "x"));
  ASSERT_EQ(read_n(a, 1, 2000), "x");
  const int64_t received_before = server.bytes_received();

  proxy.cut_one_way(/*client_to_target=*/false);

  ASSERT_TRUE(send_all(a, "ping"));
  EXPECT_TRUE(eventually([&] { return server.bytes_received() == received_before + 4; }));
  std::string got;
  EXPECT_EQ(observe(a, 500, &got), Seen::kSilent) << "the echo came back: '" << got << "'";
  server.broadcast("down");
  EXPECT_EQ(observe(a, 500, &got), Seen::kSilent) << "got '" << got << "'";

  // A connection made during a one-way cut is forwarded, with the same direction dropped.
  const int b = connect_to(proxy.port());
  ASSERT_GE(b, 0);
  EXPECT_TRUE(eventually([&] { return server.accepted() == 2; }));
  ASSERT_TRUE(send_all(b, "pong"));
  EXPECT_TRUE(eventually([&] { return server.bytes_received() == received_before + 8; }));
  EXPECT_EQ(observe(b, 300), Seen::kSilent);

  proxy.heal();
  EXPECT_EQ(observe(a, 2000), Seen::kReset);
  EXPECT_EQ(observe(b, 2000), Seen::kReset);
  ::close(a);
  ::close(b);
  EXPECT_TRUE(round_trip_works(proxy.port()));
}

TEST(TcpProxy, ClosesTravelThroughWhenNotCut) {
  EchoServer server;
  TcpProxy proxy("127.0.0.1", server.port());
  ASSERT_EQ(proxy.start(), "");

  // The client half-closes: the server sees EOF and closes; the client then sees EOF.
  const int a = connect_to(proxy.port());
  ASSERT_GE(a, 0);
  ASSERT_TRUE(send_all(a, "bye"));
  ASSERT_EQ(read_n(a, 3, 2000), "bye");
  ::shutdown(a, SHUT_WR);
  EXPECT_TRUE(eventually([&] { return server.closed_by_peer() == 1; }));
  EXPECT_EQ(observe(a, 2000), Seen::kEof);
  ::close(a);

  // The server closes: the client sees EOF.
  const int b = connect_to(proxy.port());
  ASSERT_GE(b, 0);
  ASSERT_TRUE(send_all(b, "hi"));
  ASSERT_EQ(read_n(b, 2, 2000), "hi");
  server.close_all();
  EXPECT_EQ(observe(b, 2000), Seen::kEof);
  ::close(b);

  // The client resets: the proxy survives and keeps forwarding.
  const int c = connect_to(proxy.port());
  ASSERT_GE(c, 0);
  ASSERT_TRUE(send_all(c, "hi"));
  ASSERT_EQ(read_n(c, 2, 2000), "hi");
  linger l{1, 0};
  ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ::close(c);
  EXPECT_TRUE(eventually([&] { return server.closed_by_peer() == 2; }));
  EXPECT_TRUE(round_trip_works(proxy.port()));
}

TEST(TcpProxy, UnreachableTargetClosesTheClient) {
  const uint16_t nobody = free_port();  // nothing listens there
  TcpProxy proxy("127.0.0.1", nobody);
  ASSERT_EQ(proxy.start(), "");
  const int a = connect_to(proxy.port());
  ASSERT_GE(a, 0);
  const Seen s = observe(a, 2000);
  EXPECT_TRUE(s == Seen::kReset || s == Seen::kEof) << name(s);
  ::close(a);
}

TEST(TcpProxy, StopClosesEverything) {
  EchoServer server;
  auto proxy = std::make_unique<TcpProxy>("127.0.0.1", server.port());
  ASSERT_EQ(proxy->start(), "");
  const uint16_t port = proxy->port();
  const int a = connect_to(port);
  ASSERT_GE(a, 0);
  ASSERT_TRUE(send_all(a, "x"));
  ASSERT_EQ(read_n(a, 1, 2000), "x");
  proxy->cut();
  const int b = connect_to(port);  // held
  ASSERT_GE(b, 0);
  proxy->stop();
  const Seen sa = observe(a, 2000);
  const Seen sb = observe(b, 2000);
  EXPECT_TRUE(sa == Seen::kEof || sa == Seen::kReset) << name(sa);
  EXPECT_TRUE(sb == Seen::kEof || sb == Seen::kReset) << name(sb);
  EXPECT_LT(connect_to(port), 0) << "the proxy still listens after stop()";
  proxy->stop();  // twice is fine
  proxy.reset();  // and so is the destructor after stop()
  ::close(a);
  ::close(b);
}

TEST(TcpProxy, CutAndHealUnderLoad) {
  EchoServer server;
  TcpProxy proxy("127.0.0.1", server.port());
  ASSERT_EQ(proxy.start(), "");
  std::atomic<bool> done{false};
  std::atomic<int64_t> trips{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      const std::string msg = "client-" + std::to_string(i) + std::string(1000, 'x');
      int fd = -1;
      while (!done) {
        if (fd < 0) fd = connect_to(proxy.port());
        if (fd < 0) continue;
        if (!send_all(fd, msg) || read_n(fd, msg.size(), 200) != msg) {
          ::close(fd);  // reset, or silent in a cut: start over on a new connection
          fd = -1;
          continue;
        }
        trips.fetch_add(1);
      }
      if (fd >= 0) ::close(fd);
    });
  }
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (round % 3 == 2) {
      proxy.cut_one_way(round % 2 == 0);
    } else {
      proxy.cut();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    proxy.heal();
  }
  const int64_t before = trips.load();
  EXPECT_TRUE(eventually([&] { return trips.load() > before + 20; }, 5000)) << "traffic did not resume after heal";
  done = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(round_trip_works(proxy.port()));
}


int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

TEST(TcpProxy, DelayHoldsEveryByteInBothDirectionsAndKeepsTheOrder) {
  EchoServer server;
  TcpProxy proxy("127.0.0.1", server.port());
  ASSERT_EQ(proxy.start(), "");
  const int fd = connect_to(proxy.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "warm"));
  ASSERT_EQ(read_n(fd, 4, 2000), "warm");

  proxy.set_delay(150);
  // One echo crosses the proxy twice: it cannot come back in less than twice the delay.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(send_all(fd, "slow"));
  EXPECT_EQ(read_n(fd, 4, 5000), "slow");
  EXPECT_GE(elapsed_ms(t0), 300);

  // Many small writes spread over time arrive whole and in order.
  std::string sent;
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) {
      const std::string piece = "<" + std::to_string(i) + ">";
      sent += piece;
      EXPECT_TRUE(send_all(fd, piece));
      if (i % 20 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  writer.join();
  const std::string back = read_n(fd, sent.size(), 10000);
  EXPECT_EQ(back, sent);

  // A new connection pays the delay too; set_delay(0) ends it for what is read afterwards.
  t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(round_trip_works(proxy.port()));
  EXPECT_GE(elapsed_ms(t0), 300);
  proxy.set_delay(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing is held any more
  ASSERT_TRUE(send_all(fd, "fast"));
  EXPECT_EQ(read_n(fd, 4, 2000), "fast");
  ::close(fd);
}

TEST(TcpProxy, ListensOnAChosenLoopbackAddressAndPort) {
  EchoServer server;
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  TcpProxy proxy("127.0.0.1", server.port());
  ASSERT_EQ(proxy.start("127.0.0.2", port), "");
  EXPECT_EQ(proxy.port(), port);
  EXPECT_EQ(proxy.address(), "127.0.0.2:" + std::to_string(port));
  const int fd = connect_to(port, "127.0.0.2");
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "there"));
  EXPECT_EQ(read_n(fd, 5, 2000), "there");
  ::close(fd);

  // A second proxy cannot take the same address; the error names it.
  TcpProxy again("127.0.0.1", server.port());
  const std::string err = again.start("127.0.0.2", port);
  EXPECT_NE(err.find("127.0.0.2:" + std::to_string(port)), std::string::npos) << err;
  TcpProxy bad("127.0.0.1", server.port());
  EXPECT_NE(bad.start("not-an-address", 0).find("not an IPv4 address"), std::string::npos);
}

}  // namespace
}  // namespace holdfast::test_support
