// The processes a drill starts and hurts: each node is a shell command template run in its own
// process group (so `kill -9` reaches a start script's JVM as well as a Holdfast binary), whose
// readiness is its TCP port accepting connections, optionally on a holdfast-faultfs mount.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "base/status.h"

namespace holdfast::drill {

// Replaces every {name} in `tmpl` by vars[name]; an unknown {name} is an error.
Result<std::string> expand_template(const std::string& tmpl, const std::map<std::string, std::string>& vars);

// True once host:port (an IPv4 address) accepts a connection, false after timeout_ms.
bool wait_port_open(const std::string& host, uint16_t port, int64_t timeout_ms);

// One node of the cluster under test. Not thread-safe: the drill's control thread owns it.
// Without a pid file the command runs in the foreground and the node is its process group. With
// one, the command is a start script that daemonizes (as Apache RocketMQ's do) and exits 0 once
// the node runs; the node is then the process whose pid the script wrote into the file.
class NodeProcess {
 public:
  NodeProcess(std::string name, std::string command, uint16_t ready_port, std::string log_path,
              std::string pid_file = "")
      : name_(std::move(name)),
        command_(std::move(command)),
        ready_port_(ready_port),
        log_path_(std::move(log_path)),
        pid_file_(std::move(pid_file)) {}
  ~NodeProcess();  // kills a group still running
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  // Runs `sh -c command` in a new session (output appended to the log) and waits until the
  // ready port accepts connections.
  Status start(int64_t timeout_ms);
  // SIGKILL to the whole process group, then reaps the leader.
  void kill9();
  // SIGTERM to the group, SIGKILL after timeout_ms.
  void terminate(int64_t timeout_ms);
  void pause();   // SIGSTOP to the group
  void resume();  // SIGCONT to the group
  bool running() const { return pid_ > 0; }
  // Readiness is checked on this address instead of 127.0.0.1 (a node listening on another
  // loopback address).
  void set_ready_host(std::string host) { ready_host_ = std::move(host); }
  const std::string& name() const { return name_; }

 private:
  Status start_daemon(int64_t timeout_ms);
  void signal(int sig);
  // Waits until the node's process is gone (reaped if it is our child); false after timeout_ms.
  bool wait_gone(int64_t timeout_ms);

  std::string name_, command_;
  uint16_t ready_port_;
  std::string ready_host_ = "127.0.0.1";
  std::string log_path_;
  std::string pid_file_;
  pid_t pid_ = -1;        // our child (the group leader), or the daemon from the pid file
  bool daemon_ = false;   // pid_ came from the pid file: not our child, no process group of ours
};

// A holdfast-faultfs mount: BACKING holds the durable state, MOUNT is where the node writes.
// power_loss() drops every unsynced change (the daemon unmounts and exits); mount() again is the
// power coming back.
class FaultFsMount {
 public:
  FaultFsMount(std::string binary, std::string backing, std::string mount_point, std::string control, std::string log)
      : binary_(std::move(binary)),
        backing_(std::move(backing)),
        mount_(std::move(mount_point)),
        control_(std::move(control)),
        log_(std::move(log)) {}
  ~FaultFsMount();  // a clean unmount if still mounted
  FaultFsMount(const FaultFsMount&) = delete;
  FaultFsMount& operator=(const FaultFsMount&) = delete;

  Status mount();
  // Sends one control command ("quota 1000", "eio fsync on", "heal", ...); returns the reply.
  Result<std::string> control(const std::string& command);
  // "power-loss" or "power-loss torn", then waits for the daemon to exit. Returns the daemon's
  // reply ("ok dropped=N bytes=B ...": what the power loss took back).
  Result<std::string> power_loss(bool torn);
  void unmount();
  const std::string& mount_point() const { return mount_; }

 private:
  std::string binary_, backing_, mount_, control_, log_;
  pid_t pid_ = -1;
};

}  // namespace holdfast::drill
