// store_bench: the storage micro-benchmark (a measurement, not a test). It measures MessageStore
// put throughput, put latency and group commit (messages per fdatasync) for 1 KiB messages under
// SYNC_FLUSH and ASYNC_FLUSH, next to a raw 4 KiB write + fdatasync loop on the same file system.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "base/logging.h"
#include "env/env.h"
#include "storage/message_store.h"

namespace holdfast::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr size_t kBodyBytes = 1024;
constexpr int kQueues = 8;
constexpr size_t kRawBlockBytes = 4096;
constexpr uint64_t kRawOverwriteFileBytes = 64ULL << 20;  // written once, then overwritten in a ring
constexpr uint64_t kRawFreshFileBytes = 256ULL << 20;     // fallocated only; never wraps
constexpr auto kWatchdogSlack = std::chrono::seconds(60);

struct Flags {
  std::string dir = "./data/bench";
  bool quick = false;
  int64_t duration_ms = 0;  // 0: 1500 with --quick, 5000 otherwise
  bool json = false;
  int64_t segment_mb = 0;   // 0: the StoreOptions default (1 GiB)
  std::vector<std::string> modes = {"sync", "async"};
  std::vector<int> writers = {1, 8, 32, 128};
  bool skip_raw = false;
  // "threads": each writer is a thread looping a blocking put(). "inflight": each writer is one
  // outstanding put_async() re-issued from its completion by a single driver thread, the way a
  // broker's network threads drive the store.
  std::string driver = "threads";
};

// Latency summary in microseconds (nearest-rank percentiles); NaN when nothing was measured.
struct Latency {
  double p50 = NAN, p99 = NAN, p999 = NAN, max = NAN;
};

Latency summarize(std::vector<int64_t>* ns) {
  Latency l;
  if (ns->empty()) return l;
  std::sort(ns->begin(), ns->end());
  auto at = [&](double q) {
    auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(ns->size())));
    rank = std::clamp<size_t>(rank, 1, ns->size());
    return static_cast<double>((*ns)[rank - 1]) / 1000.0;
  };
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  l.p999 = at(0.999);
  l.max = static_cast<double>(ns->back()) / 1000.0;
  return l;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double ratio(double num, double den) { return den > 0 ? num / den : NAN; }

// Ends the process with a diagnostic if a case (including the store's shutdown) has not finished
// long after its planned duration: a hung store must show up as a failure, not as a silent stall.
class Watchdog {
 public:
  Watchdog(std::string what, std::chrono::milliseconds limit, std::function<std::string()> state)
      : thread_([this, what = std::move(what), limit, state = std::move(state)] {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, limit, [this] { return disarmed_; })) return;
          std::fprintf(stderr, "store_bench: %s did not finish within %lld ms; %s\n", what.c_str(),
                       static_cast<long long>(limit.count()), state ? state().c_str() : "");
          std::fflush(stderr);
          std::_Exit(3);
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      disarmed_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

bool remove_tree(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) {
    std::fprintf(stderr, "store_bench: cannot remove %s: %s\n", p.c_str(), ec.message().c_str());
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- raw reference

struct RawResult {
  uint64_t iterations = 0;
  double seconds = 0;
  double per_s = 0;
  Latency latency;
};

enum class RawTarget {
  kOverwrite,       // blocks written and synced before the loop: pure data overwrite
  kFreshAllocated,  // fallocated only: every sync also converts unwritten extents
};

std::optional<RawResult> run_raw(const fs::path& dir, RawTarget target, int64_t duration_ms) {
  Env* env = Env::posix();
  const bool overwrite = target == RawTarget::kOverwrite;
  const std::string path = (dir / (overwrite ? "overwrite" : "fresh_fallocated")).string();
  const uint64_t file_bytes = overwrite ? kRawOverwriteFileBytes : kRawFreshFileBytes;
  auto fail = [&](const Status& st) -> std::optional<RawResult> {
    std::fprintf(stderr, "store_bench: raw %s: %s\n", path.c_str(), st.to_string().c_str());
    return std::nullopt;
  };
  auto opened = env->open_file(path, OpenMode::kCreateIfMissing);
  if (!opened.is_ok()) return fail(opened.status());
  std::unique_ptr<File> file = std::move(opened).value();
  if (Status st = file->allocate(file_bytes); !st.is_ok()) return fail(st);
  if (overwrite) {
    const std::string zeros(1 << 20, '\0');
    for (uint64_t off = 0; off < file_bytes; off += zeros.size()) {
      if (Status st = file->write_at(off, zeros.data(), zeros.size()); !st.is_ok()) return fail(st);
    }
  }
  if (Status st = file->sync(); !st.is_ok()) return fail(st);
  if (Status st = env->sync_dir(dir.string()); !st.is_ok()) return fail(st);

  const std::string block(kRawBlockBytes, 'r');
  const uint64_t blocks = file_bytes / kRawBlockBytes;
  std::vector<int64_t> ns;
  ns.reserve(1 << 16);
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::milliseconds(duration_ms);
  uint64_t i = 0;
  for (;; ++i) {
    if (!overwrite && i == blocks) break;  // a fresh file is appended to, never wrapped
    const Clock::time_point t0 = Clock::now();
    if (t0 >= deadline) break;
    const uint64_t off = (i % blocks) * kRawBlockBytes;
    if (Status st = file->write_at(off, block.data(), block.size()); !st.is_ok()) return fail(st);
    if (Status st = file->sync(); !st.is_ok()) return fail(st);
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  RawResult r;
  r.seconds = seconds_between(start, Clock::now());
  r.iterations = i;
  r.per_s = static_cast<double>(i) / r.seconds;
  r.latency = summarize(&ns);
  return r;
}

// ---------------------------------------------------------------- store cases

struct CaseResult {
  FlushDiskType type = FlushDiskType::kSyncFlush;
  int writers = 0;
  uint64_t puts_ok = 0;
  uint64_t errors = 0;
  std::string first_error;
  double seconds = 0;
  double msgs_per_s = 0;
  double mb_per_s = 0;  // commit-log bytes appended per second / 10^6
  uint64_t fdatasyncs = 0;
  double msgs_per_fsync = NAN;
  Latency latency;
};

const char* mode_key(FlushDiskType t) { return t == FlushDiskType::kSyncFlush ? "sync" : "async"; }
const char* mode_name(FlushDiskType t) {
  return t == FlushDiskType::kSyncFlush ? "SYNC_FLUSH" : "ASYNC_FLUSH";
}

MessageToStore bench_message() {
  MessageToStore m;
  m.topic = "BenchTopic";
  m.born_timestamp = Env::posix()->now_ms();
  m.born_host = HostAddress::ipv4(127, 0, 0, 1, 40000);
  m.store_host = HostAddress::ipv4(127, 0, 0, 1, 10911);
  m.body.resize(kBodyBytes);
  for (size_t i = 0; i < kBodyBytes; ++i) m.body[i] = static_cast<char>('a' + (i * 7) % 26);
  append_property(&m.properties, "TAGS", "TagA");
  return m;
}

StoreOptions store_options(const Flags& flags, const fs::path& root, FlushDiskType type) {
  StoreOptions o;
  o.root_dir = root.string();
  o.flush_disk_type = type;
  if (flags.segment_mb > 0) o.commit_log_segment_size = flags.segment_mb << 20;
  return o;
}

struct WriterStats {
  std::vector<int64_t> latency_ns;
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::string first_error;
};

// Keeps `inflight` puts outstanding from one driver thread until the duration ends.
void run_inflight(MessageStore* store, const MessageToStore& prototype, int inflight,
                  int64_t duration_ms, WriterStats* ws) {
  struct Done {
    int slot;
    PutStatus status;
    std::string remark;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Done> completed;
  std::vector<Clock::time_point> issued(static_cast<size_t>(inflight));
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(duration_ms);
  uint64_t seq = 0;
  auto issue = [&](int slot) {
    MessageToStore m = prototype;
    m.queue_id = static_cast<int32_t>(seq++ % kQueues);
    issued[static_cast<size_t>(slot)] = Clock::now();
    store->put_async(std::move(m), [&, slot](const PutResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      completed.push_back({slot, r.status, r.status == PutStatus::kOk ? std::string() : r.remark});
      if (completed.size() == 1) cv.notify_one();
    });
  };
  ws->latency_ns.reserve(1 << 20);
  int outstanding = inflight;
  for (int slot = 0; slot < inflight; ++slot) issue(slot);
  std::vector<Done> batch;
  while (outstanding > 0) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return !completed.empty(); });
      batch.swap(completed);
    }
    const Clock::time_point now = Clock::now();
    for (const Done& d : batch) {
      if (d.status == PutStatus::kOk) {
        ++ws->ok;
        ws->latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
            now - issued[static_cast<size_t>(d.slot)]).count());
      } else if (ws->errors++ == 0) {
        ws->first_error = fmt::format("{}: {}", put_status_name(d.status), d.remark);
      }
      if (now < deadline) issue(d.slot); else --outstanding;
    }
    batch.clear();
  }
}

std::optional<CaseResult> run_store_case(const Flags& flags, FlushDiskType type, int writers,
                                         int64_t duration_ms) {
  const fs::path root = fs::path(flags.dir) / fmt::format("{}-w{}", mode_key(type), writers);
  if (!remove_tree(root)) return std::nullopt;
  const std::string what = fmt::format("case {} writers={}", mode_name(type), writers);

  auto opened = MessageStore::open(Env::posix(), store_options(flags, root, type));
  if (!opened.is_ok()) {
    std::fprintf(stderr, "store_bench: %s: open failed: %s\n", what.c_str(),
                 opened.status().to_string().c_str());
    return std::nullopt;
  }
  std::unique_ptr<MessageStore> store = std::move(opened).value();
  MessageStore* s = store.get();
  Watchdog watchdog(what, std::chrono::milliseconds(duration_ms) + kWatchdogSlack, [s] {
    return fmt::format("written={} flushed={} confirmed={} fdatasyncs={} fenced={}",
                       s->written_offset(), s->flushed_offset(), s->confirmed_offset(),
                       s->fdatasync_count(), s->fenced());
  });

  const MessageToStore prototype = bench_message();
  std::vector<WriterStats> stats(static_cast<size_t>(writers));
  std::latch ready(writers);
  std::latch go(1);
  Clock::time_point start;  // written before `go` opens, read after
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(writers));
  const int thread_count = flags.driver == "inflight" ? 0 : writers;
  if (thread_count == 0) {
    for (int t = 0; t < writers; ++t) ready.count_down();
  }
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      WriterStats& ws = stats[static_cast<size_t>(t)];
      ws.latency_ns.reserve(1 << 14);
      ready.count_down();
      go.wait();
      const Clock::time_point deadline = start + std::chrono::milliseconds(duration_ms);
      for (uint64_t i = static_cast<uint64_t>(t);; ++i) {
        MessageToStore m = prototype;
        m.queue_id = static_cast<int32_t>(i % kQueues);
        const Clock::time_point t0 = Clock::now();
        if (t0 >= deadline) break;
        PutResult r = store->put(std::move(m));
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        if (r.status == PutStatus::kOk) {
          ++ws.ok;
          ws.latency_ns.push_back(ns);
        } else {
          if (ws.errors++ == 0) ws.first_error = fmt::format("{}: {}", put_status_name(r.status), r.remark);
        }
      }
    });
  }
  ready.wait();
  const uint64_t syncs_before = store->fdatasync_count();
  const int64_t written_before = store->written_offset();
  start = Clock::now();
  go.count_down();
  for (auto& th : threads) th.join();
  if (flags.driver == "inflight") run_inflight(store.get(), prototype, writers, duration_ms, &stats[0]);
  const Clock::time_point end = Clock::now();
  const uint64_t syncs_after = store->fdatasync_count();
  const int64_t written_after = store->written_offset();

  CaseResult c;
  c.type = type;
  c.writers = writers;
  c.seconds = seconds_between(start, end);
  std::vector<int64_t> all;
  size_t total = 0;
  for (const auto& ws : stats) total += ws.latency_ns.size();
  all.reserve(total);
  for (auto& ws : stats) {
    all.insert(all.end(), ws.latency_ns.begin(), ws.latency_ns.end());
    ws.latency_ns = {};
    c.puts_ok += ws.ok;
    if (ws.errors > 0 && c.errors == 0) c.first_error = ws.first_error;
    c.errors += ws.errors;
  }
  c.latency = summarize(&all);
  c.msgs_per_s = static_cast<double>(c.puts_ok) / c.seconds;
  c.mb_per_s = static_cast<double>(written_after - written_before) / c.seconds / 1e6;
  c.fdatasyncs = syncs_after - syncs_before;
  if (c.fdatasyncs > 0) c.msgs_per_fsync = static_cast<double>(c.puts_ok) / static_cast<double>(c.fdatasyncs);

  if (Status st = store->shutdown(); !st.is_ok()) {
    std::fprintf(stderr, "store_bench: %s: shutdown failed: %s\n", what.c_str(), st.to_string().c_str());
    store.reset();
    (void)remove_tree(root);
    return std::nullopt;
  }
  store.reset();
  if (!remove_tree(root)) return std::nullopt;
  return c;
}

// ---------------------------------------------------------------- output

std::string num(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : std::string("-");
}

// A flat JSON object with keys in insertion order; non-finite numbers become null.
class JsonObject {
 public:
  void number(const std::string& key, double v, int decimals) {
    fields_.emplace_back(key, std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "null");
  }
  void integer(const std::string& key, int64_t v) { fields_.emplace_back(key, std::to_string(v)); }
  void string(const std::string& key, const std::string& v) {
    std::string out = "\"";
    for (char ch : v) {
      if (ch == '"' || ch == '\\') {
        out.push_back('\\');
        out.push_back(ch);
      } else if (static_cast<unsigned char>(ch) < 0x20) {
        out += fmt::format("\\u{:04x}", static_cast<int>(ch));
      } else {
        out.push_back(ch);
      }
    }
    out.push_back('"');
    fields_.emplace_back(key, std::move(out));
  }
  std::string str() const {
    std::string out = "{";
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (i > 0) out += ", ";
      out += "\"" + fields_[i].first + "\": " + fields_[i].second;
    }
    return out + "}";
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

void print_raw_line(FILE* out, const char* label, const RawResult& r) {
  std::fprintf(out, "%-52s %10s /s   p50 %8s us   p99 %8s us   p999 %8s us   (%llu iterations)\n",
               label, num(r.per_s, 1).c_str(), num(r.latency.p50, 1).c_str(),
               num(r.latency.p99, 1).c_str(), num(r.latency.p999, 1).c_str(),
               static_cast<unsigned long long>(r.iterations));
  std::fflush(out);
}

void print_case_header(FILE* out) {
  std::fprintf(out, "%-12s %7s %12s %8s %11s %9s %9s %9s %7s\n", "mode", "writers", "msgs/s", "MB/s",
               "msgs/fsync", "p50_us", "p99_us", "p999_us", "errors");
}

void print_case_line(FILE* out, const CaseResult& c) {
  std::fprintf(out, "%-12s %7d %12s %8s %11s %9s %9s %9s %7llu\n", mode_name(c.type), c.writers,
               num(c.msgs_per_s, 1).c_str(), num(c.mb_per_s, 1).c_str(),
               num(c.msgs_per_fsync, 2).c_str(), num(c.latency.p50, 1).c_str(),
               num(c.latency.p99, 1).c_str(), num(c.latency.p999, 1).c_str(),
               static_cast<unsigned long long>(c.errors));
  if (c.errors > 0) std::fprintf(out, "  first error: %s\n", c.first_error.c_str());
  std::fflush(out);
}

int run(const Flags& flags) {
  const int64_t duration_ms = flags.duration_ms > 0 ? flags.duration_ms : (flags.quick ? 1500 : 5000);
  FILE* human = flags.json ? stderr : stdout;
  if (std::getenv("HOLDFAST_LOG_LEVEL") == nullptr) {
    logger("storage")->set_level(spdlog::level::warn);  // keep lifecycle INFO lines out of the table
  }

  const fs::path base(flags.dir);
  std::error_code ec;
  // The directories this run creates (deepest first), removed at the end if they are empty.
  std::vector<fs::path> created;
  for (fs::path p = fs::absolute(base, ec).lexically_normal(); !p.empty() && !fs::exists(p, ec);
       p = p.parent_path()) {
    created.push_back(p);
    if (p == p.parent_path()) break;
  }
  fs::create_directories(base, ec);
  if (ec) {
    std::fprintf(stderr, "store_bench: cannot create %s: %s\n", base.c_str(), ec.message().c_str());
    return 2;
  }
  const MessageToStore prototype = bench_message();
  const StoreOptions defaults = store_options(flags, base, FlushDiskType::kSyncFlush);
  // Other processes competing for the CPUs change every figure here; record how busy it was.
  double load[3] = {NAN, NAN, NAN};
  (void)getloadavg(load, 3);
  std::fprintf(human,
               "store_bench: dir=%s duration=%lld ms per case, commit log segment %lld MiB, "
               "record %lld bytes (%zu-byte body, %d queues), load average at start %s %s %s\n",
               flags.dir.c_str(), static_cast<long long>(duration_ms),
               static_cast<long long>(defaults.commit_log_segment_size >> 20),
               static_cast<long long>(encoded_record_size(prototype)), kBodyBytes, kQueues,
               num(load[0], 2).c_str(), num(load[1], 2).c_str(), num(load[2], 2).c_str());

  JsonObject json;
  json.integer("duration_ms", duration_ms);
  json.integer("segment_mb", defaults.commit_log_segment_size >> 20);
  json.integer("body_bytes", static_cast<int64_t>(kBodyBytes));
  json.integer("record_bytes", encoded_record_size(prototype));
  json.string("dir", flags.dir);
  json.number("loadavg_1m_at_start", load[0], 2);
  bool failed = false;

  std::optional<RawResult> raw_overwrite, raw_fresh;
  if (!flags.skip_raw) {
    const fs::path raw_dir = base / "raw";
    if (!remove_tree(raw_dir) || !fs::create_directories(raw_dir, ec)) {
      std::fprintf(stderr, "store_bench: cannot create %s\n", raw_dir.c_str());
      return 2;
    }
    raw_overwrite = run_raw(raw_dir, RawTarget::kOverwrite, duration_ms);
    if (raw_overwrite) print_raw_line(human, "raw 4 KiB overwrite + fdatasync:", *raw_overwrite);
    raw_fresh = run_raw(raw_dir, RawTarget::kFreshAllocated, duration_ms);
    if (raw_fresh) print_raw_line(human, "raw 4 KiB append to fresh fallocated file + fdatasync:", *raw_fresh);
    failed |= !raw_overwrite || !raw_fresh || !remove_tree(raw_dir);
    if (raw_overwrite) {
      json.number("raw_fdatasync_per_s", raw_overwrite->per_s, 1);
      json.number("raw_fdatasync_p50_us", raw_overwrite->latency.p50, 1);
      json.number("raw_fdatasync_p99_us", raw_overwrite->latency.p99, 1);
      json.number("raw_fdatasync_p999_us", raw_overwrite->latency.p999, 1);
    }
    if (raw_fresh) {
      json.number("raw_fresh_fdatasync_per_s", raw_fresh->per_s, 1);
      json.number("raw_fresh_fdatasync_p50_us", raw_fresh->latency.p50, 1);
      json.number("raw_fresh_fdatasync_p99_us", raw_fresh->latency.p99, 1);
      json.number("raw_fresh_fdatasync_p999_us", raw_fresh->latency.p999, 1);
    }
  }

  print_case_header(human);
  std::vector<CaseResult> results;
  for (const std::string& mode : flags.modes) {
    const FlushDiskType type = mode == "sync" ? FlushDiskType::kSyncFlush : FlushDiskType::kAsyncFlush;
    for (int w : flags.writers) {
      std::optional<CaseResult> c = run_store_case(flags, type, w, duration_ms);
      if (!c) {
        failed = true;
        continue;
      }
      print_case_line(human, *c);
      failed |= c->errors > 0;
      const std::string m = mode_key(type);
      const std::string n = std::to_string(w);
      json.number(m + "_msgs_per_s_" + n, c->msgs_per_s, 1);
      json.number(m + "_mb_per_s_" + n, c->mb_per_s, 2);
      json.number(m + "_msgs_per_fsync_" + n, c->msgs_per_fsync, 2);
      if (type == FlushDiskType::kSyncFlush) json.number("msgs_per_fsync_" + n, c->msgs_per_fsync, 2);
      json.number(m + "_p50_us_" + n, c->latency.p50, 1);
      json.number(m + "_p99_us_" + n, c->latency.p99, 1);
      json.number(m + "_p999_us_" + n, c->latency.p999, 1);
      json.number(m + "_max_us_" + n, c->latency.max, 1);
      json.integer(m + "_puts_" + n, static_cast<int64_t>(c->puts_ok));
      json.integer(m + "_errors_" + n, static_cast<int64_t>(c->errors));
      json.integer(m + "_fdatasyncs_" + n, static_cast<int64_t>(c->fdatasyncs));
      results.push_back(std::move(*c));
    }
  }

  auto find = [&](FlushDiskType t, int w) -> const CaseResult* {
    for (const auto& c : results) {
      if (c.type == t && c.writers == w) return &c;
    }
    return nullptr;
  };
  const CaseResult* sync32 = find(FlushDiskType::kSyncFlush, 32);
  const CaseResult* async32 = find(FlushDiskType::kAsyncFlush, 32);
  const CaseResult* sync1 = find(FlushDiskType::kSyncFlush, 1);
  if (sync32 && async32) {
    const double r = ratio(sync32->msgs_per_s, async32->msgs_per_s);
    json.number("sync_over_async_32", r, 4);
    std::fprintf(human, "SYNC_FLUSH / ASYNC_FLUSH msgs/s at 32 writers: %s\n", num(r, 3).c_str());
  }
  if (sync1 && raw_overwrite) {
    const double r = ratio(sync1->latency.p50, raw_overwrite->latency.p50);
    json.number("sync_p50_over_raw_p50", r, 4);
    std::fprintf(human, "SYNC_FLUSH p50 at 1 writer / raw overwrite+fdatasync p50: %s\n", num(r, 3).c_str());
  }
  if (sync1 && raw_fresh) {
    const double r = ratio(sync1->latency.p50, raw_fresh->latency.p50);
    json.number("sync_p50_over_raw_fresh_p50", r, 4);
    std::fprintf(human, "SYNC_FLUSH p50 at 1 writer / raw fresh-fallocated append+fdatasync p50: %s\n",
                 num(r, 3).c_str());
  }
  json.integer("failed", failed ? 1 : 0);
  if (flags.json) std::printf("%s\n", json.str().c_str());

  for (const fs::path& p : created) fs::remove(p, ec);  // fails harmlessly if not empty
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace holdfast::bench

int main(int argc, char** argv) {
  holdfast::bench::Flags flags;
  CLI::App app{"Holdfast storage micro-benchmark: MessageStore put throughput and latency, "
               "SYNC_FLUSH vs ASYNC_FLUSH, against a raw 4 KiB write + fdatasync loop."};
  app.add_option("--dir", flags.dir, "Parent of the per-case store directories (each deleted "
                 "before and after its case)")->capture_default_str();
  app.add_flag("--quick", flags.quick, "1.5 s per case (whole run well under 30 s)");
  app.add_option("--duration-ms", flags.duration_ms, "Duration of each case in ms (default 5000, "
                 "1500 with --quick)")->check(CLI::PositiveNumber);
  app.add_flag("--json", flags.json, "Print one JSON object on stdout; the table goes to stderr");
  app.add_option("--segment-mb", flags.segment_mb, "Commit log segment size in MiB (default: the "
                 "store default, 1024)")->check(CLI::PositiveNumber);
  app.add_option("--modes", flags.modes, "Flush modes to run, comma-separated")
      ->delimiter(',')->check(CLI::IsMember({"sync", "async"}))->capture_default_str();
  app.add_option("--writers", flags.writers, "Writer thread counts, comma-separated")
      ->delimiter(',')->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_flag("--skip-raw", flags.skip_raw, "Skip the raw write + fdatasync reference");
  app.add_option("--driver", flags.driver,
                 "threads: a blocking put() loop per writer thread; inflight: N outstanding "
                 "put_async() calls driven by one thread (how a broker drives the store)")
      ->check(CLI::IsMember({"threads", "inflight"}));
  CLI11_PARSE(app, argc, argv);
  return holdfast::bench::run(flags);
}
