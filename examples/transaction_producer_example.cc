// Transactional messages: "save the order row and publish OrderCreated, both or neither".
//   transaction_producer_example [namesrv] [topic] [orders-file]
// Each order is sent as a half message; once the broker has stored it, the local transaction
// writes the order row (here: a line in a file standing in for the database) and the message is
// committed. An order whose row cannot be written is rolled back and never delivered. If this
// process died between the row and the commit, the broker would ask a producer of the same group
// (check_local_transaction) and the row decides.
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "example_common.h"
#include "holdfast/transaction_producer.h"

namespace {

// The "database": one order id per line.
bool save_order_row(const std::string& path, const std::string& order_id) {
  std::ofstream out(path, std::ios::app);
  out << order_id << "\n";
  out.flush();
  return static_cast<bool>(out);
}

bool order_row_exists(const std::string& path, const std::string& order_id) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line == order_id) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string topic = examples::topic(argc, argv, "ExampleOrderTopic");
  const std::string orders = argc > 3 ? argv[3] : "/tmp/holdfast_example_orders.db";
  std::remove(orders.c_str());

  holdfast::TransactionProducerOptions options;
  options.producer.group = "example_order_service";
  options.producer.name_servers = examples::name_servers(argc, argv);
  holdfast::TransactionListener listener;
  listener.execute = [&](const holdfast::Message& msg, const std::string& order_id, const std::string&) {
    // Order 3 fails validation in this example: no row, no event.
    if (order_id == "order-3") return holdfast::LocalTransactionState::kRollback;
    return save_order_row(orders, order_id) ? holdfast::LocalTransactionState::kCommit
                                            : holdfast::LocalTransactionState::kUnknown;
  };
  listener.check = [&](const holdfast::ReceivedMessage& msg) {
    const auto it = msg.properties.find("orderId");
    const bool saved = it != msg.properties.end() && order_row_exists(orders, it->second);
    return saved ? holdfast::LocalTransactionState::kCommit : holdfast::LocalTransactionState::kRollback;
  };
  auto producer = holdfast::TransactionProducer::start(options, listener);
  if (!producer) {
    std::fprintf(stderr, "cannot start the producer: %s\n", producer.error().to_string().c_str());
    return 1;
  }
  int committed = 0;
  int rolled_back = 0;
  for (int i = 1; i <= 5; ++i) {
    const std::string order_id = "order-" + std::to_string(i);
    holdfast::Message msg(topic, "OrderCreated " + order_id, "OrderCreated");
    msg.keys = {order_id};
    msg.properties["orderId"] = order_id;
    auto result = (*producer)->send_in_transaction(msg, order_id);
    if (!result) {
      // The half message was not stored: the local transaction did not run.
      std::fprintf(stderr, "%s: not sent: %s\n", order_id.c_str(), result.error().to_string().c_str());
      continue;
    }
    std::printf("%s: half %s, local transaction %s, transaction id %s\n", order_id.c_str(),
                holdfast::send_status_name(result->send.status),
                holdfast::local_transaction_state_name(result->local_state), result->send.transaction_id.c_str());
    if (result->local_state == holdfast::LocalTransactionState::kCommit) ++committed;
    if (result->local_state == holdfast::LocalTransactionState::kRollback) ++rolled_back;
  }
  (*producer)->shutdown();
  std::printf("transactions: %d committed, %d rolled back\n", committed, rolled_back);
  return committed == 4 && rolled_back == 1 ? 0 : 1;
}
