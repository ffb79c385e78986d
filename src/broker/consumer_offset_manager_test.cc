// ConsumerOffsetManager: table operations, the file format both ways (quoted and fastjson's
// unquoted integer keys), .bak fallback, atomic and durable persist, the periodic persist thread.
#include "broker/consumer_offset_manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "env/fault_env.h"

namespace holdfast::broker {
namespace {

class ConsumerOffsetManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_offsets_XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/config/consumerOffset.json";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& path, const std::string& text) {
    ASSERT_TRUE(Env::posix()->create_dirs(parent_dir(path)).is_ok());
    ASSERT_TRUE(write_file_atomically(Env::posix(), path, text).is_ok());
  }
  std::string read(const std::string& path) {
    auto text = read_file_to_string(Env::posix(), path);
    return text.is_ok() ? *text : std::string("<missing>");
  }

  std::string dir_;
  std::string path_;
};

TEST_F(ConsumerOffsetManagerTest, CommitQueryAndTableViews) {
  ConsumerOffsetManager m(Env::posix(), path_);
  EXPECT_FALSE(m.query("g1", "TopicA", 0).has_value());
  m.commit("g1", "TopicA", 0, 12);
  m.commit("g1", "TopicA", 1, 40);
  m.commit("g1", "TopicA", 1, 41);  // a later commit replaces the earlier one
  m.commit("g1", "TopicB", 3, 7);
  m.commit("g2", "TopicA", 0, 5);
  EXPECT_EQ(m.query("g1", "TopicA", 1), 41);
  EXPECT_FALSE(m.query("g1", "TopicA", 2).has_value());
  EXPECT_EQ(m.offsets("g1", "TopicA"), (std::map<int32_t, int64_t>{{0, 12}, {1, 41}}));
  EXPECT_TRUE(m.offsets("g3", "TopicA").empty());
  EXPECT_EQ(m.topics_of_group("g1"), (std::set<std::string>{"TopicA", "TopicB"}));
  EXPECT_EQ(m.groups_of_topic("TopicA"), (std::set<std::string>{"g1", "g2"}));
  m.remove_topic("TopicA");
  EXPECT_EQ(m.groups_of_topic("TopicA"), std::set<std::string>{});
  EXPECT_EQ(m.topics_of_group("g1"), std::set<std::string>{"TopicB"});
  m.remove_group("g1");
  EXPECT_TRUE(m.topics_of_group("g1").empty());
}

TEST_F(ConsumerOffsetManagerTest, PersistThenLoadRoundTrip) {
  {
    ConsumerOffsetManager m(Env::posix(), path_);
    ASSERT_TRUE(m.load().is_ok()) << "no file yet is an empty table";
    m.commit("g1", "TopicA", 0, 12);
    m.commit("g1", "TopicA", 1, 40);
    m.commit("%RETRY%g1", "%RETRY%g1", 0, 3);
    m.commit("g2", "TopicB", 7, 1LL << 40);
    ASSERT_TRUE(m.persist().is_ok());
  }
  // fastjson's layout: integer keys without quotes.
  EXPECT_NE(read(path_).find("\"TopicA@g1\":{0:12,1:40}"), std::string::npos) << read(path_);
  ConsumerOffsetManager loaded(Env::posix(), path_);
  ASSERT_TRUE(loaded.load().is_ok());
  EXPECT_EQ(loaded.offsets("g1", "TopicA"), (std::map<int32_t, int64_t>{{0, 12}, {1, 40}}));
  EXPECT_EQ(loaded.query("%RETRY%g1", "%RETRY%g1", 0), 3);
  EXPECT_EQ(loaded.query("g2", "TopicB", 7), 1LL << 40);
  EXPECT_EQ(loaded.encode(), read(path_));
}

TEST_F(ConsumerOffsetManagerTest, LoadsFastjsonUnquotedAndQuotedKeys) {
  // As a Java broker writes it (pretty, tab-indented, unquoted integer keys), plus quoted keys,
  // string offsets, and a field this version does not know.
  write(path_,
        "{\n\t\"offsetTable\":{\n\t\t\"TopicA@g1\":{0:12,1:40\n\t\t},\n\t\t\"TopicB@g1\":{\"3\":7, 4 : \"9\"},"
        "\n\t\t\"Weird@x@y\":{ -0 :1}\n\t},\n\t\"dataVersion\":{\"counter\":2,\"timestamp\":1}\n}");
  ConsumerOffsetManager m(Env::posix(), path_);
  ASSERT_TRUE(m.load().is_ok());
  EXPECT_EQ(m.offsets("g1", "TopicA"), (std::map<int32_t, int64_t>{{0, 12}, {1, 40}}));
  EXPECT_EQ(m.offsets("g1", "TopicB"), (std::map<int32_t, int64_t>{{3, 7}, {4, 9}}));
  // Topics cannot hold '@', so the group is everything after the first one.
  EXPECT_EQ(m.query("x@y", "Weird", 0), 1);
}

TEST_F(ConsumerOffsetManagerTest, BareKeyQuotingLeavesStringsAlone) {
  // Text inside strings that looks like a bare key must survive unchanged.
  write(path_, "{\"offsetTable\":{\"T@{0:1,2:3}\":{0:5}}}");
  ConsumerOffsetManager m(Env::posix(), path_);
  ASSERT_TRUE(m.load().is_ok());
  EXPECT_EQ(m.query("{0:1,2:3}", "T", 0), 5);
}

TEST_F(ConsumerOffsetManagerTest, CorruptMainFileFallsBackToBak) {
  write(path_ + ".bak", "{\"offsetTable\":{\"TopicA@g1\":{0:8}}}");
  write(path_, "{\"offsetTable\":{\"TopicA@g1\":{0:12");  // torn
  ConsumerOffsetManager m(Env::posix(), path_);
  ASSERT_TRUE(m.load().is_ok());
  EXPECT_EQ(m.query("g1", "TopicA", 0), 8);
  // The next persist repairs the main file and leaves the good .bak alone.
  m.commit("g1", "TopicA", 0, 9);
  ASSERT_TRUE(m.persist().is_ok());
  ConsumerOffsetManager again(Env::posix(), path_);
  ASSERT_TRUE(again.load().is_ok());
  EXPECT_EQ(again.query("g1", "TopicA", 0), 9);
  EXPECT_EQ(read(path_ + ".bak"), "{\"offsetTable\":{\"TopicA@g1\":{0:8}}}");
}

TEST_F(ConsumerOffsetManagerTest, EmptyOrMissingMainFileFallsBackToBak) {
  write(path_ + ".bak", "{\"offsetTable\":{\"TopicA@g1\":{0:8}}}");
  ConsumerOffsetManager missing(Env::posix(), path_);
  ASSERT_TRUE(missing.load().is_ok());
  EXPECT_EQ(missing.query("g1", "TopicA", 0), 8);
  write(path_, "");
  ConsumerOffsetManager empty(Env::posix(), path_);
  ASSERT_TRUE(empty.load().is_ok());
  EXPECT_EQ(empty.query("g1", "TopicA", 0), 8);
}

TEST_F(ConsumerOffsetManagerTest, BothCopiesCorruptIsAnError) {
  write(path_, "not json");
  write(path_ + ".bak", "[1,2");
  ConsumerOffsetManager m(Env::posix(), path_);
  Status st = m.load();
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.to_string().find("consumerOffset.json"), std::string::npos) << st.to_string();
}

TEST_F(ConsumerOffsetManagerTest, PersistKeepsThePreviousFileAsBak) {
  ConsumerOffsetManager m(Env::posix(), path_);
  m.commit("g1", "TopicA", 0, 1);
  ASSERT_TRUE(m.persist().is_ok());
  const std::string first = read(path_);
  m.commit("g1", "TopicA", 0, 2);
  ASSERT_TRUE(m.persist().is_ok());
  EXPECT_EQ(read(path_ + ".bak"), first);
  EXPECT_NE(read(path_).find("{0:2}"), std::string::npos);
}

TEST_F(ConsumerOffsetManagerTest, LeftoverTempFileDoesNotBreakLoadOrPersist) {
  ConsumerOffsetManager m(Env::posix(), path_);
  m.commit("g1", "TopicA", 0, 5);
  ASSERT_TRUE(m.persist().is_ok());
  // A crash in the middle of a later persist leaves a half-written temp file beside the file.
  write(path_ + ".tmp", "{\"offsetTable\":{\"TopicA@g1\":{0:");
  ConsumerOffsetManager reopened(Env::posix(), path_);
  ASSERT_TRUE(reopened.load().is_ok());
  EXPECT_EQ(reopened.query("g1", "TopicA", 0), 5);
  reopened.commit("g1", "TopicA", 0, 6);
  ASSERT_TRUE(reopened.persist().is_ok());
  ConsumerOffsetManager again(Env::posix(), path_);
  ASSERT_TRUE(again.load().is_ok());
  EXPECT_EQ(again.query("g1", "TopicA", 0), 6);
}

TEST_F(ConsumerOffsetManagerTest, PersistedOffsetsSurviveAPowerLoss) {
  FaultEnv env;
  const std::string path = "/store/config/consumerOffset.json";
  {
    ConsumerOffsetManager m(&env, path);
    m.commit("g1", "TopicA", 0, 12);
    ASSERT_TRUE(m.persist().is_ok());
    m.commit("g1", "TopicA", 0, 13);
    // The next persist fails at its sync: the file on disk must still be a complete old copy.
    env.fail_next_sync();
    EXPECT_FALSE(m.persist().is_ok());
  }
  env.crash(CrashMode::kDropUnsynced);
  {
    ConsumerOffsetManager after(&env, path);
    ASSERT_TRUE(after.load().is_ok());
    EXPECT_EQ(after.query("g1", "TopicA", 0), 12);
    // A completed persist is durable.
    after.commit("g1", "TopicA", 0, 14);
    ASSERT_TRUE(after.persist().is_ok());
  }
  env.crash(CrashMode::kDropUnsynced);
  ConsumerOffsetManager final_state(&env, path);
  ASSERT_TRUE(final_state.load().is_ok());
  EXPECT_EQ(final_state.query("g1", "TopicA", 0), 14);
}

TEST_F(ConsumerOffsetManagerTest, BackgroundThreadPersistsPeriodicallyAndOnStop) {
  ConsumerOffsetManager m(Env::posix(), path_);
  m.start(/*interval_ms=*/10);
  m.commit("g1", "TopicA", 0, 77);
  // Bounded wait for the thread's next tick (no fixed sleep: the loop ends as soon as it lands).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (read(path_).find("{0:77}") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_NE(read(path_).find("{0:77}"), std::string::npos) << "the persist thread never wrote the file";
  m.commit("g1", "TopicA", 0, 78);
  ASSERT_TRUE(m.stop().is_ok());
  EXPECT_NE(read(path_).find("{0:78}"), std::string::npos) << "stop() must persist once more";
}

TEST_F(ConsumerOffsetManagerTest, ConcurrentCommitsAndPersists) {
  ConsumerOffsetManager m(Env::posix(), path_);
  m.start(/*interval_ms=*/1);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&m, t] {
      for (int i = 0; i <= 500; ++i) m.commit("g" + std::to_string(t), "TopicA", i % 8, i);
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(m.stop().is_ok());
  ConsumerOffsetManager loaded(Env::posix(), path_);
  ASSERT_TRUE(loaded.load().is_ok());
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(loaded.query("g" + std::to_string(t), "TopicA", 500 % 8), 500);
    EXPECT_EQ(loaded.query("g" + std::to_string(t), "TopicA", 499 % 8), 499);
  }
}

}  // namespace
}  // namespace holdfast::broker
