#include "broker/broker_stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

namespace holdfast::broker {

void RateWindow::add(int64_t now_ms, int64_t total) {
  points_.emplace_back(now_ms, total);
  while (points_.size() > capacity_) points_.pop_front();
}

std::optional<double> RateWindow::rate(size_t samples) const {
  if (samples == 0 || points_.size() <= samples) return std::nullopt;
  const auto& last = points_.back();
  const auto& first = points_[points_.size() - 1 - samples];
  const int64_t ms = last.first - first.first;
  if (ms <= 0) return std::nullopt;
  return static_cast<double>(last.second - first.second) * 1000.0 / static_cast<double>(ms);
}

std::optional<double> RateWindow::rate_up_to(size_t samples) const {
  if (points_.size() < 2) return std::nullopt;
  return rate(std::min(samples, points_.size() - 1));
}

std::string java_double(double v) {
  if (!std::isfinite(v)) return "0.0";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

BrokerStats::BrokerStats(std::function<std::pair<int64_t, int64_t>()> put_totals)
    : put_totals_(std::move(put_totals)) {}

BrokerStats::~BrokerStats() { stop(); }

void BrokerStats::on_pull(const std::string& group, const std::string& topic, int64_t messages) {
  if (messages > 0) {
    found_.fetch_add(1, std::memory_order_relaxed);
    transferred_.fetch_add(messages, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, added] = groups_.try_emplace(topic + "@" + group);
    // A new counter was 0 at the last sample: its first messages count in the next rate.
    if (added && last_sample_ms_ >= 0) it->second.window.add(last_sample_ms_, 0);
    it->second.total += messages;
  } else {
    missed_.fetch_add(1, std::memory_order_relaxed);
  }
}

void BrokerStats::sample(int64_t now_ms) {
  const int64_t put = put_totals_ ? put_totals_().first : 0;
  const int64_t found = found_.load(std::memory_order_relaxed);
  const int64_t missed = missed_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  last_sample_ms_ = now_ms;
  put_.add(now_ms, put);
  found_w_.add(now_ms, found);
  missed_w_.add(now_ms, missed);
  total_w_.add(now_ms, found + missed);
  transferred_w_.add(now_ms, transferred_.load(std::memory_order_relaxed));
  for (auto it = groups_.begin(); it != groups_.end();) {
    it->second.window.add(now_ms, it->second.total);
    // Idle for a whole window: forget the pair (a group that went away must not stay forever).
    if (it->second.window.rate(kGroupSamples - 1) == 0.0) {
      it = groups_.erase(it);
    } else {
      ++it;
    }
  }
}

void BrokerStats::start(std::function<int64_t()> now_ms) {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (sampler_.joinable()) return;
  stop_ = false;
  sampler_ = std::thread([this, now_ms = std::move(now_ms)] {
    std::unique_lock<std::mutex> l(thread_mu_);
    while (!stop_) {
      l.unlock();
      sample(now_ms());
      l.lock();
      thread_cv_.wait_for(l, std::chrono::seconds(1), [this] { return stop_; });
    }
  });
}

void BrokerStats::stop() {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stop_ = true;
  }
  thread_cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

std::string BrokerStats::three_windows(const RateWindow& w) const {
  auto one = [&](size_t s) {
    auto r = w.rate(s);
    return r ? java_double(*r) : std::string();
  };
  return one(10) + " " + one(60) + " " + one(600);
}

std::map<std::string, std::string> BrokerStats::runtime_info() const {
  std::map<std::string, std::string> out;
  const auto [messages, bytes] = put_totals_ ? put_totals_() : std::pair<int64_t, int64_t>{0, 0};
  out["putMessageTimesTotal"] = std::to_string(messages);
  out["putMessageSizeTotal"] = std::to_string(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  out["putTps"] = three_windows(put_);
  out["getFoundTps"] = three_windows(found_w_);
  out["getMissTps"] = three_windows(missed_w_);
  out["getTotalTps"] = three_windows(total_w_);
  out["getTransferedTps"] = three_windows(transferred_w_);
  return out;
}

size_t BrokerStats::tracked_pairs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return groups_.size();
}

double BrokerStats::consume_tps(const std::string& group, const std::string& topic) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(topic + "@" + group);
  if (it == groups_.end()) return 0.0;
  return it->second.window.rate_up_to(kGroupSamples - 1).value_or(0.0);
}

}  // namespace holdfast::broker
