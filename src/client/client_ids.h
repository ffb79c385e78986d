// Identities the client puts on the wire: the client id ("ip@instance", as the Java client builds
// it) and message UNIQ_KEYs in the Java client's layout (facts §5.7).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace holdfast::client {

// The first non-loopback IPv4 address of this host, or 127.0.0.1 when there is none.
std::array<uint8_t, 4> local_ipv4();
std::string ipv4_text(const std::array<uint8_t, 4>& ip);
// "ip@instance"; an empty instance name becomes the process id, as the Java client does.
std::string make_client_id(const std::string& instance_name);

// The decoded parts of an IPv4 UNIQ_KEY.
struct UniqKeyParts {
  std::array<uint8_t, 4> ip{};
  uint16_t pid = 0;
  int32_t instance_hash = 0;  // the Java client's class-loader hash; random per generator here
  int32_t ms_since_month_start = 0;
  uint16_t counter = 0;
};

// Generates UNIQ_KEYs: 32 upper-case hex digits of ip(4) pid-low-16(2) hash(4)
// ms-since-the-1st-of-this-month-00:00-local(4) counter(2). Thread-safe. The clock is injected so
// tests can pin the time part.
class UniqKeyGenerator {
 public:
  // now_ms: wall-clock milliseconds since the epoch; month_start_ms(now_ms): the epoch ms of
  // 00:00 local time on the 1st of now_ms's month.
  using Clock = std::function<int64_t()>;
  UniqKeyGenerator(std::array<uint8_t, 4> ip, uint16_t pid, int32_t instance_hash, Clock now_ms = {});
  // The process-wide generator (local_ipv4, getpid, a random hash, the system clock).
  static UniqKeyGenerator& instance();

  std::string next();
  // The fixed first 24 hex digits (ip, pid, hash).
  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
  Clock now_ms_;
  std::atomic<uint32_t> counter_{0};
  // Cached month window [month_start_ms_, next_month_start_ms_). Racing threads that recompute
  // it at a month change store the same values, so plain atomics suffice.
  std::atomic<int64_t> month_start_ms_{0};
  std::atomic<int64_t> next_month_start_ms_{0};
};

// Epoch ms of 00:00 local time on the 1st of the month containing now_ms, and of the next month.
void month_window(int64_t now_ms, int64_t* start_ms, int64_t* next_start_ms);

// Parses a 32-digit UNIQ_KEY; false when the text is not one.
bool parse_uniq_key(std::string_view key, UniqKeyParts* out);
// The approximate creation time of a UNIQ_KEY (epoch ms), assuming it was made in the month that
// contains now_ms or the month before (the Java client's rule for reading the time back).
int64_t uniq_key_time_ms(const UniqKeyParts& parts, int64_t now_ms);

}  // namespace holdfast::client
