// `holdfast drill run|list|check`: CLI11 wiring of the fault drills (drill_runner.h) and the
// history checker (src/drill).
#pragma once

#include <memory>

#include <CLI/CLI.hpp>

namespace holdfast::drill {

// Registers `drill`; after parsing, *exit_code holds the exit status of the subcommand that ran.
CLI::App* add_drill_command(CLI::App& app, std::shared_ptr<int> exit_code);

}  // namespace holdfast::drill
