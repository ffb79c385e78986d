// The `holdfast` binary: one executable whose subcommands are the product's processes.
// Implemented so far: `holdfast namesrv`. (`broker`, `standalone`, `admin` and `bench` follow.)
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "namesrv/name_server.h"

namespace {

// Set from the signal handler: a lock-free atomic store is async-signal-safe.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_signal(int) { g_stop.store(true); }

void wait_for_signal() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

int run_namesrv(const std::string& host, int port) {
  holdfast::namesrv::NameServerOptions options;
  options.server.host = host;
  options.server.port = static_cast<uint16_t>(port);
  holdfast::namesrv::NameServer ns(options);
  holdfast::Status st = ns.start();
  if (!st.is_ok()) {
    std::fprintf(stderr, "holdfast namesrv: %s\n", st.to_string().c_str());
    return 1;
  }
  std::printf("Holdfast name server on %s:%u (Ctrl-C stops it)\n", host.c_str(), ns.port());
  std::fflush(stdout);
  wait_for_signal();
  ns.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Holdfast: a RocketMQ-compatible broker that never loses an acknowledged message"};
  app.require_subcommand(1);
  std::string host = "127.0.0.1";
  int port = 9876;
  auto* namesrv = app.add_subcommand("namesrv", "Run the name server (routes for producers and consumers)");
  namesrv->add_option("--host", host, "Address to listen on")->capture_default_str();
  namesrv->add_option("--port", port, "Port to listen on (RocketMQ's default 9876)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (namesrv->parsed()) return run_namesrv(host, port);
  return 2;
}
