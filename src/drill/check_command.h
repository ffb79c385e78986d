// `holdfast drill check HISTORY [--report DIR]`: the checker and report on a recorded history,
// for the CLI and for the drill runner.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "drill/report.h"

namespace holdfast::drill {

// Exit statuses of a check.
inline constexpr int kCheckPassed = 0;    // nothing acknowledged was lost
inline constexpr int kCheckLost = 1;      // at least one acknowledged message was lost
inline constexpr int kCheckBadInput = 2;  // the history could not be read, or the report not written

// Reads and checks the history at `path`; writes the report into report_dir unless it is empty.
// *summary gets summary_line() of the verdict, or the reason the check could not run. Returns one
// of the statuses above. Prints nothing.
int check_history_file(const std::string& path, const std::string& report_dir, std::string* summary,
                       const RunInfo& info = {});

// The same, printing the summary line to stdout (the reason to stderr on status 2).
int check_history_file(const std::string& path, const std::string& report_dir);

// Registers `check` on the `drill` command. After parsing, *exit_code holds the check's status
// (the pattern of bench_command.h).
void add_drill_check_command(CLI::App& drill, std::shared_ptr<int> exit_code);

// Registers `check` on `drill` for a parent that reads exit codes from CLI11: a non-zero status
// is thrown as CLI::RuntimeError(status), which CLI11_PARSE / App::exit return silently.
void add_drill_check_command(CLI::App& drill);

}  // namespace holdfast::drill
