// EtcdClient: the few etcd v3 calls automatic failover needs, over etcd's JSON gateway
// (HTTP POST of JSON to /v3/..., keys and values base64-encoded), with libcurl as the transport.
//
// Contract:
//  - Every call is one HTTP request with a deadline of timeout_ms (connect included). On a
//    transport failure (connection refused, timeout, HTTP 5xx) the next endpoint is tried once,
//    in order, starting from the one that last answered; when none answers the call returns
//    Status::io_error naming each endpoint's error. A call never blocks longer than
//    timeout_ms per endpoint.
//  - An answer etcd gives as an error ({"error":..., "code":N}) is Status::io_error with etcd's
//    message, except the cases the calls below name.
//  - A completed txn() was applied atomically by etcd exactly when it returns true (compares held
//    and the success operations ran); false means the compares failed and nothing changed. A
//    failed call (non-OK status) may or may not have been applied (the answer was lost): callers
//    re-read before they act on it.
//  - Thread-safe: calls are serialised on one connection (one in flight per client). Use one
//    client per thread that must not wait behind another's calls (lease keep-alive).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace holdfast::ha {

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;  // 0: no lease
};

// One comparison of a txn (etcd's Compare). target: what is compared.
struct EtcdCompare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue };
  enum class Result { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kModRevision;
  Result result = Result::kEqual;
  int64_t number = 0;   // kVersion / kCreateRevision / kModRevision
  std::string value;    // kValue
};

// One operation of a txn branch: a put (lease 0 = none) or a delete of exactly `key`.
struct EtcdOp {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  int64_t lease = 0;
};

class EtcdClient {
 public:
  // endpoints: "http://host:port" (or "host:port", http assumed).
  EtcdClient(std::vector<std::string> endpoints, int64_t timeout_ms);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // POST /v3/lease/grant: a new lease of ttl_seconds; returns its id.
  Result<int64_t> grant(int64_t ttl_seconds);
  // POST /v3/lease/keepalive with one request: the lease's TTL in seconds after the renewal, or
  // 0 when etcd no longer has the lease (expired or revoked).
  Result<int64_t> keepalive(int64_t lease_id);
  // POST /v3/lease/revoke; a lease etcd does not know is OK.
  Status revoke(int64_t lease_id);
  // POST /v3/kv/range of one key: nullopt when absent.
  Result<std::optional<EtcdKeyValue>> get(const std::string& key);
  // POST /v3/kv/range of every key starting with prefix, sorted by key.
  Result<std::vector<EtcdKeyValue>> get_prefix(const std::string& prefix);
  // POST /v3/kv/put.
  Status put(const std::string& key, const std::string& value, int64_t lease = 0);
  // POST /v3/kv/txn: if every compare holds, runs `success`, else `failure`. Returns whether the
  // compares held.
  Result<bool> txn(const std::vector<EtcdCompare>& compares, const std::vector<EtcdOp>& success,
                   const std::vector<EtcdOp>& failure = {});

 private:
  // POSTs body to path on the endpoints (failover as above); returns the parsed-later JSON text.
  Result<std::string> post(const std::string& path, const std::string& body);

  struct Curl;
  std::vector<std::string> endpoints_;
  const int64_t timeout_ms_;
  std::mutex mu_;
  size_t current_ = 0;
  std::unique_ptr<Curl> curl_;
};

std::string base64_encode(const std::string& in);
// Fails on characters outside the standard alphabet (padding '=' accepted).
Result<std::string> base64_decode(const std::string& in);

}  // namespace holdfast::ha
