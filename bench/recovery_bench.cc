// recovery_bench: how long the store takes to open after a crash with N MiB of commit log past
// the checkpoint. A child process writes the log and exits without a clean stop (as kill -9
// would leave it); the parent then opens the store and reports the recovery scan.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <CLI/CLI.hpp>

#include "env/env.h"
#include "storage/message_store.h"

namespace {

holdfast::StoreOptions options_for(const std::string& dir) {
  holdfast::StoreOptions o;
  o.root_dir = dir;
  o.flush_disk_type = holdfast::FlushDiskType::kAsyncFlush;
  o.checkpoint_interval_ms = 24LL * 3600 * 1000;  // no checkpoint after open: all of it is "past"
  return o;
}

int write_then_die(const std::string& dir, int64_t mib) {
  auto store = holdfast::MessageStore::open(holdfast::Env::posix(), options_for(dir));
  if (!store.is_ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().to_string().c_str());
    return 2;
  }
  holdfast::MessageToStore m;
  m.topic = "RecoveryBench";
  m.body.assign(1024, 'r');
  m.born_host = holdfast::HostAddress::ipv4(127, 0, 0, 1, 1);
  m.store_host = m.born_host;
  int64_t written = 0, n = 0;
  while (written < mib * 1024 * 1024) {
    m.queue_id = static_cast<int32_t>(n++ % 8);
    m.properties = std::string("KEYS\x01k") + std::to_string(n) + "\x02";
    auto r = (*store)->put(m);
    if (!r.stored()) {
      std::fprintf(stderr, "put failed: %s\n", r.remark.c_str());
      return 3;
    }
    written = r.physical_offset + r.wrote_bytes;
  }
  std::fprintf(stderr, "child wrote %lld messages, %lld bytes; exiting without a clean stop\n",
               static_cast<long long>(n), static_cast<long long>(written));
  std::fflush(stderr);
  // Make the bytes reach the page cache's backing file before dying; no checkpoint, abort marker stays.
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Crash-recovery start-up time of the Holdfast store"};
  std::string dir = "./data/recovery-bench";
  int64_t mib = 1024;
  bool drop_caches = false;
  app.add_option("--dir", dir, "Store directory (deleted before and after)");
  app.add_option("--mib", mib, "MiB of commit log past the checkpoint")->check(CLI::PositiveNumber);
  app.add_flag("--drop-caches", drop_caches, "sync and drop the page cache before recovery (root)");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(dir);
  pid_t pid = fork();
  if (pid == 0) return write_then_die(dir, mib);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "writer failed\n");
    return 1;
  }
  if (drop_caches) {
    ::sync();
    std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto store = holdfast::MessageStore::open(holdfast::Env::posix(), options_for(dir));
  const auto t1 = std::chrono::steady_clock::now();
  if (!store.is_ok()) {
    std::fprintf(stderr, "recovery failed: %s\n", store.status().to_string().c_str());
    return 1;
  }
  const auto& info = (*store)->recovery_info();
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  std::printf("crashed=%d scanned_from=%lld recovered_end=%lld records=%lld erased=%lld open_s=%.3f scan_MiB_per_s=%.1f page_cache=%s\n",
              info.crashed, static_cast<long long>(info.scanned_from),
              static_cast<long long>(info.recovered_end),
              static_cast<long long>(info.redispatched_records),
              static_cast<long long>(info.truncated_bytes), secs,
              (info.recovered_end - info.scanned_from) / 1048576.0 / secs,
              drop_caches ? "dropped" : "warm");
  (void)(*store)->shutdown();
  store = holdfast::Result<std::unique_ptr<holdfast::MessageStore>>(holdfast::Status::aborted("done"));
  std::filesystem::remove_all(dir);
  return info.crashed ? 0 : 1;
}
