// SocketConnection: one remoting connection over an Asio TCP socket, used by both the server
// and the client side. Reads frames, routes responses to pending requests by opaque, hands
// requests to a callback, and writes queued frames in order on its strand.
#pragma once

#include <future>

#include <asio.hpp>

#include <deque>
#include <vector>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "remoting/frame_codec.h"
#include "transport/remoting_server.h"

namespace holdfast::transport {

// Marks fd close-on-exec, so that a program the application starts (fork + exec) does not hold
// a broker or client connection open after the application closed or lost it.
void set_close_on_exec(int fd);

class SocketConnection final : public Connection {
 public:
  struct Callbacks {
    // A request arrived (runs on the connection's strand).
    std::function<void(const ConnectionPtr&, remoting::RemotingCommand, remoting::SerializeType)> on_request;
    // The connection closed (once).
    std::function<void(const ConnectionPtr&)> on_close;
    // Wraps the handling of every request cut from one read (runs on the strand); lets the
    // owner treat them as one batch, e.g. one store append for all of them. Empty: run as is.
    std::function<void(const std::function<void()>&)> read_turn;
  };

  SocketConnection(asio::ip::tcp::socket socket, uint64_t id, uint32_t max_frame_length, Callbacks callbacks);
  ~SocketConnection() override;

  // Starts reading; call once after construction (needs shared_from_this).
  void start();

  void send_response(const remoting::RemotingCommand& response, remoting::SerializeType type) override;
  void send_request(remoting::RemotingCommand request, int64_t timeout_ms, ResponseCallback done) override;
  void send_oneway(remoting::RemotingCommand request) override;
  void close() override;
  // Runs after everything already queued on this connection's strand (e.g. the socket close that
  // close() queues); lets an owner wait for the close before it stops the I/O threads.
  std::future<void> strand_barrier();
  // Queues bytes as they are (tests of malformed input).
  void send_raw(std::string bytes) { enqueue(std::move(bytes)); }
  bool is_open() const override { return open_.load(); }
  uint64_t id() const override { return id_; }
  const std::string& remote_address() const override { return remote_; }
  int64_t last_activity_ms() const { return last_activity_ms_.load(); }

 private:
  struct Pending {
    ResponseCallback done;
    int64_t deadline_ms;
    int64_t timeout_ms;
  };
  void read_more();
  void on_frames();
  void handle_frames();
  // Queues a frame for writing. A frame goes out at once from the calling thread when the socket
  // takes it without blocking and nothing is queued before it; frames queued inside a WriteBatch
  // (or a read turn) wait for its end and go out together in one gather write. Only a socket
  // that is full hands its frames to the strand (one post per burst, not per frame).
  void enqueue(std::string frame);
  // out_mu_ held: writes what the socket takes now without blocking; hands the rest to the
  // strand. Any thread.
  void drain_locked();
  // out_mu_ held: one non-blocking gather write of outbox_ (repeated while it makes progress).
  void write_direct_locked();
  void flush_outbox();         // strand only
  void on_async_written(const asio::error_code& ec);  // strand only
  void expire_pending();       // strand only: fails pending requests past their deadline
  void arm_expiry_locked();    // pending_mu_ held
  void fail_pending(const Status& status);
  static int64_t now_ms();
  friend class WriteBatch;

  asio::ip::tcp::socket socket_;
  asio::strand<asio::any_io_executor> strand_;
  const uint64_t id_;
  std::string remote_;
  remoting::FrameDecoder decoder_;
  Callbacks callbacks_;
  std::array<char, 64 * 1024> read_buf_{};
  std::mutex out_mu_;
  std::vector<std::string> outbox_;  // out_mu_: frames not yet handed to the socket
  size_t head_written_ = 0;          // out_mu_: bytes of outbox_[0] already written
  bool async_active_ = false;        // out_mu_: an async write of writing_ is in flight
  bool flush_posted_ = false;        // out_mu_: a flush_outbox is queued on the strand
  bool deferred_ = false;            // out_mu_: held by a WriteBatch until it ends
  bool write_failed_ = false;        // out_mu_: a direct write failed; the strand closes
  std::vector<std::string> writing_;  // strand only: the frames of the async write
  bool expiry_armed_ = false;         // pending_mu_
  asio::steady_timer expiry_timer_;   // strand only
  std::atomic<bool> open_{true};
  std::atomic<int32_t> next_opaque_{1};
  std::atomic<int64_t> last_activity_ms_{0};
  std::mutex pending_mu_;
  std::unordered_map<int32_t, Pending> pending_;
};

}  // namespace holdfast::transport
