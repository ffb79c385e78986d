// TransactionProducer: "write my database row and publish the event, both or neither" (RocketMQ's
// transactional messages, facts §9), wire-compatible with RocketMQ brokers.
//
// send_in_transaction(msg, arg):
//  1. sends msg as a half message (synchronously, with the same retries and timeout budget as
//     Producer::send). The broker stores it durably but no consumer sees it.
//  2. Only when that send is SEND_OK, calls listener.execute(msg, arg, transaction_id) on the
//     calling thread; the application runs its local transaction there and reports the outcome.
//     A failed half send never calls it (the returned error says why).
//  3. Ends the transaction with the reported state (END_TRANSACTION, oneway, like the Java client):
//     kCommit delivers the message to the topic's consumers, kRollback drops it, kUnknown leaves it
//     to the broker's check-back. An exception thrown by execute counts as kUnknown.
// The end is oneway: it can be lost (the broker or the network fails right then). Nothing is lost
// by that: the broker keeps the half message and later asks listener.check — on a thread of this
// client, possibly in another process of the same producer group after this one died — and the
// answer ends it. So check must answer from the application's own durable state (e.g. "is the
// order row there?"), not from memory.
//
// Thread-safe. Check-backs run on `check_threads` threads of the producer.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "holdfast/message.h"
#include "holdfast/outcome.h"
#include "holdfast/producer.h"

namespace holdfast {

enum class LocalTransactionState { kCommit, kRollback, kUnknown };
const char* local_transaction_state_name(LocalTransactionState state);  // "COMMIT_MESSAGE", ...

struct TransactionListener {
  // Runs the local transaction of a half message that is stored (SEND_OK).
  std::function<LocalTransactionState(const Message& msg, const std::string& arg, const std::string& transaction_id)>
      execute;
  // Answers a broker's check-back for a half message whose end the broker has not seen.
  // `msg.properties` include UNIQ_KEY (= msg.msg_id = the transaction id) and the user properties.
  std::function<LocalTransactionState(const ReceivedMessage& msg)> check;
};

struct TransactionSendResult {
  SendResult send;                                         // the half message's send result
  LocalTransactionState local_state = LocalTransactionState::kUnknown;  // what execute reported
  bool end_sent = false;  // END_TRANSACTION was handed to the connection (oneway)
};

struct TransactionProducerOptions {
  ProducerOptions producer;
  int check_threads = 1;
};

class TransactionProducer {
 public:
  // Starts the producer and registers its group's check-back handler. Both callbacks must be set.
  static Outcome<std::unique_ptr<TransactionProducer>> start(TransactionProducerOptions options,
                                                             TransactionListener listener);
  virtual ~TransactionProducer() = default;

  // Not for batches or delay levels: a delay level is dropped (as the Java client does). A long
  // local transaction can defer the first check-back: msg.properties
  // ["CHECK_IMMUNITY_TIME_IN_SECONDS"] = seconds (neither checks nor the check count start before).
  virtual Outcome<TransactionSendResult> send_in_transaction(const Message& msg, const std::string& arg) = 0;
  // Stops answering check-backs, waits for running ones, then shuts the producer down.
  virtual void shutdown() = 0;
  virtual std::string client_id() const = 0;
};

}  // namespace holdfast
