// EtcdClient against a real etcd (/usr/bin/etcd, started here on free ports) plus stand-in
// endpoints that refuse, hang or answer badly, for the failover rules.
#include "ha/etcd_client.h"

#include "etcd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace holdfast::ha {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kEtcdBinary = "/usr/bin/etcd";

int64_t elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// A socket bound to 127.0.0.1 on a port the kernel picked; -1 on failure.
int bind_loopback(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// A port nothing listens on (bound once, then released).
uint16_t free_port() {
  uint16_t port = 0;
  const int fd = bind_loopback(&port);
  if (fd >= 0) ::close(fd);
  return port;
}

std::string loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Accepts TCP connections (the kernel completes the handshake into the backlog) and never reads:
// an endpoint that takes the request and never answers.
class SilentEndpoint {
 public:
  SilentEndpoint() {
    fd_ = bind_loopback(&port_);
    if (fd_ >= 0 && ::listen(fd_, 16) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~SilentEndpoint() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  std::string address() const { return loopback(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A minimal HTTP server that answers every request with a fixed status and body, and counts them.
class CannedHttpEndpoint {
 public:
  CannedHttpEndpoint(int status, std::string reason, std::string content_type, std::string body)
      : status_(status),
        reason_(std::move(reason)),
        content_type_(std::move(content_type)),
        body_(std::move(body)) {
    fd_ = bind_loopback(&port_);
    if (fd_ < 0 || ::listen(fd_, 16) != 0) return;
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedHttpEndpoint() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return thread_.joinable(); }
  std::string address() const { return loopback(port_); }
  int requests() const { return requests_.load(); }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      handle(conn);
      ::close(conn);
    }
  }

  // Reads one request (headers, then Content-Length bytes) and writes the canned answer.
  void handle(int conn) {
    std::string in;
    char buf[4096];
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    size_t need = std::string::npos;
    while (!stop_ && Clock::now() < deadline) {
      if (need == std::string::npos) {
        const size_t end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
          size_t length = 0;
          std::string headers = in.substr(0, end);
          std::transform(headers.begin(), headers.end(), headers.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          const size_t at = headers.find("content-length:");
          if (at != std::string::npos) length = std::strtoul(headers.c_str() + at + 15, nullptr, 10);
          need = end + 4 + length;
        }
      }
      if (need != std::string::npos && in.size() >= need) break;
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(conn, buf, sizeof(buf), 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
    if (need == std::string::npos || in.size() < need) return;
    ++requests_;
    const std::string out = "HTTP/1.1 " + std::to_string(status_) + " " + reason_ +
                            "\r\nContent-Type: " + content_type_ +
                            "\r\nContent-Length: " + std::to_string(body_.size()) +
                            "\r\nConnection: close\r\n\r\n" + body_;
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(conn, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  const int status_;
  const std::string reason_;
  const std::string content_type_;
  const std::string body_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};


// ---- base64 (no etcd needed) ----

TEST(EtcdBase64Test, KnownVectors) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}, {"k", "aw=="}, {"v", "dg=="},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded) << plain;
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.is_ok()) << encoded << ": " << decoded.status().to_string();
    EXPECT_EQ(decoded.value(), plain);
  }
  // Every alphabet character, '+' and '/' included.
  EXPECT_EQ(base64_encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
  // Unpadded input of a possible length decodes too.
  auto unpadded = base64_decode("Zm8");
  ASSERT_TRUE(unpadded.is_ok());
  EXPECT_EQ(unpadded.value(), "fo");
}

TEST(EtcdBase64Test, BinaryRoundTrip) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  for (size_t len = 0; len <= all.size(); ++len) {
    const std::string in = all.substr(all.size() - len);  // every length, ending in 0xff
    const std::string encoded = base64_encode(in);
    EXPECT_EQ(encoded.size() % 4, 0u);
    auto out = base64_decode(encoded);
    ASSERT_TRUE(out.is_ok()) << len;
    ASSERT_EQ(out.value(), in) << len;
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string in(rng() % 64, '\0');
    for (auto& c : in) c = static_cast<char>(rng() & 0xff);
    auto out = base64_decode(base64_encode(in));
    ASSERT_TRUE(out.is_ok());
    ASSERT_EQ(out.value(), in);
  }
}

TEST(EtcdBase64Test, RejectsBadInput) {
  const std::string bad[] = {
      "Zm9v!",             // character outside the alphabet
      "Zm 9v",             // whitespace
      "Zm9v\n",            // newline
      std::string("Zg\0=", 4),  // NUL
      "Zm-_",              // URL-safe alphabet is not the standard one
      "Zg=a",              // data after padding
      "Z",                 // one character cannot encode a byte
      "Zm9vY",             // 1 mod 4 characters
      "Zg===",             // too much padding
      "Zg=",               // padding that does not close a group
      "====",              // padding only
      "\xff\xfe",          // high bytes
  };
  for (const auto& in : bad) {
    auto r = base64_decode(in);
    EXPECT_FALSE(r.is_ok()) << "accepted: " << in;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

// ---- against etcd ----

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::access(kEtcdBinary, X_OK) != 0) {
      skip_reason_ = new std::string(std::string(kEtcdBinary) + " not found: install etcd-server (scripts/deps.sh)");
      return;
    }
    char dir_template[] = "/tmp/hf_etcd_test.XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      start_failure_ = new std::string("mkdtemp failed");
      return;
    }
    dir_ = new std::string(dir_template);
    etcd_ = new test_support::EtcdProcess(*dir_ + "/data");
    if (std::string err = etcd_->start(); !err.empty()) {
      start_failure_ = new std::string(err);
      delete etcd_;
      etcd_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    if (etcd_ != nullptr) etcd_->stop();
    delete etcd_;
    etcd_ = nullptr;
    if (dir_ != nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(*dir_, ec);
      delete dir_;
      dir_ = nullptr;
    }
    delete skip_reason_;
    skip_reason_ = nullptr;
    delete start_failure_;
    start_failure_ = nullptr;
  }

  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
    ASSERT_NE(etcd_, nullptr) << "etcd did not start: " << (start_failure_ ? *start_failure_ : "?");
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    ns_ = std::string("/hf-test/") + info->name() + "/";
  }

  static std::string live() { return etcd_->client_url(); }
  std::string key(const std::string& name) const { return ns_ + name; }

  static test_support::EtcdProcess* etcd_;
  static std::string* dir_;
  static std::string* skip_reason_;
  static std::string* start_failure_;
  std::string ns_;
};

test_support::EtcdProcess* EtcdClientTest::etcd_ = nullptr;
std::string* EtcdClientTest::dir_ = nullptr;
std::string* EtcdClientTest::skip_reason_ = nullptr;
std::string* EtcdClientTest::start_failure_ = nullptr;

TEST_F(EtcdClientTest, PutGetAndBinaryKeys) {
  EtcdClient client({live()}, 2000);
  auto absent = client.get(key("absent"));
  ASSERT_TRUE(absent.is_ok()) << absent.status().to_string();
  EXPECT_FALSE(absent.value().has_value());

  const std::string binary_key = key(std::string("b\0\xff\x80", 4));
  const std::string binary_value("\0\x01\xfe\xff\n\"{}", 8);
  ASSERT_TRUE(client.put(binary_key, binary_value).is_ok());
  auto got = client.get(binary_key);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_TRUE(got.value().has_value());
  EXPECT_EQ(got.value()->key, binary_key);
  EXPECT_EQ(got.value()->value, binary_value);
  EXPECT_EQ(got.value()->version, 1);
  EXPECT_GT(got.value()->create_revision, 0);
  EXPECT_EQ(got.value()->mod_revision, got.value()->create_revision);
  EXPECT_EQ(got.value()->lease, 0);

  ASSERT_TRUE(client.put(binary_key, "").is_ok());  // an empty value is omitted by the gateway
  got = client.get(binary_key);
  ASSERT_TRUE(got.is_ok());
  ASSERT_TRUE(got.value().has_value());
  EXPECT_EQ(got.value()->value, "");
  EXPECT_EQ(got.value()->version, 2);
  EXPECT_GT(got.value()->mod_revision, got.value()->create_revision);
}

TEST_F(EtcdClientTest, EtcdErrorIsReportedWithoutFailover) {
  // The second endpoint would answer anything; an etcd error from the first must not reach it.
  CannedHttpEndpoint other(200, "OK", "application/json", R"({"header":{},"succeeded":true})");
  ASSERT_TRUE(other.ok());
  EtcdClient client({live(), other.address()}, 2000);
  const Status st = client.put("", "v");  // etcd refuses an empty key
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_NE(st.message().find("key is not provided"), std::string::npos) << st.to_string();
  EXPECT_EQ(other.requests(), 0);
}

TEST_F(EtcdClientTest, GrantKeepaliveRevoke) {
  EtcdClient client({live()}, 2000);
  auto lease = client.grant(5);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  EXPECT_NE(lease.value(), 0);
  auto ttl = client.keepalive(lease.value());
  ASSERT_TRUE(ttl.is_ok()) << ttl.status().to_string();
  EXPECT_EQ(ttl.value(), 5);

  ASSERT_TRUE(client.put(key("leased"), "x", lease.value()).is_ok());
  auto got = client.get(key("leased"));
  ASSERT_TRUE(got.is_ok());
  ASSERT_TRUE(got.value().has_value());
  EXPECT_EQ(got.value()->lease, lease.value());

  ASSERT_TRUE(client.revoke(lease.value()).is_ok());
  got = client.get(key("leased"));
  ASSERT_TRUE(got.is_ok());
  EXPECT_FALSE(got.value().has_value()) << "revoking the lease deletes its keys";
  ttl = client.keepalive(lease.value());
  ASSERT_TRUE(ttl.is_ok()) << ttl.status().to_string();
  EXPECT_EQ(ttl.value(), 0);
  EXPECT_TRUE(client.revoke(lease.value()).is_ok()) << "an unknown lease revokes fine";

  const Status put_unknown = client.put(key("leased"), "x", lease.value());
  EXPECT_FALSE(put_unknown.is_ok());
  EXPECT_NE(put_unknown.message().find("lease not found"), std::string::npos) << put_unknown.to_string();
}

TEST_F(EtcdClientTest, LeaseLeftAloneExpires) {
  EtcdClient client({live()}, 2000);
  auto lease = client.grant(1);
  ASSERT_TRUE(lease.is_ok()) << lease.status().to_string();
  ASSERT_TRUE(client.put(key("ephemeral"), "here", lease.value()).is_ok());
  auto got = client.get(key("ephemeral"));
  ASSERT_TRUE(got.is_ok());
  ASSERT_TRUE(got.value().has_value());
  auto ttl = client.keepalive(lease.value());
  ASSERT_TRUE(ttl.is_ok());
  EXPECT_GE(ttl.value(), 1);

  std::this_thread::sleep_for(std::chrono::seconds(3));
  ttl = client.keepalive(lease.value());
  ASSERT_TRUE(ttl.is_ok()) << ttl.status().to_string();
  EXPECT_EQ(ttl.value(), 0);
  got = client.get(key("ephemeral"));
  ASSERT_TRUE(got.is_ok());
  EXPECT_FALSE(got.value().has_value());
}

TEST_F(EtcdClientTest, TxnCreateIfAbsent) {
  EtcdClient client({live()}, 2000);
  const std::string k = key("leader");
  const EtcdCompare absent{k, EtcdCompare::Target::kCreateRevision, EtcdCompare::Result::kEqual, 0, ""};

  auto first = client.txn({absent}, {EtcdOp{EtcdOp::Kind::kPut, k, "broker-a", 0}});
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_TRUE(first.value());

  // The second attempt fails its compare: nothing of `success` runs, `failure` does.
  auto second = client.txn({absent}, {EtcdOp{EtcdOp::Kind::kPut, k, "broker-b", 0}},
                           {EtcdOp{EtcdOp::Kind::kPut, key("lost"), "broker-b", 0}});
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_FALSE(second.value());
  auto got = client.get(k);
  ASSERT_TRUE(got.is_ok());
  ASSERT_TRUE(got.value().has_value());
  EXPECT_EQ(got.value()->value, "broker-a");
  EXPECT_EQ(got.value()->version, 1);
  auto lost = client.get(key("lost"));
  ASSERT_TRUE(lost.is_ok());
  ASSERT_TRUE(lost.value().has_value());
  EXPECT_EQ(lost.value()->value, "broker-b");

  // A delete in the success branch.
  auto del = client.txn({EtcdCompare{k, EtcdCompare::Target::kVersion, EtcdCompare::Result::kGreater, 0, ""}},
                        {EtcdOp{EtcdOp::Kind::kDelete, k, "", 0}});
  ASSERT_TRUE(del.is_ok()) << del.status().to_string();
  EXPECT_TRUE(del.value());
  got = client.get(k);
  ASSERT_TRUE(got.is_ok());
  EXPECT_FALSE(got.value().has_value());
}

TEST_F(EtcdClientTest, TxnCompareTargets) {
  EtcdClient client({live()}, 2000);
  const std::string k = key("epoch");
  ASSERT_TRUE(client.put(k, std::string("v1\0", 3)).is_ok());
  auto kv = client.get(k);
  ASSERT_TRUE(kv.is_ok());
  ASSERT_TRUE(kv.value().has_value());
  const int64_t mod = kv.value()->mod_revision;

  using T = EtcdCompare::Target;
  using R = EtcdCompare::Result;
  const auto put_v = [&](const std::string& v) { return std::vector<EtcdOp>{EtcdOp{EtcdOp::Kind::kPut, k, v, 0}}; };

  auto r = client.txn({EtcdCompare{k, T::kValue, R::kEqual, 0, "v1"}}, put_v("wrong"));  // the NUL matters
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_FALSE(r.value());
  r = client.txn({EtcdCompare{k, T::kValue, R::kEqual, 0, std::string("v1\0", 3)}}, put_v("v2"));
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r.value());
  r = client.txn({EtcdCompare{k, T::kValue, R::kNotEqual, 0, "v2"}}, put_v("wrong"));
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r.value());

  // The value is now v2, written after `mod`.
  r = client.txn({EtcdCompare{k, T::kModRevision, R::kEqual, mod, ""}}, put_v("wrong"));
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r.value()) << "a stale mod_revision must fail";
  r = client.txn({EtcdCompare{k, T::kModRevision, R::kGreater, mod, ""},
                  EtcdCompare{k, T::kVersion, R::kEqual, 2, ""},
                  EtcdCompare{k, T::kCreateRevision, R::kEqual, mod, ""},
                  EtcdCompare{k, T::kVersion, R::kLess, 3, ""}},
                 put_v("v3"));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r.value());
  kv = client.get(k);
  ASSERT_TRUE(kv.is_ok());
  ASSERT_TRUE(kv.value().has_value());
  EXPECT_EQ(kv.value()->value, "v3");
  EXPECT_EQ(kv.value()->version, 3);
}

TEST_F(EtcdClientTest, GetPrefixIsSortedAndBounded) {
  EtcdClient client({live()}, 2000);
  const std::string p = key("brokers/");
  // Just outside: the prefix itself without '/', the key equal to range_end ('/' + 1 = '0').
  for (const std::string& k :
       {p + "c", p + "a", key("brokers"), key("brokers0"), key("brokers."), p + "b/x", p + "b"}) {
    ASSERT_TRUE(client.put(k, "v:" + k).is_ok()) << k;
  }
  auto kvs = client.get_prefix(p);
  ASSERT_TRUE(kvs.is_ok()) << kvs.status().to_string();
  std::vector<std::string> keys;
  for (const auto& kv : kvs.value()) {
    keys.push_back(kv.key);
    EXPECT_EQ(kv.value, "v:" + kv.key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{p + "a", p + "b", p + "b/x", p + "c"}));

  auto none = client.get_prefix(key("nothing-here/"));
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none.value().empty());

  // A prefix ending in 0xff bytes: the range ends after the last byte below 0xff.
  const std::string bp = key(std::string("\x01\xff", 2));
  for (const std::string& k : {bp + std::string("\xff\xff", 2), bp, bp + std::string(1, '\0'), key("\x02"),
                               key(std::string("\x01\xfe\xff", 3))}) {
    ASSERT_TRUE(client.put(k, "b").is_ok());
  }
  kvs = client.get_prefix(bp);
  ASSERT_TRUE(kvs.is_ok()) << kvs.status().to_string();
  keys.clear();
  for (const auto& kv : kvs.value()) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{bp, bp + std::string(1, '\0'), bp + std::string("\xff\xff", 2)}));

  // The empty prefix is every key.
  auto all = client.get_prefix("");
  ASSERT_TRUE(all.is_ok()) << all.status().to_string();
  EXPECT_GE(all.value().size(), 12u);
  EXPECT_TRUE(std::is_sorted(all.value().begin(), all.value().end(),
                             [](const EtcdKeyValue& a, const EtcdKeyValue& b) { return a.key < b.key; }));
}

TEST_F(EtcdClientTest, ConcurrentCallsShareOneClient) {
  EtcdClient client({live()}, 5000);
  constexpr int kThreads = 4;
  constexpr int kPuts = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        const std::string k = key("c/" + std::to_string(t) + "/" + std::to_string(100 + i));
        if (!client.put(k, std::to_string(i)).is_ok()) ++failures;
        auto got = client.get(k);
        if (!got.is_ok() || !got.value().has_value() || got.value()->value != std::to_string(i)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto kvs = client.get_prefix(key("c/"));
  ASSERT_TRUE(kvs.is_ok());
  EXPECT_EQ(kvs.value().size(), static_cast<size_t>(kThreads * kPuts));
}

// ---- endpoint failover ----

TEST_F(EtcdClientTest, FailoverFromRefusedEndpoint) {
  const std::string dead = loopback(free_port());
  EtcdClient client({"http://" + dead + "/", live()}, 1000);
  const auto start = Clock::now();
  ASSERT_TRUE(client.put(key("k"), "v").is_ok());
  auto got = client.get(key("k"));
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_TRUE(got.value().has_value());
  EXPECT_EQ(got.value()->value, "v");
  EXPECT_LT(elapsed_ms(start), 1000) << "a refused connection fails at once";
}

TEST_F(EtcdClientTest, SilentEndpointTimesOutThenLiveOneAnswers) {
  SilentEndpoint silent;
  ASSERT_TRUE(silent.ok());
  constexpr int64_t kTimeoutMs = 500;
  EtcdClient client({silent.address(), live()}, kTimeoutMs);

  auto start = Clock::now();
  ASSERT_TRUE(client.put(key("k"), "v1").is_ok());
  const int64_t first_ms = elapsed_ms(start);
  EXPECT_GE(first_ms, kTimeoutMs - 50) << "the silent endpoint was tried first and waited for";
  EXPECT_LT(first_ms, kTimeoutMs + 1000) << "it is given up after about timeout_ms";

  // The live endpoint answered last, so the next calls start there.
  start = Clock::now();
  auto got = client.get(key("k"));
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_TRUE(got.value().has_value());
  EXPECT_EQ(got.value()->value, "v1");
  auto lease = client.grant(3);
  ASSERT_TRUE(lease.is_ok());
  auto ttl = client.keepalive(lease.value());
  ASSERT_TRUE(ttl.is_ok());
  EXPECT_EQ(ttl.value(), 3);
  EXPECT_LT(elapsed_ms(start), kTimeoutMs - 100);
}

TEST_F(EtcdClientTest, ServerErrorsAndGarbageFailOver) {
  struct Canned {
    int status;
    const char* reason;
    const char* type;
    const char* body;
  };
  const Canned cases[] = {
      {503, "Service Unavailable", "application/json",
       R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})"},
      {502, "Bad Gateway", "text/html", "<html>bad gateway</html>"},
      {200, "OK", "text/plain", "not json"},
      {404, "Not Found", "text/plain", "404 page not found"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.status) + " " + c.body);
    CannedHttpEndpoint bad(c.status, c.reason, c.type, c.body);
    ASSERT_TRUE(bad.ok());
    EtcdClient client({bad.address(), live()}, 2000);
    ASSERT_TRUE(client.put(key("k"), c.body).is_ok());
    auto got = client.get(key("k"));
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    ASSERT_TRUE(got.value().has_value());
    EXPECT_EQ(got.value()->value, c.body);
    EXPECT_EQ(bad.requests(), 1) << "tried once, then the live endpoint is the current one";
  }
}

TEST_F(EtcdClientTest, AllEndpointsDownFailsInBoundedTime) {
  SilentEndpoint silent;
  ASSERT_TRUE(silent.ok());
  CannedHttpEndpoint unavailable(503, "Service Unavailable", "application/json",
                                 R"({"error":"etcdserver: request timed out",)"
                                 R"("message":"etcdserver: request timed out","code":14})");
  ASSERT_TRUE(unavailable.ok());
  const std::string dead = loopback(free_port());
  constexpr int64_t kTimeoutMs = 300;
  EtcdClient client({dead, silent.address(), unavailable.address()}, kTimeoutMs);

  const auto start = Clock::now();
  auto got = client.get(key("k"));
  const int64_t took = elapsed_ms(start);
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.status().code(), StatusCode::kIOError);
  const std::string& msg = got.status().message();
  EXPECT_NE(msg.find(dead), std::string::npos) << msg;
  EXPECT_NE(msg.find(silent.address()), std::string::npos) << msg;
  EXPECT_NE(msg.find(unavailable.address()), std::string::npos) << msg;
  EXPECT_NE(msg.find("request timed out"), std::string::npos) << msg;
  EXPECT_LT(took, 3 * kTimeoutMs + 700);

  // Every call tries each endpoint once; nothing hangs on retries.
  const Status st = client.put(key("k"), "v");
  EXPECT_FALSE(st.is_ok());
  EXPECT_EQ(unavailable.requests(), 2);

  EtcdClient nobody({}, kTimeoutMs);
  EXPECT_FALSE(nobody.get("k").is_ok());
}

}  // namespace
}  // namespace holdfast::ha
