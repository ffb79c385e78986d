// LatencyHistogram: bucket arithmetic and snapshots; ProcessUsage readings.
#include "app/bench_stats.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <sys/resource.h>

namespace holdfast::bench {

namespace {

void raise_to(std::atomic<int64_t>& target, int64_t value) {
  int64_t seen = target.load(std::memory_order_relaxed);
  while (value > seen && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

int LatencyHistogram::bucket_of(int64_t micros) {
  if (micros < 0) micros = 0;
  if (micros < kLinear) return static_cast<int>(micros);
  const int msb = 63 - std::countl_zero(static_cast<uint64_t>(micros));
  const int shift = msb - 6;  // >= 1 for values >= 128
  const int64_t mantissa = micros >> shift;  // in [64, 127]
  const int bucket = kLinear + (shift - 1) * kSubBuckets + static_cast<int>(mantissa - kSubBuckets);
  return bucket < kBuckets ? bucket : kBuckets - 1;
}

int64_t LatencyHistogram::bucket_value(int bucket) {
  if (bucket < kLinear) return bucket;
  const int shift = (bucket - kLinear) / kSubBuckets + 1;
  const int64_t mantissa = (bucket - kLinear) % kSubBuckets + kSubBuckets;
  return (mantissa << shift) + (int64_t{1} << (shift - 1));
}

void LatencyHistogram::record(int64_t micros) {
  if (micros < 0) micros = 0;
  counts_[static_cast<size_t>(bucket_of(micros))].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(micros, std::memory_order_relaxed);
  raise_to(max_, micros);
  raise_to(window_max_, micros);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot s;
  for (int i = 0; i < kBuckets; ++i) {
    s.counts[static_cast<size_t>(i)] = counts_[static_cast<size_t>(i)].load(std::memory_order_relaxed);
    s.count += s.counts[static_cast<size_t>(i)];
  }
  s.sum_micros = sum_.load(std::memory_order_relaxed);
  s.max_micros = max_.load(std::memory_order_relaxed);
  return s;
}

int64_t LatencyHistogram::take_window_max() { return window_max_.exchange(0, std::memory_order_relaxed); }

LatencyHistogram::Snapshot LatencyHistogram::Snapshot::minus(const Snapshot& earlier) const {
  Snapshot d;
  for (size_t i = 0; i < counts.size(); ++i) {
    d.counts[i] = counts[i] - earlier.counts[i];
    d.count += d.counts[i];
  }
  d.sum_micros = sum_micros - earlier.sum_micros;
  d.max_micros = max_micros;
  return d;
}

double LatencyHistogram::Snapshot::percentile_ms(double fraction) const {
  if (count <= 0) return 0.0;
  const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(fraction * static_cast<double>(count) + 0.5));
  int64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts[static_cast<size_t>(i)];
    if (seen >= rank) return static_cast<double>(bucket_value(i)) / 1000.0;
  }
  return static_cast<double>(bucket_value(kBuckets - 1)) / 1000.0;
}

std::string now_text() {
  const auto now = std::chrono::system_clock::now();
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d,%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

ProcessUsage ProcessUsage::now() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto micros = [](const timeval& t) { return static_cast<int64_t>(t.tv_sec) * 1000000 + t.tv_usec; };
  return {micros(usage.ru_utime), micros(usage.ru_stime), usage.ru_nvcsw + usage.ru_nivcsw};
}

}  // namespace holdfast::bench
