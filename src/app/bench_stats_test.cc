// LatencyHistogram: bucket boundaries, percentiles within the bucket resolution, windows.
// ProcessUsage: counts the CPU of threads that have already exited.
#include "app/bench_stats.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace holdfast::bench {
namespace {

TEST(LatencyHistogram, BucketsAreMonotonicAndPrecise) {
  int previous = -1;
  for (int64_t v : {0LL, 1LL, 127LL, 128LL, 130LL, 1000LL, 65535LL, 1000000LL, 1LL << 39}) {
    const int b = LatencyHistogram::bucket_of(v);
    EXPECT_GT(b, previous) << v;
    previous = b;
    const int64_t rep = LatencyHistogram::bucket_value(b);
    EXPECT_LE(std::abs(rep - v), v / 60 + 1) << v << " -> " << rep;
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(int64_t{1} << 62), LatencyHistogram::kBuckets - 1);
  EXPECT_EQ(LatencyHistogram::bucket_of(-5), 0);
}

TEST(LatencyHistogram, PercentilesAndWindows) {
  LatencyHistogram h;
  for (int i = 1; i <= 100; ++i) h.record(i * 1000);  // 1..100 ms
  auto first = h.snapshot();
  EXPECT_EQ(first.count, 100);
  EXPECT_NEAR(first.average_ms(), 50.5, 0.01);
  EXPECT_NEAR(first.percentile_ms(0.5), 50, 1);
  EXPECT_NEAR(first.percentile_ms(0.99), 99, 2);
  EXPECT_NEAR(first.max_ms(), 100, 0.001);
  EXPECT_EQ(h.take_window_max(), 100000);
  EXPECT_EQ(h.take_window_max(), 0);

  h.record(7000);
  auto window = h.snapshot().minus(first);
  EXPECT_EQ(window.count, 1);
  EXPECT_NEAR(window.percentile_ms(0.5), 7, 0.2);
  EXPECT_EQ(LatencyHistogram::Snapshot{}.percentile_ms(0.99), 0.0);
}

TEST(LatencyHistogram, ConcurrentRecordingLosesNothing) {
  LatencyHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10000; ++i) h.record(t * 100 + i % 50);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.snapshot().count, 40000);
}

TEST(ProcessUsage, CountsThreadsThatHaveExited) {
  const ProcessUsage before = ProcessUsage::now();
  std::thread worker([] {
    const ProcessUsage start = ProcessUsage::now();
    while (ProcessUsage::now().minus(start).cpu_us() < 5000) {
    }
  });
  worker.join();  // blocks while the worker spins: at least one context switch
  const ProcessUsage used = ProcessUsage::now().minus(before);
  EXPECT_GE(used.cpu_us(), 5000);
  EXPECT_GE(used.context_switches, 1);
}

}  // namespace
}  // namespace holdfast::bench
