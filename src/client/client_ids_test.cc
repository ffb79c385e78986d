// UNIQ_KEY and client id formats (facts §5.7), with a pinned clock and time zone.
#include "client/client_ids.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace holdfast::client {
namespace {

class ClientIdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};

// 2024-03-01T00:00:00Z and a time 123.456 s into that month.
constexpr int64_t kMarch2024 = 1709251200000;

TEST_F(ClientIdsTest, UniqKeyGoldenLayout) {
  int64_t now = kMarch2024 + 123456;
  UniqKeyGenerator gen({192, 168, 0, 1}, 0x1234, 0x0A0B0C0D, [&] { return now; });
  // ip C0A80001 | pid 1234 | hash 0A0B0C0D | ms 0001E240 | counter 0000
  EXPECT_EQ(gen.prefix(), "C0A8000112340A0B0C0D");
  EXPECT_EQ(gen.next(), "C0A8000112340A0B0C0D0001E2400000");
  EXPECT_EQ(gen.next(), "C0A8000112340A0B0C0D0001E2400001");
  now = kMarch2024 + 31LL * 86400000 + 5;  // 2024-04-01 00:00:00.005: the month restarts
  EXPECT_EQ(gen.next(), "C0A8000112340A0B0C0D000000050002");
}

TEST_F(ClientIdsTest, UniqKeyCounterWrapsAt16Bits) {
  UniqKeyGenerator gen({10, 0, 0, 1}, 1, -1, [] { return kMarch2024; });
  EXPECT_EQ(gen.prefix(), "0A0000010001FFFFFFFF");
  std::string last;
  for (int i = 0; i < 65537; ++i) last = gen.next();
  EXPECT_EQ(last.substr(28), "0000");  // 65536 % 65536
  EXPECT_EQ(last.size(), 32u);
}

TEST_F(ClientIdsTest, ParseAndTimeBack) {
  UniqKeyParts parts;
  ASSERT_TRUE(parse_uniq_key("C0A8000112340A0B0C0D0001E2400007", &parts));
  EXPECT_EQ(parts.ip, (std::array<uint8_t, 4>{192, 168, 0, 1}));
  EXPECT_EQ(parts.pid, 0x1234);
  EXPECT_EQ(parts.instance_hash, 0x0A0B0C0D);
  EXPECT_EQ(parts.ms_since_month_start, 123456);
  EXPECT_EQ(parts.counter, 7);
  EXPECT_EQ(uniq_key_time_ms(parts, kMarch2024 + 200000), kMarch2024 + 123456);
  // 1 s into March, 123.456 s into the month lies ahead: the key was made in February.
  EXPECT_EQ(uniq_key_time_ms(parts, kMarch2024 + 1000), kMarch2024 - 29LL * 86400000 + 123456);
  EXPECT_FALSE(parse_uniq_key("C0A80001", &parts));
  EXPECT_FALSE(parse_uniq_key("G0A8000112340A0B0C0D0001E2400007", &parts));
}

TEST_F(ClientIdsTest, MonthWindowHandlesDecember) {
  int64_t start = 0, next = 0;
  month_window(1735603200000 /* 2024-12-31 */, &start, &next);
  EXPECT_EQ(start, 1733011200000);  // 2024-12-01
  EXPECT_EQ(next, 1735689600000);   // 2025-01-01
}

TEST_F(ClientIdsTest, ClientIdIsIpAtInstance) {
  const std::string id = make_client_id("inst");
  EXPECT_NE(id.find("@inst"), std::string::npos);
  const std::string pid_id = make_client_id("");
  EXPECT_EQ(pid_id.substr(pid_id.find('@') + 1), std::to_string(::getpid()));
}

}  // namespace
}  // namespace holdfast::client
