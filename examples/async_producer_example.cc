// Asynchronous sends: send_async() returns at once; every callback runs exactly once, with the
// result or the error.
//   async_producer_example [namesrv] [topic]
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "example_common.h"
#include "holdfast/producer.h"

int main(int argc, char** argv) {
  holdfast::ProducerOptions options;
  options.group = "example_async_producer";
  options.name_servers = examples::name_servers(argc, argv);
  auto producer = holdfast::Producer::start(options);
  if (!producer) {
    std::fprintf(stderr, "cannot start the producer: %s\n", producer.error().to_string().c_str());
    return 1;
  }
  const std::string topic = examples::topic(argc, argv, "ExampleAsyncTopic");
  constexpr int kMessages = 100;
  std::mutex mu;
  std::condition_variable all_done;
  int completed = 0;
  std::atomic<int> acknowledged{0};
  for (int i = 0; i < kMessages; ++i) {
    holdfast::Message msg(topic, "async message " + std::to_string(i));
    (*producer)->send_async(msg, [&, i](holdfast::Outcome<holdfast::SendResult> result) {
      if (result && result->status == holdfast::SendStatus::kSendOk) {
        ++acknowledged;
      } else if (!result) {
        std::fprintf(stderr, "async send %d failed: %s\n", i, result.error().to_string().c_str());
      }
      std::lock_guard<std::mutex> lock(mu);
      if (++completed == kMessages) all_done.notify_one();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    all_done.wait(lock, [&] { return completed == kMessages; });
  }
  (*producer)->shutdown();
  std::printf("async sends acknowledged: %d of %d\n", acknowledged.load(), kMessages);
  return acknowledged == kMessages ? 0 : 1;
}
