// Real kill -9 crash loop: runs store_writer (a separate process putting SYNC_FLUSH messages from
// four threads), kills it with SIGKILL at a seeded random moment, and checks after every kill that
// recovery keeps every acknowledged message byte for byte, the log is a prefix per writer thread,
// queue offsets are dense, and the consume queues and index agree with the log.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "crash_workload.h"
#include "env/env.h"
#include "storage/message_store.h"
#include "storage/store_test_util.h"

namespace holdfast {
namespace {

using crash::kQueues;
using crash::kTopic;
using crash::kWriterThreads;

// One line store_writer printed: a put it reported as stored.
struct AckLine {
  bool ok = false;  // "ack" (kOk) vs "tmo" (stored, flush timed out: not a promise)
  int round = 0;
  int thread = 0;
  int64_t seq = 0;
  int64_t physical_offset = 0;
  int32_t wrote_bytes = 0;
  int32_t queue_id = 0;
  int64_t queue_offset = 0;
};

using MessageId = std::tuple<int, int, int64_t>;  // round, thread, seq

struct RoundOutcome {
  std::vector<AckLine> lines;
  int wait_status = 0;
  bool killed_by_us = false;
  std::string error;  // non-empty: the round could not be run as intended
};

std::string self_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : exe.parent_path().string();
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoll(v, nullptr, 10) : fallback;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool parse_line(const std::string& line, AckLine* out) {
  std::istringstream in(line);
  std::string tag;
  in >> tag >> out->round >> out->thread >> out->seq >> out->physical_offset >> out->wrote_bytes >>
      out->queue_id >> out->queue_offset;
  if (!in || (tag != "ack" && tag != "tmo")) return false;
  std::string rest;
  if (in >> rest) return false;
  out->ok = tag == "ack";
  return true;
}

class StoreKillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_store_kill_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    writer_ = self_dir() + "/store_writer";
    ASSERT_EQ(::access(writer_.c_str(), X_OK), 0) << writer_ << ": " << std::strerror(errno);
  }

  void TearDown() override {
    if (HasFailure()) {
      std::printf("store kept for inspection: %s\n", dir_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Starts store_writer for `round`, waits for its first acknowledgement, lets it run for
  // delay_ms more, kills it with SIGKILL and collects every line it printed.
  RoundOutcome run_and_kill(int round, int delay_ms) {
    RoundOutcome out;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      out.error = std::string("pipe2: ") + std::strerror(errno);
      return out;
    }
    const std::string round_arg = std::to_string(round);
    std::vector<char*> argv = {const_cast<char*>(writer_.c_str()), const_cast<char*>(dir_.c_str()),
                               const_cast<char*>(round_arg.c_str()), nullptr};
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      out.error = std::string("fork: ") + std::strerror(errno);
      ::close(fds[0]);
      ::close(fds[1]);
      return out;
    }
    if (pid == 0) {
      // Child: only async-signal-safe calls until exec.
      if (::dup2(fds[1], STDOUT_FILENO) < 0) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    const int fd = fds[0];

    // Guard against a writer that never makes progress (the kill delay starts at the first ack).
    constexpr int64_t kFirstAckGuardMs = 120 * 1000;
    const int64_t started = now_ms();
    int64_t kill_at = -1;
    std::string pending;
    bool eof = false;
    auto consume = [&](const char* data, size_t n) {
      pending.append(data, n);
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        AckLine a;
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (!parse_line(line, &a) || a.round != round) {
          if (out.error.empty()) out.error = "unparsable writer line: '" + line + "'";
          continue;
        }
        out.lines.push_back(a);
      }
    };
    char buf[64 * 1024];
    while (!eof) {
      const int64_t now = now_ms();
      int64_t wait_ms;
      if (kill_at >= 0) {
        wait_ms = kill_at - now;
      } else {
        wait_ms = started + kFirstAckGuardMs - now;
        if (wait_ms <= 0) {
          out.error = "store_writer printed no acknowledgement within 120 s";
          break;
        }
      }
      if (kill_at >= 0 && wait_ms <= 0) break;
      pollfd p{fd, POLLIN, 0};
      int pr = ::poll(&p, 1, static_cast<int>(wait_ms));
      if (pr < 0 && errno == EINTR) continue;
      if (pr <= 0) continue;
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof = true;  // the writer exited on its own: reported below from its wait status
        break;
      }
      consume(buf, static_cast<size_t>(n));
      if (kill_at < 0 && !out.lines.empty()) kill_at = now_ms() + delay_ms;
    }
    if (!eof) {
      out.killed_by_us = ::kill(pid, SIGKILL) == 0;
      // Everything the writer wrote before it died is still in the pipe: it was acknowledged.
      for (;;) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        consume(buf, static_cast<size_t>(n));
      }
    }
    ::close(fd);
    while (::waitpid(pid, &out.wait_status, 0) < 0 && errno == EINTR) {
    }
    if (!pending.empty() && out.error.empty()) out.error = "torn writer line: '" + pending + "'";
    return out;
  }

  std::string dir_;
  std::string writer_;
};

// What one verification pass found.
struct VerifyStats {
  int64_t acked_checked = 0;
  int64_t stored_records = 0;
  int64_t unacknowledged = 0;  // stored (written) but never acknowledged to the writer
};

TEST_F(StoreKillTest, EveryAcknowledgedMessageSurvivesKillNine) {
  const uint64_t seed = static_cast<uint64_t>(env_int("HOLDFAST_KILL_SEED", std::random_device{}()));
  const int rounds = static_cast<int>(env_int("HOLDFAST_KILL_ROUNDS", 8));
  ASSERT_GE(rounds, 1);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: HOLDFAST_KILL_SEED=" + std::to_string(seed) +
               " HOLDFAST_KILL_ROUNDS=" + std::to_string(rounds) + ")");
  std::printf("store_kill_test: seed %llu, %d rounds, store %s\n", static_cast<unsigned long long>(seed),
              rounds, dir_.c_str());
  std::mt19937_64 rng(seed);

  std::map<MessageId, AckLine> acked;                        // every "ack" line so far
  std::map<std::pair<int, int>, int64_t> max_line_seq;       // (round, thread) -> highest printed seq
  std::map<std::pair<int, int>, int64_t> settled_count;      // (round, thread) -> stored after its kill

  for (int round = 1; round <= rounds; ++round) {
    const int delay_ms = std::uniform_int_distribution<int>(50, 400)(rng);
    SCOPED_TRACE("round " + std::to_string(round) + ", kill " + std::to_string(delay_ms) +
                 " ms after the first ack");
    RoundOutcome ro = run_and_kill(round, delay_ms);
    ASSERT_TRUE(ro.error.empty()) << ro.error;
    ASSERT_TRUE(WIFSIGNALED(ro.wait_status) && WTERMSIG(ro.wait_status) == SIGKILL)
        << "store_writer did not die from our SIGKILL: wait status " << ro.wait_status
        << (WIFEXITED(ro.wait_status) ? " exit code " + std::to_string(WEXITSTATUS(ro.wait_status)) : "");
    int64_t round_acks = 0;
    for (const AckLine& a : ro.lines) {
      auto& m = max_line_seq.try_emplace({a.round, a.thread}, -1).first->second;
      m = std::max(m, a.seq);
      if (!a.ok) continue;
      ++round_acks;
      ASSERT_TRUE(acked.emplace(MessageId{a.round, a.thread, a.seq}, a).second)
          << "duplicate ack r" << a.round << " w" << a.thread << " seq " << a.seq;
    }
    ASSERT_GT(round_acks, 0) << "the writer made no progress before it was killed";

    // Recover in this process and check everything.
    auto opened = MessageStore::open(Env::posix(), crash::kill_test_options(dir_));
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    std::unique_ptr<MessageStore> store = std::move(opened).value();
    const RecoveryInfo& ri = store->recovery_info();
    EXPECT_TRUE(ri.crashed) << "the abort marker must survive a kill -9";
    const int64_t confirmed = store->confirmed_offset();
    ASSERT_EQ(store->dispatched_offset(), confirmed) << "recovery must re-dispatch the whole log";

    VerifyStats stats;
    // 1. Every acknowledged message (of every round so far) is where the writer was told it is.
    int missing = 0;
    for (const auto& [id, a] : acked) {
      const auto [r, t, s] = id;
      auto rec = store->read_record(a.physical_offset);
      if (!rec.is_ok()) {
        if (++missing <= 10) {
          ADD_FAILURE() << "acknowledged message r" << r << " w" << t << " seq " << s << " at offset "
                        << a.physical_offset << " (" << a.wrote_bytes << " bytes) is gone after recovery: "
                        << rec.status().to_string() << "; confirmed " << confirmed;
        }
        continue;
      }
      RecordView v = testing_util::view_of(*rec);
      const std::string want = crash::expected_body(r, t, s);
      const bool same = v.body == want && v.topic == kTopic && v.queue_id == a.queue_id &&
                        v.queue_offset == a.queue_offset && v.physical_offset == a.physical_offset &&
                        static_cast<int64_t>(rec->size()) == a.wrote_bytes && v.total_size == a.wrote_bytes &&
                        find_property(v.properties, "KEYS") == crash::expected_key(r, t, s);
      if (!same && ++missing <= 10) {
        ADD_FAILURE() << "acknowledged message r" << r << " w" << t << " seq " << s << " at offset "
                      << a.physical_offset << " differs after recovery: size " << rec->size() << " vs "
                      << a.wrote_bytes << ", queue " << v.queue_id << "/" << v.queue_offset << " vs "
                      << a.queue_id << "/" << a.queue_offset << ", body "
                      << (v.body == want ? "equal" : "DIFFERENT");
      }
      ++stats.acked_checked;
    }
    ASSERT_EQ(missing, 0) << missing << " of " << acked.size() << " acknowledged messages lost or changed";

    // 2. Queues are dense from 0 and every unit points at our message with that queue offset.
    std::map<MessageId, std::pair<int64_t, int64_t>> stored;  // id -> (physical, queue offset)
    for (int q = 0; q < kQueues; ++q) {
      const int64_t max = store->max_offset_in_queue(kTopic, q);
      ASSERT_EQ(store->min_offset_in_queue(kTopic, q), 0);
      int64_t next = 0;
      int64_t last_physical = -1;
      while (next < max) {
        GetResult g = store->get_messages(kTopic, q, next, 512, 16 << 20);
        ASSERT_EQ(g.status, GetStatus::kFound) << "queue " << q << " offset " << next << " of " << max
                                               << ": " << get_status_name(g.status);
        ASSERT_FALSE(g.records.empty());
        for (size_t i = 0; i < g.records.size(); ++i) {
          ASSERT_EQ(g.queue_offsets[i], next) << "queue " << q << " is not dense";
          RecordView v = testing_util::view_of(g.records[i]);
          ASSERT_EQ(v.queue_offset, next) << "queue " << q;
          ASSERT_EQ(v.queue_id, q);
          ASSERT_GT(g.physical_offsets[i], last_physical) << "queue " << q << " goes backwards";
          last_physical = g.physical_offsets[i];
          int r = 0, t = 0;
          int64_t s = 0;
          ASSERT_TRUE(crash::parse_body_id(v.body, &r, &t, &s)) << "foreign body in queue " << q;
          ASSERT_EQ(v.body, crash::expected_body(r, t, s)) << "stored r" << r << " w" << t << " seq " << s;
          ASSERT_EQ(crash::expected_queue(r, t, s), q);
          ASSERT_TRUE(stored.emplace(MessageId{r, t, s}, std::make_pair(g.physical_offsets[i], next)).second)
              << "r" << r << " w" << t << " seq " << s << " stored twice";
          ++next;
        }
      }
      ASSERT_EQ(next, max);
    }
    for (const auto& [id, a] : acked) {
      auto it = stored.find(id);
      ASSERT_NE(it, stored.end()) << "acknowledged r" << std::get<0>(id) << " w" << std::get<1>(id)
                                  << " seq " << std::get<2>(id) << " is readable but in no consume queue";
      ASSERT_EQ(it->second, std::make_pair(a.physical_offset, a.queue_offset));
    }

    // 3. The log itself: walking it record by record finds exactly the queued records.
    {
      const int64_t seg = store->options().commit_log_segment_size;
      int64_t pos = store->min_physical_offset();
      int64_t log_records = 0;
      while (pos < confirmed) {
        auto rec = store->read_record(pos);
        if (!rec.is_ok()) {  // the blank filler at a segment end
          pos = pos - pos % seg + seg;
          continue;
        }
        RecordView v = testing_util::view_of(*rec);
        int r = 0, t = 0;
        int64_t s = 0;
        ASSERT_TRUE(crash::parse_body_id(v.body, &r, &t, &s)) << "foreign record at " << pos;
        auto it = stored.find(MessageId{r, t, s});
        ASSERT_NE(it, stored.end()) << "record r" << r << " w" << t << " seq " << s << " at " << pos
                                    << " is in the log but in no consume queue";
        ASSERT_EQ(it->second.first, pos);
        ++log_records;
        pos += static_cast<int64_t>(rec->size());
      }
      ASSERT_EQ(pos, confirmed) << "the log walk overran the recovered end";
      ASSERT_EQ(log_records, static_cast<int64_t>(stored.size()))
          << "consume queues list records the log walk cannot reach";
    }

    // 4. Per writer thread the stored messages are a prefix 0..M of what it put, where M is at most
    //    one past the last line it printed (the put in flight, or acked just before the kill), and
    //    what an earlier recovery found never changes.
    std::map<std::pair<int, int>, std::vector<int64_t>> by_thread;
    for (const auto& [id, where] : stored) {
      by_thread[{std::get<0>(id), std::get<1>(id)}].push_back(std::get<2>(id));
    }
    for (auto& [rt, seqs] : by_thread) {
      std::sort(seqs.begin(), seqs.end());
      for (size_t i = 0; i < seqs.size(); ++i) {
        ASSERT_EQ(seqs[i], static_cast<int64_t>(i))
            << "r" << rt.first << " w" << rt.second << ": the log is not a prefix (hole before seq " << seqs[i] << ")";
      }
      auto m = max_line_seq.find(rt);
      const int64_t printed = m == max_line_seq.end() ? -1 : m->second;
      ASSERT_LE(static_cast<int64_t>(seqs.size()) - 1, printed + 1)
          << "r" << rt.first << " w" << rt.second << " has messages the writer never put";
      const int64_t count = static_cast<int64_t>(seqs.size());
      auto [it, fresh] = settled_count.try_emplace(rt, count);
      ASSERT_EQ(it->second, count) << "r" << rt.first << " w" << rt.second
                                   << ": a later recovery changed what an earlier one kept";
    }
    for (const auto& [rt, count] : settled_count) {
      ASSERT_EQ(by_thread.count(rt), 1u) << "r" << rt.first << " w" << rt.second << " (" << count
                                         << " messages) vanished";
    }
    stats.stored_records = static_cast<int64_t>(stored.size());
    int64_t round_unacknowledged = 0;
    for (const auto& [id, where] : stored) {
      if (acked.count(id)) continue;
      ++stats.unacknowledged;
      if (std::get<0>(id) == round) ++round_unacknowledged;
    }

    // 5. The index agrees with the log: a seeded sample of acknowledged keys finds its message.
    {
      std::vector<MessageId> ids;
      for (const auto& [id, a] : acked) ids.push_back(id);
      std::shuffle(ids.begin(), ids.end(), rng);
      ids.resize(std::min<size_t>(ids.size(), 64));
      for (const MessageId& id : ids) {
        const auto [r, t, s] = id;
        auto found = store->query_by_key(kTopic, crash::expected_key(r, t, s), 32, 0,
                                         std::numeric_limits<int64_t>::max());
        ASSERT_TRUE(found.is_ok()) << found.status().to_string();
        ASSERT_EQ(found->size(), 1u) << "index lookup of " << crash::expected_key(r, t, s);
        EXPECT_EQ(testing_util::view_of((*found)[0]).body, crash::expected_body(r, t, s));
      }
    }

    std::printf("round %d: killed %d ms after the first ack; this round %lld acks (%zu lines) and %lld "
                "written but unacknowledged; in total %lld acked checked, %lld stored, %lld unacknowledged; "
                "recovery scanned %lld..%lld, erased %lld bytes, re-dispatched %lld records in %lld ms\n",
                round, delay_ms, static_cast<long long>(round_acks), ro.lines.size(),
                static_cast<long long>(round_unacknowledged), static_cast<long long>(stats.acked_checked),
                static_cast<long long>(stats.stored_records), static_cast<long long>(stats.unacknowledged), static_cast<long long>(ri.scanned_from),
                static_cast<long long>(ri.recovered_end), static_cast<long long>(ri.truncated_bytes),
                static_cast<long long>(ri.redispatched_records), static_cast<long long>(ri.duration_us / 1000));
    std::fflush(stdout);
    ASSERT_TRUE(store->shutdown().is_ok());
  }
}

}  // namespace
}  // namespace holdfast
