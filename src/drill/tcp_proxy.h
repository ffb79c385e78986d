// TcpProxy: a TCP forwarder between a process and the peer it talks to, controlled by a test so
// that a test or a drill can partition the two the way a network does.
//
//  - cut(): bytes stop moving in both directions at once. The proxy keeps reading both sockets
//    and drops what it reads (a blackhole): no FIN or RST reaches either side, exactly as in a
//    real partition, so each side only notices through its own timeouts. A half-close or reset
//    seen on one side during the cut is not passed on either. New connections are accepted but
//    never forwarded: they are held open and silent.
//  - cut_one_way(client_to_target): only that direction is dropped; the other keeps flowing.
//    New connections are forwarded, with that direction dropped.
//  - heal(): forwarding resumes for new connections. Every connection that was open at any moment
//    while a cut (two-way or one-way) was in force is reset at heal (both of its sockets are
//    closed with SO_LINGER 0, so both peers see ECONNRESET and reconnect). Those connections lost
//    bytes in the middle of their streams, so letting them carry on would hand garbled protocol
//    data to the peers; a reset is what a client sees after a long partition anyway.
//  - set_delay(ms): from now on every byte read, in either direction, is held for ms before it
//    is written on (added one-way latency; a round trip pays it twice). Order is kept. Bytes
//    already held keep the release time they were given; set_delay(0) ends it for new bytes.
//  - stop(): closes every socket and the listener; the destructor calls it.
//
// One thread runs a poll() loop over all sockets; it sleeps until a socket or a control call
// (cut, heal, stop) wakes it. cut(), cut_one_way(), heal() and stop() may be called from any
// thread. When cut() returns, no further byte read from a cut direction is forwarded (bytes the
// proxy had already handed to the kernel before the cut are still delivered, like packets already
// on the wire). heal() returns after the affected connections have been reset.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace holdfast::drill {

class TcpProxy {
 public:
  TcpProxy(std::string target_host, uint16_t target_port);
  ~TcpProxy();  // stop()
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // Resolves the target, listens on listen_host:listen_port (port 0: one of the kernel's
  // choosing) and starts forwarding. "" or an error.
  std::string start(const std::string& listen_host = "127.0.0.1", uint16_t listen_port = 0);
  uint16_t port() const { return port_; }
  std::string address() const { return listen_host_ + ":" + std::to_string(port_); }

  void cut();
  void cut_one_way(bool client_to_target);
  void heal();
  void set_delay(int64_t ms);
  void stop();

  int64_t connections_accepted() const { return accepted_.load(); }

 private:
  struct Conn;

  void loop();
  void wake();
  bool accept_new();  // false: accepting failed for lack of resources
  void begin_connect(Conn* c);
  void service(Conn* c, short client_events, short target_events);
  int64_t next_release(int64_t now) const;  // earliest held byte's release time, or -1
  void drop_buffered(Conn* c, bool client_to_target);  // forgets what is buffered that way
  void read_side(Conn* c, bool from_client);
  void flush_side(Conn* c, bool to_client);
  void side_failed(Conn* c, bool client_side);
  void finish_if_done(Conn* c);
  void reset_conn(Conn* c);
  void close_conn(Conn* c);

  const std::string target_host_;
  const uint16_t target_port_;
  sockaddr_in target_addr_{};
  std::string listen_host_ = "127.0.0.1";
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: control calls wake the loop through it
  std::atomic<int64_t> accepted_{0};
  std::thread thread_;
  bool started_ = false;
  std::atomic<bool> stopped_{false};

  // Guarded by mu_. The loop holds mu_ whenever it touches a connection; it releases it only
  // while it sleeps in poll().
  std::mutex mu_;
  std::condition_variable cv_;
  bool drop_c2t_ = false;
  bool drop_t2c_ = false;
  int64_t delay_ms_ = 0;
  uint64_t heal_requested_ = 0;
  uint64_t heal_done_ = 0;
  bool loop_running_ = false;
  std::vector<std::unique_ptr<Conn>> conns_;
};

}  // namespace holdfast::drill
