#include "app/drill_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace holdfast::drill {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// fork + setsid + exec `argv`, stdout and stderr appended to log_path. Returns the pid or -1.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setsid();
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  // The drill quiets its own client logging; the nodes it starts log as the operator asked.
  if (const char* level = std::getenv("HOLDFAST_DRILL_NODE_LOG_LEVEL")) ::setenv("HOLDFAST_LOG_LEVEL", level, 1);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  // Nothing else of the drill's (its client connections, proxies' sockets) reaches the node.
  if (::close_range(3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::close(fd);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
  ::_exit(127);
}

// Waits for `pid` to exit up to timeout_ms; true if it did (and was reaped).
bool reap_within(pid_t pid, int64_t timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (now_ms() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

Result<std::string> expand_template(const std::string& tmpl, const std::map<std::string, std::string>& vars) {
  std::string out;
  size_t pos = 0;
  while (pos < tmpl.size()) {
    size_t open = tmpl.find('{', pos);
    if (open == std::string::npos) {
      out += tmpl.substr(pos);
      break;
    }
    size_t close = tmpl.find('}', open);
    if (close == std::string::npos) return Status::invalid_argument("unclosed '{' in command template: " + tmpl);
    out += tmpl.substr(pos, open - pos);
    const std::string key = tmpl.substr(open + 1, close - open - 1);
    auto it = vars.find(key);
    if (it == vars.end()) return Status::invalid_argument("unknown placeholder {" + key + "} in command template: " + tmpl);
    out += it->second;
    pos = close + 1;
  }
  return out;
}

bool wait_port_open(const std::string& host, uint16_t port, int64_t timeout_ms) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) return false;
  const int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (fd >= 0) ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

NodeProcess::~NodeProcess() { kill9(); }

Status NodeProcess::start(int64_t timeout_ms) {
  if (pid_ > 0) return Status::ok();
  if (!pid_file_.empty()) return start_daemon(timeout_ms);
  pid_ = spawn({"/bin/sh", "-c", "exec " + command_}, log_path_);
  if (pid_ < 0) return Status::io_error("fork failed for node " + name_);
  daemon_ = false;
  const int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::io_error("node " + name_ + " exited during start-up (see " + log_path_ + ")");
    }
    if (wait_port_open(ready_host_, ready_port_, 100)) return Status::ok();
  }
  kill9();
  return Status::io_error("node " + name_ + " did not open port " + std::to_string(ready_port_) + " within " +
                          std::to_string(timeout_ms) + " ms (see " + log_path_ + ")");
}

Status NodeProcess::start_daemon(int64_t timeout_ms) {
  const pid_t script = spawn({"/bin/sh", "-c", command_}, log_path_);
  if (script < 0) return Status::io_error("fork failed for node " + name_);
  const int64_t deadline = now_ms() + timeout_ms;
  int status = 0;
  while (::waitpid(script, &status, WNOHANG) != script) {
    if (now_ms() >= deadline) {
      ::kill(-script, SIGKILL);
      reap_within(script, 5000);
      return Status::io_error("start script of node " + name_ + " did not finish within " +
                              std::to_string(timeout_ms) + " ms (see " + log_path_ + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::io_error("start script of node " + name_ + " failed (see " + log_path_ + ")");
  }
  std::ifstream in(pid_file_);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) return Status::io_error("node " + name_ + ": no pid in " + pid_file_);
  pid_ = static_cast<pid_t>(pid);
  daemon_ = true;
  if (!wait_port_open(ready_host_, ready_port_, std::max<int64_t>(1000, deadline - now_ms()))) {
    kill9();
    return Status::io_error("node " + name_ + " did not open port " + std::to_string(ready_port_));
  }
  return Status::ok();
}

void NodeProcess::signal(int sig) {
  if (pid_ <= 0) return;
  // A foreground node is its process group (a wrapper script's children too); a daemon started
  // its own session, whose leader it usually is.
  ::kill(-pid_, sig);
  ::kill(pid_, sig);
}

bool NodeProcess::wait_gone(int64_t timeout_ms) {
  if (!daemon_) return reap_within(pid_, timeout_ms);
  const int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    // Gone, or a zombie waiting for whoever adopted it.
    std::ifstream stat("/proc/" + std::to_string(pid_) + "/stat");
    std::string pid, comm, state;
    if (!(stat >> pid >> comm >> state) || state == "Z") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void NodeProcess::kill9() {
  if (pid_ <= 0) return;
  signal(SIGKILL);
  wait_gone(10000);
  pid_ = -1;
}

void NodeProcess::terminate(int64_t timeout_ms) {
  if (pid_ <= 0) return;
  signal(SIGCONT);
  signal(SIGTERM);
  if (!wait_gone(timeout_ms)) {
    kill9();
    return;
  }
  if (!daemon_) ::kill(-pid_, SIGKILL);  // stragglers of the group
  pid_ = -1;
}

void NodeProcess::pause() { signal(SIGSTOP); }

void NodeProcess::resume() { signal(SIGCONT); }

FaultFsMount::~FaultFsMount() { unmount(); }

Status FaultFsMount::mount() {
  if (pid_ > 0) return Status::ok();
  std::ofstream(log_, std::ios::app) << "";
  std::ifstream probe(log_);
  probe.seekg(0, std::ios::end);
  const std::streamoff from = probe.tellg();
  pid_ = spawn({binary_, "mount", backing_, mount_, "--control", control_}, log_);
  if (pid_ < 0) return Status::io_error("fork failed for holdfast-faultfs");
  const std::string want = "faultfs ready";
  const int64_t deadline = now_ms() + 15000;
  while (now_ms() < deadline) {
    std::ifstream in(log_);
    in.seekg(from);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(want) != std::string::npos) return Status::ok();
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::io_error("holdfast-faultfs exited before it was ready (see " + log_ + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  unmount();
  return Status::io_error("holdfast-faultfs not ready within 15 s (see " + log_ + ")");
}

Result<std::string> FaultFsMount::control(const std::string& command) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::from_errno("socket", errno);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", control_.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::from_errno("connect " + control_, err);
  }
  const std::string line = command + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return Status::io_error("faultfs control: short write");
  }
  std::string reply;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') reply += c;
  ::close(fd);
  if (reply.rfind("ok", 0) != 0) return Status::io_error("faultfs '" + command + "': " + reply);
  return reply;
}

Result<std::string> FaultFsMount::power_loss(bool torn) {
  HF_ASSIGN_OR_RETURN(std::string reply, control(torn ? "power-loss torn" : "power-loss"));
  if (!reap_within(pid_, 15000)) {
    ::kill(pid_, SIGKILL);
    reap_within(pid_, 5000);
    ::umount2(mount_.c_str(), MNT_DETACH);
    pid_ = -1;
    return Status::io_error("holdfast-faultfs did not exit after power-loss");
  }
  pid_ = -1;
  return reply;
}

void FaultFsMount::unmount() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!reap_within(pid_, 10000)) {
    ::kill(pid_, SIGKILL);
    reap_within(pid_, 5000);
  }
  ::umount2(mount_.c_str(), MNT_DETACH);
  pid_ = -1;
}

}  // namespace holdfast::drill
