// RemotingServer: acceptor, network threads, request routing and idle-connection expiry.
#include "transport/remoting_server.h"

#include <asio.hpp>

#include <chrono>
#include <optional>

#include "base/logging.h"
#include "remoting/response_code.h"
#include "transport/socket_connection.h"

namespace holdfast::transport {

using remoting::RemotingCommand;
using remoting::SerializeType;

struct RemotingServer::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)), acceptor(io), idle_timer(io) {}

  ServerOptions options;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::ip::tcp::acceptor acceptor;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> extra_acceptors;
  asio::steady_timer idle_timer;
  std::vector<std::thread> threads;
  std::unordered_map<int32_t, RequestHandler> handlers;
  std::function<void(const ConnectionPtr&)> close_listener;
  ReadTurn read_turn;
  mutable std::mutex conns_mu;
  std::unordered_map<uint64_t, std::shared_ptr<SocketConnection>> conns;
  std::atomic<uint64_t> next_id{1};
  bool started = false;
  bool stopped = false;

  void dispatch(const ConnectionPtr& conn, RemotingCommand request, SerializeType type) {
    auto it = handlers.find(request.code);
    if (it == handlers.end()) {
      if (!request.is_oneway()) {
        conn->send_response(request.make_response(remoting::response_code::kRequestCodeNotSupported,
                                                  " request type " + std::to_string(request.code) + " not supported"),
                            type);
      }
      return;
    }
    it->second(conn, std::move(request), type);
  }

  void do_accept(asio::ip::tcp::acceptor& a) {
    a.async_accept([this, &a](const asio::error_code& ec, asio::ip::tcp::socket socket) {
      if (ec) {
        if (ec != asio::error::operation_aborted) {
          logger("remoting")->warn("accept failed: {}", ec.message());
          do_accept(a);
        }
        return;
      }
      set_close_on_exec(socket.native_handle());
      const uint64_t id = next_id.fetch_add(1);
      SocketConnection::Callbacks cb;
      cb.on_request = [this](const ConnectionPtr& c, RemotingCommand r, SerializeType t) { dispatch(c, std::move(r), t); };
      cb.read_turn = read_turn;
      cb.on_close = [this](const ConnectionPtr& c) {
        {
          std::lock_guard<std::mutex> lock(conns_mu);
          conns.erase(c->id());
        }
        if (close_listener) close_listener(c);
      };
      auto conn = std::make_shared<SocketConnection>(std::move(socket), id, options.max_frame_length, std::move(cb));
      {
        std::lock_guard<std::mutex> lock(conns_mu);
        conns[id] = conn;
      }
      conn->start();
      do_accept(a);
    });
  }

  void schedule_idle_scan() {
    if (options.idle_timeout_ms <= 0) return;
    idle_timer.expires_after(std::chrono::milliseconds(std::min<int64_t>(options.idle_timeout_ms, 10000)));
    idle_timer.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch()).count();
      std::vector<std::shared_ptr<SocketConnection>> idle;
      {
        std::lock_guard<std::mutex> lock(conns_mu);
        for (auto& [id, c] : conns) {
          if (now - c->last_activity_ms() > options.idle_timeout_ms) idle.push_back(c);
        }
      }
      for (auto& c : idle) {
        logger("remoting")->info("closing idle connection from {}", c->remote_address());
        c->close();
      }
      schedule_idle_scan();
    });
  }
};

RemotingServer::RemotingServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

RemotingServer::~RemotingServer() { stop(); }

void RemotingServer::register_handler(int32_t code, RequestHandler handler) {
  impl_->handlers[code] = std::move(handler);
}

void RemotingServer::set_close_listener(std::function<void(const ConnectionPtr&)> listener) {
  impl_->close_listener = std::move(listener);
}

void RemotingServer::set_read_turn(ReadTurn read_turn) { impl_->read_turn = std::move(read_turn); }

Status RemotingServer::start() {
  asio::error_code ec;
  auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return Status::invalid_argument("bad listen address '" + impl_->options.host + "': " + ec.message());
  asio::ip::tcp::endpoint ep(address, impl_->options.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) set_close_on_exec(impl_->acceptor.native_handle());
  if (!ec) impl_->acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::io_error("cannot listen on " + impl_->options.host + ":" +
                            std::to_string(impl_->options.port) + ": " + ec.message());
  }
  bound_port_ = impl_->acceptor.local_endpoint().port();
  for (uint16_t extra : impl_->options.extra_ports) {
    auto a = std::make_unique<asio::ip::tcp::acceptor>(impl_->io);
    asio::ip::tcp::endpoint extra_ep(address, extra);
    asio::error_code extra_ec;
    a->open(extra_ep.protocol(), extra_ec);
    if (!extra_ec) set_close_on_exec(a->native_handle());
    if (!extra_ec) a->set_option(asio::ip::tcp::acceptor::reuse_address(true), extra_ec);
    if (!extra_ec) a->bind(extra_ep, extra_ec);
    if (!extra_ec) a->listen(asio::socket_base::max_listen_connections, extra_ec);
    if (extra_ec) {
      logger("remoting")->warn("not serving on {}:{} as well: {}", impl_->options.host, extra, extra_ec.message());
      continue;
    }
    impl_->extra_acceptors.push_back(std::move(a));
  }
  impl_->work.emplace(impl_->io.get_executor());
  impl_->do_accept(impl_->acceptor);
  for (auto& a : impl_->extra_acceptors) impl_->do_accept(*a);
  impl_->schedule_idle_scan();
  for (int i = 0; i < std::max(1, impl_->options.io_threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
  impl_->started = true;
  return Status::ok();
}

void RemotingServer::stop() {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->io, [this] {
    asio::error_code ec;
    impl_->acceptor.close(ec);
    for (auto& a : impl_->extra_acceptors) a->close(ec);
    impl_->idle_timer.cancel();
  });
  std::vector<std::shared_ptr<SocketConnection>> all;
  {
    std::lock_guard<std::mutex> lock(impl_->conns_mu);
    for (auto& [id, c] : impl_->conns) all.push_back(c);
  }
  for (auto& c : all) c->close();
  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  std::lock_guard<std::mutex> lock(impl_->conns_mu);
  impl_->conns.clear();
}

size_t RemotingServer::connection_count() const {
  std::lock_guard<std::mutex> lock(impl_->conns_mu);
  return impl_->conns.size();
}

}  // namespace holdfast::transport
