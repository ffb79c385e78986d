#include "drill/tcp_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>

namespace holdfast::drill {

namespace {

constexpr size_t kMaxBuffered = 1 << 20;  // per direction; the source is not read past this
constexpr size_t kReadChunk = 64 * 1024;
constexpr int kReadsPerWake = 16;  // bounded so one busy connection cannot starve the others

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Closes with SO_LINGER 0: the kernel sends RST instead of FIN.
void close_with_reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  ::close(fd);
}

// A run of bytes appended to a direction's buffer: writable from `at` on; `end` is the buffer
// offset just past it.
struct Held {
  int64_t at;
  size_t end;
};

}  // namespace

// One accepted connection and (unless it is held) its connection to the target.
struct TcpProxy::Conn {
  int client = -1;
  int target = -1;
  bool connecting = false;  // non-blocking connect to the target in progress
  bool tainted = false;     // open while a cut was in force: reset at heal
  bool done = false;        // sockets closed; removed at the end of the loop iteration
  // Bytes read and not yet written, with the offset of the first unwritten byte.
  std::string c2t, t2c;
  size_t c2t_off = 0, t2c_off = 0;
  std::deque<Held> c2t_held, t2c_held;  // release times of the buffered bytes, in order
  bool client_eof = false, target_eof = false;  // no more reading from that side
  bool c2t_shut = false, t2c_shut = false;      // half-close passed on to the target / client
};

TcpProxy::TcpProxy(std::string target_host, uint16_t target_port)
    : target_host_(std::move(target_host)), target_port_(target_port) {}

TcpProxy::~TcpProxy() { stop(); }

std::string TcpProxy::start(const std::string& listen_host, uint16_t listen_port) {
  if (started_) return "the proxy was already started";
  listen_host_ = listen_host;
  target_addr_.sin_family = AF_INET;
  target_addr_.sin_port = htons(target_port_);
  if (::inet_pton(AF_INET, target_host_.c_str(), &target_addr_.sin_addr) != 1) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(target_host_.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) return "cannot resolve " + target_host_ + ": " + ::gai_strerror(rc);
    target_addr_.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    ::freeaddrinfo(res);
  }

  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(listen_port);
  if (::inet_pton(AF_INET, listen_host.c_str(), &addr.sin_addr) != 1) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    return "listen host " + listen_host + " is not an IPv4 address";
  }
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string err = "bind/listen on " + listen_host + ":" + std::to_string(listen_port) + ": " + std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return err;
  }
  port_ = ntohs(addr.sin_port);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    const std::string err = std::string("eventfd: ") + std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return err;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    loop_running_ = true;
  }
  started_ = true;
  thread_ = std::thread([this] { loop(); });
  return "";
}

void TcpProxy::wake() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void TcpProxy::cut() {
  std::lock_guard<std::mutex> l(mu_);
  drop_c2t_ = true;
  drop_t2c_ = true;
  for (auto& c : conns_) {
    c->tainted = true;
    drop_buffered(c.get(), true);
    drop_buffered(c.get(), false);
  }
  wake();  // the loop recomputes what it polls: cut directions are read and dropped
}

void TcpProxy::cut_one_way(bool client_to_target) {
  std::lock_guard<std::mutex> l(mu_);
  (client_to_target ? drop_c2t_ : drop_t2c_) = true;
  for (auto& c : conns_) {
    c->tainted = true;
    drop_buffered(c.get(), client_to_target);
  }
  wake();
}

void TcpProxy::set_delay(int64_t ms) {
  std::lock_guard<std::mutex> l(mu_);
  delay_ms_ = ms < 0 ? 0 : ms;
  wake();
}

void TcpProxy::drop_buffered(Conn* c, bool client_to_target) {
  (client_to_target ? c->c2t : c->t2c).clear();
  (client_to_target ? c->c2t_off : c->t2c_off) = 0;
  (client_to_target ? c->c2t_held : c->t2c_held).clear();
}

namespace {

// How far into `buf` bytes may be written at `now`: past every run whose release time has come.
// Runs already written are forgotten.
size_t releasable(size_t off, std::deque<Held>& held, int64_t now) {
  while (!held.empty() && held.front().end <= off) held.pop_front();
  size_t limit = off;
  for (const Held& h : held) {
    if (h.at > now) break;
    limit = h.end;
  }
  return limit;
}

}  // namespace

int64_t TcpProxy::next_release(int64_t now) const {
  int64_t next = -1;
  for (const auto& c : conns_) {
    for (const std::deque<Held>* held : {&c->c2t_held, &c->t2c_held}) {
      for (const Held& h : *held) {
        if (h.at <= now) continue;
        if (next < 0 || h.at < next) next = h.at;
        break;
      }
    }
  }
  return next;
}

void TcpProxy::heal() {
  std::unique_lock<std::mutex> l(mu_);
  if (!loop_running_) {
    drop_c2t_ = false;
    drop_t2c_ = false;
    return;
  }
  // The loop owns the sockets, so it performs the resets; wait until it has.
  const uint64_t ticket = ++heal_requested_;
  wake();
  cv_.wait(l, [&] { return heal_done_ >= ticket || !loop_running_; });
}

void TcpProxy::stop() {
  if (!started_ || stopped_.exchange(true)) return;
  wake();
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

void TcpProxy::loop() {
  std::vector<pollfd> fds;
  std::vector<Conn*> polled;  // polled[i] owns fds[2 + 2i] (client) and fds[3 + 2i] (target)
  int64_t accept_paused_until = 0;
  std::unique_lock<std::mutex> l(mu_);
  while (!stopped_.load()) {
    fds.clear();
    polled.clear();
    const int64_t now = now_ms();
    fds.push_back({wake_fd_, POLLIN, 0});
    const bool accept_paused = now_ms() < accept_paused_until;
    fds.push_back({accept_paused ? -1 : listen_fd_, POLLIN, 0});
    for (auto& up : conns_) {
      Conn* c = up.get();
      pollfd cp{-1, 0, 0};
      pollfd tp{-1, 0, 0};
      // A side is polled while something is left to learn from it. One whose write half we
      // have shut and that we are not reading would report POLLHUP on every call once its
      // peer closes too, so it is left out; the reset of a side still open for writing is
      // worth hearing about (it is passed on), so that one stays.
      if (c->client >= 0) {
        if (!c->client_eof && (drop_c2t_ || c->c2t.size() - c->c2t_off < kMaxBuffered)) cp.events |= POLLIN;
        if (c->t2c_off < releasable(c->t2c_off, c->t2c_held, now)) cp.events |= POLLOUT;
        if (cp.events != 0 || !c->t2c_shut) cp.fd = c->client;
      }
      if (c->target >= 0) {
        if (c->connecting) {
          tp.events = POLLOUT;
        } else {
          if (!c->target_eof && (drop_t2c_ || c->t2c.size() - c->t2c_off < kMaxBuffered)) tp.events |= POLLIN;
          if (c->c2t_off < releasable(c->c2t_off, c->c2t_held, now)) tp.events |= POLLOUT;
        }
        if (tp.events != 0 || !c->c2t_shut) tp.fd = c->target;
      }
      fds.push_back(cp);
      fds.push_back(tp);
      polled.push_back(c);
    }

    // Held bytes wake the loop when their time comes.
    const int64_t release = next_release(now);
    int timeout = accept_paused ? 100 : -1;
    if (release >= 0) {
      const auto wait = static_cast<int>(std::max<int64_t>(1, release - now));
      timeout = timeout < 0 ? wait : std::min(timeout, wait);
    }
    l.unlock();
    const int n = ::poll(fds.data(), fds.size(), timeout);
    const int poll_errno = errno;
    l.lock();
    if (stopped_.load()) break;
    if (n < 0 && poll_errno != EINTR) break;  // cannot happen with valid arguments

    if (fds[0].revents & POLLIN) {
      uint64_t v;
      while (::read(wake_fd_, &v, sizeof(v)) > 0) {
      }
    }

    // A heal request is handled before any byte moves, so a connection from the cut never
    // forwards again.
    if (heal_done_ < heal_requested_) {
      drop_c2t_ = false;
      drop_t2c_ = false;
      for (auto& c : conns_) {
        if (c->tainted && !c->done) reset_conn(c.get());
      }
      heal_done_ = heal_requested_;
      cv_.notify_all();
    }

    for (size_t i = 0; i < polled.size(); ++i) {
      Conn* c = polled[i];
      if (c->done) continue;
      service(c, fds[2 + 2 * i].revents, fds[3 + 2 * i].revents);
      // Bytes whose hold just ended go out now, without waiting for a POLLOUT round.
      if (!c->done && c->target >= 0 && !c->connecting && !c->c2t_held.empty()) flush_side(c, false);
      if (!c->done && c->client >= 0 && !c->t2c_held.empty()) flush_side(c, true);
    }

    // Out of descriptors or memory leaves the listener readable: stop polling it for a moment
    // instead of spinning on it.
    if ((fds[1].revents & POLLIN) && !accept_new()) accept_paused_until = now_ms() + 100;

    for (size_t i = 0; i < conns_.size();) {
      if (conns_[i]->done) {
        conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }

  for (auto& c : conns_) {
    if (!c->done) close_conn(c.get());
  }
  conns_.clear();
  loop_running_ = false;
  cv_.notify_all();
}

bool TcpProxy::accept_new() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    accepted_.fetch_add(1);
    set_nodelay(fd);
    auto c = std::make_unique<Conn>();
    c->client = fd;
    if (drop_c2t_ && drop_t2c_) {
      // Partitioned: held open and silent, never forwarded.
      c->tainted = true;
      conns_.push_back(std::move(c));
      continue;
    }
    c->tainted = drop_c2t_ || drop_t2c_;
    Conn* raw = c.get();
    conns_.push_back(std::move(c));
    begin_connect(raw);
  }
}

void TcpProxy::begin_connect(Conn* c) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    side_failed(c, false);
    return;
  }
  set_nodelay(fd);
  c->target = fd;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&target_addr_), sizeof(target_addr_)) == 0) return;
  if (errno == EINPROGRESS || errno == EINTR) {
    c->connecting = true;
    return;
  }
  side_failed(c, false);
}

void TcpProxy::service(Conn* c, short client_events, short target_events) {
  if (c->target >= 0 && c->connecting && target_events != 0) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(c->target, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      side_failed(c, false);
    } else {
      c->connecting = false;
      flush_side(c, false);
    }
    target_events = 0;
  }
  if (c->done) return;

  if (c->client >= 0 && (client_events & POLLIN)) read_side(c, true);
  if (c->target >= 0 && !c->connecting && (target_events & POLLIN)) read_side(c, false);
  if (c->client >= 0 && (client_events & POLLOUT)) flush_side(c, true);
  if (c->target >= 0 && !c->connecting && (target_events & POLLOUT)) flush_side(c, false);

  // An error, or a hang-up that our own half-close does not explain, means the peer reset.
  if (c->client >= 0 && ((client_events & POLLERR) || ((client_events & POLLHUP) && !c->t2c_shut))) {
    side_failed(c, true);
  }
  if (c->target >= 0 && !c->connecting &&
      ((target_events & POLLERR) || ((target_events & POLLHUP) && !c->c2t_shut))) {
    side_failed(c, false);
  }
  if (!c->done) finish_if_done(c);
}

void TcpProxy::read_side(Conn* c, bool from_client) {
  const int src = from_client ? c->client : c->target;
  std::string& buf = from_client ? c->c2t : c->t2c;
  size_t& off = from_client ? c->c2t_off : c->t2c_off;
  std::deque<Held>& held = from_client ? c->c2t_held : c->t2c_held;
  bool& eof = from_client ? c->client_eof : c->target_eof;
  char chunk[kReadChunk];
  for (int i = 0; i < kReadsPerWake; ++i) {
    const bool drop = from_client ? drop_c2t_ : drop_t2c_;
    const int dst = from_client ? c->target : c->client;
    if (!drop && buf.size() - off >= kMaxBuffered) break;
    const ssize_t r = ::recv(src, chunk, sizeof(chunk), 0);
    if (r > 0) {
      // Dropped when the direction is cut, or when the other side is already gone.
      if (drop || dst < 0) continue;
      if (off > 0 && off == buf.size()) {
        buf.clear();
        off = 0;
        held.clear();
      }
      buf.append(chunk, static_cast<size_t>(r));
      held.push_back({now_ms() + delay_ms_, buf.size()});
      continue;
    }
    if (r == 0) {
      eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    side_failed(c, from_client);
    return;
  }
  // Forward at once rather than waiting for the next POLLOUT round.
  if (from_client) {
    if (c->target >= 0 && !c->connecting) flush_side(c, false);
  } else if (c->client >= 0) {
    flush_side(c, true);
  }
}

void TcpProxy::flush_side(Conn* c, bool to_client) {
  const int dst = to_client ? c->client : c->target;
  std::string& buf = to_client ? c->t2c : c->c2t;
  size_t& off = to_client ? c->t2c_off : c->c2t_off;
  std::deque<Held>& held = to_client ? c->t2c_held : c->c2t_held;
  const size_t limit = releasable(off, held, now_ms());
  while (off < limit) {
    const ssize_t w = ::send(dst, buf.data() + off, limit - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    side_failed(c, to_client);
    return;
  }
  if (off < buf.size()) return;  // the rest is still held
  buf.clear();
  off = 0;
  held.clear();
  // Pass a half-close on once everything before it is written, unless that direction is cut.
  const bool src_eof = to_client ? c->target_eof : c->client_eof;
  bool& shut = to_client ? c->t2c_shut : c->c2t_shut;
  const bool drop = to_client ? drop_t2c_ : drop_c2t_;
  if (src_eof && !shut && !drop) {
    ::shutdown(dst, SHUT_WR);
    shut = true;
  }
}

void TcpProxy::side_failed(Conn* c, bool client_side) {
  int& fd = client_side ? c->client : c->target;
  if (fd >= 0) ::close(fd);
  fd = -1;
  if (client_side) {
    c->client_eof = true;
  } else {
    c->target_eof = true;
    c->connecting = false;
  }
  drop_buffered(c, /*client_to_target=*/!client_side);
  // The reset travels on to the other side unless that direction is cut, in which case the
  // other side stays open and silent until heal.
  const bool drop = client_side ? drop_c2t_ : drop_t2c_;
  int& other = client_side ? c->target : c->client;
  if (other >= 0 && !drop) {
    close_with_reset(other);
    other = -1;
  }
  if (c->client < 0 && c->target < 0) c->done = true;
}

void TcpProxy::finish_if_done(Conn* c) {
  if (c->client < 0 && c->target < 0) {
    c->done = true;
    return;
  }
  if (c->client >= 0 && c->target >= 0 && c->client_eof && c->target_eof && c->c2t_shut && c->t2c_shut) {
    close_conn(c);
  }
}

void TcpProxy::reset_conn(Conn* c) {
  if (c->client >= 0) close_with_reset(c->client);
  if (c->target >= 0) close_with_reset(c->target);
  c->client = -1;
  c->target = -1;
  c->done = true;
}

void TcpProxy::close_conn(Conn* c) {
  if (c->client >= 0) ::close(c->client);
  if (c->target >= 0) ::close(c->target);
  c->client = -1;
  c->target = -1;
  c->done = true;
}

}  // namespace holdfast::drill
