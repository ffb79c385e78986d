// Tests for FaultEnv: what survives crash() in each mode, injected ENOSPC/EIO/stalls, the fake
// clock, and write_file_atomically's all-or-nothing promise at every possible crash point.
#include "env/fault_env.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <random>
#include <thread>

namespace holdfast {
namespace {

constexpr CrashMode kModes[] = {CrashMode::kDropUnsynced, CrashMode::kTearTail};

std::unique_ptr<File> must_open(Env* env, const std::string& path) {
  auto file = env->open_file(path, OpenMode::kCreateIfMissing);
  EXPECT_TRUE(file.is_ok()) << file.status().to_string();
  return file.is_ok() ? std::move(file).value() : nullptr;
}

Status write_str(File* file, uint64_t offset, const std::string& s) {
  return file->write_at(offset, s.data(), s.size());
}

std::string read_all(const File& file) {
  std::string out(file.size().value(), '?');
  size_t got = 0;
  EXPECT_TRUE(file.read_at(0, out.size(), out.data(), &got).is_ok());
  out.resize(got);
  return out;
}

// "<missing>" for an absent file keeps expectations on one line.
std::string contents(Env* env, const std::string& path) {
  auto r = read_file_to_string(env, path);
  if (r.status().code() == StatusCode::kNotFound) return "<missing>";
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? std::move(r).value() : "<error>";
}

// A file "/d/<name>" whose directory entry is durable, holding `synced` durably.
std::unique_ptr<File> durable_file(FaultEnv* env, const std::string& name,
                                   const std::string& synced) {
  EXPECT_TRUE(env->create_dirs("/d").is_ok());
  auto file = must_open(env, "/d/" + name);
  EXPECT_TRUE(write_str(file.get(), 0, synced).is_ok());
  EXPECT_TRUE(file->sync().is_ok());
  EXPECT_TRUE(env->sync_dir("/d").is_ok());
  return file;
}

TEST(FaultEnvTest, SyncedDataSurvivesCrashInBothModes) {
  for (CrashMode mode : kModes) {
    FaultEnv env(7);
    auto file = durable_file(&env, "log", "hello");
    ASSERT_TRUE(write_str(file.get(), 5, " world").is_ok());
    ASSERT_TRUE(file->sync().is_ok());
    env.crash(mode);
    EXPECT_EQ(contents(&env, "/d/log"), "hello world");
  }
}

TEST(FaultEnvTest, UnsyncedChangesAreDroppedAndOpenHandlesSeeTheResult) {
  FaultEnv env;
  auto file = durable_file(&env, "log", "hello");
  ASSERT_TRUE(write_str(file.get(), 5, " world").is_ok());
  ASSERT_TRUE(write_str(file.get(), 0, "J").is_ok());  // overwrite of synced bytes
  EXPECT_EQ(read_all(*file), "Jello world");
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(read_all(*file), "hello");
  EXPECT_EQ(contents(&env, "/d/log"), "hello");
  EXPECT_EQ(env.bytes_used(), 5u);
}

TEST(FaultEnvTest, UnsyncedTruncateIsUndoneButSyncedTruncatePersistsZeros) {
  FaultEnv env;
  auto file = durable_file(&env, "f", "abcdef");
  ASSERT_TRUE(file->truncate(2).is_ok());
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(contents(&env, "/d/f"), "abcdef");

  ASSERT_TRUE(file->truncate(2).is_ok());
  ASSERT_TRUE(file->truncate(6).is_ok());  // the bytes that come back must be zeros
  ASSERT_TRUE(file->sync().is_ok());
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(contents(&env, "/d/f"), std::string("ab\0\0\0\0", 6));
}

TEST(FaultEnvTest, FailedSyncReturnsEioOnceAndLeavesDataUnsynced) {
  FaultEnv env;
  auto file = durable_file(&env, "f", "base");
  ASSERT_TRUE(write_str(file.get(), 4, "+tail").is_ok());
  const uint64_t syncs_before = env.sync_count();
  env.fail_next_sync();
  Status s = file->sync();
  EXPECT_EQ(s.code(), StatusCode::kIOError) << s.to_string();
  EXPECT_EQ(s.sys_errno(), EIO);
  EXPECT_EQ(env.sync_count(), syncs_before);
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(contents(&env, "/d/f"), "base");

  ASSERT_TRUE(write_str(file.get(), 4, "+tail").is_ok());
  ASSERT_TRUE(file->sync().is_ok());  // only one failure was armed
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(contents(&env, "/d/f"), "base+tail");
}

TEST(FaultEnvTest, FailedWriteReturnsEioOnceAndChangesNothing) {
  FaultEnv env;
  auto file = durable_file(&env, "f", "abc");
  env.advance_clock(10);
  const int64_t mtime = env.file_mtime_ms("/d/f").value();
  env.fail_next_write();
  Status s = write_str(file.get(), 1, "XYZW");
  EXPECT_EQ(s.code(), StatusCode::kIOError) << s.to_string();
  EXPECT_EQ(s.sys_errno(), EIO);
  EXPECT_NE(s.message().find("/d/f"), std::string::npos) << s.message();
  EXPECT_EQ(read_all(*file), "abc");
  EXPECT_EQ(env.file_mtime_ms("/d/f").value(), mtime);
  ASSERT_TRUE(write_str(file.get(), 1, "XYZW").is_ok());
  EXPECT_EQ(read_all(*file), "aXYZW");
}

// Unsynced bytes are nonzero so that a zero fill is distinguishable from surviving data.
TEST(FaultEnvTest, TearTailKeepsSyncedBytesAndLeavesPrefixThenFiller) {
  const std::string synced(1000, 's');
  std::string unsynced(4000, '\0');
  for (size_t i = 0; i < unsynced.size(); ++i) unsynced[i] = static_cast<char>('a' + i % 26);
  auto torn = [&](uint64_t seed) {
    FaultEnv env(seed);
    auto file = durable_file(&env, "log", synced);
    EXPECT_TRUE(write_str(file.get(), 10, "OVERWRITE").is_ok());  // must revert: it was synced
    for (size_t off = 0; off < unsynced.size(); off += 500) {
      EXPECT_TRUE(write_str(file.get(), synced.size() + off, unsynced.substr(off, 500)).is_ok());
    }
    env.crash(CrashMode::kTearTail);
    const std::string after = contents(&env, "/d/log");
    env.crash(CrashMode::kTearTail);  // what survived is on disk now: a second crash keeps it
    EXPECT_EQ(contents(&env, "/d/log"), after);
    return after;
  };
  int partial = 0, zero_filled = 0, garbage_filled = 0, shortened = 0;
  for (uint64_t seed = 1; seed <= 64; ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    const std::string after = torn(seed);
    ASSERT_GE(after.size(), synced.size());
    ASSERT_LE(after.size(), synced.size() + unsynced.size());
    ASSERT_EQ(after.substr(0, synced.size()), synced);
    if (seed <= 4) {
      EXPECT_EQ(torn(seed), after);  // the seed alone decides the shape
    }
    const std::string tail = after.substr(synced.size());
    const size_t kept = std::mismatch(tail.begin(), tail.end(), unsynced.begin()).first -
                        tail.begin();
    const std::string filler = tail.substr(kept);
    if (!filler.empty()) {
      bool all_zero = std::all_of(filler.begin(), filler.end(), [](char c) { return c == '\0'; });
      ++(all_zero ? zero_filled : garbage_filled);
    }
    if (kept > 0 && kept < tail.size()) ++partial;
    if (tail.size() < unsynced.size()) ++shortened;
  }
  EXPECT_GT(partial, 0);
  EXPECT_GT(zero_filled, 0);
  EXPECT_GT(garbage_filled, 0);
  EXPECT_GT(shortened, 0);
}

// Random writes, truncates, allocates, syncs and crashes against a two-string model: catches
// mistakes in the dirty-range bookkeeping that makes sync() cheap.
TEST(FaultEnvTest, RandomOperationsMatchAModelAcrossCrashes) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    FaultEnv env(seed);
    std::mt19937_64 rng(seed);
    auto file = durable_file(&env, "f", "");
    std::string live, synced;
    for (int step = 0; step < 400; ++step) {
      const uint64_t op = rng() % 12;
      if (op < 6) {
        const uint64_t offset = rng() % (live.size() + 64);
        std::string bytes(1 + rng() % 100, '\0');
        for (char& c : bytes) c = static_cast<char>('A' + rng() % 50);
        ASSERT_TRUE(write_str(file.get(), offset, bytes).is_ok());
        if (live.size() < offset + bytes.size()) live.resize(offset + bytes.size(), '\0');
        live.replace(offset, bytes.size(), bytes);
      } else if (op == 6) {
        const uint64_t size = rng() % (live.size() + 64);
        ASSERT_TRUE(file->truncate(size).is_ok());
        live.resize(size, '\0');
      } else if (op == 7) {
        const uint64_t size = rng() % (live.size() + 64);
        ASSERT_TRUE(file->allocate(size).is_ok());
        if (size > live.size()) live.resize(size, '\0');
      } else if (op < 10) {
        ASSERT_TRUE(file->sync().is_ok());
        synced = live;
      } else if (op == 10) {
        const CrashMode mode = kModes[rng() % 2];
        env.crash(mode);
        if (mode == CrashMode::kTearTail) {  // a torn tail, if any, is the new synced state
          const std::string after = read_all(*file);
          ASSERT_GE(after.size(), synced.size());
          ASSERT_LE(after.size(), std::max(synced.size(), live.size()));
          ASSERT_EQ(after.substr(0, synced.size()), synced) << "step " << step;
          synced = after;
        }
        live = synced;
      } else {
        ASSERT_EQ(read_all(*file), live) << "step " << step;
      }
      ASSERT_EQ(env.bytes_used(), live.size()) << "step " << step;
    }
    env.crash(CrashMode::kDropUnsynced);
    ASSERT_EQ(contents(&env, "/d/f"), synced);
  }
}

TEST(FaultEnvTest, NewFileSurvivesCrashOnlyAfterSyncOfItsOwnDirectory) {
  for (CrashMode mode : kModes) {
    FaultEnv env;
    ASSERT_TRUE(env.create_dirs("/d/sub").is_ok());
    auto file = must_open(&env, "/d/sub/new");
    ASSERT_TRUE(write_str(file.get(), 0, "data").is_ok());
    ASSERT_TRUE(file->sync().is_ok());  // data synced, directory entry not
    ASSERT_TRUE(env.sync_dir("/d").is_ok());  // the wrong directory does not help
    env.crash(mode);
    EXPECT_FALSE(env.file_exists("/d/sub/new"));
    EXPECT_TRUE(env.file_exists("/d/sub"));  // directories are durable once created
    EXPECT_EQ(env.list_dir("/d/sub").value(), std::vector<std::string>{});
    EXPECT_EQ(env.bytes_used(), 0u);
    EXPECT_TRUE(write_str(file.get(), 0, "more").is_ok());  // the orphaned handle stays usable
    EXPECT_FALSE(env.file_exists("/d/sub/new"));

    file = must_open(&env, "/d/sub/new");
    ASSERT_TRUE(write_str(file.get(), 0, "data").is_ok());
    ASSERT_TRUE(file->sync().is_ok());
    ASSERT_TRUE(env.sync_dir("/d/sub").is_ok());
    env.crash(mode);
    EXPECT_EQ(contents(&env, "/d/sub/new"), "data");
  }
}

TEST(FaultEnvTest, RenameWithoutSyncDirRevertsBothNames) {
  FaultEnv env;
  durable_file(&env, "target", "old");
  durable_file(&env, "source", "new");
  ASSERT_TRUE(env.rename_file("/d/source", "/d/target").is_ok());
  EXPECT_EQ(contents(&env, "/d/target"), "new");
  EXPECT_FALSE(env.file_exists("/d/source"));
  EXPECT_EQ(env.bytes_used(), 3u);  // the replaced target no longer takes space
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(contents(&env, "/d/target"), "old");
  EXPECT_EQ(contents(&env, "/d/source"), "new");

  ASSERT_TRUE(env.rename_file("/d/source", "/d/target").is_ok());
  ASSERT_TRUE(env.sync_dir("/d").is_ok());
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(contents(&env, "/d/target"), "new");
  EXPECT_FALSE(env.file_exists("/d/source"));
  EXPECT_EQ(env.bytes_used(), 3u);
}

TEST(FaultEnvTest, CrossDirectoryRenameSyncedOnlyAtTargetKeepsTwoIndependentCopies) {
  FaultEnv env;
  durable_file(&env, "moved", "payload");
  ASSERT_TRUE(env.create_dirs("/e").is_ok());
  ASSERT_TRUE(env.rename_file("/d/moved", "/e/moved").is_ok());
  ASSERT_TRUE(env.sync_dir("/e").is_ok());
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(contents(&env, "/e/moved"), "payload");
  EXPECT_EQ(contents(&env, "/d/moved"), "payload");  // the source directory was never synced
  auto file = must_open(&env, "/e/moved");
  ASSERT_TRUE(write_str(file.get(), 0, "P").is_ok());
  EXPECT_EQ(contents(&env, "/d/moved"), "payload");
}

TEST(FaultEnvTest, RemoveWithoutSyncDirIsUndoneOnCrash) {
  FaultEnv env;
  durable_file(&env, "victim", "still here");
  ASSERT_TRUE(env.remove_file("/d/victim").is_ok());
  EXPECT_FALSE(env.file_exists("/d/victim"));
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_EQ(contents(&env, "/d/victim"), "still here");

  ASSERT_TRUE(env.remove_file("/d/victim").is_ok());
  ASSERT_TRUE(env.sync_dir("/d").is_ok());
  env.crash(CrashMode::kDropUnsynced);
  EXPECT_FALSE(env.file_exists("/d/victim"));
}

// Lets `budget` mutating calls through to a FaultEnv, then crashes it; the dead process's later
// calls all fail. Walking the budget up from 0 crashes a helper at every step it takes.
class CrashAfterEnv final : public Env {
 public:
  CrashAfterEnv(FaultEnv* base, int budget, CrashMode mode)
      : base_(base), budget_(budget), mode_(mode) {}
  bool crashed() const { return crashed_; }

  // Spends one step of the budget; false once the power has gone out.
  bool spend() {
    if (!crashed_ && budget_-- == 0) {
      base_->crash(mode_);
      crashed_ = true;
    }
    return !crashed_;
  }
  static Status dead() { return Status::io_error("process died in a simulated crash"); }
  template <typename T, typename C, typename... P, typename... A>
  Status step(T* target, Status (C::*fn)(P...), A&&... args) {
    return spend() ? (target->*fn)(std::forward<A>(args)...) : dead();
  }

  Result<std::unique_ptr<File>> open_file(const std::string& p, OpenMode mode) override;
  Status create_dirs(const std::string& p) override { return step(base_, &Env::create_dirs, p); }
  Status remove_file(const std::string& p) override { return step(base_, &Env::remove_file, p); }
  Status remove_dir(const std::string& p) override { return step(base_, &Env::remove_dir, p); }
  Status sync_dir(const std::string& p) override { return step(base_, &Env::sync_dir, p); }
  Status rename_file(const std::string& from, const std::string& to) override {
    return step(base_, &Env::rename_file, from, to);
  }
  bool file_exists(const std::string& p) override { return base_->file_exists(p); }
  Result<std::vector<std::string>> list_dir(const std::string& p) override {
    return base_->list_dir(p);
  }
  Result<uint64_t> file_size(const std::string& p) override { return base_->file_size(p); }
  Result<int64_t> file_mtime_ms(const std::string& p) override { return base_->file_mtime_ms(p); }
  Result<DiskUsage> disk_usage(const std::string& p) override { return base_->disk_usage(p); }
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& p) override {
    return base_->lock_file(p);
  }
  int64_t now_ms() override { return base_->now_ms(); }
  int64_t now_micros_monotonic() override { return base_->now_micros_monotonic(); }
  void sleep_micros(int64_t micros) override { base_->sleep_micros(micros); }

 private:
  FaultEnv* base_;
  int budget_;
  CrashMode mode_;
  bool crashed_ = false;
};

class CrashAfterFile final : public File {
 public:
  CrashAfterFile(CrashAfterEnv* env, std::unique_ptr<File> base)
      : env_(env), base_(std::move(base)) {}
  Status write_at(uint64_t offset, const char* data, size_t n) override {
    return env_->step(base_.get(), &File::write_at, offset, data, n);
  }
  Status read_at(uint64_t offset, size_t n, char* scratch, size_t* read) const override {
    return base_->read_at(offset, n, scratch, read);
  }
  Status sync() override { return env_->step(base_.get(), &File::sync); }
  Status truncate(uint64_t size) override { return env_->step(base_.get(), &File::truncate, size); }
  Status allocate(uint64_t size) override { return env_->step(base_.get(), &File::allocate, size); }
  Result<uint64_t> size() const override { return base_->size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  CrashAfterEnv* env_;
  std::unique_ptr<File> base_;
};

Result<std::unique_ptr<File>> CrashAfterEnv::open_file(const std::string& p, OpenMode mode) {
  if (!spend()) return dead();
  HF_ASSIGN_OR_RETURN(auto file, base_->open_file(p, mode));
  return std::unique_ptr<File>(new CrashAfterFile(this, std::move(file)));
}

TEST(FaultEnvTest, WriteFileAtomicallyIsAllOrNothingAtEveryCrashPoint) {
  const std::string old_contents = "old contents, longer than the new ones";
  const std::string new_contents = "new contents";
  for (bool had_old : {true, false}) {
    for (CrashMode mode : kModes) {
      for (uint64_t seed = 1; seed <= 12; ++seed) {
        bool completed = false;
        int saw_old = 0, saw_new = 0;
        for (int budget = 0; !completed; ++budget) {
          SCOPED_TRACE(testing::Message() << "had_old " << had_old << " mode "
                                          << static_cast<int>(mode) << " seed " << seed
                                          << " budget " << budget);
          ASSERT_LT(budget, 100) << "the helper never finished";
          FaultEnv env(seed);
          ASSERT_TRUE(env.create_dirs("/d").is_ok());
          if (had_old) {
            ASSERT_TRUE(write_file_atomically(&env, "/d/meta", old_contents).is_ok());
          }
          CrashAfterEnv dying(&env, budget, mode);
          Status s = write_file_atomically(&dying, "/d/meta", new_contents);
          completed = !dying.crashed();
          if (completed) env.crash(mode);
          const std::string after = contents(&env, "/d/meta");
          if (s.is_ok()) {
            EXPECT_EQ(after, new_contents);  // acknowledged means durable
          }
          if (after == new_contents) {
            ++saw_new;
          } else {
            EXPECT_EQ(after, had_old ? old_contents : "<missing>");
            ++saw_old;
          }
        }
        EXPECT_GT(saw_old, 0);
        EXPECT_GT(saw_new, 0);
      }
    }
  }
}

TEST(FaultEnvTest, WriteFileAtomicallyFailingOnInjectedErrorsKeepsOldContents) {
  for (int which = 0; which < 2; ++which) {
    FaultEnv env;
    ASSERT_TRUE(env.create_dirs("/d").is_ok());
    ASSERT_TRUE(write_file_atomically(&env, "/d/meta", "v1").is_ok());
    if (which == 0) env.fail_next_write();
    if (which == 1) env.fail_next_sync();
    EXPECT_EQ(write_file_atomically(&env, "/d/meta", "v2").code(), StatusCode::kIOError);
    EXPECT_EQ(contents(&env, "/d/meta"), "v1");
    env.crash(CrashMode::kTearTail);
    EXPECT_EQ(contents(&env, "/d/meta"), "v1");
  }
}

TEST(FaultEnvTest, NoSpaceAtTheLimitChangesNothingUntilSpaceReturns) {
  FaultEnv env;
  env.set_space_limit(100);
  ASSERT_TRUE(env.create_dirs("/d").is_ok());
  auto a = must_open(&env, "/d/a");
  auto b = must_open(&env, "/d/b");
  ASSERT_TRUE(write_str(a.get(), 0, std::string(60, 'a')).is_ok());
  ASSERT_TRUE(write_str(b.get(), 0, std::string(40, 'b')).is_ok());  // exactly at the limit
  EXPECT_EQ(env.bytes_used(), 100u);

  Status s = write_str(a.get(), 60, "x");
  EXPECT_EQ(s.code(), StatusCode::kNoSpace) << s.to_string();
  EXPECT_EQ(s.sys_errno(), ENOSPC);
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s.message();
  EXPECT_EQ(b->truncate(41).code(), StatusCode::kNoSpace);
  EXPECT_EQ(b->allocate(50).code(), StatusCode::kNoSpace);
  EXPECT_EQ(read_all(*a), std::string(60, 'a'));
  EXPECT_EQ(read_all(*b), std::string(40, 'b'));
  EXPECT_EQ(env.bytes_used(), 100u);
  ASSERT_TRUE(write_str(a.get(), 0, "overwrite in place needs no space").is_ok());

  ASSERT_TRUE(env.remove_file("/d/b").is_ok());
  EXPECT_EQ(env.bytes_used(), 60u);
  ASSERT_TRUE(write_str(a.get(), 60, std::string(40, 'x')).is_ok());
  EXPECT_EQ(write_str(a.get(), 100, "y").code(), StatusCode::kNoSpace);
  env.set_space_limit(1000);
  EXPECT_TRUE(write_str(a.get(), 100, "y").is_ok());
  EXPECT_EQ(env.bytes_used(), 101u);
}

TEST(FaultEnvTest, DiskUsageReportsTheLimitAndTheBytesUsed) {
  FaultEnv env;
  ASSERT_TRUE(env.create_dirs("/d").is_ok());
  auto file = must_open(&env, "/d/f");
  ASSERT_TRUE(file->allocate(4096).is_ok());
  DiskUsage unlimited = env.disk_usage("/d").value();
  EXPECT_GE(unlimited.total_bytes, uint64_t{1} << 40);
  EXPECT_EQ(unlimited.available_bytes, unlimited.total_bytes - 4096);

  env.set_space_limit(16384);
  DiskUsage limited = env.disk_usage("/d").value();
  EXPECT_EQ(limited.total_bytes, 16384u);
  EXPECT_EQ(limited.available_bytes, 12288u);
  EXPECT_DOUBLE_EQ(limited.used_ratio(), 0.25);
  EXPECT_EQ(env.disk_usage("/nowhere").status().code(), StatusCode::kNotFound);
}

TEST(FaultEnvTest, BlockedSyncWaitsForUnblockWhileOtherCallsProceed) {
  FaultEnv env;
  auto file = durable_file(&env, "f", "x");
  auto other = durable_file(&env, "g", "y");
  env.block_syncs();
  std::atomic<bool> done{false};
  std::thread syncer([&] {
    EXPECT_TRUE(file->sync().is_ok());
    done = true;
  });
  // Give the thread real time to reach sync(); meanwhile the env must stay usable.
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(write_str(other.get(), 1, "more").is_ok());
    EXPECT_EQ(read_all(*other), "ymore");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(done.load());
  const uint64_t syncs_while_blocked = env.sync_count();
  env.unblock_syncs();
  syncer.join();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(env.sync_count(), syncs_while_blocked + 1);
}

// The in-process stand-in for "the process died with the power": its later calls change nothing.
TEST(FaultEnvTest, FrozenEnvRejectsEveryChangeUntilThawed) {
  FaultEnv env;
  auto file = durable_file(&env, "f", "synced");
  ASSERT_TRUE(write_str(file.get(), 6, "+unsynced").is_ok());
  env.block_syncs();
  std::thread stalled([&] { EXPECT_EQ(file->sync().code(), StatusCode::kIOError); });
  env.set_frozen(true);  // wakes the stalled sync, which must fail rather than persist
  stalled.join();
  EXPECT_EQ(write_str(file.get(), 0, "X").sys_errno(), EIO);
  EXPECT_EQ(file->sync().code(), StatusCode::kIOError);
  EXPECT_FALSE(file->truncate(1).is_ok());
  EXPECT_FALSE(file->allocate(100).is_ok());
  EXPECT_FALSE(env.open_file("/d/new", OpenMode::kCreateIfMissing).is_ok());
  EXPECT_TRUE(env.open_file("/d/f", OpenMode::kMustExist).is_ok());
  EXPECT_FALSE(env.create_dirs("/d/sub").is_ok());
  EXPECT_TRUE(env.create_dirs("/d").is_ok());  // nothing to create
  EXPECT_FALSE(env.rename_file("/d/f", "/d/g").is_ok());
  EXPECT_FALSE(env.remove_file("/d/f").is_ok());
  EXPECT_FALSE(env.sync_dir("/d").is_ok());
  EXPECT_EQ(read_all(*file), "synced+unsynced");  // reads still work
  env.crash(CrashMode::kDropUnsynced);
  env.set_frozen(false);
  env.unblock_syncs();
  EXPECT_EQ(contents(&env, "/d/f"), "synced");
  EXPECT_TRUE(write_str(file.get(), 6, "!").is_ok());
  EXPECT_TRUE(file->sync().is_ok());
  EXPECT_EQ(contents(&env, "/d/f"), "synced!");
}

TEST(FaultEnvTest, FakeClockMovesOnlyWhenTold) {
  FaultEnv env;
  EXPECT_EQ(env.now_ms(), 1'700'000'000'000);
  const int64_t mono = env.now_micros_monotonic();
  EXPECT_GT(mono, 0);
  EXPECT_EQ(env.now_micros_monotonic(), mono);
  env.advance_clock(5);
  EXPECT_EQ(env.now_ms(), 1'700'000'000'005);
  EXPECT_EQ(env.now_micros_monotonic(), mono + 5000);
  const auto real_start = std::chrono::steady_clock::now();
  env.sleep_micros(60'000'000);  // a minute of fake time, no real time
  EXPECT_LT(std::chrono::steady_clock::now() - real_start, std::chrono::seconds(5));
  EXPECT_EQ(env.now_ms(), 1'700'000'060'005);
  EXPECT_EQ(env.now_micros_monotonic(), mono + 60'005'000);
}

TEST(FaultEnvTest, MtimeFollowsChangesAndSetMtimeOverridesIt) {
  FaultEnv env;
  ASSERT_TRUE(env.create_dirs("/d").is_ok());
  auto file = must_open(&env, "/d/f");
  EXPECT_EQ(env.file_mtime_ms("/d/f").value(), env.now_ms());
  env.advance_clock(1000);
  ASSERT_TRUE(write_str(file.get(), 0, "x").is_ok());
  EXPECT_EQ(env.file_mtime_ms("/d/f").value(), 1'700'000'001'000);
  env.set_mtime("/d/f", 123);
  EXPECT_EQ(env.file_mtime_ms("/d/f").value(), 123);
  env.advance_clock(1000);
  ASSERT_TRUE(file->truncate(0).is_ok());
  EXPECT_EQ(env.file_mtime_ms("/d/f").value(), 1'700'000'002'000);
}

TEST(FaultEnvTest, HandlesShareDataAndOutliveTheEnv) {
  std::unique_ptr<File> survivor;
  {
    FaultEnv env;
    ASSERT_TRUE(env.create_dirs("/d").is_ok());
    auto writer = must_open(&env, "/d/f");
    survivor = must_open(&env, "//d//f/");  // same file, sloppy spelling
    ASSERT_TRUE(write_str(writer.get(), 0, "shared").is_ok());
    EXPECT_EQ(read_all(*survivor), "shared");
  }
  ASSERT_TRUE(write_str(survivor.get(), 6, "!").is_ok());
  EXPECT_EQ(read_all(*survivor), "shared!");
  EXPECT_TRUE(survivor->sync().is_ok());
}

TEST(FaultEnvTest, LockFileIsExclusiveUntilReleasedOrCrashed) {
  FaultEnv env;
  ASSERT_TRUE(env.create_dirs("/d").is_ok());
  auto first = env.lock_file("/d/LOCK");
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  EXPECT_TRUE(env.file_exists("/d/LOCK"));
  EXPECT_EQ(env.lock_file("/d/LOCK").status().code(), StatusCode::kBusy);
  first->reset();
  auto second = env.lock_file("/d/LOCK");
  ASSERT_TRUE(second.is_ok());
  ASSERT_TRUE(env.sync_dir("/d").is_ok());
  env.crash(CrashMode::kDropUnsynced);  // the holder died with the power
  auto third = env.lock_file("/d/LOCK");
  ASSERT_TRUE(third.is_ok()) << third.status().to_string();
  second->reset();  // a stale holder must not release the new one
  EXPECT_EQ(env.lock_file("/d/LOCK").status().code(), StatusCode::kBusy);
}

TEST(FaultEnvTest, NamespaceErrorsReadLikeTheSystemCalls) {
  FaultEnv env;
  auto missing_dir = env.open_file("/nope/x", OpenMode::kCreateIfMissing);
  EXPECT_EQ(missing_dir.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing_dir.status().message(), "open /nope/x: No such file or directory");
  EXPECT_EQ(env.open_file("/x", OpenMode::kMustExist).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env.list_dir("/nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env.file_size("/nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(env.remove_file("/nope").code(), StatusCode::kNotFound);

  ASSERT_TRUE(env.create_dirs("/a/b").is_ok());
  auto file = must_open(&env, "/a/f");
  EXPECT_FALSE(env.create_dirs("/a/f/g").is_ok());  // a file is in the way
  EXPECT_FALSE(env.open_file("/a/b", OpenMode::kMustExist).is_ok());  // a directory
  auto names = env.list_dir("/a").value();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"b", "f"}));
  EXPECT_EQ(env.list_dir("/").value(), std::vector<std::string>{"a"});
  EXPECT_FALSE(env.remove_dir("/a").is_ok());  // not empty
  ASSERT_TRUE(env.remove_dir("/a/b").is_ok());
  EXPECT_FALSE(env.file_exists("/a/b"));
}

}  // namespace
}  // namespace holdfast
