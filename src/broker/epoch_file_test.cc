#include "broker/epoch_file.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace holdfast::broker {
namespace {

TEST(EpochDivergenceTest, ASlaveBehindOrLevelContinuesTheMaster) {
  const std::vector<Epoch> master = {{1, 0}, {2, 1000}, {3, 5000}};
  EXPECT_EQ(epoch_divergence(master, 9000, {}, 0), "");                      // empty slave
  EXPECT_EQ(epoch_divergence(master, 9000, {{1, 0}}, 800), "");              // behind in epoch 1
  EXPECT_EQ(epoch_divergence(master, 9000, {{1, 0}}, 1000), "");             // all of epoch 1
  EXPECT_EQ(epoch_divergence(master, 9000, {{1, 0}, {2, 1000}}, 5000), "");  // all of epoch 2
  EXPECT_EQ(epoch_divergence(master, 9000, master, 9000), "");               // level
  EXPECT_EQ(epoch_divergence(master, 9000, master, 7000), "");               // behind in the current epoch
}

TEST(EpochDivergenceTest, ASlaveHoldingWhatTheMasterLostIsReported) {
  // The master ran epoch 2 up to 5000, the slave copied it to 4800; the master lost power with its
  // log written to 4000 only and started epoch 3 at 4000.
  const std::vector<Epoch> master = {{1, 0}, {2, 1000}, {3, 4000}};
  const std::string why = epoch_divergence(master, 4500, {{1, 0}, {2, 1000}}, 4800);
  EXPECT_NE(why.find("ends at 4000"), std::string::npos) << why;
  EXPECT_NE(why.find("up to 4800"), std::string::npos) << why;
  // A slave beyond the master's current end in the same epoch.
  EXPECT_NE(epoch_divergence({{1, 0}}, 100, {{1, 0}}, 200), "");
  // An epoch the master never had (its data folder replaced), or one that started elsewhere.
  EXPECT_NE(epoch_divergence({{1, 0}}, 100, {{1, 0}, {2, 50}}, 60), "");
  EXPECT_NE(epoch_divergence({{1, 0}, {2, 60}}, 100, {{1, 0}, {2, 50}}, 60), "");
}

TEST(EpochFileTest, EpochsGrowDurablyAndCopiesRoundTrip) {
  const std::string dir = testing::TempDir() + "/epoch_file_test_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  {
    EpochFile f(Env::posix(), dir + "/epochs.json");
    ASSERT_TRUE(f.load().is_ok());
    EXPECT_TRUE(f.entries().empty());
    EXPECT_EQ(f.begin_epoch(0).value(), 1);
    EXPECT_EQ(f.begin_epoch(700).value(), 2);
    EXPECT_FALSE(f.begin_epoch(600).is_ok());  // a log cannot end before its last epoch began
  }
  EpochFile again(Env::posix(), dir + "/epochs.json");
  ASSERT_TRUE(again.load().is_ok());
  EXPECT_EQ(again.entries(), (std::vector<Epoch>{{1, 0}, {2, 700}}));
  ASSERT_TRUE(again.replace({{1, 0}, {2, 700}, {3, 900}}).is_ok());
  EXPECT_EQ(decode_epochs(encode_epochs(again.entries())).value(), again.entries());
  EXPECT_FALSE(decode_epochs("{\"epochs\":[[2,0],[1,5]]}").is_ok());
  EXPECT_FALSE(decode_epochs("{\"epochs\":[[1]]}").is_ok());
  std::filesystem::remove_all(dir);
}

TEST(EpochTruncation, CutsWhereTheCommonHistoryEnds) {
  // A deposed master of epoch 2 wrote past 500, where epoch 3 (the new master) begins.
  const std::vector<Epoch> master{{1, 0}, {2, 100}, {3, 500}};
  EXPECT_EQ(epoch_truncation_point(master, {{1, 0}, {2, 100}}).value(), 500);
  // A slave of epoch 1 that never saw epoch 2: its history ends at 100 on the master.
  EXPECT_EQ(epoch_truncation_point(master, {{1, 0}}).value(), 100);
  // Same history: nothing to cut; a member with no history yet: nothing to cut.
  EXPECT_EQ(epoch_truncation_point(master, master).value(), -1);
  EXPECT_EQ(epoch_truncation_point(master, {}).value(), -1);
  // A member that was master of an epoch nobody else knows (4 at 300) after epoch 2.
  EXPECT_EQ(epoch_truncation_point(master, {{1, 0}, {2, 100}, {4, 300}}).value(), 300);
  // Epoch 2 started elsewhere on this member: the common history is epoch 1, which ends at 90 here.
  EXPECT_EQ(epoch_truncation_point(master, {{1, 0}, {2, 90}}).value(), 90);
  // The master is still at epoch 2; this member wrote an epoch 4 from 300 on that nobody kept.
  EXPECT_EQ(epoch_truncation_point({{1, 0}, {2, 100}}, {{1, 0}, {2, 100}, {4, 300}}).value(), 300);
  EXPECT_FALSE(epoch_truncation_point(master, {{7, 0}}).is_ok());
}

}  // namespace
}  // namespace holdfast::broker
