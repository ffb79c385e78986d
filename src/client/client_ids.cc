// Client id and UNIQ_KEY generation.
#include "client/client_ids.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <random>

#include "client/clock.h"

namespace holdfast::client {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

void append_hex(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    const uint8_t b = static_cast<uint8_t>(v >> (8 * i));
    out->push_back(kHex[b >> 4]);
    out->push_back(kHex[b & 0xF]);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool read_hex(std::string_view s, size_t pos, int bytes, uint64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < bytes * 2; ++i) {
    const int h = hex_value(s[pos + i]);
    if (h < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(h);
  }
  *out = v;
  return true;
}

}  // namespace

std::array<uint8_t, 4> local_ipv4() {
  std::array<uint8_t, 4> best{127, 0, 0, 1};
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return best;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_LOOPBACK) != 0 || (a->ifa_flags & IFF_UP) == 0) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    const uint32_t ip = ntohl(sin->sin_addr.s_addr);
    best = {static_cast<uint8_t>(ip >> 24), static_cast<uint8_t>(ip >> 16), static_cast<uint8_t>(ip >> 8),
            static_cast<uint8_t>(ip)};
    break;
  }
  ::freeifaddrs(list);
  return best;
}

std::string ipv4_text(const std::array<uint8_t, 4>& ip) {
  return std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." + std::to_string(ip[2]) + "." +
         std::to_string(ip[3]);
}

std::string make_client_id(const std::string& instance_name) {
  const std::string instance = instance_name.empty() ? std::to_string(::getpid()) : instance_name;
  return ipv4_text(local_ipv4()) + "@" + instance;
}

void month_window(int64_t now_ms, int64_t* start_ms, int64_t* next_start_ms) {
  const time_t secs = static_cast<time_t>(now_ms / 1000);
  tm local{};
  ::localtime_r(&secs, &local);
  tm start{};
  start.tm_year = local.tm_year;
  start.tm_mon = local.tm_mon;
  start.tm_mday = 1;
  start.tm_isdst = -1;
  tm next = start;
  next.tm_mon += 1;  // mktime normalizes December + 1
  *start_ms = static_cast<int64_t>(::mktime(&start)) * 1000;
  *next_start_ms = static_cast<int64_t>(::mktime(&next)) * 1000;
}

UniqKeyGenerator::UniqKeyGenerator(std::array<uint8_t, 4> ip, uint16_t pid, int32_t instance_hash, Clock now_ms)
    : now_ms_(now_ms ? std::move(now_ms) : Clock(wall_ms)) {
  for (uint8_t b : ip) append_hex(&prefix_, b, 1);
  append_hex(&prefix_, pid, 2);
  append_hex(&prefix_, static_cast<uint32_t>(instance_hash), 4);
}

UniqKeyGenerator& UniqKeyGenerator::instance() {
  static UniqKeyGenerator* g = [] {
    std::random_device rd;
    return new UniqKeyGenerator(local_ipv4(), static_cast<uint16_t>(::getpid()), static_cast<int32_t>(rd()));
  }();
  return *g;
}

std::string UniqKeyGenerator::next() {
  const int64_t now = now_ms_();
  int64_t start = month_start_ms_.load(std::memory_order_acquire);
  if (now >= next_month_start_ms_.load(std::memory_order_acquire) || now < start) {
    int64_t s = 0, n = 0;
    month_window(now, &s, &n);
    next_month_start_ms_.store(n, std::memory_order_release);
    month_start_ms_.store(s, std::memory_order_release);
    start = s;
  }
  const uint32_t counter = counter_.fetch_add(1, std::memory_order_relaxed);
  std::string key = prefix_;
  key.reserve(32);
  append_hex(&key, static_cast<uint32_t>(static_cast<int32_t>(now - start)), 4);
  append_hex(&key, counter & 0xFFFF, 2);
  return key;
}

bool parse_uniq_key(std::string_view key, UniqKeyParts* out) {
  if (key.size() != 32) return false;
  uint64_t v = 0;
  for (int i = 0; i < 4; ++i) {
    if (!read_hex(key, i * 2, 1, &v)) return false;
    out->ip[i] = static_cast<uint8_t>(v);
  }
  if (!read_hex(key, 8, 2, &v)) return false;
  out->pid = static_cast<uint16_t>(v);
  if (!read_hex(key, 12, 4, &v)) return false;
  out->instance_hash = static_cast<int32_t>(static_cast<uint32_t>(v));
  if (!read_hex(key, 20, 4, &v)) return false;
  out->ms_since_month_start = static_cast<int32_t>(static_cast<uint32_t>(v));
  if (!read_hex(key, 28, 2, &v)) return false;
  out->counter = static_cast<uint16_t>(v);
  return true;
}

int64_t uniq_key_time_ms(const UniqKeyParts& parts, int64_t now_ms) {
  int64_t start = 0, next = 0;
  month_window(now_ms, &start, &next);
  const int64_t t = start + parts.ms_since_month_start;
  if (t <= now_ms) return t;
  // Made last month: step back one month.
  int64_t prev_start = 0, unused = 0;
  month_window(start - 1, &prev_start, &unused);
  return prev_start + parts.ms_since_month_start;
}

}  // namespace holdfast::client
