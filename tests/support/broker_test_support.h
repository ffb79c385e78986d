// Test support shared by the broker-level tests: request builders in the shapes real clients
// send, a decoder for pulled bodies, free loopback ports, and a child process (the `holdfast`
// binary) that can be waited on, stopped cleanly or killed with SIGKILL.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "remoting/remoting_command.h"
#include "storage/message.h"

namespace holdfast::test_support {

// SEND_MESSAGE_V2 (one-letter header names) with TAGS, KEYS, UNIQ_KEY and WAIT=true properties.
remoting::RemotingCommand send_v2(const std::string& topic, int32_t queue_id, const std::string& body,
                                  const std::string& tags, const std::string& keys, const std::string& uniq_key);

// PULL_MESSAGE with the given sysFlag and suspend timeout.
remoting::RemotingCommand pull(const std::string& group, const std::string& topic, int32_t queue_id, int64_t offset,
                               int32_t max_msgs, int32_t sys_flag, int64_t suspend_ms,
                               const std::string& subscription = "*", int64_t commit_offset = 0);

// The records of a pull (or query) response body; empty with *ok=false if any record is damaged.
std::vector<RecordView> decode_records(const std::string& body, bool* ok);

// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t free_port();

// Commit-log segment size for test brokers and stores: segments are allocated on disk up front,
// and the 1 GiB default times two concurrent tests can push a host disk past
// diskSpaceWarningLevelRatio (the broker then rightly refuses writes).
constexpr int64_t kTestSegmentBytes = 64LL * 1024 * 1024;

// Broker key=value settings for a test broker listening on `listen_port`, followed by
// `overrides` (a key set there is not defaulted): fastListenPortEnable=false (listenPort - 2 may
// belong to another test's process), haListenPort on a port that was free a moment ago
// (listenPort + 1 may be taken), and kTestSegmentBytes segments. Pass the result on every restart
// so the broker keeps its ports.
std::vector<std::string> test_broker_settings(uint16_t listen_port, const std::vector<std::string>& overrides);

// A running child process. Its stdout is read through a pipe for start-up lines.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // SIGKILLs and reaps a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // fork + exec argv[0]; stderr is inherited. Returns "" or an error text.
  std::string start(const std::vector<std::string>& argv);
  // Reads stdout until a line starting with `prefix` appears, EOF, or timeout. Returns the line,
  // or "" (and sets *error).
  std::string wait_for_line(const std::string& prefix, int64_t timeout_ms, std::string* error);
  // SIGKILL and reap. Returns the wait status.
  int kill9();
  // SIGTERM, wait up to timeout_ms, then SIGKILL. Returns the wait status.
  int terminate(int64_t timeout_ms);
  // Waits up to timeout_ms for the child to exit on its own; its wait status, or -1 if it is
  // still running.
  int wait_exit(int64_t timeout_ms);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  int reap();
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffered_;
};

// Directory of the running test binary (build/bin), where `holdfast` is built too.
std::string self_dir();

struct CommandOutput {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command to completion.
CommandOutput run_command(const std::string& command);

}  // namespace holdfast::test_support
