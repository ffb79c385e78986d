// BrokerStats: message rates for operators, in the shapes RocketMQ tools read.
// - GET_BROKER_RUNTIME_INFO: putTps, getFoundTps, getMissTps, getTotalTps, getTransferedTps, each
//   "<rate over 10 s> <over 60 s> <over 600 s>" (a window not yet covered by samples is an empty
//   string), plus putMessageTimesTotal / putMessageSizeTotal.
// - GET_CONSUME_STATS: consumeTps, the messages a group pulled from a topic per second over the
//   last minute (over what has been sampled, in the first minute).
// Rates come from cumulative counters sampled once a second (sample()); the newest sample minus
// the one N samples earlier, divided by the time between them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace holdfast::broker {

// Cumulative counts sampled at a fixed period, keeping the newest `capacity` samples.
class RateWindow {
 public:
  explicit RateWindow(size_t capacity) : capacity_(capacity) {}
  void add(int64_t now_ms, int64_t total);
  // Per-second rate over the last `samples` sampling periods; nullopt until that many periods
  // have been sampled.
  std::optional<double> rate(size_t samples) const;
  // The same over as many of the last `samples` periods as were sampled (nullopt: fewer than 2).
  std::optional<double> rate_up_to(size_t samples) const;

 private:
  size_t capacity_;
  std::deque<std::pair<int64_t, int64_t>> points_;  // (time ms, cumulative count)
};

// Thread-safe. The counters are bumped on network threads; sample() runs on the sampler thread.
class BrokerStats {
 public:
  // put_totals(): the store's cumulative (messages, bytes) stored.
  explicit BrokerStats(std::function<std::pair<int64_t, int64_t>()> put_totals);
  ~BrokerStats();

  // One pull answered: `messages` > 0 found (and transferred), 0 missed.
  void on_pull(const std::string& group, const std::string& topic, int64_t messages);
  // Takes one sample of every counter; sampling code calls it once a second.
  void sample(int64_t now_ms);
  // Starts a thread that samples every second with now_ms() until stop() or destruction.
  void start(std::function<int64_t()> now_ms);
  void stop();

  std::map<std::string, std::string> runtime_info() const;
  double consume_tps(const std::string& group, const std::string& topic) const;
  // (group, topic) pairs tracked for consumeTps: those that pulled messages within the last minute.
  size_t tracked_pairs() const;

 private:
  // 600 s windows need 601 samples; consumeTps needs 61.
  static constexpr size_t kStoreSamples = 601;
  static constexpr size_t kGroupSamples = 61;
  struct GroupCounter {
    int64_t total = 0;
    RateWindow window{kGroupSamples};
  };
  std::string three_windows(const RateWindow& w) const;

  const std::function<std::pair<int64_t, int64_t>()> put_totals_;
  std::atomic<int64_t> found_{0}, missed_{0}, transferred_{0};
  mutable std::mutex mu_;  // the windows and the group table
  RateWindow put_{kStoreSamples}, found_w_{kStoreSamples}, missed_w_{kStoreSamples}, total_w_{kStoreSamples},
      transferred_w_{kStoreSamples};
  std::map<std::string, GroupCounter> groups_;  // "topic@group"
  int64_t last_sample_ms_ = -1;

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_ = false;
  std::thread sampler_;
};

// A double as Java's Double.toString writes it for the values seen here: "0.0", "12.5",
// "1234.0" (always a decimal point).
std::string java_double(double v);

}  // namespace holdfast::broker
