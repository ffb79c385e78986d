// A drill's history: what a run did and saw, one event per line of JSON (JSON Lines). This header
// is the contract between the drill runner, which records histories, and the checker (checker.h)
// and `holdfast drill check`, which read them; histories recorded by other tools in this shape
// check the same way.
//
// Every line is one JSON object with "t" (int64 milliseconds since the drill began) and "type":
//
//   send     {"id","producer"}                    a send attempt began; optional.
//   ack      {"id","producer","msg_id","broker","queue","offset","epoch"[,"order_key","seq"]}
//            SEND_OK. epoch is the broker's master epoch, -1 when unknown; order_key and seq are
//            present only for ordered messages (seq rises per order_key in send order).
//   fail     {"id","producer","error"}            the send finally failed after its retries; the
//            message may or may not have been stored.
//   deliver  {"id","consumer","broker","queue","offset"}   a consumer received the message; each
//            redelivery is another deliver event.
//   stored   {"id","broker","queue","offset"}     found by the final read: a fresh reader of every
//            queue from its first offset after the drill healed.
//   fault    {"phase":"start"|"end","fault","target","detail"}   the edges of a fault window, e.g.
//            fault "kill-master", target "broker-a/0".
//   note     {"text"}                             free text ("heal", "quiesce", ...). The note
//            "final read" (kFinalReadNote) says the final read ran even if it found nothing.
//
// "id" is the message key the producer chose, unique per message. Unknown fields are ignored;
// a missing field of a known event takes the default below.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace holdfast::drill {

enum class EventType { kSend, kAck, kFail, kDeliver, kStored, kFaultStart, kFaultEnd, kNote };

inline constexpr const char kFinalReadNote[] = "final read";

struct Event {
  int64_t t = 0;  // ms since the drill began
  EventType type = EventType::kNote;
  std::string id;        // send, ack, fail, deliver, stored
  std::string producer;  // send, ack, fail
  std::string consumer;  // deliver
  std::string msg_id;    // ack: the broker's msgId
  std::string broker;    // ack, deliver, stored: brokerName
  int32_t queue = -1;
  int64_t offset = -1;        // queue offset
  int64_t epoch = -1;         // ack: -1 unknown
  std::string order_key;      // ack: empty when the message is not ordered
  int64_t seq = -1;           // ack: meaningful only with order_key
  std::string error;          // fail
  std::string fault;          // fault start/end: the fault's name
  std::string target;         // fault start/end
  std::string detail;         // fault start/end
  std::string text;           // note

  bool is_ordered() const { return !order_key.empty(); }
};

// "send", "ack", ..., "fault-start", "fault-end", "note" (for messages, not the wire form).
const char* event_type_name(EventType type);

// Parses one line. The error says what is wrong, without the line number.
Result<Event> parse_event(const std::string& line);

// One line of the history, without the trailing newline; parse_event(to_json_line(e)) == e.
std::string to_json_line(const Event& e);

// Reads a whole history file. Blank lines are skipped; the first bad line fails the read with
// "PATH:LINE: what is wrong".
Result<std::vector<Event>> read_history(const std::string& path);

}  // namespace holdfast::drill
