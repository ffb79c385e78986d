// The low-level pull consumer: list a topic's queues, pull each from the group's committed offset
// (long polling), print the messages, commit the new offsets.
//   pull_consumer_example [namesrv] [topic] [expected-count]
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "example_common.h"
#include "holdfast/pull_consumer.h"

int main(int argc, char** argv) {
  holdfast::PullConsumerOptions options;
  options.group = "example_pull_consumer";
  options.name_servers = examples::name_servers(argc, argv);
  auto consumer = holdfast::PullConsumer::start(options);
  if (!consumer) {
    std::fprintf(stderr, "cannot start the consumer: %s\n", consumer.error().to_string().c_str());
    return 1;
  }
  const std::string topic = examples::topic(argc, argv, "ExampleTopic");
  const int expected = argc > 3 ? std::atoi(argv[3]) : 10;
  auto queues = (*consumer)->queues_of(topic);
  if (!queues) {
    std::fprintf(stderr, "no queues for %s: %s\n", topic.c_str(), queues.error().to_string().c_str());
    return 1;
  }
  // Where to start: the group's committed offset, or the queue's first message for a group that
  // never committed there.
  std::vector<int64_t> offsets;
  for (const holdfast::MessageQueue& queue : *queues) {
    auto offset = (*consumer)->committed_offset(queue);
    if (!offset) offset = (*consumer)->min_offset(queue);
    if (!offset) {
      std::fprintf(stderr, "%s: %s\n", queue.to_string().c_str(), offset.error().to_string().c_str());
      return 1;
    }
    offsets.push_back(*offset);
  }
  int received = 0;
  // A few rounds over all queues: enough for messages sent before we started.
  for (int round = 0; round < 3 && received < expected; ++round) {
    for (size_t i = 0; i < queues->size(); ++i) {
      const holdfast::MessageQueue& queue = (*queues)[i];
      auto result = (*consumer)->pull(queue, "*", offsets[i], 32, /*long_poll_ms=*/500);
      if (!result) {
        std::fprintf(stderr, "pull %s failed: %s\n", queue.to_string().c_str(), result.error().to_string().c_str());
        return 1;
      }
      for (const holdfast::ReceivedMessage& m : result->messages) {
        std::printf("%s offset %lld: %s\n", queue.to_string().c_str(), static_cast<long long>(m.queue_offset),
                    m.body.c_str());
        ++received;
      }
      if (result->next_begin_offset != offsets[i]) {
        offsets[i] = result->next_begin_offset;
        auto committed = (*consumer)->commit_offset(queue, offsets[i]);
        if (!committed) std::fprintf(stderr, "commit failed: %s\n", committed.error().to_string().c_str());
      }
    }
  }
  (*consumer)->shutdown();
  std::printf("received %d messages\n", received);
  return received >= expected ? 0 : 1;
}
