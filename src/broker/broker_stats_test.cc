// BrokerStats: rates from once-a-second samples (fake times), the runtime-info strings and
// consumeTps per group and topic.
#include "broker/broker_stats.h"

#include <gtest/gtest.h>

namespace holdfast::broker {
namespace {

TEST(RateWindowTest, RateNeedsEnoughSamplesThenDividesByTheirTimeSpan) {
  RateWindow w(5);
  EXPECT_FALSE(w.rate(1).has_value());
  w.add(1000, 0);
  EXPECT_FALSE(w.rate(1).has_value());
  w.add(2000, 50);
  ASSERT_TRUE(w.rate(1).has_value());
  EXPECT_DOUBLE_EQ(*w.rate(1), 50.0);
  w.add(4000, 150);  // 2 s later: 100 more
  EXPECT_DOUBLE_EQ(*w.rate(1), 50.0);
  EXPECT_DOUBLE_EQ(*w.rate(2), 50.0);  // 150 over 3 s
  EXPECT_FALSE(w.rate(3).has_value());
  EXPECT_DOUBLE_EQ(*w.rate_up_to(10), 50.0);
  for (int i = 0; i < 10; ++i) w.add(5000 + 1000 * i, 150);
  EXPECT_DOUBLE_EQ(*w.rate(4), 0.0);  // only the newest 5 samples are kept
  EXPECT_FALSE(w.rate(5).has_value());
}

TEST(JavaDoubleTest, AlwaysHasADecimalPoint) {
  EXPECT_EQ(java_double(0.0), "0.0");
  EXPECT_EQ(java_double(12.5), "12.5");
  EXPECT_EQ(java_double(1234.0), "1234.0");
}

TEST(BrokerStatsTest, RuntimeInfoRatesOverTenSixtyAndSixHundredSeconds) {
  int64_t puts = 0;
  BrokerStats stats([&] { return std::pair<int64_t, int64_t>{puts, puts * 100}; });
  auto info = stats.runtime_info();
  EXPECT_EQ(info["putTps"], "  ");  // no window covered yet
  EXPECT_EQ(info["putMessageTimesTotal"], "0");
  for (int s = 0; s <= 60; ++s) {
    stats.sample(int64_t{1000} * s);
    puts += 20;  // 20 puts per second
    if (s % 2 == 0) {
      stats.on_pull("G", "T", 5);  // a found pull every other second: 0.5/s, 2.5 msgs/s
    } else {
      stats.on_pull("G", "T", 0);  // a miss in the others
    }
  }
  info = stats.runtime_info();
  EXPECT_EQ(info["putTps"], "20.0 20.0 ");  // 600 s not covered yet
  EXPECT_EQ(info["getFoundTps"], "0.5 0.5 ");
  EXPECT_EQ(info["getMissTps"], "0.5 0.5 ");
  EXPECT_EQ(info["getTotalTps"], "1.0 1.0 ");
  EXPECT_EQ(info["getTransferedTps"], "2.5 2.5 ");
  EXPECT_EQ(info["putMessageTimesTotal"], std::to_string(puts));
  EXPECT_EQ(info["putMessageSizeTotal"], std::to_string(puts * 100));
}

TEST(BrokerStatsTest, ConsumeTpsPerGroupAndTopic) {
  BrokerStats stats(nullptr);
  EXPECT_DOUBLE_EQ(stats.consume_tps("G", "T"), 0.0);
  for (int s = 0; s < 11; ++s) {
    stats.sample(int64_t{1000} * s);
    stats.on_pull("G", "T", 30);
    stats.on_pull("Other", "T", 1);
  }
  stats.sample(11000);
  EXPECT_DOUBLE_EQ(stats.consume_tps("G", "T"), 30.0);
  EXPECT_DOUBLE_EQ(stats.consume_tps("Other", "T"), 1.0);
  EXPECT_DOUBLE_EQ(stats.consume_tps("G", "U"), 0.0);
  EXPECT_EQ(stats.tracked_pairs(), 2u);
  // A minute without pulls: the pairs are forgotten.
  for (int s = 12; s < 12 + 61; ++s) stats.sample(int64_t{1000} * s);
  EXPECT_EQ(stats.tracked_pairs(), 0u);
  EXPECT_DOUBLE_EQ(stats.consume_tps("G", "T"), 0.0);
}

// A group's first pull after sampling started shows in the very next rate (its counter was 0 at
// the previous sample), not only after it pulls again.
TEST(BrokerStatsTest, FirstPullCountsAtTheNextSample) {
  BrokerStats stats(nullptr);
  stats.sample(1000);
  stats.on_pull("G", "T", 7);
  stats.sample(2000);
  EXPECT_DOUBLE_EQ(stats.consume_tps("G", "T"), 7.0);
}

}  // namespace
}  // namespace holdfast::broker
