// Control socket server and client.
#include "faultfs/control_server.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace holdfast::faultfs {
namespace {

constexpr size_t kMaxLineBytes = 4096;
constexpr int kClientTimeoutMs = 120 * 1000;

bool fill_address(const std::string& path, sockaddr_un* address) {
  std::memset(address, 0, sizeof(*address));
  address->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address->sun_path)) return false;
  std::memcpy(address->sun_path, path.data(), path.size());
  return true;
}

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

// Runs `body` on a new thread that has SIGINT and SIGTERM blocked.
std::thread spawn_without_signals(std::function<void()> body) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  std::thread thread(std::move(body));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return thread;
}

}  // namespace

std::string ControlServer::start(const std::string& socket_path) {
  sockaddr_un address;
  if (!fill_address(socket_path, &address)) return "control socket path is empty or too long: " + socket_path;
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  ::unlink(socket_path.c_str());
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    return "cannot listen on " + socket_path + ": " + std::strerror(errno);
  }
  socket_path_ = socket_path;
  accept_thread_ = spawn_without_signals([this] { accept_loop(); });
  return "";
}

void ControlServer::stop() {
  if (listen_fd_ < 0) return;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  if (accept_thread_.joinable()) accept_thread_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  ::unlink(socket_path_.c_str());
}

void ControlServer::accept_loop() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    // Detached: the process may exit while a client is connected; serve() only touches fs_,
    // which main() never destroys.
    spawn_without_signals([this, fd] { serve(fd); }).detach();
  }
}

void ControlServer::serve(int fd) {
  std::string buffer;
  char chunk[1024];
  for (;;) {
    size_t newline = buffer.find('\n');
    if (newline == std::string::npos) {
      if (buffer.size() > kMaxLineBytes) {
        write_all(fd, "error line too long\n");
        break;
      }
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
      continue;
    }
    std::string line = buffer.substr(0, newline);
    buffer.erase(0, newline + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    bool stop = false;
    std::string reply = fs_->execute(line, &stop);
    bool sent = write_all(fd, reply + "\n");
    if (stop) {
      ::close(fd);
      on_stop_();
      return;
    }
    if (!sent) break;
  }
  ::close(fd);
}

int run_control_client(const std::string& socket_path, const std::string& command) {
  sockaddr_un address;
  if (!fill_address(socket_path, &address)) {
    std::fprintf(stderr, "error control socket path is empty or too long\n");
    return 1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    std::printf("error cannot connect to %s: %s\n", socket_path.c_str(), std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return 1;
  }
  if (!write_all(fd, command + "\n")) {
    std::printf("error send: %s\n", std::strerror(errno));
    ::close(fd);
    return 1;
  }
  std::string reply;
  char chunk[1024];
  while (reply.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, kClientTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t newline = reply.find('\n');
  if (newline == std::string::npos) {
    std::printf("error no reply from %s\n", socket_path.c_str());
    return 1;
  }
  reply.resize(newline);
  std::printf("%s\n", reply.c_str());
  return reply.rfind("ok", 0) == 0 ? 0 : 1;
}

}  // namespace holdfast::faultfs
