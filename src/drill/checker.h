// The checker: judges a drill's history (history.h) in the vocabulary of Jepsen and OpenChaos.
//
// A message is an id. "Acknowledged" means at least one ack event. The final read is the set of
// stored events; the history has one when it holds a stored event or the "final read" note.
//
//   lost         acknowledged and absent after healing: not found by the final read, or, in a
//                history without a final read, never delivered. The only anomaly that fails a
//                drill (the exit status is non-zero iff lost > 0). lost_after_delivery counts the
//                lost ids a consumer did receive before the store dropped them.
//   unseen       acknowledged, never delivered, but found by the final read: still in the broker,
//                the consumers did not get it before the end. Not an error.
//   duplicated   deliveries beyond the first per id (duplicate_deliveries) and the ids delivered
//                more than once (duplicated_ids). Acks beyond the first per id (a producer retry
//                that the broker stored twice) are counted apart: duplicate_acks, duplicate_acked_ids.
//   reordered    for acknowledged ordered messages (ack with order_key and seq), per order key,
//                the pairs (a, b) with a.seq < b.seq whose first deliveries came b before a.
//                Deliveries of unacknowledged ordered messages are ignored.
//   stored but unacknowledged   delivered or stored, never acknowledged (say, the send timed
//                out but the broker kept the message). Reported, not an error.
//   epoch anomaly   an ack whose epoch is below the epoch of an earlier ack (by t) of the same
//                broker name: two masters acknowledging at once. Epoch -1 (unknown) is ignored.
//   recovery     per fault window: fault start to the first ack strictly after it of a send that
//                began strictly after it (a send in flight at the fault proves nothing), and the
//                same from the fault end; "none" when no such ack followed. Acks without a send
//                event count as sent when acknowledged.
//
// Events are judged in time order (a stable sort by t), so histories appended from many threads
// out of order check the same.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "drill/history.h"

namespace holdfast::drill {

// At most this many examples are kept per anomaly.
inline constexpr size_t kMaxExamples = 20;

// One fault, from its start event to the matching end event (same fault and target, the most
// recent open window; an end with no open window is ignored).
struct FaultWindow {
  std::string fault;
  std::string target;
  std::string detail;
  int64_t start_ms = 0;
  std::optional<int64_t> end_ms;        // unset: the history ends inside the fault
  std::optional<int64_t> recovery_ms;   // start -> first ack after the start; unset: none
  std::optional<int64_t> first_ack_after_end_ms;  // end -> first ack after the end; unset: none
};

struct Verdict {
  // Totals.
  int64_t sends = 0;         // send events
  int64_t acks = 0;          // ack events
  int64_t acknowledged = 0;  // ids with at least one ack
  int64_t fails = 0;         // fail events
  int64_t deliveries = 0;    // deliver events
  int64_t delivered = 0;     // ids delivered at least once
  int64_t stored = 0;        // ids found by the final read
  bool has_final_read = false;
  int64_t end_ms = 0;  // the latest event time

  // Anomalies (defined in the file comment).
  int64_t lost = 0;
  int64_t lost_after_delivery = 0;  // part of lost
  int64_t unseen = 0;
  int64_t duplicate_deliveries = 0;
  int64_t duplicated_ids = 0;
  int64_t duplicate_acks = 0;
  int64_t duplicate_acked_ids = 0;
  int64_t reordered = 0;
  int64_t stored_unacknowledged = 0;
  int64_t epoch_anomalies = 0;

  std::vector<FaultWindow> faults;  // in start order

  // Up to kMaxExamples per anomaly: the id, and for some a short explanation after it.
  struct Examples {
    std::vector<std::string> lost, unseen, duplicated, duplicate_acks, reordered, stored_unacknowledged, epoch;
  } examples;

  bool passed() const { return lost == 0; }
};

Verdict check_history(const std::vector<Event>& history);

// Every count, the fault windows (recovery "none" as null) and the examples.
nlohmann::json verdict_to_json(const Verdict& v);

}  // namespace holdfast::drill
