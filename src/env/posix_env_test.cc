// Tests for PosixEnv and the Env helpers against a real file system, in a fresh directory under
// /tmp that is removed afterwards.
#include "env/posix_env.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace holdfast {
namespace {

class PosixEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/holdfast_posix_env_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << "mkdtemp failed, errno " << errno;
    dir_ = tmpl;
  }
  // The cleanup deliberately bypasses Env so that it works even when Env is broken.
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string path(const std::string& name) const { return join_path(dir_, name); }

  std::unique_ptr<File> open(const std::string& name) {
    auto file = env_->open_file(path(name), OpenMode::kCreateIfMissing);
    EXPECT_TRUE(file.is_ok()) << file.status().to_string();
    return file.is_ok() ? std::move(file).value() : nullptr;
  }

  static std::string read_all(File* file) {
    auto size = file->size();
    EXPECT_TRUE(size.is_ok()) << size.status().to_string();
    std::string out(size.is_ok() ? *size : 0, '?');
    size_t got = 0;
    EXPECT_TRUE(file->read_at(0, out.size(), out.data(), &got).is_ok());
    out.resize(got);
    return out;
  }

  Env* env_ = Env::posix();
  std::string dir_;
};

TEST_F(PosixEnvTest, WriteThenReadBackAtOffsets) {
  auto file = open("data");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->write_at(0, "hello", 5).is_ok());
  ASSERT_TRUE(file->write_at(5, " world", 6).is_ok());
  ASSERT_TRUE(file->write_at(0, "J", 1).is_ok());
  ASSERT_TRUE(file->sync().is_ok());
  EXPECT_EQ(file->size().value(), 11u);
  EXPECT_EQ(read_all(file.get()), "Jello world");
  EXPECT_EQ(file->path(), path("data"));

  char buf[16];
  size_t got = 0;
  ASSERT_TRUE(file->read_at(6, sizeof(buf), buf, &got).is_ok());
  EXPECT_EQ(std::string(buf, got), "world");  // short read only at end of file
  ASSERT_TRUE(file->read_at(100, sizeof(buf), buf, &got).is_ok());
  EXPECT_EQ(got, 0u);
}

TEST_F(PosixEnvTest, SecondHandleSeesWritesOfTheFirst) {
  auto writer = open("shared");
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->write_at(0, "abc", 3).is_ok());
  auto reader = env_->open_file(path("shared"), OpenMode::kMustExist);
  ASSERT_TRUE(reader.is_ok()) << reader.status().to_string();
  EXPECT_EQ(read_all(reader->get()), "abc");
}

TEST_F(PosixEnvTest, OpenMissingFileWithMustExistIsNotFound) {
  auto file = env_->open_file(path("missing"), OpenMode::kMustExist);
  ASSERT_FALSE(file.is_ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find("No such file or directory"), std::string::npos)
      << file.status().message();
  EXPECT_FALSE(env_->file_exists(path("missing")));
}

TEST_F(PosixEnvTest, TruncateShrinksAndExtendsWithZeros) {
  auto file = open("t");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->write_at(0, "abcdef", 6).is_ok());
  ASSERT_TRUE(file->truncate(3).is_ok());
  EXPECT_EQ(read_all(file.get()), "abc");
  ASSERT_TRUE(file->truncate(5).is_ok());
  EXPECT_EQ(read_all(file.get()), std::string("abc\0\0", 5));
  EXPECT_EQ(env_->file_size(path("t")).value(), 5u);
}

TEST_F(PosixEnvTest, AllocateExtendsWithZerosAndKeepsData) {
  auto file = open("a");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->write_at(0, "xy", 2).is_ok());
  ASSERT_TRUE(file->allocate(4096).is_ok());
  EXPECT_EQ(file->size().value(), 4096u);
  std::string expected(4096, '\0');
  expected[0] = 'x';
  expected[1] = 'y';
  EXPECT_EQ(read_all(file.get()), expected);
  ASSERT_TRUE(file->allocate(10).is_ok());  // never shrinks
  EXPECT_EQ(file->size().value(), 4096u);
}

TEST_F(PosixEnvTest, RenameReplacesTheTarget) {
  ASSERT_TRUE(write_file_atomically(env_, path("old"), "old contents").is_ok());
  ASSERT_TRUE(write_file_atomically(env_, path("new"), "new contents").is_ok());
  ASSERT_TRUE(env_->rename_file(path("new"), path("old")).is_ok());
  ASSERT_TRUE(env_->sync_dir(dir_).is_ok());
  EXPECT_FALSE(env_->file_exists(path("new")));
  auto contents = read_file_to_string(env_, path("old"));
  ASSERT_TRUE(contents.is_ok()) << contents.status().to_string();
  EXPECT_EQ(*contents, "new contents");

  Status missing = env_->rename_file(path("nope"), path("old"));
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.to_string();
}

TEST_F(PosixEnvTest, CreateDirsListDirAndRemove) {
  const std::string nested = path("a/b/c");
  ASSERT_TRUE(env_->create_dirs(nested).is_ok());
  ASSERT_TRUE(env_->create_dirs(nested).is_ok());  // existing is fine
  EXPECT_TRUE(env_->file_exists(nested));
  ASSERT_NE(open("a/f1"), nullptr);
  ASSERT_NE(open("a/f2"), nullptr);

  auto names = env_->list_dir(path("a"));
  ASSERT_TRUE(names.is_ok()) << names.status().to_string();
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"b", "f1", "f2"}));

  ASSERT_TRUE(env_->remove_file(path("a/f1")).is_ok());
  EXPECT_FALSE(env_->file_exists(path("a/f1")));
  EXPECT_EQ(env_->remove_file(path("a/f1")).code(), StatusCode::kNotFound);

  EXPECT_FALSE(env_->remove_dir(path("a/b")).is_ok());  // not empty: holds c
  ASSERT_TRUE(env_->remove_dir(nested).is_ok());
  ASSERT_TRUE(env_->remove_dir(path("a/b")).is_ok());
  EXPECT_FALSE(env_->file_exists(path("a/b")));
  EXPECT_EQ(env_->list_dir(path("a/b")).status().code(), StatusCode::kNotFound);
}

TEST_F(PosixEnvTest, CreateDirsOverAFileFails) {
  ASSERT_NE(open("plain"), nullptr);
  EXPECT_FALSE(env_->create_dirs(path("plain")).is_ok());
}

TEST_F(PosixEnvTest, FileSizeAndMtimeOfMissingFileAreNotFound) {
  EXPECT_EQ(env_->file_size(path("none")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env_->file_mtime_ms(path("none")).status().code(), StatusCode::kNotFound);
}

TEST_F(PosixEnvTest, MtimeIsCloseToTheWallClock) {
  auto file = open("m");
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->write_at(0, "x", 1).is_ok());
  auto mtime = env_->file_mtime_ms(path("m"));
  ASSERT_TRUE(mtime.is_ok()) << mtime.status().to_string();
  // Generous bound: file systems with coarse timestamps may round down.
  EXPECT_LE(std::abs(*mtime - env_->now_ms()), 60'000);
}

TEST_F(PosixEnvTest, DiskUsageIsConsistent) {
  auto usage = env_->disk_usage(dir_);
  ASSERT_TRUE(usage.is_ok()) << usage.status().to_string();
  EXPECT_GT(usage->total_bytes, 0u);
  EXPECT_LE(usage->available_bytes, usage->total_bytes);
  // The root reserve is free but not available: RocketMQ's used percent counts it as free.
  EXPECT_GE(usage->free_bytes, usage->available_bytes);
  EXPECT_LE(usage->free_bytes, usage->total_bytes);
  EXPECT_GE(usage->used_ratio(), 0.0);
  EXPECT_LE(usage->used_ratio(), 1.0);
  EXPECT_FALSE(env_->disk_usage(path("missing/dir")).is_ok());
}

TEST_F(PosixEnvTest, LockFileIsBusyWhileHeld) {
  const std::string lock_path = path("LOCK");
  auto first = env_->lock_file(lock_path);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  auto second = env_->lock_file(lock_path);
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), StatusCode::kBusy);
  first->reset();  // releasing makes it available again
  auto third = env_->lock_file(lock_path);
  EXPECT_TRUE(third.is_ok()) << third.status().to_string();
}

TEST_F(PosixEnvTest, WriteFileAtomicallyReplacesContentsAndLeavesNoTemp) {
  const std::string target = path("config");
  ASSERT_TRUE(write_file_atomically(env_, target, "first version, longer").is_ok());
  ASSERT_TRUE(write_file_atomically(env_, target, "second").is_ok());
  auto contents = read_file_to_string(env_, target);
  ASSERT_TRUE(contents.is_ok()) << contents.status().to_string();
  EXPECT_EQ(*contents, "second");  // the temp file was truncated, not just overwritten
  EXPECT_FALSE(env_->file_exists(target + ".tmp"));
  auto names = env_->list_dir(dir_);
  ASSERT_TRUE(names.is_ok());
  EXPECT_EQ(*names, std::vector<std::string>{"config"});
}

TEST_F(PosixEnvTest, ReadFileToStringOfMissingFileIsNotFound) {
  EXPECT_EQ(read_file_to_string(env_, path("absent")).status().code(), StatusCode::kNotFound);
}

TEST_F(PosixEnvTest, ReadFileToStringReadsLargeFiles) {
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  ASSERT_TRUE(write_file_atomically(env_, path("big"), big).is_ok());
  auto contents = read_file_to_string(env_, path("big"));
  ASSERT_TRUE(contents.is_ok());
  EXPECT_TRUE(*contents == big);
}

TEST(PosixEnvClockTest, ClocksAreSane) {
  Env* env = Env::posix();
  EXPECT_GT(env->now_ms(), int64_t{1'600'000'000'000});  // after 2020
  const int64_t before = env->now_micros_monotonic();
  env->sleep_micros(1);
  EXPECT_GE(env->now_micros_monotonic(), before);
}

TEST(EnvPathTest, ParentDirAndJoinPath) {
  EXPECT_EQ(parent_dir("/a/b/c"), "/a/b");
  EXPECT_EQ(parent_dir("/a"), "/");
  EXPECT_EQ(parent_dir("a"), ".");
  EXPECT_EQ(join_path("/a", "b"), "/a/b");
  EXPECT_EQ(join_path("/a/", "b"), "/a/b");
  EXPECT_EQ(join_path("", "b"), "b");
}

}  // namespace
}  // namespace holdfast
