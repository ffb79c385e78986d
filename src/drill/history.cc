// JSON Lines coding of history events (the format is written down in history.h).
#include "drill/history.h"

#include <fstream>

#include <nlohmann/json.hpp>

namespace holdfast::drill {
namespace {

using Json = nlohmann::json;

// Wire names of the message and note types; faults are "fault" with a phase.
struct WireType {
  EventType type;
  const char* name;
};
constexpr WireType kWireTypes[] = {{EventType::kSend, "send"},       {EventType::kAck, "ack"},
                                   {EventType::kFail, "fail"},       {EventType::kDeliver, "deliver"},
                                   {EventType::kStored, "stored"},   {EventType::kNote, "note"}};

bool is_message_event(EventType type) {
  return type == EventType::kSend || type == EventType::kAck || type == EventType::kFail ||
         type == EventType::kDeliver || type == EventType::kStored;
}

bool is_fault_event(EventType type) { return type == EventType::kFaultStart || type == EventType::kFaultEnd; }

// Invalid UTF-8 (say, in a broker's error text) must not abort the writer: it is replaced.
std::string dump_line(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Reads an optional string field; absent or null leaves *out alone.
Status read_string(const Json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::ok();
  if (!it->is_string()) return Status::invalid_argument(std::string("\"") + key + "\" is not a string");
  *out = it->get<std::string>();
  return Status::ok();
}

// Reads an optional integer field; absent or null leaves *out alone.
template <typename Int>
Status read_int(const Json& j, const char* key, Int* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::ok();
  if (!it->is_number_integer()) return Status::invalid_argument(std::string("\"") + key + "\" is not an integer");
  *out = it->get<Int>();
  return Status::ok();
}

Result<EventType> read_type(const Json& j) {
  std::string type;
  HF_RETURN_IF_ERROR(read_string(j, "type", &type));
  if (type.empty()) return Status::invalid_argument("no \"type\"");
  for (const auto& w : kWireTypes) {
    if (type == w.name) return w.type;
  }
  if (type != "fault") return Status::invalid_argument("unknown type \"" + type + "\"");
  std::string phase;
  HF_RETURN_IF_ERROR(read_string(j, "phase", &phase));
  if (phase == "start") return EventType::kFaultStart;
  if (phase == "end") return EventType::kFaultEnd;
  return Status::invalid_argument("fault event without \"phase\": \"start\" or \"end\"");
}

}  // namespace

const char* event_type_name(EventType type) {
  switch (type) {
    case EventType::kFaultStart: return "fault-start";
    case EventType::kFaultEnd: return "fault-end";
    default: break;
  }
  for (const auto& w : kWireTypes) {
    if (w.type == type) return w.name;
  }
  return "?";
}

Result<Event> parse_event(const std::string& line) {
  const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::invalid_argument("not valid JSON");
  if (!j.is_object()) return Status::invalid_argument("not a JSON object");
  Event e;
  HF_ASSIGN_OR_RETURN(e.type, read_type(j));
  if (!j.contains("t")) return Status::invalid_argument("no \"t\"");
  HF_RETURN_IF_ERROR(read_int(j, "t", &e.t));
  HF_RETURN_IF_ERROR(read_string(j, "id", &e.id));
  if (is_message_event(e.type) && e.id.empty()) return Status::invalid_argument("no \"id\"");
  HF_RETURN_IF_ERROR(read_string(j, "producer", &e.producer));
  HF_RETURN_IF_ERROR(read_string(j, "consumer", &e.consumer));
  HF_RETURN_IF_ERROR(read_string(j, "msg_id", &e.msg_id));
  HF_RETURN_IF_ERROR(read_string(j, "broker", &e.broker));
  HF_RETURN_IF_ERROR(read_int(j, "queue", &e.queue));
  HF_RETURN_IF_ERROR(read_int(j, "offset", &e.offset));
  HF_RETURN_IF_ERROR(read_int(j, "epoch", &e.epoch));
  HF_RETURN_IF_ERROR(read_string(j, "order_key", &e.order_key));
  HF_RETURN_IF_ERROR(read_int(j, "seq", &e.seq));
  HF_RETURN_IF_ERROR(read_string(j, "error", &e.error));
  HF_RETURN_IF_ERROR(read_string(j, "fault", &e.fault));
  HF_RETURN_IF_ERROR(read_string(j, "target", &e.target));
  HF_RETURN_IF_ERROR(read_string(j, "detail", &e.detail));
  HF_RETURN_IF_ERROR(read_string(j, "text", &e.text));
  return e;
}

std::string to_json_line(const Event& e) {
  Json j;
  j["t"] = e.t;
  if (is_fault_event(e.type)) {
    j["type"] = "fault";
    j["phase"] = e.type == EventType::kFaultStart ? "start" : "end";
    j["fault"] = e.fault;
    j["target"] = e.target;
    j["detail"] = e.detail;
    return dump_line(j);
  }
  j["type"] = event_type_name(e.type);
  if (e.type == EventType::kNote) {
    j["text"] = e.text;
    return dump_line(j);
  }
  j["id"] = e.id;
  switch (e.type) {
    case EventType::kSend:
      j["producer"] = e.producer;
      break;
    case EventType::kAck:
      j["producer"] = e.producer;
      j["msg_id"] = e.msg_id;
      break;
    case EventType::kFail:
      j["producer"] = e.producer;
      j["error"] = e.error;
      break;
    case EventType::kDeliver:
      j["consumer"] = e.consumer;
      break;
    default:
      break;
  }
  if (e.type == EventType::kAck || e.type == EventType::kDeliver || e.type == EventType::kStored) {
    j["broker"] = e.broker;
    j["queue"] = e.queue;
    j["offset"] = e.offset;
  }
  if (e.type == EventType::kAck) {
    j["epoch"] = e.epoch;
    if (e.is_ordered()) {
      j["order_key"] = e.order_key;
      j["seq"] = e.seq;
    }
  }
  return dump_line(j);
}

Result<std::vector<Event>> read_history(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::not_found("cannot open history " + path);
  std::vector<Event> events;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Result<Event> e = parse_event(line);
    if (!e.is_ok()) {
      return Status::invalid_argument(path + ":" + std::to_string(number) + ": " + e.status().message());
    }
    events.push_back(std::move(e).value());
  }
  if (in.bad()) return Status::io_error("error reading history " + path);
  return events;
}

}  // namespace holdfast::drill
