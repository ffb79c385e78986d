#include "broker_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <thread>

#include "remoting/request_code.h"
#include "transport/ports.h"

namespace holdfast::test_support {

namespace req = remoting::request_code;
using remoting::RemotingCommand;

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

RemotingCommand send_v2(const std::string& topic, int32_t queue_id, const std::string& body, const std::string& tags,
                        const std::string& keys, const std::string& uniq_key) {
  RemotingCommand r = RemotingCommand::make_request(req::kSendMessageV2);
  r.set_ext("a", "test_producer");
  r.set_ext("b", topic);
  r.set_ext("c", "TBW102");
  r.set_ext_int("d", 4);
  r.set_ext_int("e", queue_id);
  r.set_ext_int("f", 0);
  r.set_ext_int("g", std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count());
  r.set_ext_int("h", 0);
  std::string props;
  if (!tags.empty()) append_property(&props, "TAGS", tags);
  if (!keys.empty()) append_property(&props, "KEYS", keys);
  if (!uniq_key.empty()) append_property(&props, "UNIQ_KEY", uniq_key);
  append_property(&props, "WAIT", "true");
  r.set_ext("i", props);
  r.body = body;
  return r;
}

RemotingCommand pull(const std::string& group, const std::string& topic, int32_t queue_id, int64_t offset,
                     int32_t max_msgs, int32_t sys_flag, int64_t suspend_ms, const std::string& subscription,
                     int64_t commit_offset) {
  RemotingCommand r = RemotingCommand::make_request(req::kPullMessage);
  r.set_ext("consumerGroup", group);
  r.set_ext("topic", topic);
  r.set_ext_int("queueId", queue_id);
  r.set_ext_int("queueOffset", offset);
  r.set_ext_int("maxMsgNums", max_msgs);
  r.set_ext_int("sysFlag", sys_flag);
  r.set_ext_int("commitOffset", commit_offset);
  r.set_ext_int("suspendTimeoutMillis", suspend_ms);
  r.set_ext("subscription", subscription);
  r.set_ext_int("subVersion", 0);
  return r;
}

std::vector<RecordView> decode_records(const std::string& body, bool* ok) {
  std::vector<RecordView> out;
  *ok = true;
  size_t pos = 0;
  while (pos < body.size()) {
    RecordView v;
    DecodeResult d = decode_record(body.data() + pos, body.size() - pos, true, &v);
    if (d.outcome != DecodeOutcome::kRecord) {
      *ok = false;
      break;
    }
    out.push_back(v);
    pos += static_cast<size_t>(d.size);
  }
  return out;
}

uint16_t free_port() { return transport::pick_free_port(); }

std::vector<std::string> test_broker_settings(uint16_t listen_port, const std::vector<std::string>& overrides) {
  auto is_set = [&](const std::string& key) {
    for (const auto& o : overrides) {
      if (o.rfind(key + "=", 0) == 0) return true;
    }
    return false;
  };
  std::vector<std::string> out;
  if (!is_set("fastListenPortEnable")) out.push_back("fastListenPortEnable=false");
  if (!is_set("haListenPort")) {
    uint16_t ha = free_port();
    while (ha == listen_port) ha = free_port();
    out.push_back("haListenPort=" + std::to_string(ha));
  }
  if (!is_set("mappedFileSizeCommitLog")) out.push_back("mappedFileSizeCommitLog=" + std::to_string(kTestSegmentBytes));
  out.insert(out.end(), overrides.begin(), overrides.end());
  return out;
}

CommandOutput run_command(const std::string& command) {
  CommandOutput out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.output.append(buf, n);
  const int status = ::pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) kill9();
  if (out_fd_ >= 0) ::close(out_fd_);
}

std::string ChildProcess::start(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return std::string("fork: ") + std::strerror(errno);
  }
  if (pid == 0) {
    if (::dup2(fds[1], STDOUT_FILENO) < 0) ::_exit(126);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (out_fd_ >= 0) ::close(out_fd_);
  out_fd_ = fds[0];
  buffered_.clear();
  pid_ = pid;
  return "";
}

std::string ChildProcess::wait_for_line(const std::string& prefix, int64_t timeout_ms, std::string* error) {
  const int64_t deadline = now_ms() + timeout_ms;
  char buf[4096];
  for (;;) {
    size_t nl;
    while ((nl = buffered_.find('\n')) != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      if (line.rfind(prefix, 0) == 0) return line;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      *error = "no line starting with '" + prefix + "' within " + std::to_string(timeout_ms) + " ms";
      return "";
    }
    pollfd p{out_fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = "the process closed its output (exited?) before printing '" + prefix + "'";
      return "";
    }
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

int ChildProcess::reap() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

int ChildProcess::kill9() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGKILL);
  return reap();
}

int ChildProcess::wait_exit(int64_t timeout_ms) {
  if (pid_ <= 0) return -1;
  const int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

int ChildProcess::terminate(int64_t timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int status = wait_exit(timeout_ms);
  return status >= 0 ? status : kill9();
}

}  // namespace holdfast::test_support
