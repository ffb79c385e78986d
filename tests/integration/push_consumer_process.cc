// A push consumer process for the process-level tests (kill -9, rebalance under load). It appends
// one line "<msg_id> <queue_id> <queue_offset>" per consumed message to an output file (a single
// O_APPEND write, so a kill -9 leaves whole lines), prints "READY" once it owns a queue, and shuts
// down gracefully on SIGTERM. Every 200 ms it also replaces "<out file>.queues" with the queues it
// owns, one "topic broker_name queue_id" line each (the compat test reads it).
//
// usage: push_consumer_process <name server> <group> <topic> <instance> <out file> <mode>
//   mode normal: every message succeeds
//   mode hold:   a message whose body is "HOLD" never returns (its listener sleeps forever)
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "holdfast/push_consumer.h"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s <namesrv> <group> <topic> <instance> <out file> <normal|hold>\n", argv[0]);
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  const std::string mode = argv[6];
  const int out = ::open(argv[5], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) {
    std::perror("open");
    return 2;
  }
  holdfast::PushConsumerOptions o;
  o.name_servers = {argv[1]};
  o.group = argv[2];
  o.subscriptions = {{argv[3], "*"}};
  o.instance_name = argv[4];
  o.consume_from_where = holdfast::ConsumeFromWhere::kFirstOffset;
  o.rebalance_interval_ms = 1000;
  o.persist_offset_interval_ms = 300;
  o.long_poll_ms = 1000;
  o.consume_thread_count = 4;
  auto consumer = holdfast::PushConsumer::start(o, [&](const std::vector<holdfast::ReceivedMessage>& msgs) {
    for (const auto& m : msgs) {
      if (mode == "hold" && m.body == "HOLD") {
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      }
      const std::string line =
          m.msg_id + " " + std::to_string(m.queue_id) + " " + std::to_string(m.queue_offset) + "\n";
      if (::write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::perror("write");
    }
    return holdfast::ConsumeResult::kSuccess;
  });
  if (!consumer.ok()) {
    std::fprintf(stderr, "start: %s\n", consumer.error().to_string().c_str());
    return 1;
  }
  for (int i = 0; i < 600 && !g_stop && (*consumer)->assigned_queues().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("READY %s\n", (*consumer)->client_id().c_str());
  std::fflush(stdout);
  const std::string queues_file = std::string(argv[5]) + ".queues";
  while (!g_stop) {
    std::string text;
    for (const auto& q : (*consumer)->assigned_queues()) {
      text += q.topic + " " + q.broker_name + " " + std::to_string(q.queue_id) + "\n";
    }
    if (FILE* f = std::fopen((queues_file + ".tmp").c_str(), "w")) {
      std::fputs(text.c_str(), f);
      std::fclose(f);
      std::rename((queues_file + ".tmp").c_str(), queues_file.c_str());
    }
    for (int i = 0; i < 4 && !g_stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (*consumer)->shutdown();
  ::close(out);
  return 0;
}
