// RemotingClient: connection pool keyed by address, connect with timeout, invocation helpers.
#include "transport/remoting_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <asio.hpp>

#include <cerrno>

#include <condition_variable>
#include <future>
#include <optional>
#include <thread>
#include <unordered_map>

#include "remoting/frame_codec.h"
#include "transport/socket_connection.h"

namespace holdfast::transport {

using remoting::RemotingCommand;
using remoting::SerializeType;

struct RemotingClient::Impl {
  explicit Impl(ClientOptions o) : options(o) {}
  ClientOptions options;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::unordered_map<int32_t, RequestHandler> handlers;
  std::mutex mu;  // guards conns (never held across I/O except the bounded connect below)
  std::unordered_map<std::string, std::shared_ptr<SocketConnection>> conns;
  std::atomic<uint64_t> next_id{1};
  bool stopped = false;

  Result<std::shared_ptr<SocketConnection>> connection(const std::string& addr) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopped) return Status::aborted("client is shut down");
      auto it = conns.find(addr);
      if (it != conns.end() && it->second->is_open()) return it->second;
    }
    auto colon = addr.rfind(':');
    if (colon == std::string::npos) return Status::invalid_argument("bad address '" + addr + "' (want ip:port)");
    asio::error_code ec;
    auto ip = asio::ip::make_address(addr.substr(0, colon), ec);
    int port = std::atoi(addr.c_str() + colon + 1);
    if (ec || port <= 0 || port > 65535) return Status::invalid_argument("bad address '" + addr + "' (want ip:port)");
    const asio::ip::tcp::endpoint endpoint(ip, static_cast<uint16_t>(port));
    // Opened close-on-exec in one step: a child the application forks and execs never inherits
    // the connection, not even when the fork races this connect.
    const int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::from_errno("socket for " + addr, errno);
    asio::ip::tcp::socket socket(io);
    socket.assign(endpoint.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      return Status::io_error("socket for " + addr + ": " + ec.message());
    }
    std::promise<asio::error_code> connected;
    auto fut = connected.get_future();
    socket.async_connect(endpoint,
                         [&connected](const asio::error_code& e) { connected.set_value(e); });
    if (fut.wait_for(std::chrono::milliseconds(options.connect_timeout_ms)) != std::future_status::ready) {
      asio::post(io, [&socket] {
        asio::error_code ignored;
        socket.close(ignored);
      });
      fut.wait();
      return Status::timeout("connect to " + addr + " timed out");
    }
    ec = fut.get();
    if (ec) return Status::io_error("connect to " + addr + ": " + ec.message());
    SocketConnection::Callbacks cb;
    cb.on_request = [this](const ConnectionPtr& c, RemotingCommand r, SerializeType t) {
      auto it = handlers.find(r.code);
      if (it != handlers.end()) {
        it->second(c, std::move(r), t);
      } else if (!r.is_oneway()) {
        c->send_response(r.make_response(3, " request type " + std::to_string(r.code) + " not supported"), t);
      }
    };
    auto conn = std::make_shared<SocketConnection>(std::move(socket), next_id.fetch_add(1),
                                                   options.max_frame_length, std::move(cb));
    conn->start();
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = conns[addr];
    if (slot && slot->is_open()) {
      conn->close();
      return slot;
    }
    slot = conn;
    return conn;
  }
};

RemotingClient::RemotingClient(ClientOptions options) : impl_(std::make_unique<Impl>(options)) {
  impl_->work.emplace(impl_->io.get_executor());
  for (int i = 0; i < std::max(1, options.io_threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
}

RemotingClient::~RemotingClient() { shutdown(); }

void RemotingClient::register_handler(int32_t code, RequestHandler handler) {
  impl_->handlers[code] = std::move(handler);
}

void RemotingClient::invoke_async(const std::string& addr, RemotingCommand request, int64_t timeout_ms,
                                  Connection::ResponseCallback done) {
  auto conn = impl_->connection(addr);
  if (!conn.is_ok()) {
    done(conn.status());
    return;
  }
  (*conn)->send_request(std::move(request), timeout_ms, std::move(done));
}

Result<RemotingCommand> RemotingClient::invoke_sync(const std::string& addr, RemotingCommand request,
                                                    int64_t timeout_ms) {
  std::promise<Result<RemotingCommand>> p;
  auto fut = p.get_future();
  invoke_async(addr, std::move(request), timeout_ms,
               [&p](Result<RemotingCommand> r) { p.set_value(std::move(r)); });
  return fut.get();
}

Status RemotingClient::invoke_oneway(const std::string& addr, RemotingCommand request) {
  HF_ASSIGN_OR_RETURN(auto conn, impl_->connection(addr));
  conn->send_oneway(std::move(request));
  return Status::ok();
}

Status RemotingClient::send_raw(const std::string& addr, std::string bytes) {
  HF_ASSIGN_OR_RETURN(auto conn, impl_->connection(addr));
  conn->send_raw(std::move(bytes));
  return Status::ok();
}

void RemotingClient::close_connection(const std::string& addr) {
  std::shared_ptr<SocketConnection> conn;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->conns.find(addr);
    if (it == impl_->conns.end()) return;
    conn = it->second;
    impl_->conns.erase(it);
  }
  conn->close();
}

void RemotingClient::shutdown() {
  std::unordered_map<std::string, std::shared_ptr<SocketConnection>> conns;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    conns.swap(impl_->conns);
  }
  // The sockets close on their strands; wait for that (bounded) before stopping the I/O threads,
  // so peers see the disconnect now rather than when this object is destroyed.
  std::vector<std::future<void>> closed;
  for (auto& [addr, c] : conns) {
    c->close();
    closed.push_back(c->strand_barrier());
  }
  for (auto& f : closed) f.wait_for(std::chrono::seconds(1));
  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
}

}  // namespace holdfast::transport
