#include "etcd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "broker_test_support.h"

namespace holdfast::test_support {

namespace {

constexpr char kEtcdBinary[] = "/usr/bin/etcd";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// Whether `in` holds a complete HTTP response; the body (de-chunked) goes to *body.
// `eof`: the server has closed, so a body without length ends here.
bool parse_response(const std::string& in, bool eof, int* status, std::string* body) {
  const size_t header_end = in.find("\r\n\r\n");
  if (header_end == std::string::npos) return false;
  if (in.compare(0, 5, "HTTP/") != 0) return false;
  const size_t sp = in.find(' ');
  if (sp == std::string::npos || sp > header_end) return false;
  *status = std::atoi(in.c_str() + sp + 1);
  const std::string headers = lower(in.substr(0, header_end + 2));
  const size_t start = header_end + 4;

  const size_t cl = headers.find("\r\ncontent-length:");
  if (cl != std::string::npos) {
    const size_t len = static_cast<size_t>(std::strtoull(headers.c_str() + cl + 17, nullptr, 10));
    if (in.size() - start < len) return false;
    *body = in.substr(start, len);
    return true;
  }
  if (headers.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    std::string out;
    size_t pos = start;
    for (;;) {
      const size_t line_end = in.find("\r\n", pos);
      if (line_end == std::string::npos) return false;
      const size_t size = static_cast<size_t>(std::strtoull(in.c_str() + pos, nullptr, 16));
      if (size == 0) {
        *body = out;
        return true;  // trailers, if any, are not needed
      }
      if (in.size() < line_end + 2 + size + 2) return false;
      out.append(in, line_end + 2, size);
      pos = line_end + 2 + size + 2;
    }
  }
  if (!eof) return false;
  *body = in.substr(start);
  return true;
}

}  // namespace

int http_post(uint16_t port, const std::string& path, const std::string& body, int64_t timeout_ms,
              std::string* response) {
  const int64_t deadline = now_ms() + timeout_ms;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return 0;
  auto wait_for = [&](short events) {
    for (;;) {
      const int64_t left = deadline - now_ms();
      if (left <= 0) return false;
      pollfd p{fd, events, 0};
      const int n = ::poll(&p, 1, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      return n == 1;
    }
  };
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  std::string in;
  std::string out = "POST " + path +
                    " HTTP/1.1\r\n"
                    "Host: 127.0.0.1:" +
                    std::to_string(port) +
                    "\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: " +
                    std::to_string(body.size()) +
                    "\r\n"
                    "Connection: close\r\n\r\n" +
                    body;
  do {
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      if (errno != EINPROGRESS) break;
      if (!wait_for(POLLOUT)) break;
      int err = 0;
      socklen_t len = sizeof(err);
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) break;
    }
    size_t sent = 0;
    bool send_failed = false;
    while (sent < out.size()) {
      const ssize_t w = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (w > 0) {
        sent += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait_for(POLLOUT)) {
          send_failed = true;
          break;
        }
      } else {
        send_failed = true;
        break;
      }
    }
    if (send_failed) break;
    char buf[8192];
    std::string parsed_body;
    for (;;) {
      int code = 0;
      if (parse_response(in, false, &code, &parsed_body)) {
        status = code;
        break;
      }
      if (!wait_for(POLLIN)) break;
      const ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
      if (r > 0) {
        in.append(buf, static_cast<size_t>(r));
        continue;
      }
      if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (r == 0 && parse_response(in, true, &code, &parsed_body)) status = code;
      break;
    }
    if (status != 0 && response != nullptr) *response = parsed_body;
  } while (false);
  ::close(fd);
  return status;
}

std::string base64_encode(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool EtcdProcess::available() { return ::access(kEtcdBinary, X_OK) == 0; }

EtcdProcess::EtcdProcess(std::string data_dir) : data_dir_(std::move(data_dir)) {
  while (data_dir_.size() > 1 && data_dir_.back() == '/') data_dir_.pop_back();
  log_path_ = data_dir_ + ".log";
}

EtcdProcess::~EtcdProcess() {
  if (pid_ > 0) kill9();
}

bool EtcdProcess::running() const {
  if (pid_ <= 0) return false;
  siginfo_t info{};
  // WNOWAIT: look without reaping, so the state stays for stop()/kill9().
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;
}

std::string EtcdProcess::start(int64_t timeout_ms) {
  if (pid_ > 0) {
    if (running()) return "etcd is already running (pid " + std::to_string(pid_) + ")";
    wait_exit(0);  // exited on its own: reap it first
  }
  if (!available()) return std::string(kEtcdBinary) + " is missing or not executable";
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(log_path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);

  // Ports are chosen once and kept, so that a restart finds the member where clients left it.
  // free_port() only says a port was free a moment ago; a first start that loses the race
  // retries with fresh ports (etcd fails on listen before it writes anything to its data dir).
  const bool choose_ports = client_port_ == 0;
  const int attempts = choose_ports ? 3 : 1;
  std::string error;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (choose_ports) {
      client_port_ = free_port();
      peer_port_ = free_port();
      while (peer_port_ == client_port_ || peer_port_ == 0) peer_port_ = free_port();
      if (client_port_ == 0) return "no free port on 127.0.0.1";
    }
    bool clash = false;
    error = spawn_and_wait(timeout_ms, &clash);
    if (error.empty() || !clash) break;
  }
  if (!error.empty() && choose_ports) {
    client_port_ = 0;
    peer_port_ = 0;
  }
  return error;
}

std::string EtcdProcess::restart(int64_t timeout_ms) {
  if (running()) return "etcd is still running (pid " + std::to_string(pid_) + "); stop() or kill9() it first";
  if (client_port_ == 0) return "etcd was never started";
  return start(timeout_ms);
}

std::string EtcdProcess::spawn_and_wait(int64_t timeout_ms, bool* port_clash) {
  *port_clash = false;
  const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> argv{kEtcdBinary,
                                "--name",
                                name_,
                                "--data-dir",
                                data_dir_,
                                "--listen-client-urls",
                                client,
                                "--advertise-client-urls",
                                client,
                                "--listen-peer-urls",
                                peer,
                                "--initial-advertise-peer-urls",
                                peer,
                                "--initial-cluster",
                                name_ + "=" + peer,
                                "--heartbeat-interval",
                                "50",
                                "--election-timeout",
                                "500"};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  // Everything the child needs is prepared here: between fork and exec only async-signal-safe
  // calls are allowed (the test process has other threads).
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return "cannot open " + log_path_ + ": " + std::strerror(errno);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const off_t log_start = ::lseek(log_fd, 0, SEEK_END);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string err = std::string("fork: ") + std::strerror(errno);
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return err;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGHUP, SIG_DFL);
    ::signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  pid_ = pid;
  paused_ = false;

  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    if (!running()) {
      wait_exit(0);
      std::string tail = log_tail();
      // Only this run's part of the log decides whether the ports were taken.
      std::ifstream f(log_path_, std::ios::binary);
      f.seekg(log_start);
      const std::string this_run((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      *port_clash = this_run.find("address already in use") != std::string::npos;
      return "etcd exited during start-up; end of " + log_path_ + ":\n" + tail;
    }
    const int64_t left = deadline - now_ms();
    if (left <= 0) break;
    if (http_post(client_port_, "/v3/kv/range", R"({"key":"AA=="})", std::min<int64_t>(left, 1000)) == 200) {
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill9();
  return "etcd did not answer on " + client_url() + " within " + std::to_string(timeout_ms) + " ms; end of " +
         log_path_ + ":\n" + log_tail();
}

void EtcdProcess::wait_exit(int64_t timeout_ms) {
  if (pid_ <= 0) return;
  const int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) break;
    if (now_ms() >= deadline) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  paused_ = false;
}

void EtcdProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::kill(pid_, SIGCONT);  // a paused etcd handles the SIGTERM only once it runs
  wait_exit(5000);
}

void EtcdProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);  // works on a stopped process too
  wait_exit(5000);
}

void EtcdProcess::pause() {
  if (pid_ <= 0 || paused_) return;
  ::kill(pid_, SIGSTOP);
  paused_ = true;
  // Wait until the kernel reports it stopped, so the caller's next step sees a frozen etcd.
  const int64_t deadline = now_ms() + 5000;
  while (now_ms() < deadline) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED | WEXITED | WNOHANG | WNOWAIT) != 0) return;
    if (info.si_pid == pid_) {
      if (info.si_code == CLD_STOPPED) {
        // Consume the stop report so a later pause() waits for its own.
        ::waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED | WNOHANG);
      }
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void EtcdProcess::resume() {
  if (pid_ <= 0 || !paused_) return;
  ::kill(pid_, SIGCONT);
  paused_ = false;
  const int64_t deadline = now_ms() + 5000;
  while (now_ms() < deadline) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WCONTINUED | WEXITED | WNOHANG | WNOWAIT) != 0) return;
    if (info.si_pid == pid_) {
      if (info.si_code == CLD_CONTINUED) ::waitid(P_PID, static_cast<id_t>(pid_), &info, WCONTINUED | WNOHANG);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::string EtcdProcess::log_tail() const {
  std::ifstream f(log_path_, std::ios::binary);
  if (!f) return "(no log)";
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  const std::streamoff from = size > 3000 ? size - 3000 : 0;
  f.seekg(from);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace holdfast::test_support
