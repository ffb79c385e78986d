// check_history: one pass over the time-ordered events collects per-id facts; the anomalies are
// then derived from those facts (definitions in checker.h).
#include "drill/checker.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace holdfast::drill {
namespace {

void add_example(std::vector<std::string>* examples, std::string text) {
  if (examples->size() < kMaxExamples) examples->push_back(std::move(text));
}

// An ack's time and the time its send began (the ack's own time when the history has no send
// event for it).
struct AckTime {
  int64_t ack_t;
  int64_t send_t;
};

// Time from `from` to the first ack strictly after it of a send that began strictly after it (a
// send in flight at `from` that completes later shows nothing about recovery); acks is sorted by
// ack_t.
std::optional<int64_t> first_ack_after(const std::vector<AckTime>& acks, int64_t from) {
  for (auto it = std::upper_bound(acks.begin(), acks.end(), from,
                                  [](int64_t t, const AckTime& a) { return t < a.ack_t; });
       it != acks.end(); ++it) {
    if (it->send_t > from) return it->ack_t - from;
  }
  return std::nullopt;
}

struct OrderedDelivery {
  int64_t seq;
  std::string id;
};

// Pairs i < j with seqs[i] > seqs[j] (a merge sort that counts what it jumps over).
int64_t count_inversions(std::vector<int64_t>* seqs, std::vector<int64_t>* scratch, size_t lo, size_t hi) {
  if (hi - lo < 2) return 0;
  const size_t mid = lo + (hi - lo) / 2;
  int64_t n = count_inversions(seqs, scratch, lo, mid) + count_inversions(seqs, scratch, mid, hi);
  size_t i = lo, j = mid, k = lo;
  while (i < mid && j < hi) {
    if ((*seqs)[j] < (*seqs)[i]) {
      n += static_cast<int64_t>(mid - i);
      (*scratch)[k++] = (*seqs)[j++];
    } else {
      (*scratch)[k++] = (*seqs)[i++];
    }
  }
  while (i < mid) (*scratch)[k++] = (*seqs)[i++];
  while (j < hi) (*scratch)[k++] = (*seqs)[j++];
  std::copy(scratch->begin() + static_cast<std::ptrdiff_t>(lo), scratch->begin() + static_cast<std::ptrdiff_t>(hi),
            seqs->begin() + static_cast<std::ptrdiff_t>(lo));
  return n;
}

// Counts the reordered pairs of one order key and names the messages that came late.
void check_order(const std::string& key, const std::vector<OrderedDelivery>& deliveries, Verdict* v) {
  std::vector<int64_t> seqs;
  seqs.reserve(deliveries.size());
  const OrderedDelivery* highest = nullptr;
  for (const auto& d : deliveries) {
    seqs.push_back(d.seq);
    if (highest != nullptr && d.seq < highest->seq) {
      add_example(&v->examples.reordered, fmt::format("{}: order key {} seq {} first delivered after seq {} ({})",
                                                      d.id, key, d.seq, highest->seq, highest->id));
    }
    if (highest == nullptr || d.seq > highest->seq) highest = &d;
  }
  std::vector<int64_t> scratch(seqs.size());
  v->reordered += count_inversions(&seqs, &scratch, 0, seqs.size());
}

// Closes the most recent open window of the same fault and target, else of the same fault.
void close_window(const Event& e, std::vector<FaultWindow>* faults) {
  for (bool same_target : {true, false}) {
    for (auto it = faults->rbegin(); it != faults->rend(); ++it) {
      if (!it->end_ms && it->fault == e.fault && (!same_target || it->target == e.target)) {
        it->end_ms = e.t;
        return;
      }
    }
  }
}

struct LastAck {
  int64_t epoch;
  int64_t t;
  std::string id;
};

}  // namespace

Verdict check_history(const std::vector<Event>& history) {
  std::vector<const Event*> events;
  events.reserve(history.size());
  for (const Event& e : history) events.push_back(&e);
  std::stable_sort(events.begin(), events.end(), [](const Event* a, const Event* b) { return a->t < b->t; });

  Verdict v;
  std::unordered_map<std::string, int64_t> acks_per_id, deliveries_per_id;
  std::unordered_set<std::string> stored;
  std::vector<std::string> acked_order, delivered_order;
  // Ids delivered or stored, in the order first seen: the stored-but-unacknowledged candidates.
  std::vector<std::string> seen_order;
  std::unordered_set<std::string> seen;
  std::vector<AckTime> ack_times;
  std::unordered_map<std::string, int64_t> send_time;  // id -> when its (last) send began
  std::unordered_map<std::string, LastAck> highest_epoch;  // per broker name
  std::unordered_map<std::string, const Event*> ordered_ack;  // id -> its first ack, ordered ids only

  for (const Event* e : events) {
    v.end_ms = std::max(v.end_ms, e->t);
    switch (e->type) {
      case EventType::kSend:
        ++v.sends;
        send_time[e->id] = e->t;
        break;
      case EventType::kAck: {
        ++v.acks;
        {
          auto sent = send_time.find(e->id);
          ack_times.push_back({e->t, sent == send_time.end() ? e->t : sent->second});
        }
        if (acks_per_id[e->id]++ == 0) {
          acked_order.push_back(e->id);
          if (e->is_ordered()) ordered_ack.emplace(e->id, e);
        }
        if (e->epoch < 0) break;
        auto [it, inserted] = highest_epoch.try_emplace(e->broker, LastAck{e->epoch, e->t, e->id});
        if (inserted) break;
        if (e->epoch < it->second.epoch) {
          ++v.epoch_anomalies;
          add_example(&v.examples.epoch,
                      fmt::format("{}: broker {} acked in epoch {} at {} ms, after {} in epoch {} at {} ms", e->id,
                                  e->broker, e->epoch, e->t, it->second.id, it->second.epoch, it->second.t));
        } else if (e->epoch > it->second.epoch) {
          it->second = LastAck{e->epoch, e->t, e->id};
        }
        break;
      }
      case EventType::kFail:
        ++v.fails;
        break;
      case EventType::kDeliver:
        ++v.deliveries;
        if (deliveries_per_id[e->id]++ == 0) delivered_order.push_back(e->id);
        if (seen.insert(e->id).second) seen_order.push_back(e->id);
        break;
      case EventType::kStored:
        v.has_final_read = true;
        stored.insert(e->id);
        if (seen.insert(e->id).second) seen_order.push_back(e->id);
        break;
      case EventType::kFaultStart: {
        FaultWindow w;
        w.fault = e->fault;
        w.target = e->target;
        w.detail = e->detail;
        w.start_ms = e->t;
        v.faults.push_back(std::move(w));
        break;
      }
      case EventType::kFaultEnd:
        close_window(*e, &v.faults);
        break;
      case EventType::kNote:
        if (e->text.rfind(kFinalReadNote, 0) == 0) v.has_final_read = true;
        break;
    }
  }
  v.acknowledged = static_cast<int64_t>(acked_order.size());
  v.delivered = static_cast<int64_t>(deliveries_per_id.size());
  v.stored = static_cast<int64_t>(stored.size());

  for (const auto& id : acked_order) {
    const bool delivered = deliveries_per_id.count(id) > 0;
    const bool in_store = stored.count(id) > 0;
    if (v.has_final_read ? !in_store : !delivered) {
      ++v.lost;
      if (delivered) ++v.lost_after_delivery;
      add_example(&v.examples.lost, delivered ? id + ": delivered, then absent from the final read" : id);
    } else if (!delivered) {
      ++v.unseen;
      add_example(&v.examples.unseen, id);
    }
    const int64_t acks = acks_per_id[id];
    if (acks > 1) {
      v.duplicate_acks += acks - 1;
      ++v.duplicate_acked_ids;
      add_example(&v.examples.duplicate_acks, fmt::format("{}: acknowledged {} times", id, acks));
    }
  }
  for (const auto& id : delivered_order) {
    const int64_t n = deliveries_per_id[id];
    if (n > 1) {
      v.duplicate_deliveries += n - 1;
      ++v.duplicated_ids;
      add_example(&v.examples.duplicated, fmt::format("{}: delivered {} times", id, n));
    }
  }
  for (const auto& id : seen_order) {
    if (acks_per_id.count(id)) continue;
    ++v.stored_unacknowledged;
    add_example(&v.examples.stored_unacknowledged,
                id + (deliveries_per_id.count(id) ? ": delivered" : ": stored, never delivered"));
  }

  // Reordering: first deliveries of acknowledged ordered messages, grouped by order key.
  std::vector<std::string> keys;
  std::unordered_map<std::string, std::vector<OrderedDelivery>> by_key;
  for (const auto& id : delivered_order) {
    auto it = ordered_ack.find(id);
    if (it == ordered_ack.end()) continue;
    const Event& a = *it->second;
    auto& list = by_key[a.order_key];
    if (list.empty()) keys.push_back(a.order_key);
    list.push_back({a.seq, id});
  }
  for (const auto& key : keys) check_order(key, by_key[key], &v);

  for (auto& w : v.faults) {
    w.recovery_ms = first_ack_after(ack_times, w.start_ms);
    if (w.end_ms) w.first_ack_after_end_ms = first_ack_after(ack_times, *w.end_ms);
  }
  return v;
}

namespace {

nlohmann::json optional_ms(const std::optional<int64_t>& ms) { return ms ? nlohmann::json(*ms) : nlohmann::json(); }

}  // namespace

nlohmann::json verdict_to_json(const Verdict& v) {
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& w : v.faults) {
    faults.push_back({{"fault", w.fault},
                      {"target", w.target},
                      {"detail", w.detail},
                      {"start_ms", w.start_ms},
                      {"end_ms", optional_ms(w.end_ms)},
                      {"recovery_ms", optional_ms(w.recovery_ms)},
                      {"first_ack_after_end_ms", optional_ms(w.first_ack_after_end_ms)}});
  }
  return {{"passed", v.passed()},
          {"totals",
           {{"sends", v.sends},
            {"acks", v.acks},
            {"acknowledged", v.acknowledged},
            {"fails", v.fails},
            {"deliveries", v.deliveries},
            {"delivered", v.delivered},
            {"stored", v.stored},
            {"final_read", v.has_final_read},
            {"end_ms", v.end_ms}}},
          {"lost", v.lost},
          {"lost_after_delivery", v.lost_after_delivery},
          {"unseen", v.unseen},
          {"duplicate_deliveries", v.duplicate_deliveries},
          {"duplicated_ids", v.duplicated_ids},
          {"duplicate_acks", v.duplicate_acks},
          {"duplicate_acked_ids", v.duplicate_acked_ids},
          {"reordered", v.reordered},
          {"stored_unacknowledged", v.stored_unacknowledged},
          {"epoch_anomalies", v.epoch_anomalies},
          {"faults", faults},
          {"examples",
           {{"lost", v.examples.lost},
            {"unseen", v.examples.unseen},
            {"duplicated", v.examples.duplicated},
            {"duplicate_acks", v.examples.duplicate_acks},
            {"reordered", v.examples.reordered},
            {"stored_unacknowledged", v.examples.stored_unacknowledged},
            {"epoch", v.examples.epoch}}}};
}

}  // namespace holdfast::drill
