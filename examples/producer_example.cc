// Synchronous sends: each send() returns once the broker stored the message (or with an error).
//   producer_example [namesrv] [topic]
#include <cstdio>

#include "example_common.h"
#include "holdfast/producer.h"

int main(int argc, char** argv) {
  holdfast::ProducerOptions options;
  options.group = "example_producer";
  options.name_servers = examples::name_servers(argc, argv);
  auto producer = holdfast::Producer::start(options);
  if (!producer) {
    std::fprintf(stderr, "cannot start the producer: %s\n", producer.error().to_string().c_str());
    return 1;
  }
  const std::string topic = examples::topic(argc, argv, "ExampleTopic");
  int sent = 0;
  for (int i = 0; i < 10; ++i) {
    holdfast::Message msg(topic, "Hello Holdfast " + std::to_string(i), "TagA");
    msg.keys = {"order-" + std::to_string(i)};
    msg.properties["example"] = "producer";
    auto result = (*producer)->send(msg);
    if (!result) {
      // Not stored within the send timeout (after retries): the caller decides what to do.
      std::fprintf(stderr, "send %d failed: %s\n", i, result.error().to_string().c_str());
      continue;
    }
    std::printf("%s msg_id=%s queue=%s offset=%lld\n", holdfast::send_status_name(result->status),
                result->msg_id.c_str(), result->queue.to_string().c_str(),
                static_cast<long long>(result->queue_offset));
    if (result->status == holdfast::SendStatus::kSendOk) ++sent;
  }
  (*producer)->shutdown();
  std::printf("sent %d of 10 messages\n", sent);
  return sent == 10 ? 0 : 1;
}
