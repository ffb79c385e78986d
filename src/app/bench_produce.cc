// `holdfast bench produce`: N sender threads on one Producer (sync, async with a per-thread
// window, or batches), a progress line per interval and a summary.
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <semaphore>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/bench_runner.h"
#include "app/bench_stats.h"
#include "holdfast/producer.h"
#include "holdfast/transaction_producer.h"

namespace holdfast::bench {

namespace {

using Clock = std::chrono::steady_clock;

int64_t micros_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
}

struct ProduceCounters {
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> not_ok{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> requests{0};
  LatencyHistogram latency;
  std::mutex error_mu;
  std::string first_error;

  void record(const Outcome<SendResult>& result, int64_t micros, int messages) {
    requests.fetch_add(1, std::memory_order_relaxed);
    if (!result.ok()) {
      failed.fetch_add(messages, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(error_mu);
      if (first_error.empty()) first_error = result.error().to_string();
      return;
    }
    latency.record(micros);
    (result->status == SendStatus::kSendOk ? ok : not_ok).fetch_add(messages, std::memory_order_relaxed);
  }
};

std::string body_of_size(int size) {
  std::string body(static_cast<size_t>(size), 'a');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
  return body;
}

void sender_loop(Producer* producer, TransactionProducer* transactions, const ProduceOptions& options,
                 const std::atomic<bool>& done, ProduceCounters& counters) {
  Message msg(options.topic, body_of_size(options.size));
  if (transactions != nullptr) {
    while (!done.load(std::memory_order_relaxed)) {
      const auto start = Clock::now();
      auto result = transactions->send_in_transaction(msg, "");
      if (result.ok()) {
        counters.record(result->send, micros_since(start), 1);
      } else {
        counters.record(result.error(), micros_since(start), 1);
      }
    }
    return;
  }
  if (options.batch > 1) {
    std::vector<Message> batch(static_cast<size_t>(options.batch), msg);
    while (!done.load(std::memory_order_relaxed)) {
      const auto start = Clock::now();
      auto result = producer->send(batch);
      counters.record(result, micros_since(start), options.batch);
    }
    return;
  }
  if (!options.async) {
    while (!done.load(std::memory_order_relaxed)) {
      const auto start = Clock::now();
      auto result = producer->send(msg);
      counters.record(result, micros_since(start), 1);
    }
    return;
  }
  // Shared with the callbacks: the last release may still be running when the drain loop below
  // returns.
  auto window = std::make_shared<std::counting_semaphore<>>(options.in_flight);
  while (!done.load(std::memory_order_relaxed)) {
    if (!window->try_acquire_for(std::chrono::milliseconds(100))) continue;
    const auto start = Clock::now();
    producer->send_async(msg, [&counters, window, start](Outcome<SendResult> result) {
      counters.record(result, micros_since(start), 1);
      window->release();
    });
  }
  // Every callback runs exactly once: drain the window so none is left behind.
  for (int i = 0; i < options.in_flight; ++i) window->acquire();
}

}  // namespace

std::string summary_line(const ProduceSummary& s) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "[Complete] Send Total: %lld | Send Failed: %lld | Not SEND_OK: %lld | Seconds: %.1f | Send TPS: %.0f | "
                "Average RT(ms): %.3f | p50 RT(ms): %.3f | p99 RT(ms): %.3f | Max RT(ms): %.3f",
                static_cast<long long>(s.messages + s.not_ok), static_cast<long long>(s.failures),
                static_cast<long long>(s.not_ok), s.seconds, s.tps, s.avg_ms, s.p50_ms, s.p99_ms, s.max_ms);
  std::string line = buf;
  if (s.check_backs > 0) line += " | Check-backs: " + std::to_string(s.check_backs);
  if (!s.first_error.empty()) line += " | First Error: " + s.first_error;
  return line;
}

std::string summary_json(const ProduceOptions& o, const ProduceSummary& s) {
  // Per message = per SEND_OK (acknowledged) message; null when none was.
  const auto per_acked = [&](int64_t value) -> nlohmann::json {
    if (s.messages == 0) return nullptr;
    return static_cast<double>(value) / static_cast<double>(s.messages);
  };
  nlohmann::json j = {{"mode", "produce"},      {"topic", o.topic},          {"threads", o.threads},
                      {"size", o.size},         {"async", o.async},          {"batch", o.batch},
                      {"messages", s.messages + s.not_ok}, {"send_ok", s.messages}, {"not_send_ok", s.not_ok},
                      {"failures", s.failures}, {"requests", s.requests},    {"seconds", s.seconds},
                      {"tps", s.tps},           {"avg_rt_ms", s.avg_ms},     {"p50_rt_ms", s.p50_ms},
                      {"p99_rt_ms", s.p99_ms},  {"max_rt_ms", s.max_ms},     {"first_error", s.first_error},
                      {"in_flight", o.async ? o.in_flight : 1},
                      {"transaction", o.transaction},       {"check_backs", s.check_backs},
                      {"client_cpu_user_us", s.client.user_us},
                      {"client_cpu_sys_us", s.client.system_us},
                      {"client_cpu_us", s.client.cpu_us()},
                      {"client_cpu_us_per_msg", per_acked(s.client.cpu_us())},
                      {"client_context_switches", s.client.context_switches},
                      {"client_context_switches_per_msg", per_acked(s.client.context_switches)}};
  return j.dump();
}

Result<ProduceSummary> run_produce(const ProduceOptions& options, const std::atomic<bool>* stop, std::FILE* out) {
  if (options.topic.empty()) return Status::invalid_argument("--topic is empty");
  if (options.threads < 1 || options.size < 1 || options.batch < 1 || options.in_flight < 1) {
    return Status::invalid_argument("--threads, --size, --batch and the in-flight window must be at least 1");
  }
  ProducerOptions producer_options;
  producer_options.group = options.group;
  producer_options.name_servers = options.name_servers;
  producer_options.send_msg_timeout_ms = options.send_timeout_ms;
  producer_options.compress_msg_body_over_howmuch = std::max(options.size + 1, 4096);  // measure raw bodies
  if (options.transaction && (options.async || options.batch > 1)) {
    return Status::invalid_argument("--transaction sends one message per synchronous call: no --async or --batch");
  }
  std::atomic<int64_t> check_backs{0};
  std::unique_ptr<TransactionProducer> transactions;
  if (options.transaction) {
    TransactionProducerOptions tx_options;
    tx_options.producer = producer_options;
    tx_options.producer.group = options.group + "_tx";
    TransactionListener listener;
    listener.execute = [](const Message&, const std::string&, const std::string&) {
      return LocalTransactionState::kCommit;
    };
    listener.check = [&check_backs](const ReceivedMessage&) {
      check_backs.fetch_add(1, std::memory_order_relaxed);
      return LocalTransactionState::kCommit;
    };
    auto tx = TransactionProducer::start(tx_options, listener);
    if (!tx.ok()) return Status::io_error("transaction producer did not start: " + tx.error().to_string());
    transactions = std::move(tx).value();
  }
  auto started = Producer::start(producer_options);
  if (!started.ok()) return Status::io_error("producer did not start: " + started.error().to_string());
  std::unique_ptr<Producer> producer = std::move(started).value();
  // Fail fast with a clear line when the topic has no route (and no auto-create route either).
  if (auto queues = producer->queues_of(options.topic); !queues.ok()) {
    producer->shutdown();
    return Status::not_found("topic " + options.topic + ": " + queues.error().to_string());
  }

  ProduceCounters counters;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  const auto begin = Clock::now();
  const ProcessUsage usage_at_begin = ProcessUsage::now();
  for (int i = 0; i < options.threads; ++i) {
    threads.emplace_back([&] { sender_loop(producer.get(), transactions.get(), options, done, counters); });
  }

  auto window_start = Clock::now();
  int64_t window_messages = 0;
  int64_t window_failed = 0;
  LatencyHistogram::Snapshot window_base = counters.latency.snapshot();
  const auto interval = std::chrono::duration<double>(options.interval_s);
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const bool time_up =
        options.duration_s > 0 && std::chrono::duration<double>(Clock::now() - begin).count() >= options.duration_s;
    const bool stopping = time_up || (stop != nullptr && stop->load());
    if (Clock::now() - window_start >= interval || stopping) {
      const double secs = std::chrono::duration<double>(Clock::now() - window_start).count();
      const int64_t messages = counters.ok.load() + counters.not_ok.load();
      const int64_t failed = counters.failed.load();
      const LatencyHistogram::Snapshot now = counters.latency.snapshot();
      const LatencyHistogram::Snapshot window = now.minus(window_base);
      const double window_max = static_cast<double>(counters.latency.take_window_max()) / 1000.0;
      if (out != nullptr && secs >= 0.5) {
        std::fprintf(out,
                     "Current Time: %s | Send TPS: %.0f | Max RT(ms): %.3f | Average RT(ms): %.3f | p50 RT(ms): %.3f | "
                     "p99 RT(ms): %.3f | Send Failed: %lld\n",
                     now_text().c_str(), static_cast<double>(messages - window_messages) / secs, window_max,
                     window.average_ms(), window.percentile_ms(0.5), window.percentile_ms(0.99),
                     static_cast<long long>(failed - window_failed));
        std::fflush(out);
      }
      window_start = Clock::now();
      window_messages = messages;
      window_failed = failed;
      window_base = now;
    }
    if (stopping) break;
  }
  done.store(true);
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const ProcessUsage usage = ProcessUsage::now().minus(usage_at_begin);
  producer->shutdown();
  if (transactions) transactions->shutdown();

  ProduceSummary s;
  s.check_backs = check_backs.load();
  s.messages = counters.ok.load();
  s.not_ok = counters.not_ok.load();
  s.failures = counters.failed.load();
  s.requests = counters.requests.load();
  s.seconds = seconds;
  s.tps = seconds > 0 ? static_cast<double>(s.messages + s.not_ok) / seconds : 0;
  const LatencyHistogram::Snapshot all = counters.latency.snapshot();
  s.avg_ms = all.average_ms();
  s.p50_ms = all.percentile_ms(0.5);
  s.p99_ms = all.percentile_ms(0.99);
  s.max_ms = all.max_ms();
  s.first_error = counters.first_error;
  s.client = usage;
  return s;
}

}  // namespace holdfast::bench
