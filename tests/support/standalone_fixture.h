// A gtest fixture for crash tests that run `holdfast standalone` as a child process on free
// loopback ports with a fresh data directory, start it again on the same data after `kill -9`,
// and keep the data directory when the test failed.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "broker_test_support.h"

namespace holdfast::test_support {

class StandaloneFixture : public ::testing::Test {
 protected:
  // The data directory is /tmp/<prefix>_XXXXXX.
  explicit StandaloneFixture(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    std::string tmpl = "/tmp/" + prefix_ + "_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    bin_ = self_dir() + "/holdfast";
    ASSERT_TRUE(std::filesystem::exists(bin_)) << bin_;
    ns_port_ = free_port();
    broker_port_ = free_port();
    ASSERT_NE(ns_port_, 0);
    ASSERT_NE(broker_port_, 0);
    do ha_port_ = free_port();
    while (ha_port_ == broker_port_ || ha_port_ == ns_port_);
    addr_ = "127.0.0.1:" + std::to_string(broker_port_);
  }
  void TearDown() override {
    proc_.kill9();
    if (HasFailure()) {
      std::printf("data kept for inspection: %s\n", dir_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts the standalone (same ports and data every time) and waits for its ready line;
  // `extra` are broker key=value overrides.
  void start_broker(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{bin_,           "standalone", "--data", dir_, "--host", "127.0.0.1", "--namesrv-port",
                                  std::to_string(ns_port_), "--broker-port", std::to_string(broker_port_)};
    std::vector<std::string> settings = extra;
    settings.insert(settings.begin(), "haListenPort=" + std::to_string(ha_port_));  // the same on every restart
    for (auto& s : test_broker_settings(broker_port_, settings)) argv.push_back(std::move(s));
    std::string err = proc_.start(argv);
    ASSERT_EQ(err, "");
    std::string line = proc_.wait_for_line("Holdfast standalone:", 60000, &err);
    ASSERT_FALSE(line.empty()) << err;
  }

  std::string prefix_;
  std::string dir_, bin_, addr_;
  uint16_t ns_port_ = 0, broker_port_ = 0, ha_port_ = 0;
  ChildProcess proc_;
};

}  // namespace holdfast::test_support
