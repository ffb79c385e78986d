#include "base/sync_point.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

namespace holdfast {
namespace {

TEST(SyncPoint, OffByDefaultAndToggledByEnableAndDisable) {
  EXPECT_FALSE(sync_point::enabled());
  sync_point::enable(7, sync_point::Noise::kMedium);
  EXPECT_TRUE(sync_point::enabled());
  sync_point::disable();
  EXPECT_FALSE(sync_point::enabled());
}

TEST(SyncPoint, LevelComesFromTheEnvironment) {
  ::setenv("HF_SYNC_POINT_TEST_NOISE", "2", 1);
  EXPECT_EQ(sync_point::enable_from_env("HF_SYNC_POINT_TEST_NOISE", 3), sync_point::Noise::kMedium);
  EXPECT_TRUE(sync_point::enabled());
  ::setenv("HF_SYNC_POINT_TEST_NOISE", "9", 1);  // clamped to the heaviest level
  EXPECT_EQ(sync_point::enable_from_env("HF_SYNC_POINT_TEST_NOISE", 3), sync_point::Noise::kHeavy);
  ::setenv("HF_SYNC_POINT_TEST_NOISE", "0", 1);
  EXPECT_EQ(sync_point::enable_from_env("HF_SYNC_POINT_TEST_NOISE", 3), sync_point::Noise::kOff);
  EXPECT_FALSE(sync_point::enabled());
  ::unsetenv("HF_SYNC_POINT_TEST_NOISE");
  EXPECT_EQ(sync_point::enable_from_env("HF_SYNC_POINT_TEST_NOISE", 3), sync_point::Noise::kOff);
}

TEST(SyncPoint, NoisyPointsFromManyThreadsStillRunEveryStep) {
  sync_point::enable(11, sync_point::Noise::kHeavy);
  std::atomic<int> steps{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        HF_SYNC_POINT("sync_point_test.step");
        steps.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  sync_point::disable();
  EXPECT_EQ(steps.load(), 800);
}

}  // namespace
}  // namespace holdfast
