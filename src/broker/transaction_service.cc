// Transactional messages: half transform, END_TRANSACTION, check-back rounds (facts §9).
#include "broker/transaction_service.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "broker/client_manager.h"
#include "broker/consumer_offset_manager.h"
#include "broker/topic_config_manager.h"
#include "remoting/request_code.h"
#include "remoting/response_code.h"
#include "storage/message_format.h"

namespace holdfast::broker {

namespace rc = remoting::response_code;
namespace req = remoting::request_code;
using remoting::RemotingCommand;

namespace {

constexpr int kScanBatch = 64;
constexpr int32_t kCommitType = 8;    // commitOrRollback values (facts §9.1)
constexpr int32_t kRollbackType = 12;
constexpr int32_t kUnknownType = 0;

const std::string kHalfTopic(kTransHalfTopic);
const std::string kOpTopic(kTransOpHalfTopic);
const std::string kGroup(kTransProgressGroup);

const char* end_name(int e) {
  switch (e) {
    case 0: return "COMMIT";
    case 1: return "ROLLBACK";
    default: return "DISCARD";
  }
}

std::optional<int64_t> parse_int(std::string_view text) {
  while (!text.empty() && (text.back() == ',' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string transaction_id_of(const RecordView& r, int64_t commit_log_offset) {
  std::string_view uniq = find_property(r.properties, "UNIQ_KEY");
  if (!uniq.empty()) return std::string(uniq);
  return "#" + std::to_string(commit_log_offset);
}

// The message a half stands for, as a client sees it: the real topic and queue (facts §5.2).
MessageToStore restored_message(const RecordView& r) {
  MessageToStore m = message_from_record(r);
  m.topic.assign(find_property(r.properties, "REAL_TOPIC"));
  m.queue_id = static_cast<int32_t>(parse_int(find_property(r.properties, "REAL_QID")).value_or(0));
  return m;
}

}  // namespace

void make_half_message(MessageToStore* msg, MessageProperties* properties) {
  properties->set("REAL_TOPIC", msg->topic);
  properties->set("REAL_QID", std::to_string(msg->queue_id));
  msg->topic = kHalfTopic;
  msg->queue_id = 0;
  msg->sys_flag &= ~format::kTransactionTypeMask;
}

TransactionService::TransactionService(Env* env, MessageStore* store, ConsumerOffsetManager* offsets,
                                       ClientManager* clients, TopicConfigManager* topics,
                                       TransactionServiceOptions options)
    : env_(env), store_(store), offsets_(offsets), clients_(clients), topics_(topics), options_(std::move(options)) {}

TransactionService::~TransactionService() { stop(); }

Status TransactionService::load() {
  startup_offset_ = store_->confirmed_offset();
  store_->wait_dispatched(startup_offset_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    scanned_half_ = offsets_->query(kGroup, kHalfTopic, 0).value_or(0);
    scanned_op_ = offsets_->query(kGroup, kOpTopic, 0).value_or(0);
  }
  scan();
  std::lock_guard<std::mutex> lock(mu_);
  if (!pending_.empty()) {
    logger("broker")->info("transactions: {} half message(s) pending after start (half progress {}, op progress {})",
                           pending_.size(), pending_.begin()->first, scanned_op_);
  }
  return Status::ok();
}

void TransactionService::scan() {
  std::lock_guard<std::mutex> scanning(scan_mu_);
  scan_ops();
  scan_halves();
  std::lock_guard<std::mutex> lock(mu_);
  // Ended transactions whose halves all lie behind the scan are forgotten: a replayed end for one
  // of them finds neither a pending half nor a mark and is answered "already ended".
  for (auto it = ended_.begin(); it != ended_.end();) {
    if (it->second.half_limit <= scanned_half_ && by_id_.find(it->first) == by_id_.end()) {
      it = ended_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = copy_limit_.begin(); it != copy_limit_.end();) {
    it = it->second <= scanned_half_ ? copy_limit_.erase(it) : std::next(it);
  }
}

void TransactionService::add_half_locked(int64_t queue_offset, const RecordView& r) {
  Half h;
  h.id = transaction_id_of(r, r.physical_offset);
  if (ended_.count(h.id) != 0 || ending_.count(h.id) != 0) {
    auto it = ended_.find(h.id);
    if (it != ended_.end()) it->second.half_limit = std::max(it->second.half_limit, queue_offset + 1);
    return;
  }
  h.group.assign(find_property(r.properties, "PGROUP"));
  h.real_topic.assign(find_property(r.properties, "REAL_TOPIC"));
  h.real_queue = static_cast<int32_t>(parse_int(find_property(r.properties, "REAL_QID")).value_or(0));
  h.commit_log_offset = r.physical_offset;
  h.born_ms = r.born_timestamp;
  h.store_ms = r.store_timestamp;
  h.check_times = static_cast<int32_t>(parse_int(find_property(r.properties, "TRANSACTION_CHECK_TIMES")).value_or(0));
  h.immunity_ms = parse_int(find_property(r.properties, "CHECK_IMMUNITY_TIME_IN_SECONDS")).value_or(0) * 1000;
  h.recovered = r.physical_offset < startup_offset_;
  // A later copy (a check's re-put, or a producer's retry of the half send) supersedes earlier ones.
  auto& offsets = by_id_[h.id];
  for (int64_t older : offsets) pending_.erase(older);
  offsets.clear();
  offsets.insert(queue_offset);
  pending_[queue_offset] = std::move(h);
}

void TransactionService::scan_halves() {
  auto log = logger("broker");
  for (;;) {
    int64_t from;
    {
      std::lock_guard<std::mutex> lock(mu_);
      from = scanned_half_;
    }
    // Read without the lock (ends on network threads must not wait for the store), apply with it.
    GetResult got = store_->get_messages(kHalfTopic, 0, from, kScanBatch, 4 * 1024 * 1024);
    std::lock_guard<std::mutex> lock(mu_);
    if (got.status == GetStatus::kOffsetTooSmall || got.status == GetStatus::kMessageWasRemoving ||
        got.status == GetStatus::kOffsetOverflowBadly) {
      const int64_t to = got.status == GetStatus::kOffsetOverflowBadly ? got.max_offset
                                                                       : std::max(got.next_begin_offset, got.min_offset);
      if (to == scanned_half_) return;
      log->warn("transactions: half progress {} outside the queue [{}, {}]; moving to {}", scanned_half_,
                got.min_offset, got.max_offset, to);
      scanned_half_ = to;
      continue;
    }
    if (got.status != GetStatus::kFound || got.records.empty()) return;
    for (size_t i = 0; i < got.records.size(); ++i) {
      RecordView r;
      const std::string& bytes = got.records[i];
      if (decode_record(bytes.data(), bytes.size(), true, &r).outcome == DecodeOutcome::kRecord) {
        add_half_locked(got.queue_offsets[i], r);
      } else {
        log->error("transactions: unreadable half message at queue offset {}; skipped", got.queue_offsets[i]);
      }
      scanned_half_ = got.queue_offsets[i] + 1;
    }
  }
}

void TransactionService::scan_ops() {
  int64_t half_max = store_->max_offset_in_queue(kHalfTopic, 0);
  for (;;) {
    int64_t from;
    {
      std::lock_guard<std::mutex> lock(mu_);
      from = scanned_op_;
      half_max = std::max(half_max, scanned_half_);
    }
    GetResult got = store_->get_messages(kOpTopic, 0, from, kScanBatch, 1024 * 1024);
    std::lock_guard<std::mutex> lock(mu_);
    if (got.status == GetStatus::kOffsetTooSmall || got.status == GetStatus::kMessageWasRemoving ||
        got.status == GetStatus::kOffsetOverflowBadly) {
      const int64_t to = got.status == GetStatus::kOffsetOverflowBadly ? got.max_offset
                                                                       : std::max(got.next_begin_offset, got.min_offset);
      if (to == scanned_op_) return;
      scanned_op_ = to;
      continue;
    }
    if (got.status != GetStatus::kFound || got.records.empty()) return;
    for (size_t i = 0; i < got.records.size(); ++i) {
      RecordView r;
      const std::string& bytes = got.records[i];
      scanned_op_ = got.queue_offsets[i] + 1;
      if (decode_record(bytes.data(), bytes.size(), true, &r).outcome != DecodeOutcome::kRecord) continue;
      std::string id(find_property(r.properties, "HF_TX_ID"));
      const std::string_view end_text = find_property(r.properties, "HF_TX_END");
      End end = end_text == "ROLLBACK" ? End::kRollback : end_text == "DISCARD" ? End::kDiscard : End::kCommit;
      if (id.empty()) {
        // An op record without our id (RocketMQ's own): it names a half offset.
        auto half = parse_int(r.body);
        auto it = half ? pending_.find(*half) : pending_.end();
        if (it == pending_.end()) continue;
        id = it->second.id;
      }
      int64_t limit = half_max;
      auto known = ended_.find(id);
      if (known != ended_.end()) limit = std::max(limit, known->second.half_limit);
      op_log_.emplace_back(got.queue_offsets[i], limit);
      if (ending_.count(id) != 0) continue;
      mark_ended_locked(id, end, parse_int(r.body).value_or(0));
      ended_[id].half_limit = std::max(ended_[id].half_limit, limit);
    }
  }
}

void TransactionService::mark_ended_locked(const std::string& id, End end, int64_t half_offset) {
  ending_.erase(id);
  Ended& e = ended_[id];
  e.end = end;
  // Every half of the transaction not yet scanned lies below this limit: the named half, earlier
  // attempts of the producer's send (stored before it), and check copies (copy_limit_).
  e.half_limit = std::max({e.half_limit, scanned_half_, half_offset + 1});
  if (auto copy = copy_limit_.find(id); copy != copy_limit_.end()) {
    e.half_limit = std::max(e.half_limit, copy->second);
    copy_limit_.erase(copy);
  }
  auto it = by_id_.find(id);
  if (it != by_id_.end()) {
    for (int64_t offset : it->second) {
      e.half_limit = std::max(e.half_limit, offset + 1);
      pending_.erase(offset);
    }
    by_id_.erase(it);
  }
}

void TransactionService::save_progress_locked() {
  const int64_t half_progress = pending_.empty() ? scanned_half_ : std::min(pending_.begin()->first, scanned_half_);
  while (!op_log_.empty() && op_log_.front().second <= half_progress) op_log_.pop_front();
  const int64_t op_progress = op_log_.empty() ? scanned_op_ : op_log_.front().first;
  // Half first: an older op offset beside a newer half offset only rescans more ops.
  offsets_->commit(kGroup, kHalfTopic, 0, half_progress);
  offsets_->commit(kGroup, kOpTopic, 0, op_progress);
}

bool TransactionService::committed_in_index(const std::string& real_topic, const std::string& id) const {
  if (id.empty() || id[0] == '#') return false;
  auto found = store_->query_by_key(real_topic, id, 32, 0, std::numeric_limits<int64_t>::max());
  if (!found.is_ok()) return false;
  for (const std::string& bytes : *found) {
    RecordView r;
    if (decode_record(bytes.data(), bytes.size(), false, &r).outcome != DecodeOutcome::kRecord) continue;
    if (r.transaction_type() == format::kTransactionCommit && find_property(r.properties, "UNIQ_KEY") == id) {
      return true;
    }
  }
  return false;
}

MessageToStore TransactionService::op_message(int64_t half_offset, const std::string& id, End end) const {
  MessageToStore m;
  m.topic = kOpTopic;
  m.queue_id = 0;
  m.born_timestamp = env_->now_ms();
  m.born_host = options_.store_host;
  m.store_host = options_.store_host;
  m.body = std::to_string(half_offset);
  MessageProperties p;
  p.set("TAGS", "d");
  p.set("HF_TX_ID", id);
  p.set("HF_TX_END", end_name(static_cast<int>(end)));
  if (!options_.cluster_name.empty()) p.set("CLUSTER", options_.cluster_name);
  m.properties = p.encode();
  return m;
}

bool TransactionService::put_blocking(MessageToStore msg, PutResult* result) {
  PutResult r = store_->put(std::move(msg));
  const bool ok = r.stored();
  if (result != nullptr) *result = std::move(r);
  return ok;
}

void TransactionService::handle_end(const transport::ConnectionPtr& conn, RemotingCommand request,
                                    remoting::SerializeType type) {
  auto log = logger("broker");
  const bool oneway = request.is_oneway();
  auto reply = [conn, type, oneway, opaque_request = request](int32_t code, const std::string& remark) {
    if (oneway) return;
    conn->send_response(opaque_request.make_response(code, remark), type);
  };
  if (options_.slave) {
    reply(rc::kSlaveNotAvailable, "this broker is a slave: END_TRANSACTION goes to the master of its broker group");
    return;
  }
  auto group = request.ext("producerGroup");
  auto table_offset = request.get_int64("tranStateTableOffset");
  auto log_offset = request.get_int64("commitLogOffset");
  auto kind = request.get_int32("commitOrRollback");
  if (!group || !table_offset.is_ok() || !log_offset.is_ok() || !kind.is_ok()) {
    reply(rc::kSystemError,
          "END_TRANSACTION needs producerGroup, tranStateTableOffset, commitLogOffset and commitOrRollback");
    return;
  }
  const bool from_check = request.get_bool("fromTransactionCheck").value_or(false);
  if (*kind == kUnknownType) {
    // UNKNOW: nothing to do, the check-back asks again.
    reply(rc::kSuccess, "state UNKNOW: the transaction stays pending and will be checked");
    return;
  }
  if (*kind != kCommitType && *kind != kRollbackType) {
    reply(rc::kSystemError, "commitOrRollback must be 0 (UNKNOW), 8 (COMMIT) or 12 (ROLLBACK), got " +
                                std::to_string(*kind));
    return;
  }
  const End end = *kind == kCommitType ? End::kCommit : End::kRollback;
  auto bytes = store_->read_record(*log_offset);
  RecordView r;
  if (!bytes.is_ok() || decode_record(bytes->data(), bytes->size(), true, &r).outcome != DecodeOutcome::kRecord) {
    reply(rc::kSystemError, "no message at commit-log offset " + std::to_string(*log_offset) +
                                ": the half message is unknown; nothing changed");
    return;
  }
  const bool admin = request.get_bool("holdfastAdmin").value_or(false);
  const bool check_max_copy = r.topic == kTransCheckMaxTopic;
  if (r.topic != kTransHalfTopic && !(admin && check_max_copy)) {
    reply(rc::kSystemError, "the message at commit-log offset " + std::to_string(*log_offset) + " is in topic " +
                                std::string(r.topic) + ", not a half message; nothing changed");
    return;
  }
  if (r.queue_offset != *table_offset) {
    reply(rc::kSystemError, "tranStateTableOffset " + std::to_string(*table_offset) +
                                " does not match the half message at commit-log offset " + std::to_string(*log_offset) +
                                " (queue offset " + std::to_string(r.queue_offset) + "); nothing changed");
    return;
  }
  const std::string_view owner = find_property(r.properties, "PGROUP");
  if (owner != *group) {
    reply(rc::kSystemError, "producer group '" + std::string(*group) + "' does not own this transaction (its group is '" +
                                std::string(owner) + "'); nothing changed");
    return;
  }
  const std::string id = transaction_id_of(r, r.physical_offset);
  const std::string real_topic(find_property(r.properties, "REAL_TOPIC"));
  if (real_topic.empty()) {
    reply(rc::kSystemError, "the half message has no REAL_TOPIC; nothing changed");
    return;
  }
  const std::string lock_id = check_max_copy ? "max:" + id : id;
  bool recovered = r.physical_offset < startup_offset_ || check_max_copy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto describe = [](End e) { return e == End::kCommit ? "committed" : e == End::kRollback ? "rolled back" : "discarded"; };
    auto ending = ending_.find(lock_id);
    auto ended = ended_.find(lock_id);
    if (ending != ending_.end() || (ended != ended_.end() && !check_max_copy)) {
      const End was = ending != ending_.end() ? ending->second : ended->second.end;
      if (was == end) {
        reply(rc::kSuccess, std::string("transaction ") + id + " was already " + describe(was) + "; nothing changed");
      } else {
        reply(rc::kSystemError,
              std::string("transaction ") + id + " was already " + describe(was) + "; nothing changed");
      }
      return;
    }
    if (!check_max_copy && r.queue_offset < scanned_half_ && by_id_.find(id) == by_id_.end()) {
      reply(rc::kSystemError, "transaction " + id + " has already ended (committed, rolled back or discarded); nothing changed");
      return;
    }
    ending_[lock_id] = end;
  }
  if (end == End::kCommit && recovered && committed_in_index(real_topic, id)) {
    // Committed before a crash that lost its op record (or resolved by hand before): write the op
    // only.
    log->info("transactions: {} is already committed in {}; recording its end", id, real_topic);
    recovered = false;
    if (check_max_copy) {
      std::lock_guard<std::mutex> lock(mu_);
      ending_.erase(lock_id);
      reply(rc::kSystemError, "transaction " + id + " was already committed; nothing changed");
      return;
    }
    MessageToStore op = op_message(r.queue_offset, id, End::kCommit);
    store_->put_async(std::move(op), [this, id, reply, half_offset = r.queue_offset](const PutResult& put) {
      std::lock_guard<std::mutex> lock(mu_);
      mark_ended_locked(id, End::kCommit, half_offset);
      (void)put;
      reply(rc::kSuccess, "transaction " + id + " was already committed; nothing changed");
    });
    return;
  }
  const int64_t half_offset = r.queue_offset;
  auto finish = [this, id, lock_id, reply, end, check_max_copy, half_offset](bool ok, const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) {
      ending_.erase(lock_id);
      reply(rc::kSystemError, "ending transaction " + id + " failed: " + why + "; it stays pending");
      return;
    }
    if (check_max_copy) {
      ending_.erase(lock_id);
    } else {
      mark_ended_locked(id, end, half_offset);
    }
    reply(rc::kSuccess, "");
  };
  auto write_op = [this, half_offset, id, end, finish, check_max_copy](bool committed) {
    if (check_max_copy) {
      finish(true, "");
      return;
    }
    store_->put_async(op_message(half_offset, id, end), [finish, committed, id](const PutResult& put) {
      if (!put.stored() && !committed) {
        finish(false, "writing the op record: " + put.remark);
        return;
      }
      if (!put.stored()) {
        // The real message is stored: the transaction is committed. The missing op record is
        // found again by the index lookup after a restart.
        logger("broker")->warn("transactions: op record of committed {} not written: {}", id, put.remark);
      }
      finish(true, "");
    });
  };
  if (end == End::kRollback) {
    if (check_max_copy) {
      finish(true, "");
      return;
    }
    write_op(false);
    return;
  }
  MessageToStore m = restored_message(r);
  m.sys_flag = (r.sys_flag & ~format::kTransactionTypeMask) | format::kTransactionCommit;
  m.prepared_transaction_offset = r.physical_offset;
  MessageProperties p(r.properties);
  for (const char* key : {"REAL_TOPIC", "REAL_QID", "TRAN_MSG", "WAIT", "TRAN_PREPARED_QUEUE_OFFSET"}) p.erase(key);
  m.properties = p.encode();
  (void)from_check;
  store_->put_async(std::move(m), [write_op, finish](const PutResult& put) {
    if (!put.stored()) {
      finish(false, std::string(put_status_name(put.status)) + " " + put.remark);
      return;
    }
    write_op(true);
  });
}

int TransactionService::run_check_once() {
  if (options_.slave) return 0;
  std::lock_guard<std::mutex> run(run_mu_);
  const int64_t now = env_->now_ms();
  std::vector<std::pair<int64_t, Half>> due;
  {
    scan();
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [offset, h] : pending_) {
      if (ending_.count(h.id) != 0) continue;
      const int64_t wait = std::max(options_.timeout_ms, h.immunity_ms);
      if (now - h.born_ms < wait) continue;
      if (h.check_times > 0 && now - h.store_ms < options_.check_interval_ms) continue;
      due.emplace_back(offset, h);
    }
  }
  int sent = 0;
  for (const auto& [offset, h] : due) check_one(offset, h, now, &sent);
  scan();
  std::lock_guard<std::mutex> lock(mu_);
  save_progress_locked();
  return sent;
}

void TransactionService::check_one(int64_t queue_offset, const Half& h, int64_t now, int* sent) {
  auto log = logger("broker");
  auto claim = [&](End end) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ending_.count(h.id) != 0 || ended_.count(h.id) != 0 || by_id_.count(h.id) == 0) return false;
    ending_[h.id] = end;
    return true;
  };
  if (h.recovered && committed_in_index(h.real_topic, h.id)) {
    if (!claim(End::kCommit)) return;
    log->info("transactions: {} was committed before the restart; recording its end", h.id);
    (void)put_blocking(op_message(queue_offset, h.id, End::kCommit));
    std::lock_guard<std::mutex> lock(mu_);
    mark_ended_locked(h.id, End::kCommit, queue_offset);
    return;
  }
  auto bytes = store_->read_record(h.commit_log_offset);
  RecordView r;
  if (!bytes.is_ok() || decode_record(bytes->data(), bytes->size(), true, &r).outcome != DecodeOutcome::kRecord) {
    log->error("transactions: half message of {} at commit-log offset {} is unreadable", h.id, h.commit_log_offset);
    return;
  }
  const bool immune = h.immunity_ms > 0 && now - h.born_ms < h.immunity_ms;
  if ((h.check_times >= options_.check_max && !immune) || now - h.born_ms > options_.file_reserved_ms) {
    if (!claim(End::kDiscard)) return;
    auto topic = topics_->ensure_system_style_topic(std::string(kTransCheckMaxTopic), 1, perm::kReadWrite);
    MessageToStore copy = restored_message(r);
    copy.topic = std::string(kTransCheckMaxTopic);
    copy.queue_id = 0;
    MessageProperties p(r.properties);
    p.erase("WAIT");
    copy.properties = p.encode();
    if (!topic.is_ok() || !put_blocking(std::move(copy)) ||
        !put_blocking(op_message(queue_offset, h.id, End::kDiscard))) {
      log->error("transactions: moving {} to {} failed; it stays pending", h.id, kTransCheckMaxTopic);
      std::lock_guard<std::mutex> lock(mu_);
      ending_.erase(h.id);
      return;
    }
    log->warn("transactions: {} of group {} reached {} checks; kept in {}", h.id, h.group, h.check_times,
              kTransCheckMaxTopic);
    std::lock_guard<std::mutex> lock(mu_);
    mark_ended_locked(h.id, End::kDiscard, queue_offset);
    return;
  }
  std::vector<ClientChannel> channels = clients_->producers(h.group);
  channels.erase(std::remove_if(channels.begin(), channels.end(),
                                [](const ClientChannel& c) { return !c.conn || !c.conn->is_open(); }),
                 channels.end());
  if (channels.empty()) return;  // no producer to ask: wait, without spending a check
  // The next copy carries the count; the current one is superseded once the copy is scanned.
  MessageToStore copy = restored_message(r);
  copy.topic = kHalfTopic;
  copy.queue_id = 0;
  copy.prepared_transaction_offset = 0;
  MessageProperties p(r.properties);
  p.set("TRANSACTION_CHECK_TIMES", std::to_string(h.check_times + 1));
  p.erase("WAIT");
  copy.properties = p.encode();
  PutResult put;
  if (!put_blocking(std::move(copy), &put)) {
    log->warn("transactions: re-putting {} for its check failed: {}", h.id, put.remark);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto ended = ended_.find(h.id);
    if (ended != ended_.end()) {
      // Ended while the copy was written: the copy is never checked.
      ended->second.half_limit = std::max(ended->second.half_limit, put.queue_offset + 1);
      return;
    }
    int64_t& limit = copy_limit_[h.id];
    limit = std::max(limit, put.queue_offset + 1);
    if (ending_.count(h.id) != 0) return;  // its end is being written; mark_ended covers the copy
  }
  auto copy_bytes = store_->read_record(put.physical_offset);
  RecordView c;
  if (!copy_bytes.is_ok() ||
      decode_record(copy_bytes->data(), copy_bytes->size(), false, &c).outcome != DecodeOutcome::kRecord) {
    return;
  }
  MessageToStore shown = restored_message(c);
  std::string body;
  encode_record(shown, &body);
  patch_record(body.data(), c.queue_offset, c.physical_offset, c.store_timestamp);
  RemotingCommand check = RemotingCommand::make_request(req::kCheckTransactionState);
  check.set_ext("topic", h.real_topic);
  check.set_ext_int("tranStateTableOffset", put.queue_offset);
  check.set_ext_int("commitLogOffset", put.physical_offset);
  check.set_ext("msgId", h.id);
  check.set_ext("transactionId", h.id);
  check.set_ext("offsetMsgId", put.msg_id);
  check.body = std::move(body);
  uint64_t pick;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pick = round_robin_++;
    ++checks_sent_;
  }
  channels[pick % channels.size()].conn->send_oneway(std::move(check));
  ++*sent;
  log->debug("transactions: checking {} with group {} (check {})", h.id, h.group, h.check_times + 1);
}

std::vector<PendingTransaction> TransactionService::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PendingTransaction> out;
  for (const auto& [offset, h] : pending_) {
    if (ending_.count(h.id) != 0) continue;
    PendingTransaction p;
    p.transaction_id = h.id;
    p.producer_group = h.group;
    p.real_topic = h.real_topic;
    p.real_queue = h.real_queue;
    p.queue_offset = offset;
    p.commit_log_offset = h.commit_log_offset;
    p.born_ms = h.born_ms;
    p.check_times = h.check_times;
    p.immunity_ms = h.immunity_ms;
    out.push_back(std::move(p));
  }
  return out;
}

int64_t TransactionService::checks_sent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return checks_sent_;
}

void TransactionService::handle_list(const transport::ConnectionPtr& conn, RemotingCommand request,
                                     remoting::SerializeType type) {
  // Include every half acknowledged before this request: a put is answered once durable, which
  // may be before the dispatcher has indexed it in the half queue the scan reads.
  store_->wait_dispatched(store_->confirmed_offset());
  scan();
  const std::string group_filter(request.ext("producerGroup").value_or(""));
  nlohmann::json pending_list = nlohmann::json::array();
  for (const PendingTransaction& p : pending()) {
    if (!group_filter.empty() && p.producer_group != group_filter) continue;
    pending_list.push_back({{"transactionId", p.transaction_id},
                            {"producerGroup", p.producer_group},
                            {"topic", p.real_topic},
                            {"queueId", p.real_queue},
                            {"tranStateTableOffset", p.queue_offset},
                            {"commitLogOffset", p.commit_log_offset},
                            {"bornTimestamp", p.born_ms},
                            {"checkTimes", p.check_times},
                            {"immunityMillis", p.immunity_ms}});
  }
  nlohmann::json max_list = nlohmann::json::array();
  const std::string max_topic(kTransCheckMaxTopic);
  for (int64_t offset = 0;;) {
    GetResult got = store_->get_messages(max_topic, 0, offset, kScanBatch, 4 * 1024 * 1024);
    if (got.status == GetStatus::kOffsetTooSmall && got.min_offset > offset) {
      offset = got.min_offset;
      continue;
    }
    if (got.status != GetStatus::kFound || got.records.empty()) break;
    for (size_t i = 0; i < got.records.size(); ++i) {
      offset = got.queue_offsets[i] + 1;
      RecordView r;
      const std::string& bytes = got.records[i];
      if (decode_record(bytes.data(), bytes.size(), false, &r).outcome != DecodeOutcome::kRecord) continue;
      const std::string owner(find_property(r.properties, "PGROUP"));
      if (!group_filter.empty() && owner != group_filter) continue;
      const std::string id = transaction_id_of(r, r.physical_offset);
      const std::string real_topic(find_property(r.properties, "REAL_TOPIC"));
      max_list.push_back({{"transactionId", id},
                          {"producerGroup", owner},
                          {"topic", real_topic},
                          {"queueId", parse_int(find_property(r.properties, "REAL_QID")).value_or(0)},
                          {"tranStateTableOffset", r.queue_offset},
                          {"commitLogOffset", r.physical_offset},
                          {"bornTimestamp", r.born_timestamp},
                          {"storeTimestamp", r.store_timestamp},
                          {"checkTimes", parse_int(find_property(r.properties, "TRANSACTION_CHECK_TIMES")).value_or(0)},
                          {"committed", committed_in_index(real_topic, id)}});
    }
  }
  RemotingCommand resp = request.make_response(rc::kSuccess);
  resp.body = nlohmann::json{{"pending", pending_list}, {"checkMax", max_list}}.dump();
  conn->send_response(resp, type);
}

void TransactionService::start() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { loop(); });
}

void TransactionService::loop() {
  // Between check rounds the new halves and ops are taken in every second, so that the ends of a
  // busy producer are forgotten as their halves pass instead of piling up for a whole interval.
  const int64_t scan_every_ms = std::min<int64_t>(options_.check_interval_ms, 1000);
  int64_t next_check_us = env_->now_micros_monotonic() + options_.check_interval_ms * 1000;
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(scan_every_ms), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    if (env_->now_micros_monotonic() >= next_check_us) {
      run_check_once();
      next_check_us = env_->now_micros_monotonic() + options_.check_interval_ms * 1000;
    } else {
      scan();
      std::lock_guard<std::mutex> l(mu_);
      save_progress_locked();
    }
    lock.lock();
  }
}

void TransactionService::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stop_) return;
    stop_ = true;
    stop_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  save_progress_locked();
}

}  // namespace holdfast::broker
