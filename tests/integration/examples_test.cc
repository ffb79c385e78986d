// The examples/ programs run against a `holdfast standalone` child process: each exits 0 and prints
// what it promises (the sync producer's 10 sends, the consumer reading them back, 100 async
// acknowledgements, ordered sends keeping each order on one queue).
#include <gtest/gtest.h>

#include <filesystem>

#include "broker_test_support.h"

namespace holdfast {
namespace {

namespace ts = test_support;

TEST(Examples, RunAgainstStandalone) {
  char tmpl[] = "/tmp/hf_examples_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string bin = ts::self_dir();
  const uint16_t ns_port = ts::free_port();
  const uint16_t broker_port = ts::free_port();
  const std::string ns = "127.0.0.1:" + std::to_string(ns_port);
  ts::ChildProcess broker;
  std::vector<std::string> argv{bin + "/holdfast", "standalone", "--data", dir, "--host", "127.0.0.1",
                                "--namesrv-port", std::to_string(ns_port), "--broker-port", std::to_string(broker_port)};
  for (auto& s : ts::test_broker_settings(broker_port, {})) argv.push_back(std::move(s));
  std::string err = broker.start(argv);
  ASSERT_EQ(err, "");
  ASSERT_FALSE(broker.wait_for_line("Holdfast standalone:", 60000, &err).empty()) << err;

  const struct {
    std::string command;
    std::string expected;
  } cases[] = {
      {"producer_example " + ns + " ExampleTopic", "sent 10 of 10 messages"},
      {"pull_consumer_example " + ns + " ExampleTopic 10", "received 10 messages"},
      {"push_consumer_example " + ns + " ExampleTopic 10", "received 10 messages"},
      {"async_producer_example " + ns + " ExampleAsyncTopic", "async sends acknowledged: 100 of 100"},
      {"ordered_producer_example " + ns + " ExampleOrderedTopic", "ordered: 3 orders, each on one queue"},
      {"transaction_producer_example " + ns + " ExampleOrderTopic " + dir + "/orders.db",
       "transactions: 4 committed, 1 rolled back"},
      // Only the committed orders reach consumers (the rolled-back one never does).
      {"pull_consumer_example " + ns + " ExampleOrderTopic 4", "received 4 messages"},
  };
  for (const auto& c : cases) {
    ts::CommandOutput r = ts::run_command(bin + "/" + c.command);
    EXPECT_EQ(r.exit_code, 0) << c.command << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.command << "\n" << r.output;
  }
  // The consumer committed its offsets: a second run starts after them and finds nothing new.
  ts::CommandOutput again = ts::run_command(bin + "/pull_consumer_example " + ns + " ExampleTopic 0");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("received 0 messages"), std::string::npos) << again.output;

  broker.terminate(10000);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace holdfast
