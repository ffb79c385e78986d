// EtcdProcess: Debian's etcd (/usr/bin/etcd, v3.4) as a child process of a test. One member, on
// free 127.0.0.1 ports (client and peer), with its data in a folder the test owns. The heartbeat
// (50 ms) and election timeout (500 ms) are short so that leases of one second are accepted.
// etcd's stdout and stderr go to <data_dir>.log, not to the test's terminal.
//
// The child gets PR_SET_PDEATHSIG(SIGKILL): if the test process dies, etcd dies with it instead of
// holding its ports. The signal follows the thread that called start(), so start() and restart()
// must be called from a thread that outlives the etcd run (the test's main thread is).
//
// Not thread-safe: drive one EtcdProcess from one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace holdfast::test_support {

class EtcdProcess {
 public:
  static bool available();  // /usr/bin/etcd exists and is executable

  explicit EtcdProcess(std::string data_dir);
  ~EtcdProcess();  // SIGKILLs and reaps a child still running
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Starts etcd and waits until its client URL answers POST /v3/kv/range with 200. "" or an error
  // text (with the end of etcd's log). The ports are chosen at the first start and kept from then
  // on; a first start that loses its ports to another process retries with new ones.
  std::string start(int64_t timeout_ms = 15000);
  // Starts again with the same ports and data directory, after stop() or kill9().
  std::string restart(int64_t timeout_ms = 15000);
  void stop();    // SIGTERM (and SIGCONT, should it be paused), up to 5 s, then SIGKILL; reaps
  void kill9();   // SIGKILL; reaps
  void pause();   // SIGSTOP; returns once the process is stopped
  void resume();  // SIGCONT; returns once the process runs again

  std::string client_url() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  uint16_t client_port() const { return client_port_; }
  uint16_t peer_port() const { return peer_port_; }
  pid_t pid() const { return pid_; }
  bool running() const;  // started, and has not exited since (even if paused)
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }

 private:
  std::string spawn_and_wait(int64_t timeout_ms, bool* port_clash);
  void wait_exit(int64_t timeout_ms);  // SIGKILL once timeout_ms has passed; reaps
  std::string log_tail() const;

  std::string data_dir_;
  std::string log_path_;
  std::string name_ = "holdfast";
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

// One HTTP/1.1 POST (Connection: close) of a JSON body to 127.0.0.1:port over a plain socket.
// Returns the status code, or 0 when the connection fails or no complete answer arrives within
// timeout_ms. *response (when given) receives the body, de-chunked.
int http_post(uint16_t port, const std::string& path, const std::string& body, int64_t timeout_ms,
              std::string* response = nullptr);

// Standard base64 with padding, as etcd's JSON gateway wants keys and values.
std::string base64_encode(const std::string& bytes);

}  // namespace holdfast::test_support
