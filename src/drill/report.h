// A drill's report, written for people who look before they read: report.json (everything, for
// scripts), summary.md (the verdict first, then counts, faults and examples) and timeline.html
// (a self-contained page with an SVG timeline; timeline.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "drill/checker.h"
#include "drill/history.h"

namespace holdfast::drill {

// What was run, as the report shows it. Every field may be left empty.
struct RunInfo {
  std::string scenario;               // e.g. "kill-master"
  std::optional<uint64_t> seed;
  int run = 0;                        // this run's index among `runs`
  int runs = 1;
  std::optional<int64_t> duration_ms;  // unset: the history's span is shown
  std::string target;                 // what was tested, e.g. "holdfast 1 broker, SYNC_FLUSH"
  std::vector<std::pair<std::string, std::string>> settings;  // free-form: flush policy, commands, ...
};

// "PASS: 0 acknowledged messages lost" or "FAIL: 3 acknowledged messages lost".
std::string verdict_headline(const Verdict& v);

// One line for the CLI: the headline, then the other counts and the recovery times.
std::string summary_line(const Verdict& v);

// The Markdown summary (summary.md); its first line is "# " + verdict_headline(v).
std::string summary_markdown(const RunInfo& info, const Verdict& v);

// report.json's content: run info, verdict, per-second series, fault windows and recovery times.
nlohmann::json report_json(const RunInfo& info, const std::vector<Event>& history, const Verdict& v);

// Writes report.json, summary.md and timeline.html into dir (created if missing), replacing
// earlier ones. v must be check_history(history).
Status write_report(const std::string& dir, const RunInfo& info, const std::vector<Event>& history,
                    const Verdict& v);

}  // namespace holdfast::drill
