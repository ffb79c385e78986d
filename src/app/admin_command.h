// `holdfast admin`: the CLI11 wiring of the admin subcommands (topic, group, message, cluster,
// send, consume). The work happens in AdminClient (admin_client.h); this file parses options,
// renders results (admin_format.h) and turns errors into one readable line and a non-zero exit.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

namespace holdfast::admin {

class AdminClient;

// Options every admin subcommand shares.
struct AdminCliOptions {
  std::string namesrv;  // "host:port[;host:port]"; default NAMESRV_ADDR or 127.0.0.1:9876
  int64_t timeout_ms = 5000;
  int exit_code = 0;    // set by the subcommand that ran
};

// NAMESRV_ADDR from the environment, or 127.0.0.1:9876.
std::string default_namesrv();

// Registers `admin` and its subcommands on `app`. The chosen subcommand runs from CLI11's
// callbacks during parsing; afterwards options->exit_code holds its exit status.
CLI::App* add_admin_command(CLI::App& app, std::shared_ptr<AdminCliOptions> options);

// Adds `--namesrv` (and `--timeout-ms`) to a leaf subcommand, bound to the shared options.
void add_connection_options(CLI::App* command, const std::shared_ptr<AdminCliOptions>& options);

// `admin send` and `admin consume` (Producer / PullConsumer); in admin_client_commands.cc.
void add_client_commands(CLI::App* admin, const std::shared_ptr<AdminCliOptions>& options);
// `admin dlq list` and `admin dlq resend`; in admin_dlq_command.cc.
void add_dlq_commands(CLI::App* admin, const std::shared_ptr<AdminCliOptions>& options);
// `holdfast admin tx list|show|resolve` (admin_tx.cc).
void add_tx_commands(CLI::App* admin, const std::shared_ptr<AdminCliOptions>& options);
void add_ha_commands(CLI::App* admin, const std::shared_ptr<AdminCliOptions>& options);

// An AdminClient for the shared --namesrv / --timeout-ms.
AdminClient make_client(const AdminCliOptions& options);

// Prints "holdfast admin <what>: <message>" to stderr and returns 1.
int report_error(const std::string& what, const std::string& message);

}  // namespace holdfast::admin
