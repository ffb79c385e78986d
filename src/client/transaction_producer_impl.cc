// TransactionProducer (include/holdfast/transaction_producer.h): a ProducerImpl for the half sends
// and END_TRANSACTION, plus the group's check-back handler on an Executor.
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>

#include "base/logging.h"
#include "client/executor.h"
#include "client/producer_impl.h"
#include "holdfast/transaction_producer.h"
#include "remoting/request_code.h"

namespace holdfast {

namespace {

namespace req = remoting::request_code;
using remoting::RemotingCommand;

int32_t wire_state(LocalTransactionState s) {
  switch (s) {
    case LocalTransactionState::kCommit: return 8;
    case LocalTransactionState::kRollback: return 12;
    case LocalTransactionState::kUnknown: return 0;
  }
  return 0;
}

class TransactionProducerImpl final : public TransactionProducer {
 public:
  TransactionProducerImpl(std::unique_ptr<Producer> producer, TransactionListener listener, int check_threads)
      : owned_(std::move(producer)),
        producer_(static_cast<client::ProducerImpl*>(owned_.get())),
        listener_(std::move(listener)),
        checks_(check_threads) {
    producer_->instance().set_transaction_check_handler(
        producer_->options().group,
        [this](const transport::ConnectionPtr& conn, const RemotingCommand& request, ReceivedMessage msg) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (stopping_) return;
            ++running_;
          }
          checks_.post([this, conn, request, msg = std::move(msg)]() mutable {
            answer_check(conn, request, msg);
            std::lock_guard<std::mutex> lock(mu_);
            --running_;
            cv_.notify_all();
          });
        });
    // Learn the brokers from the auto-create template topic's route and heartbeat them now (the
    // Java client does the same): a producer that has sent nothing yet — one started to answer
    // the check-backs of a producer that died — is known to every broker at once.
    if (producer_->instance().route(client::kDefaultTopic).is_ok()) producer_->instance().send_heartbeat_to_all_brokers();
  }
  ~TransactionProducerImpl() override { shutdown(); }

  Outcome<TransactionSendResult> send_in_transaction(const Message& msg, const std::string& arg) override {
    auto half = producer_->send_half(msg);
    if (!half.ok()) return half.error();
    TransactionSendResult result;
    result.send = *half;
    if (half->status != SendStatus::kSendOk) {
      // Stored but the durability promise was not confirmed: the local transaction must not run
      // on a message that might not survive. Roll the half back (the broker ignores it if gone).
      result.local_state = LocalTransactionState::kRollback;
      result.end_sent = producer_->end_transaction(*half, wire_state(result.local_state),
                                                   "half message not SEND_OK").is_ok();
      return result;
    }
    std::string remark;
    try {
      result.local_state = listener_.execute(msg, arg, half->transaction_id.empty() ? half->msg_id : half->transaction_id);
    } catch (const std::exception& e) {
      result.local_state = LocalTransactionState::kUnknown;
      remark = std::string("executeLocalTransaction threw: ") + e.what();
    } catch (...) {
      result.local_state = LocalTransactionState::kUnknown;
      remark = "executeLocalTransaction threw";
    }
    Status st = producer_->end_transaction(*half, wire_state(result.local_state), remark);
    result.end_sent = st.is_ok();
    if (!st.is_ok()) {
      logger("client")->warn("END_TRANSACTION for {} not sent ({}); the broker's check-back will end it",
                             half->msg_id, st.to_string());
    }
    return result;
  }

  void shutdown() override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    producer_->instance().set_transaction_check_handler(producer_->options().group, nullptr);
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return running_ == 0; });
    }
    checks_.stop();
    producer_->shutdown();
  }

  std::string client_id() const override { return producer_->client_id(); }

 private:
  void answer_check(const transport::ConnectionPtr& conn, const RemotingCommand& request, const ReceivedMessage& msg) {
    LocalTransactionState state = LocalTransactionState::kUnknown;
    std::string remark;
    try {
      state = listener_.check(msg);
    } catch (const std::exception& e) {
      remark = std::string("checkLocalTransaction threw: ") + e.what();
    } catch (...) {
      remark = "checkLocalTransaction threw";
    }
    RemotingCommand end = RemotingCommand::make_request(req::kEndTransaction);
    end.set_ext("producerGroup", producer_->options().group);
    end.set_ext("topic", msg.topic);
    end.set_ext("tranStateTableOffset", std::string(request.ext("tranStateTableOffset").value_or("0")));
    end.set_ext("commitLogOffset", std::string(request.ext("commitLogOffset").value_or("0")));
    end.set_ext_int("commitOrRollback", wire_state(state));
    end.set_ext_bool("fromTransactionCheck", true);
    end.set_ext("msgId", msg.msg_id);
    end.set_ext("transactionId", std::string(request.ext("transactionId").value_or(msg.msg_id)));
    if (!remark.empty()) end.remark = remark;
    conn->send_oneway(std::move(end));
  }

  std::unique_ptr<Producer> owned_;
  client::ProducerImpl* const producer_;
  const TransactionListener listener_;
  client::Executor checks_;
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  bool stopping_ = false;
};

}  // namespace

const char* local_transaction_state_name(LocalTransactionState state) {
  switch (state) {
    case LocalTransactionState::kCommit: return "COMMIT_MESSAGE";
    case LocalTransactionState::kRollback: return "ROLLBACK_MESSAGE";
    case LocalTransactionState::kUnknown: return "UNKNOW";
  }
  return "UNKNOW";
}

Outcome<std::unique_ptr<TransactionProducer>> TransactionProducer::start(TransactionProducerOptions options,
                                                                         TransactionListener listener) {
  if (!listener.execute || !listener.check) {
    return Error{ErrorCode::kInvalidArgument, 0, "a transaction producer needs both execute and check callbacks", false};
  }
  if (options.check_threads <= 0) {
    return Error{ErrorCode::kInvalidArgument, 0, "check_threads must be positive", false};
  }
  auto producer = client::ProducerImpl::create(std::move(options.producer));
  if (!producer.ok()) return producer.error();
  return std::unique_ptr<TransactionProducer>(
      new TransactionProducerImpl(std::move(producer).value(), std::move(listener), options.check_threads));
}

}  // namespace holdfast
