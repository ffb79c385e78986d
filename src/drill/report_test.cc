// write_report on a small history: three files; the JSON holds the verdict, the Markdown starts
// with it, the HTML draws an SVG with a shaded fault window and escapes hostile text.
#include "drill/report.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "drill/timeline.h"

namespace holdfast::drill {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DrillReport : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hf_report_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // 30 messages over 3 s, m7 lost, a fault window from 1.0 s to 1.8 s named hostile_name.
  static std::vector<Event> history(const std::string& hostile_name) {
    std::vector<Event> h;
    for (int i = 0; i < 30; ++i) {
      Event a;
      a.t = i * 100;
      a.type = EventType::kAck;
      a.id = "m" + std::to_string(i);
      a.broker = "broker-a";
      h.push_back(a);
      if (i == 7) continue;
      Event d = a;
      d.type = EventType::kDeliver;
      d.t += 20;
      h.push_back(d);
      Event s = a;
      s.type = EventType::kStored;
      s.t = 3500;
      h.push_back(s);
    }
    Event failed;
    failed.type = EventType::kFail;
    failed.t = 1100;
    failed.id = "x";
    failed.error = "timeout";
    h.push_back(failed);
    Event start;
    start.type = EventType::kFaultStart;
    start.t = 1000;
    start.fault = hostile_name;
    start.target = "broker-a/0 & \"friends\"";
    Event end = start;
    end.type = EventType::kFaultEnd;
    end.t = 1800;
    h.push_back(start);
    h.push_back(end);
    return h;
  }

  std::string root_;
};

TEST_F(DrillReport, WritesJsonMarkdownAndTimeline) {
  const std::string hostile = "<script>alert('x')</script>";
  const std::vector<Event> h = history(hostile);
  const Verdict v = check_history(h);
  ASSERT_EQ(v.lost, 1);
  RunInfo info;
  info.scenario = "kill-master";
  info.seed = 3;
  info.runs = 2;
  info.run = 1;
  info.target = "holdfast, 1 broker";
  info.settings = {{"flushDiskType", "SYNC_FLUSH"}};
  const std::string dir = root_ + "/nested/out";
  ASSERT_TRUE(write_report(dir, info, h, v).is_ok());

  const nlohmann::json j = nlohmann::json::parse(slurp(dir + "/report.json"));
  EXPECT_EQ(j["run"]["scenario"], "kill-master");
  EXPECT_EQ(j["run"]["seed"], 3);
  EXPECT_EQ(j["run"]["settings"]["flushDiskType"], "SYNC_FLUSH");
  EXPECT_EQ(j["verdict"]["passed"], false);
  EXPECT_EQ(j["verdict"]["lost"], 1);
  EXPECT_EQ(j["verdict"]["examples"]["lost"][0], "m7");
  EXPECT_EQ(j["per_second"]["seconds"], 4);
  EXPECT_EQ(j["per_second"]["acks"], (std::vector<int64_t>{10, 10, 10, 0}));
  EXPECT_EQ(j["per_second"]["fails"], (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(j["faults"][0]["fault"], hostile);
  EXPECT_EQ(j["recovery"][0]["recovery_ms"], 100);
  EXPECT_EQ(j["recovery"][0]["first_ack_after_end_ms"], 100);

  const std::string md = slurp(dir + "/summary.md");
  EXPECT_EQ(md.rfind("# FAIL: 1 acknowledged message lost\n", 0), 0u) << md;
  EXPECT_NE(md.find("| **lost** | 1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("## Faults"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1000 ms | 1800 ms | 100 ms | 100 ms |"), std::string::npos) << md;
  EXPECT_NE(md.find("- m7\n"), std::string::npos) << md;
  EXPECT_EQ(md.find("<script>"), std::string::npos) << md;

  const std::string html = slurp(dir + "/timeline.html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<title>FAIL: 1 acknowledged message lost</title>"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<rect class=\"fault\""), std::string::npos);
  EXPECT_NE(html.find("first ack +100 ms"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "hostile text reached the page unescaped";
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("broker-a/0 &amp; &quot;friends&quot;"), std::string::npos);
  EXPECT_EQ(html.find("http://www.w3.org/2000/svg"), html.find("http"))
      << "the page refers to nothing outside itself";
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

TEST_F(DrillReport, APassingRunSaysSoFirstAndAnUnhealedFaultHasNoRecovery) {
  std::vector<Event> h = history("kill-master");
  h.erase(std::remove_if(h.begin(), h.end(), [](const Event& e) { return e.type == EventType::kFaultEnd; }),
          h.end());
  Event late_start;
  late_start.type = EventType::kFaultStart;
  late_start.t = 3000;
  late_start.fault = "disk-full";
  h.push_back(late_start);
  Event s;
  s.type = EventType::kStored;
  s.t = 3500;
  s.id = "m7";
  h.push_back(s);
  const Verdict v = check_history(h);
  ASSERT_TRUE(v.passed());
  ASSERT_TRUE(write_report(root_, RunInfo{}, h, v).is_ok());
  EXPECT_EQ(slurp(root_ + "/summary.md").rfind("# PASS: 0 acknowledged messages lost\n", 0), 0u);
  const std::string html = slurp(root_ + "/timeline.html");
  EXPECT_NE(html.find("no ack after this fault"), std::string::npos);
  EXPECT_NE(html.find("not healed"), std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(slurp(root_ + "/report.json"));
  EXPECT_TRUE(j["recovery"][1]["recovery_ms"].is_null());
}

TEST_F(DrillReport, AnUnwritableDirectoryIsAnError) {
  const std::string file = root_ + "/a-file";
  std::ofstream(file) << "x";
  const std::vector<Event> h = history("f");
  EXPECT_FALSE(write_report(file + "/sub", RunInfo{}, h, check_history(h)).is_ok());
}

TEST(DrillTimeline, RatesAreCountedPerWholeSecond) {
  std::vector<Event> h(4);
  h[0].type = EventType::kAck;
  h[0].t = -5;
  h[1].type = EventType::kAck;
  h[1].t = 999;
  h[2].type = EventType::kDeliver;
  h[2].t = 1000;
  h[3].type = EventType::kSend;
  h[3].t = 2500;
  const RateSeries r = rate_series(h);
  EXPECT_EQ(r.seconds(), 3u);
  EXPECT_EQ(r.acks, (std::vector<int64_t>{2, 0, 0}));
  EXPECT_EQ(r.deliveries, (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(r.sends, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

}  // namespace
}  // namespace holdfast::drill
