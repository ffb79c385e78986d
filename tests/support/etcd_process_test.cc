// EtcdProcess against the real /usr/bin/etcd: start and answer, pause makes requests time out and
// resume brings them back, a key survives kill -9 and restart on the same ports, stop works even
// on a paused etcd, one-second leases are granted, and the destructor leaves no process behind.
#include "etcd_process.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace holdfast::test_support {
namespace {

class EtcdProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdProcess::available()) {
      GTEST_SKIP() << "/usr/bin/etcd is not installed or not executable (Debian package 'etcd-server'); "
                      "the etcd child-process tests need it";
    }
    std::string templ = (std::filesystem::temp_directory_path() / "hf-etcd-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr) << std::strerror(errno);
    dir_ = templ;
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    } else if (!dir_.empty()) {
      std::printf("etcd data and log kept in %s\n", dir_.c_str());
    }
  }

  static std::string range_body(const std::string& key) { return R"({"key":")" + base64_encode(key) + R"("})"; }

  std::string dir_;
};

bool eventually_ok(uint16_t port, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (http_post(port, "/v3/kv/range", R"({"key":"AA=="})", 500) == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(EtcdBase64, EncodesWithPadding) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode(std::string(1, '\0')), "AA==");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("\xff\xfe"), "//4=");
}

TEST_F(EtcdProcessTest, StartsAndAnswers) {
  EtcdProcess etcd(dir_ + "/data");
  ASSERT_EQ(etcd.start(), "");
  EXPECT_TRUE(etcd.running());
  EXPECT_GT(etcd.pid(), 0);
  ASSERT_NE(etcd.client_port(), 0);
  EXPECT_EQ(etcd.client_url(), "http://127.0.0.1:" + std::to_string(etcd.client_port()));
  EXPECT_NE(etcd.peer_port(), etcd.client_port());

  std::string body;
  EXPECT_EQ(http_post(etcd.client_port(), "/v3/kv/range", R"({"key":"AA=="})", 2000, &body), 200);
  EXPECT_NE(body.find("\"header\""), std::string::npos) << body;
  // A request etcd cannot parse is answered, not hung.
  EXPECT_EQ(http_post(etcd.client_port(), "/v3/kv/range", "{not json", 2000), 400);

  // Its log went to the file, not to the terminal.
  EXPECT_EQ(etcd.log_path(), dir_ + "/data.log");
  std::error_code ec;
  EXPECT_GT(std::filesystem::file_size(etcd.log_path(), ec), 0u);

  EXPECT_NE(etcd.start(), "") << "a second start() of a running etcd must fail";
  EXPECT_NE(etcd.restart(), "") << "restart() of a running etcd must fail";
  etcd.stop();
  EXPECT_FALSE(etcd.running());
  EXPECT_EQ(etcd.pid(), -1);
}

TEST_F(EtcdProcessTest, AllowsOneSecondLeases) {
  EtcdProcess etcd(dir_ + "/data");
  ASSERT_EQ(etcd.start(), "");
  std::string body;
  ASSERT_EQ(http_post(etcd.client_port(), "/v3/lease/grant", R"({"TTL":1})", 2000, &body), 200) << body;
  // etcd raises a TTL below its minimum (1.5 election timeouts) silently; "1" means it kept it.
  EXPECT_NE(body.find("\"TTL\":\"1\""), std::string::npos) << body;
}

TEST_F(EtcdProcessTest, PauseMakesRequestsTimeOutAndResumeRecovers) {
  EtcdProcess etcd(dir_ + "/data");
  ASSERT_EQ(etcd.start(), "");
  etcd.pause();
  EXPECT_TRUE(etcd.running()) << "a paused etcd is still alive";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(http_post(etcd.client_port(), "/v3/kv/range", R"({"key":"AA=="})", 500), 0)
      << "a paused etcd answered";
  const auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(waited, 450);
  EXPECT_LT(waited, 2000);

  etcd.resume();
  EXPECT_TRUE(eventually_ok(etcd.client_port(), 5000)) << "etcd did not answer after resume";
}

TEST_F(EtcdProcessTest, KeySurvivesKill9AndRestartOnTheSamePorts) {
  EtcdProcess etcd(dir_ + "/data");
  ASSERT_EQ(etcd.start(), "");
  const uint16_t port = etcd.client_port();
  const uint16_t peer = etcd.peer_port();
  const std::string put =
      R"({"key":")" + base64_encode("/holdfast/test/key") + R"(","value":")" + base64_encode("value-1") + R"("})";
  std::string body;
  ASSERT_EQ(http_post(port, "/v3/kv/put", put, 2000, &body), 200) << body;

  const pid_t old_pid = etcd.pid();
  etcd.kill9();
  EXPECT_FALSE(etcd.running());
  EXPECT_EQ(::kill(old_pid, 0), -1) << "the killed etcd was not reaped";
  EXPECT_EQ(http_post(port, "/v3/kv/range", R"({"key":"AA=="})", 500), 0) << "something still answers";

  ASSERT_EQ(etcd.restart(), "");
  EXPECT_EQ(etcd.client_port(), port);
  EXPECT_EQ(etcd.peer_port(), peer);
  EXPECT_NE(etcd.pid(), old_pid);
  ASSERT_EQ(http_post(port, "/v3/kv/range", range_body("/holdfast/test/key"), 2000, &body), 200) << body;
  EXPECT_NE(body.find("\"value\":\"" + base64_encode("value-1") + "\""), std::string::npos) << body;
  // And a key never written is absent, so the check above can tell.
  ASSERT_EQ(http_post(port, "/v3/kv/range", range_body("/holdfast/test/other"), 2000, &body), 200) << body;
  EXPECT_EQ(body.find("\"kvs\""), std::string::npos) << body;
}

TEST_F(EtcdProcessTest, StopWorksOnAPausedEtcdAndRestartFollows) {
  EtcdProcess etcd(dir_ + "/data");
  ASSERT_EQ(etcd.start(), "");
  etcd.pause();
  const auto t0 = std::chrono::steady_clock::now();
  etcd.stop();
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(etcd.running());
  EXPECT_LT(took, 4500) << "SIGTERM did not end a paused etcd; stop() fell back to SIGKILL";
  ASSERT_EQ(etcd.restart(), "");
  EXPECT_TRUE(eventually_ok(etcd.client_port(), 2000));
}

TEST_F(EtcdProcessTest, DestructorKillsAndReaps) {
  pid_t pid = -1;
  {
    EtcdProcess etcd(dir_ + "/data");
    ASSERT_EQ(etcd.start(), "");
    pid = etcd.pid();
    etcd.pause();  // even a paused one
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
}  // namespace holdfast::test_support
