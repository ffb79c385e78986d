// RemotingServer: the RocketMQ remoting protocol over TCP on Asio. It accepts connections, cuts
// frames, hands requests to the processor registered for their code, writes responses, and lets
// processors send requests to the client over the same connection (broker -> client calls).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "remoting/remoting_command.h"

namespace holdfast::transport {

class Connection;
using ConnectionPtr = std::shared_ptr<Connection>;

// One client connection. Thread-safe: send_* may be called from any thread, any number of times;
// writes are queued and performed in order on the connection's strand. No lock is held across I/O.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  // Sends the response to a request (the response carries the request's opaque). Responses are
  // encoded in JSON unless the request came in the binary layout. Ignored after close.
  virtual void send_response(const remoting::RemotingCommand& response,
                             remoting::SerializeType type = remoting::SerializeType::kJson) = 0;
  // Sends a request to the client and calls `done` with its response, or with a Timeout /
  // Aborted status if none arrives within timeout_ms or the connection closes. The opaque is
  // assigned here (this side's own counter).
  using ResponseCallback = std::function<void(Result<remoting::RemotingCommand>)>;
  virtual void send_request(remoting::RemotingCommand request, int64_t timeout_ms, ResponseCallback done) = 0;
  virtual void send_oneway(remoting::RemotingCommand request) = 0;
  virtual void close() = 0;
  virtual bool is_open() const = 0;
  virtual uint64_t id() const = 0;
  // "ip:port" of the peer.
  virtual const std::string& remote_address() const = 0;
};

// Holds the frames the current thread queues on any SocketConnection until it ends, then writes
// each connection's frames with one non-blocking gather write from this thread. The store's
// flusher opens one around the put completions of one fdatasync, and a connection around the
// requests of one read: a burst of responses costs one write per connection and no thread
// hand-off. Nested batches on one thread are one batch.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

 private:
  bool owner_;
};

// A request handler. It must eventually call conn->send_response (unless the request is oneway),
// possibly later and from another thread (long polling, group commit). It runs on a network thread
// and must not block for long.
using RequestHandler = std::function<void(const ConnectionPtr& conn, remoting::RemotingCommand request,
                                          remoting::SerializeType type)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port (see RemotingServer::port())
  int io_threads = 2;
  uint32_t max_frame_length = 16 * 1024 * 1024;
  int64_t idle_timeout_ms = 120000;  // close connections silent for this long (0 = never)
  // More ports served exactly like `port` (a broker's listenPort - 2: RocketMQ's "VIP channel",
  // which RocketMQ slaves use to copy the master's topics). One that cannot be bound is logged and
  // skipped: start() does not fail for it.
  std::vector<uint16_t> extra_ports;
};

class RemotingServer {
 public:
  explicit RemotingServer(ServerOptions options);
  ~RemotingServer();

  // Registers the handler for a request code; call before start().
  void register_handler(int32_t code, RequestHandler handler);
  // Called when a connection closes (e.g. to drop its client registrations).
  void set_close_listener(std::function<void(const ConnectionPtr&)> listener);
  // Wraps the handling of all requests cut from one socket read (on that connection's strand), so
  // that the owner can treat them as one batch: e.g. the broker appends every send of the turn to
  // the store as one group. The wrapper must call its argument exactly once. Call before start().
  using ReadTurn = std::function<void(const std::function<void()>& handle_requests)>;
  void set_read_turn(ReadTurn read_turn);

  // Binds and starts the network threads.
  Status start();
  // Closes the listener and every connection, then joins the threads. Idempotent.
  void stop();
  uint16_t port() const { return bound_port_.load(); }
  size_t connection_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<uint16_t> bound_port_{0};
};

}  // namespace holdfast::transport
