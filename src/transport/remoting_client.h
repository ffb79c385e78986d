// RemotingClient: the client side of the remoting protocol — one pooled connection per
// "ip:port", synchronous, asynchronous and oneway invocations, and handlers for requests the
// server sends back over the same connection (e.g. NOTIFY_CONSUMER_IDS_CHANGED).
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "remoting/remoting_command.h"
#include "transport/remoting_server.h"

namespace holdfast::transport {

struct ClientOptions {
  int io_threads = 1;
  int64_t connect_timeout_ms = 3000;
  uint32_t max_frame_length = 16 * 1024 * 1024;
};

// Thread-safe. Every invoke either returns/calls back a response or a Status: Timeout when no
// response arrives in time, Aborted when the connection closes first, IOError when it cannot
// connect. Nothing waits forever.
class RemotingClient {
 public:
  explicit RemotingClient(ClientOptions options = {});
  ~RemotingClient();

  // Handler for requests from servers; register before the first invoke.
  void register_handler(int32_t code, RequestHandler handler);

  Result<remoting::RemotingCommand> invoke_sync(const std::string& addr, remoting::RemotingCommand request,
                                                int64_t timeout_ms);
  void invoke_async(const std::string& addr, remoting::RemotingCommand request, int64_t timeout_ms,
                    Connection::ResponseCallback done);
  Status invoke_oneway(const std::string& addr, remoting::RemotingCommand request);
  // Sends raw bytes on the connection to addr (tests of malformed input).
  Status send_raw(const std::string& addr, std::string bytes);
  void close_connection(const std::string& addr);
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace holdfast::transport
