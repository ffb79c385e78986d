// CLI11 registration of `holdfast bench`; Ctrl-C ends a run early and still prints the summary.
#include "app/bench_command.h"

#include <atomic>
#include <csignal>
#include <cstdio>

#include "app/admin_client.h"
#include "app/admin_command.h"
#include "app/bench_runner.h"

namespace holdfast::bench {

namespace {

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);
void on_interrupt(int) { g_interrupted.store(true); }

void catch_interrupts() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

struct Common {
  std::string namesrv = admin::default_namesrv();
  bool json = false;
};

void add_common(CLI::App* command, Common* common, double* duration, double* interval) {
  command->add_option("-n,--namesrv", common->namesrv, "Name server address(es), ';'-separated")->capture_default_str();
  command->add_option("--duration", *duration, "Seconds to run (0 = until Ctrl-C)")->capture_default_str();
  command->add_option("--interval", *interval, "Seconds between progress lines")->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--json", common->json, "Print only a JSON summary at the end (for scripts)");
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, std::shared_ptr<int> exit_code) {
  CLI::App* bench = app.add_subcommand("bench", "Load generators on the C++ client (like RocketMQ's benchmark tools)");
  bench->require_subcommand(1);

  auto produce_options = std::make_shared<ProduceOptions>();
  auto produce_common = std::make_shared<Common>();
  CLI::App* produce = bench->add_subcommand(
      "produce", "Send messages from N threads; every interval: send TPS, failures, avg/p50/p99/max RT "
                 "(RocketMQ's benchmark Producer)");
  produce->add_option("-t,--topic", produce_options->topic, "Topic")->capture_default_str();
  produce->add_option("-w,--threads", produce_options->threads, "Sender threads")->check(CLI::Range(1, 4096))
      ->capture_default_str();
  produce->add_option("-s,--size", produce_options->size, "Body size in bytes")->check(CLI::Range(1, 4 << 20))
      ->capture_default_str();
  produce->add_flag("-a,--async", produce_options->async, "send_async with --in-flight outstanding sends per thread");
  produce->add_option("--in-flight", produce_options->in_flight, "Outstanding async sends per thread")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  produce->add_option("-b,--batch", produce_options->batch, "Messages per send (one SEND_BATCH_MESSAGE)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  produce->add_option("-g,--group", produce_options->group, "Producer group")->capture_default_str();
  produce->add_flag("--transaction", produce_options->transaction,
                    "Each send is a transaction (half message, local transaction that commits, END_TRANSACTION); "
                    "check-backs are answered with commit and counted");
  add_common(produce, produce_common.get(), &produce_options->duration_s, &produce_options->interval_s);
  produce->callback([produce_options, produce_common, exit_code]() {
    produce_options->name_servers = admin::split_name_servers(produce_common->namesrv);
    catch_interrupts();
    auto summary = run_produce(*produce_options, &g_interrupted, produce_common->json ? nullptr : stdout);
    if (!summary.is_ok()) {
      std::fprintf(stderr, "holdfast bench produce: %s\n", summary.status().message().c_str());
      *exit_code = 1;
      return;
    }
    std::printf("%s\n", produce_common->json ? summary_json(*produce_options, *summary).c_str()
                                             : summary_line(*summary).c_str());
    *exit_code = 0;
  });

  auto consume_options = std::make_shared<ConsumeOptions>();
  auto consume_common = std::make_shared<Common>();
  auto from = std::make_shared<std::string>("committed");
  CLI::App* consume = bench->add_subcommand(
      "consume", "Pull every queue with long polling, committing offsets; every interval: consume TPS and "
                 "born-to-consumed latency (RocketMQ's benchmark Consumer)");
  consume->add_option("-t,--topic", consume_options->topic, "Topic")->capture_default_str();
  consume->add_option("-g,--group", consume_options->group, "Consumer group")->capture_default_str();
  consume->add_option("-w,--threads", consume_options->threads, "Puller threads (0 = one per queue, at most 32)")
      ->capture_default_str();
  consume->add_option("--from", *from, "Start at the group's committed offset (new group: the end), first or last")
      ->check(CLI::IsMember({"committed", "first", "last"}))
      ->capture_default_str();
  consume->add_option("--count", consume_options->stop_after, "Stop after this many messages (0 = no limit)")
      ->capture_default_str();
  consume->add_flag("--push", consume_options->push,
                    "Use a PushConsumer (rebalance, consume pool, offsets every 5 s) with a listener that does no "
                    "work; --threads = consume threads");
  add_common(consume, consume_common.get(), &consume_options->duration_s, &consume_options->interval_s);
  consume->callback([consume_options, consume_common, from, exit_code]() {
    consume_options->name_servers = admin::split_name_servers(consume_common->namesrv);
    consume_options->from = *from == "first"  ? ConsumeOptions::From::kFirst
                            : *from == "last" ? ConsumeOptions::From::kLast
                                              : ConsumeOptions::From::kCommitted;
    catch_interrupts();
    auto summary = run_consume(*consume_options, &g_interrupted, consume_common->json ? nullptr : stdout);
    if (!summary.is_ok()) {
      std::fprintf(stderr, "holdfast bench consume: %s\n", summary.status().message().c_str());
      *exit_code = 1;
      return;
    }
    std::printf("%s\n", consume_common->json ? summary_json(*consume_options, *summary).c_str()
                                             : summary_line(*summary).c_str());
    *exit_code = 0;
  });
  return bench;
}

}  // namespace holdfast::bench
