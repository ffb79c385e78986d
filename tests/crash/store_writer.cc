// store_writer: the process store_kill_test kills with SIGKILL. It opens a SYNC_FLUSH store and
// puts deterministic messages from several threads forever, printing one line per acknowledged
// put, so the test knows exactly which messages the store promised to keep.
//
// Usage: store_writer <store_dir> <round>
// Output lines (one write(2) each):
//   ack <round> <thread> <seq> <physical_offset> <wrote_bytes> <queue_id> <queue_offset>   (kOk)
//   tmo <round> <thread> <seq> <physical_offset> <wrote_bytes> <queue_id> <queue_offset>   (stored, flush timed out)
// Any other put status is printed to stderr and ends the process with exit code 3.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crash_workload.h"
#include "base/sync_point.h"
#include "env/env.h"
#include "storage/message_store.h"

namespace {

std::mutex g_out_mu;

void write_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_out_mu);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDOUT_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(4);  // the reader is gone
    done += static_cast<size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <store_dir> <round>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int round = std::atoi(argv[2]);
  // HOLDFAST_CRASH_NOISE (inherited from the test) adds scheduling noise at the store's sync
  // points, seeded by the round and HOLDFAST_KILL_SEED.
  const char* kill_seed = std::getenv("HOLDFAST_KILL_SEED");
  holdfast::sync_point::enable_from_env(
      holdfast::sync_point::kCrashNoiseEnv,
      static_cast<uint64_t>(round) * 1000003u + (kill_seed ? std::strtoull(kill_seed, nullptr, 10) : 0));
  auto opened = holdfast::MessageStore::open(holdfast::Env::posix(), holdfast::crash::kill_test_options(dir));
  if (!opened.is_ok()) {
    std::fprintf(stderr, "store_writer: open %s failed: %s\n", dir.c_str(), opened.status().to_string().c_str());
    return 2;
  }
  holdfast::MessageStore* store = opened->get();
  std::vector<std::thread> threads;
  for (int t = 0; t < holdfast::crash::kWriterThreads; ++t) {
    threads.emplace_back([store, round, t] {
      for (int64_t seq = 0;; ++seq) {
        holdfast::PutResult r = store->put(holdfast::crash::workload_message(round, t, seq));
        const char* tag = r.status == holdfast::PutStatus::kOk                 ? "ack"
                          : r.status == holdfast::PutStatus::kFlushDiskTimeout ? "tmo"
                                                                               : nullptr;
        if (tag == nullptr) {
          std::fprintf(stderr, "store_writer: put r%d w%d seq %lld failed: %s %s\n", round, t,
                       static_cast<long long>(seq), holdfast::put_status_name(r.status), r.remark.c_str());
          std::_Exit(3);
        }
        write_line(std::string(tag) + " " + std::to_string(round) + " " + std::to_string(t) + " " +
                   std::to_string(seq) + " " + std::to_string(r.physical_offset) + " " +
                   std::to_string(r.wrote_bytes) + " " + std::to_string(r.queue_id) + " " +
                   std::to_string(r.queue_offset) + "\n");
      }
    });
  }
  for (auto& th : threads) th.join();  // never returns: the test kills us
  return 0;
}
