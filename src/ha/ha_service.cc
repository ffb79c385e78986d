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

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
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
  int64_t connected_ms = 0;                // guarded by HaMaster::mu_
  std::atomic<int64_t> last_ack_ms{0};
  std::atomic<int64_t> caught_up_ms{0};
  std::atomic<int64_t> member_id{0};
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
  // covered: the offset the slaves that count hold; available: whether waiting can help.
  int64_t covered = -1;
  bool available = false;
  const bool controller = options_.controller_epoch > 0;
  if (controller) {
    covered = quorum_ack_locked();
    available = static_cast<int>(in_sync_.members.size()) + 1 >= in_sync_.min_in_sync_replicas;
    if (covered >= offset) acknowledged_ = std::max(acknowledged_, offset);
  } else {
    for (const auto& s : slaves_) covered = std::max(covered, s->ack.load());
    available = covered >= 0 && store_->confirmed_offset() - covered <= options_.slave_fallbehind_max;
  }
  if (covered >= offset) {
    lock.unlock();
    if (controller) store_->advance_read_gate(covered);
    done(PutStatus::kOk);
    return;
  }
  if (stop_.load() || !available) {
    lock.unlock();
    done(PutStatus::kSlaveNotAvailable);
    return;
  }
  const bool earliest = waiters_.empty();
  waiters_.emplace(offset, Waiter{now_ms() + timeout_ms, std::move(done)});
  if (earliest) waiters_cv_.notify_all();
}

int64_t HaMaster::member_ack_locked(int64_t member_id) const {
  int64_t best = -1;
  for (const auto& s : slaves_) {
    if (!s->done.load() && s->member_id.load() == member_id) best = std::max(best, s->ack.load());
  }
  return best;
}

int64_t HaMaster::quorum_ack_locked() const {
  if (static_cast<int>(in_sync_.members.size()) + 1 < in_sync_.min_in_sync_replicas) return -1;
  int64_t quorum = store_->confirmed_offset();
  for (int64_t m : in_sync_.members) quorum = std::min(quorum, member_ack_locked(m));
  return quorum;
}

int64_t HaMaster::quorum_ack() const {
  std::lock_guard<std::mutex> lock(mu_);
  return quorum_ack_locked();
}

InSyncPolicy HaMaster::in_sync() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_sync_;
}

void HaMaster::set_in_sync(InSyncPolicy policy) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_sync_ = std::move(policy);
  }
  on_ack(0);  // a smaller set may release waiters
}

bool HaMaster::try_add_in_sync(int64_t member_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(in_sync_.members.begin(), in_sync_.members.end(), member_id) != in_sync_.members.end()) return true;
  // Every offset ever released must be on the new member: acknowledged_ only grows, and from here
  // on quorum_ack_locked() counts the member, so nothing beyond its ack is released without it.
  const int64_t ack = member_ack_locked(member_id);
  if (ack < 0 || ack < acknowledged_) return false;
  in_sync_.members.push_back(member_id);
  return true;
}

void HaMaster::on_ack(int64_t ack) {
  if (options_.controller_epoch > 0) {
    std::vector<std::function<void(PutStatus)>> ready;
    int64_t quorum;
    {
      std::lock_guard<std::mutex> lock(mu_);
      quorum = quorum_ack_locked();
      if (quorum < 0) return;
      acknowledged_ = std::max(acknowledged_, quorum);
      auto end = waiters_.upper_bound(quorum);
      for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second.done));
      waiters_.erase(waiters_.begin(), end);
    }
    store_->advance_read_gate(quorum);
    complete(ready, PutStatus::kOk);
    return;
  }
  // Readers of a gated store (SYNC_MASTER) may now see what a slave holds.
  store_->advance_read_gate(ack);
  std::vector<std::function<void(PutStatus)>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto end = waiters_.upper_bound(ack);
    for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second.done));
    waiters_.erase(waiters_.begin(), end);
  }
  complete(ready, PutStatus::kOk);
}

void HaMaster::complete(std::vector<std::function<void(PutStatus)>>& ready, PutStatus status) {
  if (ready.empty()) return;
  auto run = [&] {
    for (auto& done : ready) done(status);
  };
  if (options_.completion_batch) {
    options_.completion_batch(run);
  } else {
    run();
  }
}

void HaMaster::timeout_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_.load()) {
    waiters_cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stop_.load(); });
    if (options_.controller_epoch > 0) {
      // A set of the master alone (minInSyncReplicas 1) has no slave report to release waiters.
      lock.unlock();
      on_ack(0);
      lock.lock();
    }
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
    complete(expired, PutStatus::kFlushSlaveTimeout);
    lock.lock();
  }
}

int64_t HaMaster::max_slave_ack() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t best = -1;
  for (const auto& s : slaves_) best = std::max(best, s->ack.load());
  return best;
}

std::vector<SlaveInfo> HaMaster::slaves() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SlaveInfo> out;
  for (const auto& s : slaves_) {
    if (s->done.load() || s->ack.load() < 0) continue;
    SlaveInfo info;
    info.peer = s->peer;
    info.ack = s->ack.load();
    info.connected_ms = s->connected_ms;
    info.last_ack_ms = s->last_ack_ms.load();
    info.caught_up_ms = s->caught_up_ms.load();
    info.member_id = s->member_id.load();
    out.push_back(std::move(info));
  }
  return out;
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
    slave->connected_ms = wall_ms();
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
  std::atomic<bool> closing{false};
  std::mutex why_mu;
  std::string why;  // the first reason either thread closed the connection for
  auto close_with = [&](const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(why_mu);
      if (why.empty()) why = reason;
    }
    closing.store(true);
    ::shutdown(fd, SHUT_RDWR);
  };
  char report[8];
  if (options_.controller_epoch > 0) {
    char hello[24];
    if (!read_exact(fd, hello, sizeof(hello), options_.housekeeping_ms, stop_) ||
        static_cast<int64_t>(get_be64(hello)) != kControllerHello) {
      if (!stop_.load()) {
        log->warn("ha: closing slave connection {}: no controller-mode hello (this group fails over automatically; "
                  "its slaves must run with enableControllerMode=true)", slave->peer);
      }
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
    const auto member = static_cast<int64_t>(get_be64(hello + 8));
    const auto epoch = static_cast<int64_t>(get_be64(hello + 16));
    if (epoch != options_.controller_epoch) {
      log->warn("ha: closing slave connection {} (member {}): it follows master epoch {}, this master is epoch {}",
                slave->peer, member, epoch, options_.controller_epoch);
      ::shutdown(fd, SHUT_RDWR);
      return;
    }
    slave->member_id.store(member);
  }
  if (!read_exact(fd, report, sizeof(report), options_.housekeeping_ms, stop_)) {
    if (!stop_.load()) log->warn("ha: closing slave connection {}: no offset report", slave->peer);
    ::shutdown(fd, SHUT_RDWR);
    return;
  }
  int64_t next = static_cast<int64_t>(get_be64(report));
  if (next < 0 || next > store_->confirmed_offset()) {
    log->warn("ha: closing slave connection {}: it reports offset {}, beyond this master's log end {}", slave->peer,
              next, store_->confirmed_offset());
    ::shutdown(fd, SHUT_RDWR);
    return;
  }
  // The first report says where the slave's log ends, not what is durable there: it is where the
  // transfer starts, not an acknowledgement (the slave's next reports are).
  slave->ack.store(0);
  log->info("ha: slave {} connected at offset {}", slave->peer, next);

  // Acknowledgements: read on their own thread, so that each one releases its waiters at once.
  std::thread reader([&] {
    char buf[8];
    int64_t confirmed_before = store_->confirmed_offset();  // what the master held at the previous report
    while (!stop_.load() && !closing.load()) {
      if (!read_exact(fd, buf, sizeof(buf), options_.housekeeping_ms, closing)) {
        if (!stop_.load() && !closing.load()) {
          close_with("the slave disconnected, or sent nothing for " + std::to_string(options_.housekeeping_ms) +
                     " ms");
        }
        return;
      }
      const auto ack = static_cast<int64_t>(get_be64(buf));
      const int64_t confirmed = store_->confirmed_offset();
      if (ack > confirmed || ack < 0) {
        close_with("it acknowledges offset " + std::to_string(ack) + ", beyond this master's log end " +
                   std::to_string(confirmed));
        return;
      }
      // Caught up: it holds what the master held one report ago (under a steady load the master is
      // always a little ahead of any report).
      if (ack >= std::min(confirmed, confirmed_before)) slave->caught_up_ms.store(wall_ms());
      confirmed_before = confirmed;
      if (ack > slave->ack.load()) {
        slave->ack.store(ack);
        slave->last_ack_ms.store(wall_ms());
        on_ack(ack);
      }
    }
  });

  // Transfer: whatever the store confirms, as soon as it does; a heartbeat when idle.
  int64_t last_write = now_ms();
  std::string frame;
  while (!stop_.load() && !closing.load()) {
    const int64_t wait = std::max<int64_t>(1, std::min<int64_t>(100, options_.heartbeat_interval_ms -
                                                                         (now_ms() - last_write)));
    store_->wait_confirmed_past(next, wait);
    auto bytes = store_->read_confirmed(next, static_cast<size_t>(options_.transfer_batch_bytes));
    if (!bytes.is_ok()) {
      close_with("reading the commit log at " + std::to_string(next) + ": " + bytes.status().message());
      break;
    }
    if (bytes->empty() && now_ms() - last_write < options_.heartbeat_interval_ms) continue;
    frame.resize(kHeaderSize);
    put_be64(frame.data(), static_cast<uint64_t>(next));
    put_be32(frame.data() + 8, static_cast<uint32_t>(bytes->size()));
    frame.append(*bytes);
    if (!write_all(fd, frame.data(), frame.size())) {
      if (!stop_.load() && !closing.load()) close_with("the slave went away");
      break;
    }
    next += static_cast<int64_t>(bytes->size());
    last_write = now_ms();
  }
  closing.store(true);
  ::shutdown(fd, SHUT_RDWR);
  reader.join();
  std::lock_guard<std::mutex> lock(why_mu);
  if (!why.empty() && !stop_.load()) log->warn("ha: closing slave connection {}: {}", slave->peer, why);
}

HaSlave::HaSlave(MessageStore* store, std::string master_address, HaOptions options)
    : HaSlave(store, [address = std::move(master_address)] { return address; }, std::move(options)) {}

HaSlave::HaSlave(MessageStore* store, std::function<std::string()> master_address, HaOptions options)
    : store_(store), master_address_(std::move(master_address)), options_(std::move(options)) {}

std::string HaSlave::current_master() const {
  std::lock_guard<std::mutex> lock(current_mu_);
  return current_;
}

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
  std::string last_error;
  while (!stop_.load()) {
    Status st = run_once();
    connected_.store(false);
    if (stop_.load()) break;
    // A master that stays down is logged once, not every half second.
    const std::string error = current_master() + ": " + st.to_string();
    if (error != last_error) log->warn("ha: replication from {}; reconnecting", error);
    last_error = error;
    std::unique_lock<std::mutex> lock(stop_mu_);
    stop_cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_.load(); });
  }
}

Status HaSlave::run_once() {
  const std::string master = master_address_();
  {
    std::lock_guard<std::mutex> lock(current_mu_);
    current_ = master;
  }
  if (master.empty()) return Status::not_found("the master's HA address is not known yet");
  if (options_.before_connect) HF_RETURN_IF_ERROR(options_.before_connect());
  sockaddr_in addr{};
  if (!parse_host_port(master, &addr)) return Status::invalid_argument("bad master address " + master);
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
    return Status::io_error("connect to " + master, errno);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  connections_.fetch_add(1);
  char report[8];
  auto send_report = [&](int64_t offset) {
    put_be64(report, static_cast<uint64_t>(offset));
    return write_all(fd, report, sizeof(report));
  };
  if (options_.controller_epoch > 0) {
    char hello[24];
    put_be64(hello, static_cast<uint64_t>(kControllerHello));
    put_be64(hello + 8, static_cast<uint64_t>(options_.member_id));
    put_be64(hello + 16, static_cast<uint64_t>(options_.controller_epoch));
    if (!write_all(fd, hello, sizeof(hello))) return Status::io_error("sending the controller-mode hello");
  }
  if (!send_report(store_->end_offset())) return Status::io_error("sending the first offset report");
  connected_.store(true);
  last_receive_ms_.store(wall_ms());

  // Reports: on their own thread, sent the moment the store confirms more (under SYNC_FLUSH the
  // confirmed offset is the durable one, under ASYNC_FLUSH the written one), else every heartbeat.
  std::atomic<bool> closing{false};
  std::mutex error_mu;
  Status reporter_error;
  std::thread reporter([&] {
    int64_t reported = -1;
    int64_t last_report = 0;
    while (!stop_.load() && !closing.load()) {
      const int64_t confirmed = store_->wait_confirmed_past(reported, 100);
      if (closing.load()) break;
      if (confirmed == reported && now_ms() - last_report < options_.heartbeat_interval_ms) continue;
      if (!send_report(confirmed)) {
        std::lock_guard<std::mutex> lock(error_mu);
        reporter_error = Status::io_error("sending an offset report");
        closing.store(true);
        ::shutdown(fd, SHUT_RDWR);
        break;
      }
      reported = confirmed;
      last_report = now_ms();
    }
  });
  struct JoinReporter {
    std::atomic<bool>& closing;
    std::thread& t;
    int fd;
    ~JoinReporter() {
      closing.store(true);
      ::shutdown(fd, SHUT_RDWR);
      t.join();
    }
  } join_reporter{closing, reporter, fd};

  char header[kHeaderSize];
  std::string body;
  while (!stop_.load() && !closing.load()) {
    if (!read_exact(fd, header, sizeof(header), options_.housekeeping_ms, closing)) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!reporter_error.is_ok()) return reporter_error;
      return Status::io_error("the master closed the connection or stopped sending");
    }
    last_receive_ms_.store(wall_ms());
    const auto offset = static_cast<int64_t>(get_be64(header));
    const auto size = static_cast<int64_t>(get_be32(header + 8));
    if (size < 0 || size > 64 * 1024 * 1024) return Status::corruption("batch size " + std::to_string(size));
    body.resize(static_cast<size_t>(size));
    if (size > 0 && !read_exact(fd, body.data(), body.size(), options_.housekeeping_ms, closing)) {
      return Status::io_error("the master closed the connection inside a batch");
    }
    if (size > 0) HF_RETURN_IF_ERROR(store_->append_replica(offset, body));
  }
  return Status::ok();
}

}  // namespace holdfast::ha
