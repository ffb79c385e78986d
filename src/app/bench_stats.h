// Counters and latency histograms for `holdfast bench`: lock-free recording from many sender or
// consumer threads, and windowed snapshots (every report interval) plus a whole-run summary; and
// the bench process's own CPU time and context switches.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace holdfast::bench {

// Log-linear histogram of microsecond values: exact below 128 us, then 64 buckets per power of
// two (about 1.6% resolution) up to 2^40 us. record() is wait-free; snapshots are taken while
// threads record, so a snapshot may miss the values recorded during it (they show up in the next).
class LatencyHistogram {
 public:
  static constexpr int kLinear = 128;
  static constexpr int kSubBuckets = 64;
  static constexpr int kBuckets = kLinear + 34 * kSubBuckets;

  void record(int64_t micros);

  struct Snapshot {
    std::array<int64_t, kBuckets> counts{};
    int64_t count = 0;
    int64_t sum_micros = 0;
    int64_t max_micros = 0;
    // Counts and sums since `earlier` (max stays this snapshot's; see take_window_max).
    Snapshot minus(const Snapshot& earlier) const;
    double average_ms() const { return count == 0 ? 0.0 : static_cast<double>(sum_micros) / count / 1000.0; }
    // The value below which `fraction` of the recorded values fall, in ms (0 when empty).
    double percentile_ms(double fraction) const;
    double max_ms() const { return static_cast<double>(max_micros) / 1000.0; }
  };
  Snapshot snapshot() const;
  // The largest value since the previous call (for per-window maxima), then resets it.
  int64_t take_window_max();

  static int bucket_of(int64_t micros);
  static int64_t bucket_value(int bucket);  // a representative (mid) value of the bucket

 private:
  std::array<std::atomic<int64_t>, kBuckets> counts_{};
  std::atomic<int64_t> count_{0};
  std::atomic<int64_t> sum_{0};
  std::atomic<int64_t> max_{0};
  std::atomic<int64_t> window_max_{0};
};

// CPU time and context switches this process has used so far. Read with getrusage(RUSAGE_SELF), which
// also counts threads that have already exited (the joined sender threads), unlike a walk over
// /proc/self/task. Subtract two readings for the cost of a run.
struct ProcessUsage {
  int64_t user_us = 0;
  int64_t system_us = 0;
  int64_t context_switches = 0;  // voluntary + involuntary

  static ProcessUsage now();
  ProcessUsage minus(const ProcessUsage& earlier) const {
    return {user_us - earlier.user_us, system_us - earlier.system_us, context_switches - earlier.context_switches};
  }
  int64_t cpu_us() const { return user_us + system_us; }
};

// "2026-11-24 00:01:02,123", local time, now.
std::string now_text();

}  // namespace holdfast::bench
