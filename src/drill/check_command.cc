// `holdfast drill check`: read, check, report, map the verdict to an exit status.
#include "drill/check_command.h"

#include <cstdio>

#include "drill/checker.h"

namespace holdfast::drill {

int check_history_file(const std::string& path, const std::string& report_dir, std::string* summary,
                       const RunInfo& info) {
  Result<std::vector<Event>> history = read_history(path);
  if (!history.is_ok()) {
    *summary = history.status().message();
    return kCheckBadInput;
  }
  const Verdict v = check_history(*history);
  *summary = summary_line(v);
  if (!report_dir.empty()) {
    Status st = write_report(report_dir, info, *history, v);
    if (!st.is_ok()) {
      *summary += "; report not written: " + st.message();
      return kCheckBadInput;
    }
  }
  return v.passed() ? kCheckPassed : kCheckLost;
}

int check_history_file(const std::string& path, const std::string& report_dir) {
  std::string summary;
  RunInfo info;
  info.settings = {{"history", path}};
  const int status = check_history_file(path, report_dir, &summary, info);
  if (status == kCheckBadInput) {
    std::fprintf(stderr, "holdfast drill check: %s\n", summary.c_str());
  } else {
    std::printf("%s\n", summary.c_str());
    if (!report_dir.empty()) {
      std::printf("report: %s/summary.md, %s/timeline.html, %s/report.json\n", report_dir.c_str(),
                  report_dir.c_str(), report_dir.c_str());
    }
  }
  std::fflush(stdout);
  return status;
}

namespace {

CLI::App* register_check(CLI::App& drill, std::shared_ptr<std::string> path, std::shared_ptr<std::string> report) {
  CLI::App* check = drill.add_subcommand(
      "check",
      "Check a recorded history (JSON lines): lost, unseen, duplicated, reordered, stored but unacknowledged, "
      "epoch anomalies, recovery times. Exit 0: nothing acknowledged lost, 1: something lost, 2: bad input");
  check->add_option("history", *path, "The history, e.g. REPORT/run-0/history.jsonl")->required();
  check->add_option("--report", *report, "Also write report.json, summary.md and timeline.html into this directory");
  return check;
}

}  // namespace

void add_drill_check_command(CLI::App& drill, std::shared_ptr<int> exit_code) {
  auto path = std::make_shared<std::string>();
  auto report = std::make_shared<std::string>();
  register_check(drill, path, report)->callback([path, report, exit_code]() {
    *exit_code = check_history_file(*path, *report);
  });
}

void add_drill_check_command(CLI::App& drill) {
  auto path = std::make_shared<std::string>();
  auto report = std::make_shared<std::string>();
  register_check(drill, path, report)->callback([path, report]() {
    const int status = check_history_file(*path, *report);
    if (status != kCheckPassed) throw CLI::RuntimeError(status);
  });
}

}  // namespace holdfast::drill
