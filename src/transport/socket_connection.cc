// SocketConnection: framing, write queue, pending-request table and close handling.
#include "transport/socket_connection.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>

#include "base/logging.h"
#include "base/sync_point.h"

namespace holdfast::transport {

void set_close_on_exec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}


using remoting::RemotingCommand;
using remoting::SerializeType;

SocketConnection::SocketConnection(asio::ip::tcp::socket socket, uint64_t id, uint32_t max_frame_length,
                                   Callbacks callbacks)
    : socket_(std::move(socket)),
      strand_(asio::make_strand(socket_.get_executor())),
      id_(id),
      decoder_(max_frame_length),
      callbacks_(std::move(callbacks)),
      expiry_timer_(strand_) {
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
  {
    WriteBatch batch;  // every response produced during the turn goes out in one write at its end
    if (callbacks_.read_turn) {
      callbacks_.read_turn([this] { handle_frames(); });
    } else {
      handle_frames();
    }
  }
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
      p.done(std::move(cmd));
      continue;
    }
    if (callbacks_.on_request) callbacks_.on_request(self, std::move(cmd), type);
  }
}

namespace {
// The connections holding frames for the WriteBatch open on this thread (null: none open).
thread_local std::vector<std::shared_ptr<SocketConnection>>* t_write_batch = nullptr;
}  // namespace

WriteBatch::WriteBatch() : owner_(t_write_batch == nullptr) {
  if (owner_) t_write_batch = new std::vector<std::shared_ptr<SocketConnection>>();
}

WriteBatch::~WriteBatch() {
  if (!owner_) return;
  std::unique_ptr<std::vector<std::shared_ptr<SocketConnection>>> held(t_write_batch);
  t_write_batch = nullptr;
  for (const auto& conn : *held) {
    std::lock_guard<std::mutex> lock(conn->out_mu_);
    conn->deferred_ = false;
    conn->drain_locked();
  }
}

void SocketConnection::enqueue(std::string frame) {
  if (!open_.load()) return;
  std::lock_guard<std::mutex> lock(out_mu_);
  outbox_.push_back(std::move(frame));
  if (deferred_ || async_active_ || flush_posted_) return;  // whoever holds the queue writes it
  if (t_write_batch != nullptr) {
    deferred_ = true;
    t_write_batch->push_back(std::static_pointer_cast<SocketConnection>(shared_from_this()));
    return;
  }
  drain_locked();
}

void SocketConnection::write_direct_locked() {
  constexpr size_t kMaxIov = 64;
  if (!open_.load()) {
    outbox_.clear();
    return;
  }
  const int fd = socket_.native_handle();
  while (!outbox_.empty() && !write_failed_) {
    struct iovec iov[kMaxIov];
    size_t n = 0;
    for (; n < outbox_.size() && n < kMaxIov; ++n) {
      const size_t skip = n == 0 ? head_written_ : 0;
      iov[n].iov_base = outbox_[n].data() + skip;
      iov[n].iov_len = outbox_[n].size() - skip;
    }
    struct msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    const ssize_t wrote = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) write_failed_ = true;
      return;
    }
    // Drop what was written: whole frames, then a prefix of the next.
    size_t left = static_cast<size_t>(wrote);
    size_t done = 0;
    while (done < outbox_.size() && left >= outbox_[done].size() - (done == 0 ? head_written_ : 0)) {
      left -= outbox_[done].size() - (done == 0 ? head_written_ : 0);
      ++done;
    }
    if (done > 0) {
      outbox_.erase(outbox_.begin(), outbox_.begin() + static_cast<std::ptrdiff_t>(done));
      head_written_ = 0;
    }
    head_written_ += left;
    if (left > 0 || done < n) return;  // the socket took less than offered: it is full
  }
}

void SocketConnection::drain_locked() {
  if (async_active_ || outbox_.empty()) return;
  write_direct_locked();
  if ((outbox_.empty() && !write_failed_) || flush_posted_) return;
  // The socket is full (or failed): the strand waits for room (or closes).
  flush_posted_ = true;
  asio::post(strand_, [self = std::static_pointer_cast<SocketConnection>(shared_from_this())] {
    self->flush_outbox();
  });
}

void SocketConnection::flush_outbox() {
  std::unique_lock<std::mutex> lock(out_mu_);
  flush_posted_ = false;
  if (write_failed_) {
    outbox_.clear();
    lock.unlock();
    close();
    return;
  }
  if (async_active_ || deferred_ || outbox_.empty() || !open_.load()) return;
  write_direct_locked();
  if (outbox_.empty() || write_failed_) {
    if (write_failed_) {
      lock.unlock();
      flush_outbox();
    }
    return;
  }
  async_active_ = true;
  writing_.swap(outbox_);
  outbox_.clear();
  if (head_written_ > 0) writing_.front().erase(0, head_written_);
  head_written_ = 0;
  lock.unlock();
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(writing_.size());
  for (const std::string& f : writing_) buffers.emplace_back(asio::buffer(f));
  auto self = std::static_pointer_cast<SocketConnection>(shared_from_this());
  asio::async_write(socket_, buffers, asio::bind_executor(strand_, [self](const asio::error_code& ec, size_t) {
                      self->on_async_written(ec);
                    }));
}

void SocketConnection::on_async_written(const asio::error_code& ec) {
  writing_.clear();
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    async_active_ = false;
  }
  if (ec) {
    close();
    return;
  }
  flush_outbox();  // what was queued meanwhile
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
  request.opaque = next_opaque_.fetch_add(1);
  request.flag &= ~1;
  {
    // The open check and the registration are one step under pending_mu_: close() clears open_
    // before fail_pending() takes the lock, so a request is either registered in time to be
    // failed by it or sees the connection closed here. (Checked outside the lock, a request that
    // lost the race to a close was registered after fail_pending() and, with the sweep stopped,
    // never completed: its caller waited forever.)
    HF_SYNC_POINT("transport.send_request.register");
    std::unique_lock<std::mutex> lock(pending_mu_);
    if (!open_.load()) {
      lock.unlock();
      done(Status::aborted("connection to " + remote_ + " is closed"));
      return;
    }
    pending_[request.opaque] = Pending{std::move(done), now_ms() + timeout_ms, timeout_ms};
    arm_expiry_locked();
  }
  enqueue(remoting::encode_frame(request, SerializeType::kJson));
}

// One sweep timer per connection while requests are pending, instead of a timer per request (each
// of which costs the reactor a timer update and a wake-up). A timeout fires up to kSweepMs late.
constexpr int64_t kSweepMs = 10;

void SocketConnection::arm_expiry_locked() {
  if (expiry_armed_ || pending_.empty()) return;
  expiry_armed_ = true;
  asio::post(strand_, [self = std::static_pointer_cast<SocketConnection>(shared_from_this())] {
    self->expiry_timer_.expires_after(std::chrono::milliseconds(kSweepMs));
    self->expiry_timer_.async_wait([self](const asio::error_code& ec) {
      if (ec) return;
      self->expire_pending();
    });
  });
}

void SocketConnection::expire_pending() {
  std::vector<std::pair<int32_t, Pending>> expired;
  const int64_t now = now_ms();
  {
    std::lock_guard<std::mutex> lock(pending_mu_);
    expiry_armed_ = false;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline_ms <= now) {
        expired.emplace_back(it->first, std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (open_.load()) arm_expiry_locked();
  }
  for (auto& [opaque, p] : expired) {
    p.done(Status::timeout("no response from " + remote_ + " within " + std::to_string(p.timeout_ms) + " ms"));
  }
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
  for (auto& [opaque, p] : pending) p.done(status);
}

void SocketConnection::close() {
  if (open_.exchange(false) == false) return;
  auto self = std::static_pointer_cast<SocketConnection>(shared_from_this());
  asio::post(strand_, [self] {
    asio::error_code ec;
    self->expiry_timer_.cancel();
    // Under out_mu_: no other thread is writing to the descriptor while it closes.
    std::lock_guard<std::mutex> lock(self->out_mu_);
    self->outbox_.clear();
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
