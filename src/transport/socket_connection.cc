// SocketConnection: framing, write queue, pending-request table and close handling.
#include "transport/socket_connection.h"

#include <chrono>

#include "base/logging.h"

namespace holdfast::transport {

using remoting::RemotingCommand;
using remoting::SerializeType;

SocketConnection::SocketConnection(asio::ip::tcp::socket socket, uint64_t id, uint32_t max_frame_length,
                                   Callbacks callbacks)
    : socket_(std::move(socket)),
      strand_(asio::make_strand(socket_.get_executor())),
      id_(id),
      decoder_(max_frame_length),
      callbacks_(std::move(callbacks)) {
  asio::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  remote_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  last_activity_ms_ = now_ms();
}

SocketConnection::~SocketConnection() = default;

int64_t SocketConnection::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

void SocketConnection::start() {
  asio::post(strand_, [self = std::static_pointer_cast<SocketConnection>(shared_from_this())] { self->read_more(); });
}

void SocketConnection::read_more() {
  auto self = std::static_pointer_cast<SocketConnection>(shared_from_this());
  socket_.async_read_some(asio::buffer(read_buf_),
                          asio::bind_executor(strand_, [self](const asio::error_code& ec, size_t n) {
                            if (ec) {
                              self->close();
                              return;
                            }
                            self->last_activity_ms_ = now_ms();
                            self->decoder_.feed(std::string_view(self->read_buf_.data(), n));
                            self->on_frames();
                          }));
}

void SocketConnection::on_frames() {
  in_read_turn_ = true;
  if (callbacks_.read_turn) {
    callbacks_.read_turn([this] { handle_frames(); });
  } else {
    handle_frames();
  }
  in_read_turn_ = false;
  flush_outbox();  // every response produced during the turn, in one write
  if (open_.load()) read_more();
}

void SocketConnection::handle_frames() {
  ConnectionPtr self = shared_from_this();
  for (;;) {
    RemotingCommand cmd;
    SerializeType type = SerializeType::kJson;
    auto got = decoder_.next(&cmd, &type);
    if (!got.is_ok()) {
      logger("remoting")->warn("closing connection {} from {}: {}", id_, remote_, got.status().to_string());
      close();
      return;
    }
    if (!*got) return;
    if (cmd.is_response()) {
      Pending p;
      {
        std::lock_guard<std::mutex> lock(pending_mu_);
        auto it = pending_.find(cmd.opaque);
        if (it == pending_.end()) continue;  // late response after a timeout
        p = std::move(it->second);
        pending_.erase(it);
      }
      if (p.timer) p.timer->cancel();
      p.done(std::move(cmd));
      continue;
    }
    if (callbacks_.on_request) callbacks_.on_request(self, std::move(cmd), type);
  }
}

void SocketConnection::enqueue(std::string frame) {
  if (!open_.load()) return;
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    outbox_.push_back(std::move(frame));
    if (flush_posted_) return;
    // On the strand in the middle of a read turn: the turn's end flushes.
    if (in_read_turn_ && strand_.running_in_this_thread()) return;
    flush_posted_ = true;
  }
  asio::post(strand_, [self = std::static_pointer_cast<SocketConnection>(shared_from_this())] {
    self->flush_outbox();
  });
}

void SocketConnection::flush_outbox() {
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    flush_posted_ = false;
  }
  // A write in progress picks the outbox up when it completes.
  if (!write_active_) write_batch();
}

void SocketConnection::write_batch() {
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    writing_.clear();
    writing_.swap(outbox_);
  }
  if (writing_.empty() || !open_.load()) {
    write_active_ = false;
    return;
  }
  write_active_ = true;
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(writing_.size());
  for (const std::string& f : writing_) buffers.emplace_back(asio::buffer(f));
  auto self = std::static_pointer_cast<SocketConnection>(shared_from_this());
  asio::async_write(socket_, buffers, asio::bind_executor(strand_, [self](const asio::error_code& ec, size_t) {
                      if (ec) {
                        self->write_active_ = false;
                        self->close();
                        return;
                      }
                      self->write_batch();
                    }));
}

void SocketConnection::send_response(const RemotingCommand& response, SerializeType type) {
  std::string frame;
  Status st = remoting::encode_frame_to(response, type, &frame);
  if (!st.is_ok() && type != SerializeType::kJson) {
    frame.clear();
    st = remoting::encode_frame_to(response, SerializeType::kJson, &frame);
  }
  if (!st.is_ok()) {
    logger("remoting")->error("cannot encode response code {} to {}: {}", response.code, remote_, st.to_string());
    return;
  }
  enqueue(std::move(frame));
}

void SocketConnection::send_request(RemotingCommand request, int64_t timeout_ms, ResponseCallback done) {
  if (!open_.load()) {
    done(Status::aborted("connection to " + remote_ + " is closed"));
    return;
  }
  request.opaque = next_opaque_.fetch_add(1);
  request.flag &= ~1;
  auto timer = std::make_shared<asio::steady_timer>(strand_);
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    pending_[request.opaque] = Pending{std::move(done), timer};
  }
  const int32_t opaque = request.opaque;
  timer->expires_after(std::chrono::milliseconds(timeout_ms));
  timer->async_wait([self = std::static_pointer_cast<SocketConnection>(shared_from_this()), opaque,
                     timeout_ms](const asio::error_code& ec) {
    if (ec) return;  // cancelled: the response arrived
    Pending p;
    {
      std::lock_guard<std::mutex> lock(self->pending_mu_);
      auto it = self->pending_.find(opaque);
      if (it == self->pending_.end()) return;
      p = std::move(it->second);
      self->pending_.erase(it);
    }
    p.done(Status::timeout("no response from " + self->remote_ + " within " + std::to_string(timeout_ms) + " ms"));
  });
  enqueue(remoting::encode_frame(request, SerializeType::kJson));
}

void SocketConnection::send_oneway(RemotingCommand request) {
  request.opaque = next_opaque_.fetch_add(1);
  request.mark_oneway();
  enqueue(remoting::encode_frame(request, SerializeType::kJson));
}

void SocketConnection::fail_pending(const Status& status) {
  std::unordered_map<int32_t, Pending> pending;
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    pending.swap(pending_);
  }
  for (auto& [opaque, p] : pending) {
    if (p.timer) p.timer->cancel();
    p.done(status);
  }
}

void SocketConnection::close() {
  if (open_.exchange(false) == false) return;
  auto self = std::static_pointer_cast<SocketConnection>(shared_from_this());
  asio::post(strand_, [self] {
    asio::error_code ec;
    self->socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    self->socket_.close(ec);
  });
  fail_pending(Status::aborted("connection to " + remote_ + " closed"));
  if (callbacks_.on_close) callbacks_.on_close(self);
}

std::future<void> SocketConnection::strand_barrier() {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> f = done->get_future();
  asio::post(strand_, [done] { done->set_value(); });
  return f;
}

}  // namespace holdfast::transport
