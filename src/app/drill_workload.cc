#include "app/drill_workload.h"

#include <chrono>
#include <thread>

#include "holdfast/producer.h"
#include "holdfast/pull_consumer.h"
#include "holdfast/push_consumer.h"
#include "holdfast/transaction_producer.h"

namespace holdfast::drill {
namespace {

constexpr int64_t kQuietMs = 6000;
constexpr int64_t kTransactionalQuietMs = 15000;
constexpr size_t kAnswerLaterEvery = 10;  // transactional: every 10th local transaction answers UNKNOWN

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Workload::~Workload() {
  stop_producers();
  stop_transaction_producers();
  stop_consumer();
}

std::string Workload::start() {
  PushConsumerOptions co;
  co.group = "drill_consumer_" + options_.run_tag;
  co.name_servers = {options_.name_server};
  co.instance_name = "drill-c0-" + options_.run_tag;
  co.subscriptions = {Subscription{options_.topic, "*"}};
  co.consume_from_where = ConsumeFromWhere::kFirstOffset;
  co.consume_thread_count = 4;
  co.poll_name_server_interval_ms = 500;
  co.heartbeat_broker_interval_ms = 1000;
  co.rebalance_interval_ms = 1000;
  co.persist_offset_interval_ms = 500;
  co.long_poll_ms = 2000;
  co.pull_exception_delay_ms = 200;
  co.call_timeout_ms = 2000;
  auto record = [this](const std::vector<ReceivedMessage>& messages) {
    for (const auto& m : messages) {
      {
        std::lock_guard lock(mu_);
        seen_.insert(m.body);
      }
      sink_({{"type", "deliver"},
             {"id", m.body},
             {"consumer", "c0"},
             {"broker", m.broker_name},
             {"queue", m.queue_id},
             {"offset", m.queue_offset}});
    }
  };
  // Ordered runs consume orderly (one queue at a time, in offset order, under the broker's queue
  // lock), as an ordered pipeline would; the checker then holds deliveries to send order.
  auto consumer = options_.ordered
                      ? PushConsumer::start_orderly(co,
                                                    [record](const std::vector<ReceivedMessage>& messages) {
                                                      record(messages);
                                                      return OrderlyConsumeResult::kSuccess;
                                                    })
                      : PushConsumer::start(co, [record](const std::vector<ReceivedMessage>& messages) {
                          record(messages);
                          return ConsumeResult::kSuccess;
                        });
  if (!consumer.ok()) return "push consumer: " + consumer.error().to_string();
  consumer_ = std::move(consumer).value();
  for (int i = 0; i < options_.producers; ++i) producers_.emplace_back([this, i] { produce(i); });
  return "";
}

void Workload::produce(int index) {
  ProducerOptions po;
  po.group = "drill_producer_" + options_.run_tag;
  po.name_servers = {options_.name_server};
  po.instance_name = "drill-p" + std::to_string(index) + "-" + options_.run_tag;
  po.retry_times_when_send_failed = options_.retries;
  po.send_msg_timeout_ms = options_.send_timeout_ms;
  po.poll_name_server_interval_ms = 500;
  po.heartbeat_broker_interval_ms = 1000;
  const std::string producer = "p" + std::to_string(index);
  std::unique_ptr<Producer> p;
  std::unique_ptr<TransactionProducer> tp;
  // Transactional: the local transaction "commits" by recording the id (this drill's database),
  // and a check-back answers from that record: commit if it is there, roll back if not (a half
  // message whose SEND_OK never arrived never ran its local transaction).
  TransactionListener listener;
  // One local transaction in ten answers UNKNOWN although it committed (as a producer that timed
  // out before it could tell the broker): the broker must ask back, so every run exercises the
  // check-back, across a failover too.
  listener.execute = [this](const Message& m, const std::string&, const std::string&) {
    std::lock_guard lock(mu_);
    committed_.insert(m.body);
    return committed_.size() % kAnswerLaterEvery == 0 ? LocalTransactionState::kUnknown
                                                      : LocalTransactionState::kCommit;
  };
  listener.check = [this](const ReceivedMessage& m) {
    bool commit;
    {
      std::lock_guard lock(mu_);
      commit = committed_.count(m.body) > 0;
    }
    // In the history, so that a run shows when the broker asked (a clock fault moves check-backs).
    sink_({{"type", "note"}, {"text", "check-back for " + m.body + ": " + (commit ? "commit" : "rollback")}});
    return commit ? LocalTransactionState::kCommit : LocalTransactionState::kRollback;
  };
  while (!stopping_.load()) {
    if (options_.transactional) {
      TransactionProducerOptions to;
      to.producer = po;
      auto started = TransactionProducer::start(to, listener);
      if (started.ok()) {
        tp = std::move(started).value();
        break;
      }
    } else {
      auto started = Producer::start(po);
      if (started.ok()) {
        p = std::move(started).value();
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // Ordered: every message of this producer goes to the queue its order key hashes to, with a
  // sequence number that rises in send order.
  const std::string order_key = options_.run_tag + "-" + producer;
  const MessageQueueSelector by_key = select_queue_by_hash();
  auto send = [&](const Message& m) -> Outcome<SendResult> {
    if (tp) {
      auto r = tp->send_in_transaction(m, "");
      if (!r.ok()) return r.error();
      return r.value().send;  // SEND_OK of the half message; its local transaction committed
    }
    return options_.ordered ? p->send(m, by_key, order_key) : p->send(m);
  };
  for (int64_t n = 0; (p || tp) && !stopping_.load(); ++n) {
    const std::string id = options_.run_tag + "-" + producer + "-" + std::to_string(n);
    Message m(options_.topic, id, "drill");
    m.keys = {id};
    sink_({{"type", "send"}, {"id", id}, {"producer", producer}});
    auto r = send(m);
    if (r.ok() && r.value().status == SendStatus::kSendOk) {
      const SendResult& s = r.value();
      {
        std::lock_guard lock(mu_);
        acked_ids_.push_back(id);
      }
      acked_count_.fetch_add(1);
      nlohmann::json ack{{"type", "ack"},
                         {"id", id},
                         {"producer", producer},
                         {"msg_id", s.msg_id},
                         {"broker", s.queue.broker_name},
                         {"queue", s.queue.queue_id},
                         {"offset", s.queue_offset},
                         {"epoch", s.master_epoch}};
      if (options_.ordered) {
        ack["order_key"] = order_key;
        ack["seq"] = n;
      }
      sink_(std::move(ack));
    } else {
      const std::string error = r.ok() ? std::string(send_status_name(r.value().status)) : r.error().to_string();
      sink_({{"type", "fail"}, {"id", id}, {"producer", producer}, {"error", error}});
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (options_.send_interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options_.send_interval_ms));
  }
  if (p) p->shutdown();
  // A transactional producer stays up to answer check-backs: a half message whose commit the
  // broker never got (its master died between the SEND_OK and the END_TRANSACTION) is committed
  // only when a producer of the group answers the new master's check.
  if (tp) {
    std::lock_guard lock(mu_);
    answering_.push_back(std::move(tp));
  }
}

void Workload::stop_transaction_producers() {
  std::vector<std::unique_ptr<TransactionProducer>> producers;
  {
    std::lock_guard lock(mu_);
    producers.swap(answering_);
  }
  for (auto& tp : producers) tp->shutdown();
}

void Workload::stop_producers() {
  stopping_.store(true);
  for (auto& t : producers_) {
    if (t.joinable()) t.join();
  }
  producers_.clear();
}

int64_t Workload::wait_delivered(int64_t timeout_ms) {
  const int64_t deadline = now_ms() + timeout_ms;
  int64_t last_missing = -1, last_progress = now_ms();
  while (true) {
    int64_t missing = 0;
    {
      std::lock_guard lock(mu_);
      for (const auto& id : acked_ids_) missing += seen_.count(id) ? 0 : 1;
    }
    const int64_t now = now_ms();
    if (missing != last_missing) {
      last_missing = missing;
      last_progress = now;
    }
    // Done, out of time, or nothing new arrived for a while (what is missing is not coming). A
    // transactional run waits longer: a check-back comes only after the transaction timeout.
    const int64_t quiet_ms = options_.transactional ? kTransactionalQuietMs : kQuietMs;
    if (missing == 0 || now >= deadline || now - last_progress >= quiet_ms) return missing;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int64_t Workload::delivered_ids() const {
  std::lock_guard lock(mu_);
  return static_cast<int64_t>(seen_.size());
}

void Workload::stop_consumer() {
  if (consumer_) consumer_->shutdown();
  consumer_.reset();
}

std::string Workload::final_read(int64_t timeout_ms) {
  // A healed cluster may still be settling (a name server that lost power has no routes until
  // the brokers register again; an election may be under way): a read that fails is repeated
  // from the start until the deadline, and only a complete read is recorded.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string error;
  for (int attempt = 0;; ++attempt) {
    std::vector<nlohmann::json> stored;
    error = read_all_queues(attempt, &stored);
    if (error.empty()) {
      for (auto& e : stored) sink_(std::move(e));
      return "";
    }
    if (std::chrono::steady_clock::now() >= deadline) return error;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

std::string Workload::read_all_queues(int attempt, std::vector<nlohmann::json>* stored) {
  PullConsumerOptions o;
  o.group = "drill_reader_" + options_.run_tag;
  o.name_servers = {options_.name_server};
  o.instance_name = "drill-reader-" + options_.run_tag + "-" + std::to_string(attempt);
  auto started = PullConsumer::start(o);
  if (!started.ok()) return "reader: " + started.error().to_string();
  auto reader = std::move(started).value();
  std::string error;
  auto queues = reader->queues_of(options_.topic);
  if (!queues.ok()) {
    reader->shutdown();
    return "reader: route of " + options_.topic + ": " + queues.error().to_string();
  }
  for (const auto& q : queues.value()) {
    auto min = reader->min_offset(q);
    auto max = reader->max_offset(q);
    if (!min.ok() || !max.ok()) {
      error = "reader: offsets of " + q.to_string() + ": " + (min.ok() ? max.error() : min.error()).to_string();
      break;
    }
    int64_t offset = min.value();
    while (offset < max.value()) {
      auto r = reader->pull(q, "*", offset, 32);
      if (!r.ok()) {
        error = "reader: pull " + q.to_string() + "@" + std::to_string(offset) + ": " + r.error().to_string();
        break;
      }
      for (const auto& m : r.value().messages) {
        stored->push_back({{"type", "stored"}, {"id", m.body}, {"broker", m.broker_name}, {"queue", m.queue_id},
                           {"offset", m.queue_offset}});
      }
      if (r.value().next_begin_offset <= offset) break;
      offset = r.value().next_begin_offset;
    }
    if (!error.empty()) break;
  }
  reader->shutdown();
  return error;
}

}  // namespace holdfast::drill
