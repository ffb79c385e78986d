// `holdfast bench consume`: PullConsumer threads over all readable queues of a topic, long
// polling, committing offsets about once a second — or with --push one PushConsumer whose listener
// does no work; reports TPS and born-to-consumed latency.
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/bench_runner.h"
#include "app/bench_stats.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/push_consumer.h"

namespace holdfast::bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kQueryNotFound = 22;  // QUERY_CONSUMER_OFFSET: the group has no committed offset

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct ConsumeCounters {
  std::atomic<int64_t> messages{0};
  std::atomic<int64_t> pull_failures{0};
  LatencyHistogram born_to_consumed;
  std::mutex error_mu;
  std::string first_error;

  void failed(const Error& error) {
    pull_failures.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(error_mu);
    if (first_error.empty()) first_error = error.to_string();
  }
};

Outcome<int64_t> start_offset(PullConsumer* consumer, const MessageQueue& queue, ConsumeOptions::From from) {
  switch (from) {
    case ConsumeOptions::From::kFirst:
      return consumer->min_offset(queue);
    case ConsumeOptions::From::kLast:
      return consumer->max_offset(queue);
    case ConsumeOptions::From::kCommitted:
      break;
  }
  auto committed = consumer->committed_offset(queue);
  if (committed.ok()) return committed;
  // A new group starts at the end, as RocketMQ's benchmark consumer (CONSUME_FROM_LAST_OFFSET).
  if (committed.error().code == ErrorCode::kBroker && committed.error().response_code == kQueryNotFound) {
    return consumer->max_offset(queue);
  }
  return committed;
}

void consumer_loop(PullConsumer* consumer, const ConsumeOptions& options, std::vector<MessageQueue> queues,
                   const std::atomic<bool>& done, ConsumeCounters& counters) {
  std::map<MessageQueue, int64_t> offsets;
  std::map<MessageQueue, int64_t> committed;
  for (const MessageQueue& q : queues) {
    while (!done.load()) {
      auto offset = start_offset(consumer, q, options.from);
      if (offset.ok()) {
        offsets[q] = *offset;
        committed[q] = *offset;
        break;
      }
      counters.failed(offset.error());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  auto commit_all = [&] {
    for (auto& [q, offset] : offsets) {
      if (committed[q] == offset) continue;
      if (consumer->commit_offset(q, offset).ok()) committed[q] = offset;
    }
  };
  // One queue: plain long polling. Several: poll without waiting while any had messages, and
  // long-poll (sharing the budget) once a whole round came back empty.
  const int64_t idle_wait = queues.size() == 1 ? options.long_poll_ms
                                               : std::max<int64_t>(50, options.long_poll_ms /
                                                                           static_cast<int64_t>(queues.size()));
  bool idle_round = false;
  auto last_commit = Clock::now();
  while (!done.load(std::memory_order_relaxed)) {
    bool found_any = false;
    for (const MessageQueue& q : queues) {
      if (done.load(std::memory_order_relaxed)) break;
      auto result = consumer->pull(q, "*", offsets[q], options.batch, idle_round ? idle_wait : 0);
      if (!result.ok()) {
        counters.failed(result.error());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (result->status == PullStatus::kFound) {
        const int64_t now = wall_ms();
        for (const ReceivedMessage& m : result->messages) {
          counters.born_to_consumed.record(std::max<int64_t>(0, now - m.born_timestamp_ms) * 1000);
        }
        counters.messages.fetch_add(static_cast<int64_t>(result->messages.size()), std::memory_order_relaxed);
        found_any = found_any || !result->messages.empty();
      }
      offsets[q] = result->next_begin_offset;
    }
    idle_round = !found_any;
    if (Clock::now() - last_commit >= std::chrono::seconds(1)) {
      commit_all();
      last_commit = Clock::now();
    }
  }
  commit_all();
}

}  // namespace

std::string summary_line(const ConsumeSummary& s) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "[Complete] Consume Total: %lld | Pull Failed: %lld | Seconds: %.1f | Consume TPS: %.0f | "
                "Average B2C RT(ms): %.3f | p50 B2C RT(ms): %.3f | p99 B2C RT(ms): %.3f | Max B2C RT(ms): %.3f",
                static_cast<long long>(s.messages), static_cast<long long>(s.pull_failures), s.seconds, s.tps,
                s.avg_ms, s.p50_ms, s.p99_ms, s.max_ms);
  std::string line = buf;
  if (!s.first_error.empty()) line += " | First Error: " + s.first_error;
  return line;
}

std::string summary_json(const ConsumeOptions& o, const ConsumeSummary& s) {
  nlohmann::json j = {{"mode", "consume"},          {"topic", o.topic},          {"group", o.group},
                      {"messages", s.messages},     {"pull_failures", s.pull_failures},
                      {"seconds", s.seconds},       {"tps", s.tps},              {"avg_b2c_ms", s.avg_ms},
                      {"p50_b2c_ms", s.p50_ms},     {"p99_b2c_ms", s.p99_ms},    {"max_b2c_ms", s.max_ms},
                      {"first_error", s.first_error}};
  return j.dump();
}

namespace {

// --push: the managed consumer, its listener only counting and timing.
Result<std::unique_ptr<PushConsumer>> start_push(const ConsumeOptions& options, ConsumeCounters& counters) {
  PushConsumerOptions o;
  o.group = options.group;
  o.name_servers = options.name_servers;
  o.subscriptions = {{options.topic, "*"}};
  o.consume_from_where =
      options.from == ConsumeOptions::From::kFirst ? ConsumeFromWhere::kFirstOffset : ConsumeFromWhere::kLastOffset;
  if (options.threads > 0) o.consume_thread_count = options.threads;
  o.pull_batch_size = options.batch;
  auto started = PushConsumer::start(o, [&counters](const std::vector<ReceivedMessage>& msgs) {
    const int64_t now = wall_ms();
    for (const ReceivedMessage& m : msgs) {
      counters.born_to_consumed.record(std::max<int64_t>(0, now - m.born_timestamp_ms) * 1000);
    }
    counters.messages.fetch_add(static_cast<int64_t>(msgs.size()), std::memory_order_relaxed);
    return ConsumeResult::kSuccess;
  });
  if (!started.ok()) return Status::io_error("push consumer did not start: " + started.error().to_string());
  return std::move(started).value();
}

}  // namespace

Result<ConsumeSummary> run_consume(const ConsumeOptions& options, const std::atomic<bool>* stop, std::FILE* out) {
  if (options.topic.empty() || options.group.empty()) return Status::invalid_argument("--topic and --group are required");
  ConsumeCounters counters;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  std::unique_ptr<PullConsumer> consumer;
  std::unique_ptr<PushConsumer> push;
  const auto begin = Clock::now();
  if (options.push) {
    HF_ASSIGN_OR_RETURN(push, start_push(options, counters));
  } else {
    PullConsumerOptions consumer_options;
    consumer_options.group = options.group;
    consumer_options.name_servers = options.name_servers;
    auto started = PullConsumer::start(consumer_options);
    if (!started.ok()) return Status::io_error("consumer did not start: " + started.error().to_string());
    consumer = std::move(started).value();
    auto queues = consumer->queues_of(options.topic);
    if (!queues.ok() || queues->empty()) {
      consumer->shutdown();
      return Status::not_found("topic " + options.topic + " has no readable queue" +
                               (queues.ok() ? std::string() : ": " + queues.error().to_string()));
    }
    const size_t thread_count = std::min<size_t>(
        queues->size(), options.threads > 0 ? static_cast<size_t>(options.threads) : size_t{32});
    std::vector<std::vector<MessageQueue>> assignment(thread_count);
    for (size_t i = 0; i < queues->size(); ++i) assignment[i % thread_count].push_back((*queues)[i]);

    for (auto& mine : assignment) {
      threads.emplace_back([&, mine] { consumer_loop(consumer.get(), options, mine, done, counters); });
    }
  }

  auto window_start = Clock::now();
  int64_t window_messages = 0;
  LatencyHistogram::Snapshot window_base = counters.born_to_consumed.snapshot();
  const auto interval = std::chrono::duration<double>(options.interval_s);
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const bool time_up =
        options.duration_s > 0 && std::chrono::duration<double>(Clock::now() - begin).count() >= options.duration_s;
    const bool enough = options.stop_after > 0 && counters.messages.load() >= options.stop_after;
    const bool stopping = time_up || enough || (stop != nullptr && stop->load());
    if (Clock::now() - window_start >= interval || stopping) {
      const double secs = std::chrono::duration<double>(Clock::now() - window_start).count();
      const int64_t messages = counters.messages.load();
      const LatencyHistogram::Snapshot now = counters.born_to_consumed.snapshot();
      const LatencyHistogram::Snapshot window = now.minus(window_base);
      const double window_max = static_cast<double>(counters.born_to_consumed.take_window_max()) / 1000.0;
      if (out != nullptr && secs >= 0.5) {
        std::fprintf(out,
                     "Current Time: %s | Consume TPS: %.0f | Average B2C RT(ms): %.3f | p50 B2C RT(ms): %.3f | "
                     "p99 B2C RT(ms): %.3f | Max B2C RT(ms): %.3f | Consumed: %lld\n",
                     now_text().c_str(), static_cast<double>(messages - window_messages) / secs, window.average_ms(),
                     window.percentile_ms(0.5), window.percentile_ms(0.99), window_max,
                     static_cast<long long>(messages));
        std::fflush(out);
      }
      window_start = Clock::now();
      window_messages = messages;
      window_base = now;
    }
    if (stopping) break;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  done.store(true);
  for (auto& t : threads) t.join();
  if (consumer) consumer->shutdown();
  if (push) push->shutdown();

  ConsumeSummary s;
  s.messages = counters.messages.load();
  s.pull_failures = counters.pull_failures.load();
  s.seconds = seconds;
  s.tps = seconds > 0 ? static_cast<double>(s.messages) / seconds : 0;
  const LatencyHistogram::Snapshot all = counters.born_to_consumed.snapshot();
  s.avg_ms = all.average_ms();
  s.p50_ms = all.percentile_ms(0.5);
  s.p99_ms = all.percentile_ms(0.99);
  s.max_ms = all.max_ms();
  s.first_error = counters.first_error;
  return s;
}

}  // namespace holdfast::bench
