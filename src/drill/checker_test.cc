// The checker on hand-made histories: a clean one passes with every anomaly at zero; each anomaly
// is found with the right count and examples while nothing else is flagged; recovery times.
#include "drill/checker.h"

#include <gtest/gtest.h>

#include "drill/report.h"

namespace holdfast::drill {
namespace {

Event message(int64_t t, EventType type, const std::string& id) {
  Event e;
  e.t = t;
  e.type = type;
  e.id = id;
  e.broker = "broker-a";
  e.queue = 0;
  return e;
}
Event send(int64_t t, const std::string& id) { return message(t, EventType::kSend, id); }
Event ack(int64_t t, const std::string& id, int64_t epoch = -1) {
  Event e = message(t, EventType::kAck, id);
  e.producer = "p0";
  e.epoch = epoch;
  return e;
}
Event ordered_ack(int64_t t, const std::string& id, const std::string& key, int64_t seq) {
  Event e = ack(t, id);
  e.order_key = key;
  e.seq = seq;
  return e;
}
Event fail(int64_t t, const std::string& id) { return message(t, EventType::kFail, id); }
Event deliver(int64_t t, const std::string& id) { return message(t, EventType::kDeliver, id); }
Event stored(int64_t t, const std::string& id) { return message(t, EventType::kStored, id); }
Event fault(int64_t t, EventType phase, const std::string& name, const std::string& target = "broker-a/0") {
  Event e;
  e.t = t;
  e.type = phase;
  e.fault = name;
  e.target = target;
  return e;
}

// Three messages sent, acknowledged, delivered once and found by the final read.
std::vector<Event> clean() {
  std::vector<Event> h;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "m" + std::to_string(i);
    h.push_back(send(i * 10, id));
    h.push_back(ack(i * 10 + 1, id));
    h.push_back(deliver(i * 10 + 2, id));
    h.push_back(stored(1000, id));
  }
  return h;
}

struct Anomalies {
  int64_t lost = 0, unseen = 0, duplicate_deliveries = 0, duplicate_acks = 0, reordered = 0, unacked = 0,
          epoch = 0;
};

void expect_only(const Verdict& v, const Anomalies& a) {
  EXPECT_EQ(v.lost, a.lost);
  EXPECT_EQ(v.unseen, a.unseen);
  EXPECT_EQ(v.duplicate_deliveries, a.duplicate_deliveries);
  EXPECT_EQ(v.duplicate_acks, a.duplicate_acks);
  EXPECT_EQ(v.reordered, a.reordered);
  EXPECT_EQ(v.stored_unacknowledged, a.unacked);
  EXPECT_EQ(v.epoch_anomalies, a.epoch);
  EXPECT_EQ(v.examples.lost.size(), static_cast<size_t>(std::min<int64_t>(a.lost, kMaxExamples)));
  EXPECT_EQ(v.examples.unseen.size(), static_cast<size_t>(std::min<int64_t>(a.unseen, kMaxExamples)));
  EXPECT_EQ(v.examples.duplicate_acks.empty(), a.duplicate_acks == 0);
  EXPECT_EQ(v.examples.duplicated.empty(), a.duplicate_deliveries == 0);
  EXPECT_EQ(v.examples.reordered.empty(), a.reordered == 0);
  EXPECT_EQ(v.examples.stored_unacknowledged.empty(), a.unacked == 0);
  EXPECT_EQ(v.examples.epoch.empty(), a.epoch == 0);
  EXPECT_EQ(v.passed(), a.lost == 0);
}

TEST(DrillChecker, CleanHistoryPassesWithEveryAnomalyZero) {
  const Verdict v = check_history(clean());
  expect_only(v, {});
  EXPECT_EQ(v.sends, 3);
  EXPECT_EQ(v.acks, 3);
  EXPECT_EQ(v.acknowledged, 3);
  EXPECT_EQ(v.fails, 0);
  EXPECT_EQ(v.deliveries, 3);
  EXPECT_EQ(v.delivered, 3);
  EXPECT_EQ(v.stored, 3);
  EXPECT_TRUE(v.has_final_read);
  EXPECT_EQ(v.end_ms, 1000);
  EXPECT_EQ(summary_line(v).rfind("PASS: 0 acknowledged messages lost (of 3)", 0), 0u) << summary_line(v);
}

TEST(DrillChecker, AcknowledgedNeverDeliveredAndNotStoredIsLost) {
  auto h = clean();
  h.push_back(ack(50, "gone"));
  h.push_back(ack(60, "gone-too"));
  const Verdict v = check_history(h);
  expect_only(v, {.lost = 2});
  EXPECT_EQ(v.examples.lost, (std::vector<std::string>{"gone", "gone-too"}));
  EXPECT_EQ(v.lost_after_delivery, 0);
  EXPECT_EQ(summary_line(v).rfind("FAIL: 2 acknowledged messages lost (of 5)", 0), 0u) << summary_line(v);
}

TEST(DrillChecker, DeliveredButAbsentFromTheFinalReadIsLostAfterDelivery) {
  auto h = clean();
  h.push_back(ack(50, "dropped"));
  h.push_back(deliver(51, "dropped"));  // the store lost it after a consumer got it
  const Verdict v = check_history(h);
  expect_only(v, {.lost = 1});
  EXPECT_EQ(v.lost_after_delivery, 1);
  EXPECT_EQ(v.examples.lost[0].rfind("dropped: delivered", 0), 0u) << v.examples.lost[0];
}

TEST(DrillChecker, WithoutAFinalReadUndeliveredIsLost) {
  const std::vector<Event> h{ack(1, "a"), deliver(2, "a"), ack(3, "b")};
  const Verdict v = check_history(h);
  EXPECT_FALSE(v.has_final_read);
  expect_only(v, {.lost = 1});
  EXPECT_EQ(v.examples.lost, std::vector<std::string>{"b"});
}

TEST(DrillChecker, AFinalReadThatFoundNothingStillCounts) {
  Event note;
  note.t = 10;
  note.type = EventType::kNote;
  note.text = kFinalReadNote;
  const std::vector<Event> h{ack(1, "a"), deliver(2, "a"), note};
  const Verdict v = check_history(h);
  EXPECT_TRUE(v.has_final_read);
  expect_only(v, {.lost = 1});
  EXPECT_EQ(v.lost_after_delivery, 1);
}

TEST(DrillChecker, StoredButNeverDeliveredIsUnseen) {
  auto h = clean();
  h.push_back(ack(40, "late"));
  h.push_back(stored(1000, "late"));
  const Verdict v = check_history(h);
  expect_only(v, {.unseen = 1});
  EXPECT_EQ(v.examples.unseen, std::vector<std::string>{"late"});
}

TEST(DrillChecker, RedeliveriesAreDuplicatedDeliveries) {
  auto h = clean();
  h.push_back(deliver(100, "m0"));
  h.push_back(deliver(101, "m0"));
  h.push_back(deliver(102, "m2"));
  const Verdict v = check_history(h);
  expect_only(v, {.duplicate_deliveries = 3});
  EXPECT_EQ(v.duplicated_ids, 2);
  EXPECT_EQ(v.deliveries, 6);
  EXPECT_EQ(v.delivered, 3);
  EXPECT_EQ(v.examples.duplicated,
            (std::vector<std::string>{"m0: delivered 3 times", "m2: delivered 2 times"}));
}

TEST(DrillChecker, AnIdAcknowledgedTwiceIsADuplicateAck) {
  auto h = clean();
  h.push_back(ack(5, "m1"));
  const Verdict v = check_history(h);
  expect_only(v, {.duplicate_acks = 1});
  EXPECT_EQ(v.duplicate_acked_ids, 1);
  EXPECT_EQ(v.acks, 4);
  EXPECT_EQ(v.acknowledged, 3);
  EXPECT_EQ(v.examples.duplicate_acks, std::vector<std::string>{"m1: acknowledged 2 times"});
}

TEST(DrillChecker, OrderedMessagesCountEveryReorderedPair) {
  std::vector<Event> h;
  for (int i = 0; i < 4; ++i) {
    const std::string id = "o" + std::to_string(i);
    h.push_back(ordered_ack(i, id, "order-1", i));
    h.push_back(stored(1000, id));
  }
  // Another key, in order; an unordered message anywhere; an unacknowledged ordered message (its
  // delivery is ignored by this check, reported as stored but unacknowledged).
  h.push_back(ordered_ack(5, "k0", "order-2", 0));
  h.push_back(ordered_ack(6, "k1", "order-2", 1));
  h.push_back(ack(7, "free"));
  for (const char* id : {"k0", "k1", "free"}) h.push_back(stored(1000, id));
  int64_t t = 100;
  // First deliveries o2, o3, o0, o1: pairs (0,2), (0,3), (1,2), (1,3) are reversed. o2 comes
  // again later: only first deliveries count.
  for (const char* id : {"free", "o2", "k0", "o3", "o0", "k1", "o1", "o2", "stray"}) h.push_back(deliver(t++, id));
  const Verdict v = check_history(h);
  expect_only(v, {.duplicate_deliveries = 1, .reordered = 4, .unacked = 1});
  ASSERT_EQ(v.examples.reordered.size(), 2u);
  EXPECT_EQ(v.examples.reordered[0], "o0: order key order-1 seq 0 first delivered after seq 3 (o3)");
  EXPECT_EQ(v.examples.reordered[1], "o1: order key order-1 seq 1 first delivered after seq 3 (o3)");
}

TEST(DrillChecker, UnacknowledgedOrderedDeliveriesDoNotCountAsReordered) {
  // "x" was sent with seq 5 but never acknowledged (no ack, so the checker knows no seq for it):
  // its delivery between o0 and o1 is no violation.
  std::vector<Event> h{ordered_ack(1, "o0", "k", 0), ordered_ack(2, "o1", "k", 1), fail(3, "x"),
                       deliver(10, "o0"), deliver(11, "x"), deliver(12, "o1")};
  for (const char* id : {"o0", "o1", "x"}) h.push_back(stored(100, id));
  const Verdict v = check_history(h);
  expect_only(v, {.unacked = 1});
}

TEST(DrillChecker, StoredOrDeliveredWithoutAckIsReportedNotFailed) {
  auto h = clean();
  h.push_back(send(60, "timed-out"));
  h.push_back(fail(70, "timed-out"));
  h.push_back(deliver(71, "timed-out"));
  h.push_back(stored(1000, "timed-out"));
  h.push_back(stored(1000, "orphan"));
  const Verdict v = check_history(h);
  expect_only(v, {.unacked = 2});
  EXPECT_EQ(v.fails, 1);
  EXPECT_EQ(v.sends, 4);
  EXPECT_EQ(v.examples.stored_unacknowledged,
            (std::vector<std::string>{"timed-out: delivered", "orphan: stored, never delivered"}));
}

TEST(DrillChecker, AnAckInAnOlderEpochAfterANewerOneIsAnEpochAnomaly) {
  // Out of time order on purpose: the checker sorts by t.
  std::vector<Event> h{ack(2, "b", 4), ack(1, "a", 3), ack(3, "c", 3), ack(4, "d", -1), ack(5, "e", 4)};
  Event other = ack(6, "f", 1);  // another broker name has its own epochs
  other.broker = "broker-b";
  h.push_back(other);
  for (const char* id : {"a", "b", "c", "d", "e", "f"}) {
    h.push_back(deliver(10, id));
    h.push_back(stored(20, id));
  }
  const Verdict v = check_history(h);
  expect_only(v, {.epoch = 1});
  ASSERT_EQ(v.examples.epoch.size(), 1u);
  EXPECT_EQ(v.examples.epoch[0], "c: broker broker-a acked in epoch 3 at 3 ms, after b in epoch 4 at 2 ms");
}

TEST(DrillChecker, ExamplesStopAtTwentyButCountsDoNot) {
  std::vector<Event> h{stored(0, "anything")};
  for (int i = 0; i < 30; ++i) h.push_back(ack(i, "x" + std::to_string(i)));
  const Verdict v = check_history(h);
  EXPECT_EQ(v.lost, 30);
  EXPECT_EQ(v.examples.lost.size(), kMaxExamples);
  EXPECT_EQ(v.examples.lost.front(), "x0");
}

TEST(DrillChecker, RecoveryIsTheFirstAckStrictlyAfterEachEdgeOrNone) {
  std::vector<Event> h{ack(100, "a"),
                       fault(1000, EventType::kFaultStart, "kill-master"),
                       ack(1000, "same-ms"),  // in flight when the fault began: not "after" it
                       ack(1200, "x"),
                       fault(2000, EventType::kFaultEnd, "kill-master"),
                       ack(2500, "b"),
                       fault(2600, EventType::kFaultStart, "pause-master"),
                       fault(2700, EventType::kFaultEnd, "pause-master"),
                       fault(3000, EventType::kFaultStart, "disk-full")};
  const Verdict v = check_history(h);
  ASSERT_EQ(v.faults.size(), 3u);
  EXPECT_EQ(v.faults[0].fault, "kill-master");
  EXPECT_EQ(v.faults[0].start_ms, 1000);
  EXPECT_EQ(v.faults[0].end_ms, 2000);
  EXPECT_EQ(v.faults[0].recovery_ms, 200);
  EXPECT_EQ(v.faults[0].first_ack_after_end_ms, 500);
  // No ack after either edge of the pause.
  EXPECT_EQ(v.faults[1].end_ms, 2700);
  EXPECT_FALSE(v.faults[1].recovery_ms.has_value());
  EXPECT_FALSE(v.faults[1].first_ack_after_end_ms.has_value());
  // Never healed.
  EXPECT_FALSE(v.faults[2].end_ms.has_value());
  EXPECT_FALSE(v.faults[2].recovery_ms.has_value());
  EXPECT_NE(summary_line(v).find("recovery: kill-master 200 ms, pause-master none, disk-full none"),
            std::string::npos)
      << summary_line(v);
  const nlohmann::json j = verdict_to_json(v);
  EXPECT_EQ(j["faults"][0]["recovery_ms"], 200);
  EXPECT_TRUE(j["faults"][1]["recovery_ms"].is_null());
  EXPECT_TRUE(j["faults"][2]["end_ms"].is_null());
}

TEST(DrillChecker, RecoveryIgnoresSendsThatWereInFlightWhenTheFaultBegan) {
  Event s1 = ack(900, "in-flight");
  s1.type = EventType::kSend;
  Event s2 = ack(1100, "after");
  s2.type = EventType::kSend;
  const std::vector<Event> h{s1,
                             fault(1000, EventType::kFaultStart, "pause-master"),
                             s2,
                             ack(1500, "in-flight"),  // a paused broker answered it late
                             ack(1700, "after"),
                             fault(2000, EventType::kFaultEnd, "pause-master")};
  const Verdict v = check_history(h);
  ASSERT_EQ(v.faults.size(), 1u);
  EXPECT_EQ(v.faults[0].recovery_ms, 700);
}

TEST(DrillChecker, AFaultEndClosesTheOpenWindowOfTheSameTarget) {
  const std::vector<Event> h{fault(10, EventType::kFaultStart, "kill-master", "broker-a/0"),
                             fault(20, EventType::kFaultStart, "kill-master", "broker-b/0"),
                             fault(30, EventType::kFaultEnd, "kill-master", "broker-a/0"),
                             fault(40, EventType::kFaultEnd, "kill-master", "broker-b/0"),
                             fault(50, EventType::kFaultEnd, "kill-master", "broker-c/0")};  // no start: ignored
  const Verdict v = check_history(h);
  ASSERT_EQ(v.faults.size(), 2u);
  EXPECT_EQ(v.faults[0].end_ms, 30);
  EXPECT_EQ(v.faults[1].end_ms, 40);
}

TEST(DrillChecker, VerdictJsonHoldsCountsAndExamples) {
  auto h = clean();
  h.push_back(ack(50, "gone"));
  const nlohmann::json j = verdict_to_json(check_history(h));
  EXPECT_EQ(j["passed"], false);
  EXPECT_EQ(j["lost"], 1);
  EXPECT_EQ(j["totals"]["acknowledged"], 4);
  EXPECT_EQ(j["examples"]["lost"][0], "gone");
}

}  // namespace
}  // namespace holdfast::drill
