// History lines round-trip, bad lines are named by number, and HistoryLog keeps every event
// appended from many threads (in memory and in its stream).
#include "drill/history.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "drill/history_log.h"

namespace holdfast::drill {
namespace {

class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/hf_history_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = tmpl;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  void write(const std::string& text) const { std::ofstream(path_, std::ios::trunc) << text; }

 private:
  std::string path_;
};

// One event of every kind, every field set that its kind carries.
std::vector<Event> one_of_each() {
  std::vector<Event> events(8);
  events[0].type = EventType::kSend;
  events[0].id = "r1-p0-1";
  events[0].producer = "p0";
  events[1].type = EventType::kAck;
  events[1].id = "r1-p0-1";
  events[1].producer = "p0";
  events[1].msg_id = "7F00000100002A9F0000000000000000";
  events[1].broker = "broker-a";
  events[1].queue = 3;
  events[1].offset = 1234567890123;
  events[1].epoch = 2;
  events[1].order_key = "order-9";
  events[1].seq = 41;
  events[2].type = EventType::kFail;
  events[2].id = "r1-p0-2";
  events[2].producer = "p1";
  events[2].error = "timeout \"quoted\"\nnewline";
  events[3].type = EventType::kDeliver;
  events[3].id = "r1-p0-1";
  events[3].consumer = "c0";
  events[3].broker = "broker-a";
  events[3].queue = 3;
  events[3].offset = 7;
  events[4].type = EventType::kStored;
  events[4].id = "r1-p0-1";
  events[4].broker = "broker-a";
  events[4].queue = 3;
  events[4].offset = 7;
  events[5].type = EventType::kFaultStart;
  events[5].fault = "kill-master";
  events[5].target = "broker-a/0";
  events[5].detail = "kill -9 pid 4242";
  events[6] = events[5];
  events[6].type = EventType::kFaultEnd;
  events[7].type = EventType::kNote;
  events[7].text = "heal";
  for (size_t i = 0; i < events.size(); ++i) events[i].t = static_cast<int64_t>(i) * 100 - 1;
  return events;
}

TEST(DrillHistory, EveryKindOfEventRoundTripsThroughAFile) {
  const std::vector<Event> events = one_of_each();
  TempFile file;
  std::string text;
  for (const Event& e : events) text += to_json_line(e) + "\n\n";  // blank lines are skipped
  file.write(text);
  Result<std::vector<Event>> back = read_history(file.path());
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  ASSERT_EQ(back->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(to_json_line((*back)[i]), to_json_line(events[i])) << i;
    EXPECT_EQ((*back)[i].type, events[i].type) << i;
  }
  const Event& a = (*back)[1];
  EXPECT_EQ(a.offset, 1234567890123);
  EXPECT_EQ(a.order_key, "order-9");
  EXPECT_EQ(a.seq, 41);
  EXPECT_EQ((*back)[2].error, events[2].error);
}

TEST(DrillHistory, AnUnorderedAckHasNoOrderFields) {
  Event e;
  e.type = EventType::kAck;
  e.id = "m";
  const std::string line = to_json_line(e);
  EXPECT_EQ(line.find("order_key"), std::string::npos) << line;
  EXPECT_EQ(line.find("\"seq\""), std::string::npos) << line;
  Result<Event> back = parse_event(line);
  ASSERT_TRUE(back.is_ok());
  EXPECT_FALSE(back->is_ordered());
}

TEST(DrillHistory, ABadLineIsRejectedWithItsNumber) {
  const std::string good = to_json_line(one_of_each()[0]);
  const std::pair<std::string, std::string> cases[] = {
      {"{\"t\":1,\"type\":\"ack\"}", ":3: no \"id\""},
      {"not json", ":3: not valid JSON"},
      {"[1,2]", ":3: not a JSON object"},
      {"{\"t\":1,\"type\":\"teleport\",\"id\":\"m\"}", ":3: unknown type \"teleport\""},
      {"{\"t\":\"soon\",\"type\":\"send\",\"id\":\"m\"}", ":3: \"t\" is not an integer"},
      {"{\"type\":\"send\",\"id\":\"m\"}", ":3: no \"t\""},
      {"{\"t\":1,\"type\":\"fault\",\"fault\":\"kill-master\"}", ":3: fault event without \"phase\""},
      {"{\"t\":1,\"type\":\"deliver\",\"id\":\"m\",\"queue\":\"zero\"}", ":3: \"queue\" is not an integer"},
      {"{\"t\":1,\"type\":\"ack\",\"id\":7}", ":3: \"id\" is not a string"},
  };
  TempFile file;
  for (const auto& [bad, expected] : cases) {
    file.write(good + "\n" + good + "\n" + bad + "\n" + good + "\n");
    Result<std::vector<Event>> r = read_history(file.path());
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_NE(r.status().message().find(file.path() + expected), std::string::npos) << r.status().message();
  }
}

TEST(DrillHistory, AMissingFileIsAnError) {
  Result<std::vector<Event>> r = read_history("/nonexistent/history.jsonl");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("/nonexistent/history.jsonl"), std::string::npos);
}

TEST(DrillHistoryLog, FourThreadsLoseNoEventAndTheStreamHoldsThemAll) {
  TempFile file;
  auto opened = HistoryLog::open(file.path());
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  HistoryLog& log = **opened;
  constexpr int kThreads = 4, kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Event e;
        e.type = EventType::kAck;
        e.id = "p" + std::to_string(t) + "-" + std::to_string(i);
        e.producer = "p" + std::to_string(t);
        log.append(std::move(e));
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(log.close().is_ok());

  const std::vector<Event> events = log.events();
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> ids;
  for (size_t i = 0; i < events.size(); ++i) {
    ids.insert(events[i].id);
    if (i > 0) {
      EXPECT_LE(events[i - 1].t, events[i].t) << "stamps go back in time at " << i;
    }
  }
  EXPECT_EQ(ids.size(), events.size());

  Result<std::vector<Event>> streamed = read_history(file.path());
  ASSERT_TRUE(streamed.is_ok()) << streamed.status().to_string();
  ASSERT_EQ(streamed->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(to_json_line((*streamed)[i]), to_json_line(events[i]));
}

TEST(DrillHistoryLog, AGivenTimeIsKept) {
  HistoryLog log;
  Event e;
  e.type = EventType::kNote;
  e.text = "replayed";
  e.t = 123456;
  log.append_with_time(e);
  const int64_t stamped = log.append(e);
  const std::vector<Event> events = log.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].t, 123456);
  EXPECT_EQ(events[1].t, stamped);
  EXPECT_GE(stamped, 0);
  EXPECT_LE(stamped, log.now_ms());
  EXPECT_TRUE(log.stream_status().is_ok());
}

TEST(DrillHistoryLog, AnUncreatableStreamIsAnError) {
  auto opened = HistoryLog::open("/nonexistent/dir/history.jsonl");
  ASSERT_FALSE(opened.is_ok());
  EXPECT_NE(opened.status().message().find("/nonexistent/dir/history.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace holdfast::drill
