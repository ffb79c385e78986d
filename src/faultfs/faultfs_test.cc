// holdfast-faultfs end to end: a real FUSE mount on fresh /tmp dirs, faultfs_probe doing file
// operations against it as a separate process, power loss through the `ctl` command, a remount,
// and checks of what survived. Skips when /dev/fuse is missing or mounting is not permitted.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kExitMountRefused = 77;  // holdfast-faultfs: the FUSE mount was refused

std::string bin_dir() { return fs::read_symlink("/proc/self/exe").parent_path().string(); }

struct Output {
  int exit_code = -1;
  std::string text;  // stdout and stderr
};

// Runs argv to completion, capturing its output.
Output run(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  Output out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) out.text.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

// The holdfast-faultfs daemon; its stdout is a pipe read for the ready line.
class Daemon {
 public:
  ~Daemon() { stop(); }
  // Starts it and waits for "faultfs ready". Returns "" or what went wrong; *exit_code is set
  // when the daemon exited instead.
  std::string start(const std::vector<std::string>& argv, int* exit_code) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return "pipe failed";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(pipe_fds[1], 1);
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    std::string seen;
    char c;
    while (::read(pipe_fds[0], &c, 1) == 1) {
      if (c != '\n') {
        seen += c;
        continue;
      }
      if (seen.rfind("faultfs ready ", 0) == 0) break;
      seen.clear();
    }
    ::close(pipe_fds[0]);  // the daemon prints nothing after the ready line
    if (seen.rfind("faultfs ready ", 0) == 0) return "";
    *exit_code = wait_exit(10000);
    return "daemon exited (code " + std::to_string(*exit_code) + ") before it was ready";
  }
  // Waits for the daemon to exit by itself; returns its exit code, or -1 on timeout.
  int wait_exit(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (pid_ > 0) {
      int status = 0;
      pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (Clock::now() > deadline) return -1;
      ::usleep(5000);
    }
    return -1;
  }
  // SIGTERM (a clean stop), then SIGKILL if it lingers. Returns the exit code.
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int code = wait_exit(5000);
    if (code == -1 && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      code = wait_exit(5000);
    }
    return code;
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

class FaultFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/dev/fuse", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "/dev/fuse is missing or not usable: FUSE tests skipped";
    }
    char dir[] = "/tmp/faultfs_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    root_ = dir;
    backing_ = root_ + "/backing";
    mount_ = root_ + "/mnt";
    socket_ = root_ + "/ctl.sock";
    fs::create_directories(backing_);
    fs::create_directories(mount_);
    int exit_code = -1;
    std::string error = daemon_.start(daemon_argv(), &exit_code);
    if (exit_code == kExitMountRefused) GTEST_SKIP() << "mounting FUSE is not permitted here: " << error;
    ASSERT_EQ(error, "");
  }

  void TearDown() override {
    daemon_.stop();
    if (!mount_.empty()) ::umount2(mount_.c_str(), MNT_DETACH);  // in case a failure left it
    if (!root_.empty()) {
      std::error_code ignored;
      fs::remove_all(root_, ignored);
    }
  }

  std::vector<std::string> daemon_argv() {
    return {bin_dir() + "/holdfast-faultfs", "mount", backing_, mount_, "--control", socket_, "--seed", "7"};
  }

  Output ctl(const std::string& command) {
    std::vector<std::string> argv = {bin_dir() + "/holdfast-faultfs", "ctl", socket_};
    std::istringstream words(command);
    for (std::string word; words >> word;) argv.push_back(word);
    return run(argv);
  }

  // Runs faultfs_probe; mount paths are given relative to the mount ("m:" prefix stripped).
  Output probe(std::initializer_list<std::string> args) {
    std::vector<std::string> argv = {bin_dir() + "/faultfs_probe"};
    for (const std::string& arg : args) argv.push_back(arg.rfind("m:", 0) == 0 ? m(arg.substr(2)) : arg);
    return run(argv);
  }

  // Power loss, wait for the daemon to exit 0, remount ("power on"). Returns the reply.
  std::string power_loss(const std::string& command = "power-loss") {
    Output reply = ctl(command);
    EXPECT_EQ(reply.exit_code, 0) << reply.text;
    EXPECT_EQ(daemon_.wait_exit(10000), 0);
    int exit_code = -1;
    std::string error = daemon_.start(daemon_argv(), &exit_code);
    EXPECT_EQ(error, "");
    return reply.text;
  }

  std::string m(const std::string& rel) const { return mount_ + "/" + rel; }
  std::string b(const std::string& rel) const { return backing_ + "/" + rel; }
  static bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }
  static std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  std::string root_, backing_, mount_, socket_;
  Daemon daemon_;
};

#define EXPECT_PROBE_OK(...)                          \
  do {                                                \
    Output probe_output = probe({__VA_ARGS__});       \
    EXPECT_EQ(probe_output.exit_code, 0) << probe_output.text; \
  } while (0)

TEST_F(FaultFsTest, FsyncedDataSurvivesAndUnsyncedDataReverts) {
  EXPECT_PROBE_OK("create", "m:a", "hello", "--sync", "--dirsync");
  EXPECT_PROBE_OK("write", "m:a", "5", " world");
  EXPECT_PROBE_OK("write", "m:a", "0", "J");
  EXPECT_PROBE_OK("create", "m:t", "0123456789", "--sync", "--dirsync");
  EXPECT_PROBE_OK("truncate", "m:t", "3");
  EXPECT_PROBE_OK("create", "m:s", "0123456789", "--sync", "--dirsync");
  EXPECT_PROBE_OK("truncate", "m:s", "4", "--sync");
  EXPECT_EQ(slurp(m("a")), "Jello world");  // readers see unsynced changes at once
  EXPECT_EQ(slurp(m("t")), "012");
  Output status = ctl("status");
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.text.find("\"unsynced_ops\":3"), std::string::npos) << status.text;

  EXPECT_EQ(power_loss(), "ok dropped=3 bytes=7\n");
  EXPECT_EQ(slurp(m("a")), "hello");
  EXPECT_EQ(slurp(b("a")), "hello");  // the backing tree holds exactly the synced state
  EXPECT_EQ(slurp(m("t")), "0123456789");
  EXPECT_EQ(slurp(m("s")), "0123");
}

// A directory fsync makes every entry change in that directory durable, so each case below
// works in its own directory and syncs only the ones it means to.
TEST_F(FaultFsTest, CreatedFileNeedsDirectorySync) {
  EXPECT_PROBE_OK("mkdir", "m:a", "--dirsync");
  EXPECT_PROBE_OK("mkdir", "m:b", "--dirsync");
  EXPECT_PROBE_OK("create", "m:a/nodirsync", "data", "--sync");
  EXPECT_PROBE_OK("create", "m:b/dirsynced", "data", "--sync", "--dirsync");
  EXPECT_PROBE_OK("mkdir", "m:lost");  // its own entry in the root is never synced
  EXPECT_PROBE_OK("create", "m:lost/f", "in lost", "--sync", "--dirsync");
  EXPECT_TRUE(exists(m("a/nodirsync")));
  power_loss();
  EXPECT_FALSE(exists(m("a/nodirsync")));
  EXPECT_FALSE(exists(b("a/nodirsync")));
  EXPECT_EQ(slurp(m("b/dirsynced")), "data");
  EXPECT_FALSE(exists(m("lost")));
  EXPECT_TRUE(exists(m("a")));
}

TEST_F(FaultFsTest, RenameNeedsDirectorySync) {
  for (const char* dir : {"m:plain", "m:synced", "m:replace", "m:d1", "m:d2"}) {
    EXPECT_PROBE_OK("mkdir", dir, "--dirsync");
  }
  EXPECT_PROBE_OK("create", "m:plain/r", "one", "--sync", "--dirsync");
  EXPECT_PROBE_OK("create", "m:synced/r", "two", "--sync", "--dirsync");
  EXPECT_PROBE_OK("create", "m:replace/cfg", "old", "--sync", "--dirsync");
  EXPECT_PROBE_OK("create", "m:replace/cfg.tmp", "new", "--sync", "--dirsync");
  EXPECT_PROBE_OK("create", "m:d1/x", "x", "--sync", "--dirsync");

  EXPECT_PROBE_OK("rename", "m:plain/r", "m:plain/r.renamed");
  EXPECT_PROBE_OK("rename", "m:synced/r", "m:synced/r.renamed", "--dirsync");
  EXPECT_PROBE_OK("rename", "m:replace/cfg.tmp", "m:replace/cfg");  // replaces cfg, unsynced
  EXPECT_PROBE_OK("rename", "m:d1/x", "m:d2/x");
  EXPECT_PROBE_OK("dirsync", "m:d2");  // only one of the two parents
  EXPECT_EQ(slurp(m("replace/cfg")), "new");
  power_loss();
  EXPECT_EQ(slurp(m("plain/r")), "one");
  EXPECT_FALSE(exists(m("plain/r.renamed")));
  EXPECT_EQ(slurp(m("synced/r.renamed")), "two");
  EXPECT_FALSE(exists(m("synced/r")));
  EXPECT_EQ(slurp(m("replace/cfg")), "old");
  EXPECT_EQ(slurp(m("replace/cfg.tmp")), "new");
  EXPECT_EQ(slurp(m("d1/x")), "x");
  EXPECT_FALSE(exists(m("d2/x")));
}

TEST_F(FaultFsTest, UnlinkNeedsDirectorySync) {
  EXPECT_PROBE_OK("mkdir", "m:a", "--dirsync");
  EXPECT_PROBE_OK("mkdir", "m:b", "--dirsync");
  EXPECT_PROBE_OK("create", "m:a/u", "keep", "--sync", "--dirsync");
  EXPECT_PROBE_OK("write", "m:a/u", "4", " more");  // unsynced, then unlinked
  EXPECT_PROBE_OK("unlink", "m:a/u");
  EXPECT_PROBE_OK("create", "m:b/u", "gone", "--sync", "--dirsync");
  EXPECT_PROBE_OK("unlink", "m:b/u", "--dirsync");
  EXPECT_FALSE(exists(m("a/u")));
  power_loss();
  EXPECT_EQ(slurp(m("a/u")), "keep");
  EXPECT_FALSE(exists(m("b/u")));
  EXPECT_TRUE(fs::is_empty(b(".holdfast-faultfs-graveyard")));
  EXPECT_FALSE(exists(m(".holdfast-faultfs-graveyard")));  // hidden from the mount
}

TEST_F(FaultFsTest, MsyncedMappedWriteSurvivesUnsyncedOneDoesNot) {
  EXPECT_PROBE_OK("create", "m:map", "repeat:8192:.", "--sync", "--dirsync");
  EXPECT_PROBE_OK("mmap-write", "m:map", "0", "SYNCED", "--msync");
  EXPECT_PROBE_OK("mmap-write", "m:map", "4096", "LOST");
  std::string before = slurp(m("map"));
  ASSERT_EQ(before.size(), 8192u);
  EXPECT_EQ(before.substr(4096, 4), "LOST");
  power_loss();
  std::string after = slurp(m("map"));
  ASSERT_EQ(after.size(), 8192u);
  EXPECT_EQ(after.substr(0, 6), "SYNCED");
  EXPECT_EQ(after.substr(4096, 4), "....");
}

TEST_F(FaultFsTest, TornPowerLossKeepsPrefixOfLastWrite) {
  EXPECT_PROBE_OK("create", "m:torn", "repeat:4096:A", "--sync", "--dirsync");
  EXPECT_PROBE_OK("write", "m:torn", "0", "repeat:512:x");     // earlier unsynced write: undone
  EXPECT_PROBE_OK("write", "m:torn", "4096", "repeat:8192:B");  // last unsynced write: torn
  std::string reply = power_loss("power-loss torn");
  EXPECT_NE(reply.find("torn_files=1"), std::string::npos) << reply;
  std::string after = slurp(m("torn"));
  ASSERT_GT(after.size(), 4096u);
  ASSERT_LT(after.size(), 4096u + 8192u);
  EXPECT_EQ(after.size() % 512, 0u);
  EXPECT_EQ(after.substr(0, 4096), std::string(4096, 'A'));
  EXPECT_EQ(after.substr(4096), std::string(after.size() - 4096, 'B'));
}

TEST_F(FaultFsTest, QuotaFailsWritesWithEnospcUntilLifted) {
  Output set = ctl("quota 65536");
  EXPECT_EQ(set.exit_code, 0) << set.text;
  Output fill = probe({"fill", m("big"), "4096"});
  EXPECT_EQ(fill.exit_code, 0) << fill.text;
  EXPECT_NE(fill.text.find("written=65536 errno=ENOSPC"), std::string::npos) << fill.text;
  Output grow = probe({"fallocate", m("pre"), "4096"});
  EXPECT_EQ(grow.exit_code, 1);
  EXPECT_NE(grow.text.find("No space left"), std::string::npos) << grow.text;
  EXPECT_EQ(ctl("quota off").exit_code, 0);
  EXPECT_PROBE_OK("write", "m:big", "65536", "more room", "--sync");
  EXPECT_PROBE_OK("fallocate", "m:pre", "4096");
  EXPECT_EQ(fs::file_size(m("pre")), 4096u);
  EXPECT_EQ(fs::file_size(m("big")), 65536u + 9u);
  EXPECT_NE(ctl("status").text.find("\"quota\":null"), std::string::npos);
}

TEST_F(FaultFsTest, EioOnWriteAndFsyncUntilHealed) {
  EXPECT_EQ(ctl("eio write on").exit_code, 0);
  EXPECT_PROBE_OK("eio-write", "m:w");
  EXPECT_EQ(ctl("eio write off").exit_code, 0);
  EXPECT_PROBE_OK("write", "m:w", "0", "fine");

  EXPECT_EQ(ctl("eio fsync on commitlog").exit_code, 0);
  EXPECT_PROBE_OK("eio-fsync", "m:commitlog_000");
  EXPECT_PROBE_OK("write", "m:consumequeue_000", "0", "synced", "--sync");  // not matched
  EXPECT_EQ(ctl("eio write on").exit_code, 0);
  Output status = ctl("status");
  EXPECT_NE(status.text.find("\"faults\":[\"eio_write\",\"eio_fsync\"]"), std::string::npos) << status.text;

  EXPECT_EQ(ctl("heal").exit_code, 0);
  EXPECT_PROBE_OK("write", "m:commitlog_000", "0", "healed", "--sync");
  EXPECT_EQ(probe({"eio-fsync", m("commitlog_000")}).exit_code, 3);  // fsync works again
  EXPECT_NE(ctl("status").text.find("\"faults\":[]"), std::string::npos);
}

TEST_F(FaultFsTest, FsyncDelaySlowsEveryFsync) {
  EXPECT_EQ(ctl("fsync-delay 300").exit_code, 0);
  auto start = Clock::now();
  EXPECT_PROBE_OK("write", "m:slow", "0", "x", "--sync");
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(300));
}

TEST_F(FaultFsTest, BadControlCommandsGetErrors) {
  for (const char* command : {"bogus", "quota lots", "eio write maybe", "eio read on", "power-loss soon",
                              "fsync-delay -1"}) {
    Output reply = ctl(command);
    EXPECT_EQ(reply.exit_code, 1) << command;
    EXPECT_EQ(reply.text.rfind("error ", 0), 0u) << command << ": " << reply.text;
  }
  Output status = ctl("status");
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_EQ(status.text.rfind("ok {", 0), 0u) << status.text;
}

TEST_F(FaultFsTest, CleanStopKeepsUnsyncedChanges) {
  EXPECT_PROBE_OK("create", "m:kept", "unsynced");
  EXPECT_PROBE_OK("create", "m:doomed", "x", "--sync", "--dirsync");
  EXPECT_PROBE_OK("unlink", "m:doomed");
  EXPECT_EQ(daemon_.stop(), 0);
  EXPECT_EQ(slurp(b("kept")), "unsynced");
  EXPECT_FALSE(exists(b("doomed")));
  EXPECT_TRUE(fs::is_empty(b(".holdfast-faultfs-graveyard")));
}

}  // namespace
