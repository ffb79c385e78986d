// The push consumer: join a consumer group, let it own queues and call a listener for each
// message; returning kReconsumeLater (or throwing) would bring the message back later through the
// group's retry topic. Stops once `expected-count` messages arrived (or after 30 s), committing
// its offsets on shutdown.
//   push_consumer_example [namesrv] [topic] [expected-count]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "example_common.h"
#include "holdfast/push_consumer.h"

int main(int argc, char** argv) {
  holdfast::PushConsumerOptions options;
  options.group = "example_push_consumer";
  options.name_servers = examples::name_servers(argc, argv);
  options.subscriptions = {{examples::topic(argc, argv, "ExampleTopic"), "*"}};
  options.consume_from_where = holdfast::ConsumeFromWhere::kFirstOffset;  // a new group reads from the start
  const int expected = argc > 3 ? std::atoi(argv[3]) : 10;
  std::atomic<int> received{0};
  auto consumer = holdfast::PushConsumer::start(options, [&](const std::vector<holdfast::ReceivedMessage>& msgs) {
    for (const holdfast::ReceivedMessage& m : msgs) {
      std::printf("%s@%s:%d offset %lld: %s\n", m.topic.c_str(), m.broker_name.c_str(), m.queue_id,
                  static_cast<long long>(m.queue_offset), m.body.c_str());
      ++received;
    }
    return holdfast::ConsumeResult::kSuccess;
  });
  if (!consumer) {
    std::fprintf(stderr, "cannot start the consumer: %s\n", consumer.error().to_string().c_str());
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (received.load() < expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (*consumer)->shutdown();
  std::printf("received %d messages\n", received.load());
  return received.load() >= expected ? 0 : 1;
}
