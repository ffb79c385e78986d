// Ordered sends: a selector maps each order id to one queue, so a consumer of that queue sees the
// order's steps in the order they were sent.
//   ordered_producer_example [namesrv] [topic]
#include <cstdio>
#include <map>
#include <set>

#include "example_common.h"
#include "holdfast/producer.h"

int main(int argc, char** argv) {
  holdfast::ProducerOptions options;
  options.group = "example_ordered_producer";
  options.name_servers = examples::name_servers(argc, argv);
  auto producer = holdfast::Producer::start(options);
  if (!producer) {
    std::fprintf(stderr, "cannot start the producer: %s\n", producer.error().to_string().c_str());
    return 1;
  }
  const std::string topic = examples::topic(argc, argv, "ExampleOrderedTopic");
  const holdfast::MessageQueueSelector by_order = holdfast::select_queue_by_hash();
  std::map<std::string, std::set<std::string>> queues_of_order;
  int failures = 0;
  for (const char* step : {"created", "paid", "shipped", "delivered"}) {
    for (const std::string order : {"order-1001", "order-1002", "order-1003"}) {
      holdfast::Message msg(topic, order + " " + step, step);
      msg.keys = {order};
      auto result = (*producer)->send(msg, by_order, order);
      if (!result) {
        std::fprintf(stderr, "%s %s failed: %s\n", order.c_str(), step, result.error().to_string().c_str());
        ++failures;
        continue;
      }
      queues_of_order[order].insert(result->queue.to_string());
      std::printf("%s %-9s -> %s offset %lld\n", order.c_str(), step, result->queue.to_string().c_str(),
                  static_cast<long long>(result->queue_offset));
    }
  }
  (*producer)->shutdown();
  bool one_queue_each = true;
  for (const auto& [order, queues] : queues_of_order) one_queue_each = one_queue_each && queues.size() == 1;
  std::printf("ordered: %zu orders, %s\n", queues_of_order.size(),
              one_queue_each ? "each on one queue" : "SPREAD OVER SEVERAL QUEUES");
  return failures == 0 && one_queue_each ? 0 : 1;
}
