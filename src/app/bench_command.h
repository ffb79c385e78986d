// `holdfast bench produce|consume`: CLI11 wiring of the load generators in bench_runner.h.
#pragma once

#include <memory>

#include <CLI/CLI.hpp>

namespace holdfast::bench {

// Registers `bench`; after parsing, *exit_code holds the exit status of the subcommand that ran.
CLI::App* add_bench_command(CLI::App& app, std::shared_ptr<int> exit_code);

}  // namespace holdfast::bench
