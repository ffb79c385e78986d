// `holdfast bench produce|consume`: load generators on the public client (Producer,
// PullConsumer), in the manner of RocketMQ's benchmark Producer and Consumer. Every interval they
// print a line (TPS, failures, average/p50/p99/max response time, or born-to-consumed latency for
// consumers) and at the end a summary line, or a JSON summary for scripts.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "app/bench_stats.h"
#include "base/status.h"

namespace holdfast::bench {

struct ProduceOptions {
  std::string topic = "BenchmarkTest";
  std::string group = "benchmark_producer";
  std::vector<std::string> name_servers;
  int threads = 16;
  int size = 1024;          // body bytes
  bool async = false;       // send_async with `in_flight` outstanding sends per thread
  int in_flight = 64;
  int batch = 1;            // > 1: send(batch) of this many messages per request
  // Each send is a transaction (TransactionProducer::send_in_transaction) whose local
  // transaction commits at once; check-backs answer commit and are counted.
  bool transaction = false;
  double duration_s = 0;    // 0 = until Ctrl-C (or `stop`)
  double interval_s = 10;   // progress line period
  int64_t send_timeout_ms = 3000;
};

struct ProduceSummary {
  int64_t messages = 0;   // acknowledged with SEND_OK
  int64_t not_ok = 0;     // stored, but FLUSH_DISK_TIMEOUT / FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE
  int64_t failures = 0;   // errors returned to the caller (messages)
  int64_t requests = 0;   // send calls that completed
  double seconds = 0;
  double tps = 0;         // (messages + not_ok) per second
  double avg_ms = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;  // per request
  std::string first_error;
  int64_t check_backs = 0;  // --transaction: CHECK_TRANSACTION_STATE requests answered
  // This client process over the same span as `seconds` (sender threads started to joined).
  ProcessUsage client;
};

struct ConsumeOptions {
  std::string topic = "BenchmarkTest";
  std::string group = "benchmark_consumer";
  std::vector<std::string> name_servers;
  int threads = 0;           // 0 = one per queue, at most 32
  double duration_s = 0;
  double interval_s = 10;
  int32_t batch = 32;        // max messages per pull
  int64_t long_poll_ms = 2000;
  enum class From { kCommitted, kFirst, kLast } from = From::kCommitted;
  int64_t stop_after = 0;    // > 0: stop once this many messages were consumed
  // true: a PushConsumer (clustering, `threads` consume threads, 0 = its default 20) with a
  // listener that does no work, instead of puller threads; offsets are committed by the consumer.
  bool push = false;
};

struct ConsumeSummary {
  int64_t messages = 0;
  int64_t pull_failures = 0;
  double seconds = 0;
  double tps = 0;
  double avg_ms = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;  // born-to-consumed
  std::string first_error;
};

// Run until duration_s passes or *stop becomes true; progress lines go to `out` (nullptr = none).
// An error only when the client cannot start (no name server, bad options) or no queue exists.
Result<ProduceSummary> run_produce(const ProduceOptions& options, const std::atomic<bool>* stop, std::FILE* out);
Result<ConsumeSummary> run_consume(const ConsumeOptions& options, const std::atomic<bool>* stop, std::FILE* out);

std::string summary_json(const ProduceOptions& options, const ProduceSummary& summary);
std::string summary_json(const ConsumeOptions& options, const ConsumeSummary& summary);
std::string summary_line(const ProduceSummary& summary);
std::string summary_line(const ConsumeSummary& summary);

}  // namespace holdfast::bench
