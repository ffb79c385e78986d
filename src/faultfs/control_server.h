// The control socket: a Unix stream socket taking one command per line and answering one line
// per command ("ok ..." or "error ..."). The grammar is in README.md.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "faultfs/fault_fs.h"

namespace holdfast::faultfs {

// Owned by the mount command's main(). One accept thread plus one thread per connection, all
// with SIGINT/SIGTERM blocked (those belong to the FUSE loop). on_stop runs on a connection
// thread right after a power-loss reply has been written, and must make the FUSE loop end.
class ControlServer {
 public:
  ControlServer(FaultFs* fs, std::function<void()> on_stop) : fs_(fs), on_stop_(std::move(on_stop)) {}
  ~ControlServer() { stop(); }

  // Binds (replacing a stale socket file) and starts accepting. Returns "" or an error text.
  std::string start(const std::string& socket_path);
  // Stops accepting and removes the socket file. Connection threads finish on their own.
  void stop();

 private:
  void accept_loop();
  void serve(int fd);

  FaultFs* fs_;
  std::function<void()> on_stop_;
  std::string socket_path_;
  int listen_fd_ = -1;
  std::thread accept_thread_;
};

// The `ctl` subcommand: sends `command` to the socket, prints the reply line, and returns the
// exit status: 0 for an "ok" reply, 1 for anything else (an "error" reply, no daemon, no reply).
int run_control_client(const std::string& socket_path, const std::string& command);

}  // namespace holdfast::faultfs
