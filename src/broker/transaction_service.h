// Transactional messages (facts §9): half messages, END_TRANSACTION, and the check-back service.
//
// A transaction is identified by its message's UNIQ_KEY (the transactionId clients see); a half
// message without one is identified by its commit-log offset. Its life:
//   half  — stored in RMQ_SYS_TRANS_HALF_TOPIC queue 0 (REAL_TOPIC / REAL_QID keep the target),
//           invisible to consumers of the real topic;
//   end   — END_TRANSACTION commit: the real message is put (COMMIT type, preparedTransaction-
//           Offset = the half's commit-log offset, REAL_* and TRAN_MSG removed, UNIQ_KEY kept),
//           then an op record; rollback: only the op record. Op records live in
//           RMQ_SYS_TRANS_OP_HALF_TOPIC queue 0, tags "d", body = the half-queue offset in decimal
//           (RocketMQ's format), plus HF_TX_ID (the transaction id) and HF_TX_END (COMMIT,
//           ROLLBACK or DISCARD) so that every copy of a re-put half is ended by one op;
//   check — a half older than transactionTimeOut (or its CHECK_IMMUNITY_TIME_IN_SECONDS) with no
//           op is re-put with TRANSACTION_CHECK_TIMES + 1 and CHECK_TRANSACTION_STATE goes to one
//           live connection of its producer group; after transactionCheckMax checks (and past its
//           immunity) it is copied to TRANS_CHECK_MAX_TIME_TOPIC and ended as DISCARD.
//
// Promises:
//  - A transaction is ended at most once: the first END_TRANSACTION (or check-max discard) that
//    is accepted marks it in memory before anything is written, so a second commit, a racing
//    check-back answer or a replay changes nothing and the real message is put once. After a
//    restart, a half stored before it is looked up in the index (REAL_TOPIC#UNIQ_KEY, COMMIT type)
//    before it is committed or checked, so a commit whose op record was lost by a crash is
//    neither repeated nor checked again.
//  - No check-back is sent for a transaction already ended, and none while no producer of the
//    group is connected (the check count is not spent then).
//  - Progress (the first half still pending, the first op record still needed) is kept as
//    consumer offsets of group CID_RMQ_SYS_TRANS; the half offset is always committed before the
//    op offset, and the op offset never passes an op whose transaction may still have a half at
//    or after the half offset. A crash therefore rescans, never forgets: every pending half is
//    found again, every ended one stays ended.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "env/env.h"
#include "remoting/remoting_command.h"
#include "storage/message_store.h"
#include "transport/remoting_server.h"

namespace holdfast::broker {

class ClientManager;
class ConsumerOffsetManager;
class TopicConfigManager;

inline constexpr std::string_view kTransCheckMaxTopic = "TRANS_CHECK_MAX_TIME_TOPIC";
inline constexpr std::string_view kTransProgressGroup = "CID_RMQ_SYS_TRANS";

// Turns a send of a PREPARED message into its stored half form: REAL_TOPIC / REAL_QID from the
// message, topic RMQ_SYS_TRANS_HALF_TOPIC, queue 0, transaction bits reset to NOT_TYPE (so the
// half gets a consume-queue unit of its own topic). Edits `properties` only; the caller encodes.
void make_half_message(MessageToStore* msg, MessageProperties* properties);

struct TransactionServiceOptions {
  int64_t check_interval_ms = 30000;  // transactionCheckInterval
  int64_t timeout_ms = 6000;          // transactionTimeOut
  int32_t check_max = 15;             // transactionCheckMax
  int64_t file_reserved_ms = 72LL * 3600 * 1000;  // a half older than this is discarded at its check
  HostAddress store_host;
  std::string cluster_name;
  // A slave ends nothing and checks nothing: END_TRANSACTION gets SLAVE_NOT_AVAILABLE (facts
  // §9.1). All check state lives in the replicated log (half and op topics) and in the
  // CID_RMQ_SYS_TRANS consumer offsets, so a promoted slave rebuilds it with load() and continues.
  bool slave = false;
};

// One pending half message as `holdfast admin tx list` shows it.
struct PendingTransaction {
  std::string transaction_id;
  std::string producer_group;
  std::string real_topic;
  int32_t real_queue = 0;
  int64_t queue_offset = 0;       // in the half queue (latest copy)
  int64_t commit_log_offset = 0;  // of the latest copy
  int64_t born_ms = 0;
  int32_t check_times = 0;
  int64_t immunity_ms = 0;
};

class TransactionService {
 public:
  TransactionService(Env* env, MessageStore* store, ConsumerOffsetManager* offsets, ClientManager* clients,
                     TopicConfigManager* topics, TransactionServiceOptions options);
  ~TransactionService();

  // Rebuilds the pending set from the saved progress (blocks until the store has dispatched
  // everything recovered).
  Status load();
  void start();
  void stop();

  // END_TRANSACTION (37). Answers unless the request is oneway.
  void handle_end(const transport::ConnectionPtr& conn, remoting::RemotingCommand request,
                  remoting::SerializeType type);
  // HOLDFAST_TRANSACTION_LIST: body {"pending":[...],"checkMax":[...]}.
  void handle_list(const transport::ConnectionPtr& conn, remoting::RemotingCommand request,
                   remoting::SerializeType type);

  // One check round at env->now_ms(): catches up with new halves and ops, checks what is due.
  // Returns the number of CHECK_TRANSACTION_STATE requests sent. The thread's body; tests call it.
  int run_check_once();
  std::vector<PendingTransaction> pending() const;
  // Check-backs sent since start (for tests and the benchmark).
  int64_t checks_sent() const;

 private:
  enum class End { kCommit, kRollback, kDiscard };
  struct Half {
    std::string id;
    std::string group;
    std::string real_topic;
    int32_t real_queue = 0;
    int64_t commit_log_offset = 0;
    int64_t born_ms = 0;
    int64_t store_ms = 0;
    int32_t check_times = 0;
    int64_t immunity_ms = 0;
    bool recovered = false;  // stored before this process opened the store
  };
  struct Ended {
    End end = End::kCommit;
    int64_t half_limit = 0;  // every half of this transaction is below this half-queue offset
  };

  // Takes in the halves and op records stored since the last scan (one scanner at a time; the
  // store is read without mu_, each batch applied under it).
  void scan();
  void scan_halves();
  void scan_ops();
  void add_half_locked(int64_t queue_offset, const RecordView& r);
  // Ends `id` in memory (half_offset: the half the end named). Touches no store.
  void mark_ended_locked(const std::string& id, End end, int64_t half_offset);
  void save_progress_locked();
  // The index holds a committed copy (COMMIT type) of transaction `id` in `real_topic`.
  bool committed_in_index(const std::string& real_topic, const std::string& id) const;
  MessageToStore op_message(int64_t half_offset, const std::string& id, End end) const;
  // Puts `msg` (blocking, full durability); true when stored.
  bool put_blocking(MessageToStore msg, PutResult* result = nullptr);
  void check_one(int64_t queue_offset, const Half& half, int64_t now, int* sent);
  void loop();

  Env* const env_;
  MessageStore* const store_;
  ConsumerOffsetManager* const offsets_;
  ClientManager* const clients_;
  TopicConfigManager* const topics_;
  const TransactionServiceOptions options_;
  int64_t startup_offset_ = 0;  // commit-log end when the store was opened

  mutable std::mutex mu_;
  std::map<int64_t, Half> pending_;                      // half-queue offset -> half
  std::map<std::string, std::set<int64_t>> by_id_;       // transaction id -> its pending offsets
  std::map<std::string, End> ending_;                    // decided, records being written
  std::map<std::string, Ended> ended_;
  // Copies a check round re-put, by transaction: an end decided before the scan reaches a copy
  // still covers it (its half_limit includes the copy), so the copy is never checked.
  std::map<std::string, int64_t> copy_limit_;
  std::deque<std::pair<int64_t, int64_t>> op_log_;       // (op offset, half limit), scanned ops
  int64_t scanned_half_ = 0;
  int64_t scanned_op_ = 0;
  int64_t checks_sent_ = 0;
  uint64_t round_robin_ = 0;

  std::mutex scan_mu_;
  std::mutex run_mu_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace holdfast::broker
