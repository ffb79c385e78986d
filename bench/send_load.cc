// send_load: a minimal loopback load generator for a running broker. It keeps N sync-style sends
// in flight (each waits for its response before the next one starts in that slot), each a
// SEND_MESSAGE_V2 of --size bytes to one topic, and prints msgs/s with p50/p99/max latency.
// It exists until the C++ client and `holdfast bench` replace it.
//
//   send_load --addr 127.0.0.1:10911 --topic LoadTest --inflight 32 --size 1024 --seconds 10
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/message.h"
#include "transport/remoting_client.h"

using namespace holdfast;
using Clock = std::chrono::steady_clock;

namespace {

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> latencies_us;
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t other_status = 0;
  int running = 0;
  std::string first_error;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"send_load: keep N SEND_MESSAGE_V2 requests in flight against a broker"};
  std::string addr = "127.0.0.1:10911";
  std::string topic = "LoadTest";
  int inflight = 32;
  int size = 1024;
  double seconds = 10;
  double warmup = 2;
  int queues = 4;
  bool json = false;
  app.add_option("--addr", addr, "Broker address")->capture_default_str();
  app.add_option("--topic", topic, "Topic (must exist or be auto-creatable)")->capture_default_str();
  app.add_option("--inflight", inflight, "Concurrent sends")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--size", size, "Body bytes")->check(CLI::Range(1, 4 << 20))->capture_default_str();
  app.add_option("--seconds", seconds, "Measured duration")->capture_default_str();
  app.add_option("--warmup", warmup, "Unmeasured warm-up before the measurement")->capture_default_str();
  app.add_option("--queues", queues, "Queues to spread over (queueId = slot % queues)")->capture_default_str();
  app.add_flag("--json", json, "Print one JSON line instead of text");
  CLI11_PARSE(app, argc, argv);

  transport::ClientOptions copts;
  copts.io_threads = 1;
  transport::RemotingClient client(copts);
  const std::string body(static_cast<size_t>(size), 'x');
  Shared sh;
  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> seq{0};

  std::function<void(int)> send_one = [&](int slot) {
    if (stopping.load()) {
      std::lock_guard<std::mutex> l(sh.mu);
      if (--sh.running == 0) sh.cv.notify_all();
      return;
    }
    remoting::RemotingCommand r = remoting::RemotingCommand::make_request(remoting::request_code::kSendMessageV2);
    r.set_ext("a", "send_load");
    r.set_ext("b", topic);
    r.set_ext("c", "TBW102");
    r.set_ext_int("d", 4);
    r.set_ext_int("e", slot % queues);
    r.set_ext_int("f", 0);
    r.set_ext_int("g", std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count());
    r.set_ext_int("h", 0);
    std::string props;
    uint64_t n = seq.fetch_add(1);
    char uniq[33];
    std::snprintf(uniq, sizeof uniq, "7F000001%08X%016llX", static_cast<unsigned>(slot),
                  static_cast<unsigned long long>(n));
    append_property(&props, "UNIQ_KEY", uniq);
    append_property(&props, "WAIT", "true");
    r.set_ext("i", props);
    r.body = body;
    auto start = Clock::now();
    client.invoke_async(addr, std::move(r), 3000, [&, slot, start](Result<remoting::RemotingCommand> resp) {
      int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
      {
        std::lock_guard<std::mutex> l(sh.mu);
        if (!resp.is_ok()) {
          // A transport failure retires the slot (no tight retry loop against a dead broker).
          ++sh.failed;
          if (sh.first_error.empty()) sh.first_error = resp.status().to_string();
          if (--sh.running == 0) sh.cv.notify_all();
          return;
        } else if ((*resp).code != remoting::response_code::kSuccess) {
          ++sh.other_status;
          if (sh.first_error.empty()) {
            sh.first_error = "code " + std::to_string((*resp).code) + ": " + (*resp).remark.value_or("");
          }
        } else if (measuring.load()) {
          ++sh.ok;
          sh.latencies_us.push_back(us);
        }
      }
      send_one(slot);
    });
  };

  sh.running = inflight;
  for (int i = 0; i < inflight; ++i) send_one(i);
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  measuring.store(true);
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring.store(false);
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  stopping.store(true);
  {
    std::unique_lock<std::mutex> l(sh.mu);
    sh.cv.wait_for(l, std::chrono::seconds(10), [&] { return sh.running == 0; });
  }
  std::vector<int64_t> lat;
  int64_t ok, failed, other;
  std::string err;
  {
    std::lock_guard<std::mutex> l(sh.mu);
    lat = sh.latencies_us;
    ok = sh.ok;
    failed = sh.failed;
    other = sh.other_status;
    err = sh.first_error;
  }
  client.shutdown();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) -> double {
    if (lat.empty()) return 0;
    return lat[std::min(lat.size() - 1, static_cast<size_t>(p * static_cast<double>(lat.size())))] / 1000.0;
  };
  double rate = static_cast<double>(ok) / elapsed;
  if (json) {
    std::printf("{\"inflight\":%d,\"size\":%d,\"seconds\":%.2f,\"ok\":%lld,\"failed\":%lld,\"not_ok\":%lld,"
                "\"msgs_per_s\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
                inflight, size, elapsed, static_cast<long long>(ok), static_cast<long long>(failed),
                static_cast<long long>(other), rate, pct(0.5), pct(0.99), lat.empty() ? 0.0 : lat.back() / 1000.0);
  } else {
    std::printf("in flight %d, %d B: %.0f msgs/s over %.1f s (%lld ok, %lld failed, %lld not SUCCESS); "
                "p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
                inflight, size, rate, elapsed, static_cast<long long>(ok), static_cast<long long>(failed),
                static_cast<long long>(other), pct(0.5), pct(0.99), lat.empty() ? 0.0 : lat.back() / 1000.0);
  }
  if (!err.empty()) std::fprintf(stderr, "first error: %s\n", err.c_str());
  return ok > 0 ? 0 : 1;
}
