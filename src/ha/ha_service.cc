// HaMaster / HaSlave: blocking sockets, one thread per connection (a broker group has few slaves).
#include "ha/ha_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/coding.h"  // put_be64 / get_be64
#include "base/logging.h"

namespace holdfast::ha {

namespace {

constexpr size_t kHeaderSize = 12;  // int64 offset + int32 size

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Writes all of data; false on error or when `stop` is set.
bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Waits up to timeout_ms for fd to be readable: 1 readable, 0 timeout, -1 error.
int wait_readable(int fd, int64_t timeout_ms) {
  struct pollfd p {
    fd, POLLIN, 0
  };
  const int r = ::poll(&p, 1, static_cast<int>(timeout_ms));
  if (r < 0) return errno == EINTR ? 0 : -1;
  if (r == 0) return 0;
  return (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0 ? 1 : 0;
}

// Reads exactly n bytes (waiting at most idle_ms between pieces); false on EOF, error, timeout.
bool read_exact(int fd, char* out, size_t n, int64_t idle_ms, const std::atomic<bool>& stop) {
  size_t got = 0;
  int64_t last = now_ms();
  while (got < n) {
    if (stop.load()) return false;
    const int ready = wait_readable(fd, 100);
    if (ready < 0) return false;
    if (ready == 0) {
      if (now_ms() - last > idle_ms) return false;
      continue;
    }
    const ssize_t r = ::recv(fd, out + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
    last = now_ms();
  }
  return true;
}

bool parse_host_port(const std::string& address, sockaddr_in* out) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  const int port = std::atoi(address.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return false;
  out->sin_port = htons(static_cast<uint16_t>(port));
  return ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &out->sin_addr) == 1;
}

}  // namespace

struct HaMaster::Slave {
  int fd = -1;
  std::string peer;
  std::atomic<int64_t> ack{-1};  // -1 until the first report, and again once the connection ended
  std::atomic<bool> done{false};
  std::thread thread;
};

HaMaster::HaMaster(MessageStore* store, HaOptions options) : store_(store), options_(options) {}

HaMaster::~HaMaster() { stop(); }

Status HaMaster::start(const std::string& host, uint16_t port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Status::io_error("ha: socket", errno);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  if (!parse_host_port(host + ":" + std::to_string(port == 0 ? 1 : port), &addr)) {
    return Status::invalid_argument("ha: bad listen host " + host);
  }
  addr.sin_port = htons(port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 16) != 0) {
    const int err = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return Status::io_error("ha: cannot listen on " + host + ":" + std::to_string(port), err);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
  timer_ = std::thread([this] { timeout_loop(); });
  logger("ha")->info("ha: master listening on {}:{}", host, port_);
  return Status::ok();
}

void HaMaster::stop() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    waiters_cv_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  std::vector<std::shared_ptr<Slave>> slaves;
  {
    std::lock_guard<std::mutex> lock(mu_);
    slaves.swap(slaves_);
  }
  for (auto& s : slaves) {
    ::shutdown(s->fd, SHUT_RDWR);
    if (s->thread.joinable()) s->thread.join();
    ::close(s->fd);
  }
  std::multimap<int64_t, Waiter> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(waiters_);
  }
  for (auto& [offset, w] : left) w.done(PutStatus::kFlushSlaveTimeout);
}

void HaMaster::wait_replicated(int64_t offset, int64_t timeout_ms, std::function<void(PutStatus)> done) {
  std::unique_lock<std::mutex> lock(mu_);
  int64_t best = -1;
  for (const auto& s : slaves_) best = std::max(best, s->ack.load());
  if (best >= offset) {
    lock.unlock();
    done(PutStatus::kOk);
    return;
  }
  if (stop_.load() || best < 0 || store_->confirmed_offset() - best > options_.slave_fallbehind_max) {
    lock.unlock();
    done(PutStatus::kSlaveNotAvailable);
    return;
  }
  const bool earliest = waiters_.empty();
  waiters_.emplace(offset, Waiter{now_ms() + timeout_ms, std::move(done)});
  if (earliest) waiters_cv_.notify_all();
}

void HaMaster::on_ack(int64_t ack) {
  std::vector<std::function<void(PutStatus)>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto end = waiters_.upper_bound(ack);
    for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second.done));
    waiters_.erase(waiters_.begin(), end);
  }
  for (auto& done : ready) done(PutStatus::kOk);
}

void HaMaster::timeout_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_.load()) {
    waiters_cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stop_.load(); });
    if (waiters_.empty()) continue;
    const int64_t now = now_ms();
    std::vector<std::function<void(PutStatus)>> expired;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline_ms <= now) {
        expired.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    if (expired.empty()) continue;
    lock.unlock();
    for (auto& done : expired) done(PutStatus::kFlushSlaveTimeout);
    lock.lock();
  }
}

int64_t HaMaster::max_slave_ack() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t best = -1;
  for (const auto& s : slaves_) best = std::max(best, s->ack.load());
  return best;
}

int HaMaster::connected_slaves() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& s : slaves_) n += s->ack.load() >= 0 ? 1 : 0;
  return n;
}

void HaMaster::accept_loop() {
  while (!stop_.load()) {
    if (wait_readable(listen_fd_, 100) <= 0) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto slave = std::make_shared<Slave>();
    slave->fd = fd;
    char ip[INET_ADDRSTRLEN] = "?";
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
    slave->peer = std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port));
    std::lock_guard<std::mutex> lock(mu_);
    // Finished connections leave the list here.
    slaves_.erase(std::remove_if(slaves_.begin(), slaves_.end(),
                                 [](const std::shared_ptr<Slave>& s) {
                                   if (!s->done.load()) return false;
                                   if (s->thread.joinable()) s->thread.join();
                                   ::close(s->fd);
                                   return true;
                                 }),
                  slaves_.end());
    slaves_.push_back(slave);
    slave->thread = std::thread([this, slave] { serve(slave); });
  }
}

void HaMaster::serve(std::shared_ptr<Slave> slave) {
  auto log = logger("ha");
  const int fd = slave->fd;
  struct Done {
    Slave* s;
    ~Done() {
      s->ack.store(-1);
      s->done.store(true);
    }
  } done{slave.get()};
  auto close_with = [&](const std::string& why) {
    log->warn("ha: closing slave connection {}: {}", slave->peer, why);
    ::shutdown(fd, SHUT_RDWR);
  };
  char report[8];
  if (!read_exact(fd, report, sizeof(report), options_.housekeeping_ms, stop_)) {
    if (!stop_.load()) close_with("no offset report");
    return;
  }
  int64_t next = static_cast<int64_t>(get_be64(report));
  if (next < 0 || next > store_->confirmed_offset()) {
    close_with("it reports offset " + std::to_string(next) + ", beyond this master's log end " +
               std::to_string(store_->confirmed_offset()));
    return;
  }
  // The first report says where the slave's log ends, not what is durable there: it is where the
  // transfer starts, not an acknowledgement (the slave's next reports are).
  slave->ack.store(0);
  log->info("ha: slave {} connected at offset {}", slave->peer, next);
  int64_t last_write = now_ms(), last_read = now_ms();
  std::string frame;
  while (!stop_.load()) {
    // Take every report the slave sent; the last complete one counts.
    while (wait_readable(fd, 0) > 0) {
      const ssize_t r = ::recv(fd, report, sizeof(report), MSG_PEEK | MSG_DONTWAIT);
      if (r <= 0) {
        if (!stop_.load()) log->info("ha: slave {} disconnected", slave->peer);
        return;
      }
      if (r < static_cast<ssize_t>(sizeof(report))) break;
      if (!read_exact(fd, report, sizeof(report), options_.housekeeping_ms, stop_)) return;
      const auto ack = static_cast<int64_t>(get_be64(report));
      if (ack > store_->confirmed_offset() || ack < 0) {
        close_with("it acknowledges offset " + std::to_string(ack) + ", beyond this master's log end " +
                   std::to_string(store_->confirmed_offset()));
        return;
      }
      if (ack > slave->ack.load()) {
        slave->ack.store(ack);
        on_ack(ack);
      }
      last_read = now_ms();
    }
    if (now_ms() - last_read > options_.housekeeping_ms) {
      close_with("nothing read for " + std::to_string(options_.housekeeping_ms) + " ms");
      return;
    }
    auto bytes = store_->read_confirmed(next, static_cast<size_t>(options_.transfer_batch_bytes));
    if (!bytes.is_ok()) {
      close_with("reading the commit log at " + std::to_string(next) + ": " + bytes.status().message());
      return;
    }
    const bool heartbeat_due = now_ms() - last_write >= options_.heartbeat_interval_ms;
    if (bytes->empty() && !heartbeat_due) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    frame.resize(kHeaderSize);
    put_be64(frame.data(), static_cast<uint64_t>(next));
    put_be32(frame.data() + 8, static_cast<uint32_t>(bytes->size()));
    frame.append(*bytes);
    if (!write_all(fd, frame.data(), frame.size())) {
      if (!stop_.load()) log->info("ha: slave {} went away", slave->peer);
      return;
    }
    next += static_cast<int64_t>(bytes->size());
    last_write = now_ms();
  }
}

HaSlave::HaSlave(MessageStore* store, std::string master_address, HaOptions options)
    : store_(store), master_address_(std::move(master_address)), options_(options) {}

HaSlave::~HaSlave() { stop(); }

void HaSlave::start() {
  thread_ = std::thread([this] { loop(); });
}

void HaSlave::stop() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_cv_.notify_all();
  }
  const int fd = fd_.load();
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
}

void HaSlave::loop() {
  auto log = logger("ha");
  while (!stop_.load()) {
    Status st = run_once();
    if (stop_.load()) break;
    log->warn("ha: replication from {} stopped: {}; reconnecting", master_address_, st.to_string());
    std::unique_lock<std::mutex> lock(stop_mu_);
    stop_cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_.load(); });
  }
}

Status HaSlave::run_once() {
  sockaddr_in addr{};
  if (!parse_host_port(master_address_, &addr)) return Status::invalid_argument("bad master address " + master_address_);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::io_error("socket", errno);
  fd_.store(fd);
  struct Closer {
    HaSlave* self;
    int fd;
    ~Closer() {
      self->fd_.store(-1);
      ::close(fd);
    }
  } closer{this, fd};
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::io_error("connect to " + master_address_, errno);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  connections_.fetch_add(1);
  char report[8];
  auto send_report = [&](int64_t offset) {
    put_be64(report, static_cast<uint64_t>(offset));
    return write_all(fd, report, sizeof(report));
  };
  if (!send_report(store_->end_offset())) return Status::io_error("sending the first offset report");
  int64_t last_report = now_ms();
  int64_t reported = -1;
  char header[kHeaderSize];
  std::string body;
  while (!stop_.load()) {
    const int ready = wait_readable(fd, 100);
    if (ready < 0) return Status::io_error("poll");
    if (ready > 0) {
      if (!read_exact(fd, header, sizeof(header), options_.housekeeping_ms, stop_)) {
        return Status::io_error("the master closed the connection or stopped sending");
      }
      const auto offset = static_cast<int64_t>(get_be64(header));
      const auto size = static_cast<int64_t>(get_be32(header + 8));
      if (size < 0 || size > 64 * 1024 * 1024) return Status::corruption("batch size " + std::to_string(size));
      body.resize(static_cast<size_t>(size));
      if (size > 0 && !read_exact(fd, body.data(), body.size(), options_.housekeeping_ms, stop_)) {
        return Status::io_error("the master closed the connection inside a batch");
      }
      if (size > 0) HF_RETURN_IF_ERROR(store_->append_replica(offset, body));
    }
    // Report what is durable here (under SYNC_FLUSH the flusher moves it shortly after a batch).
    const int64_t durable = store_->options().flush_disk_type == FlushDiskType::kSyncFlush
                                ? std::min(store_->flushed_offset(), store_->end_offset())
                                : store_->end_offset();
    if (durable != reported || now_ms() - last_report >= options_.heartbeat_interval_ms) {
      if (!send_report(durable)) return Status::io_error("sending an offset report");
      reported = durable;
      last_report = now_ms();
    }
  }
  return Status::ok();
}

}  // namespace holdfast::ha
