// The control protocol's commands (one text line each) and the fault settings they change.
// The grammar is listed in README.md; parse_control_command() is its only parser.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace holdfast::faultfs {

// Injected faults. Plain value; FaultFs keeps one under its mutex.
struct FaultSettings {
  std::optional<int64_t> quota_bytes;    // writes growing regular files past this fail (ENOSPC)
  std::optional<std::string> eio_write;  // writes to paths containing this fail (EIO); "" = all
  std::optional<std::string> eio_fsync;  // fsyncs of paths containing this fail (EIO); "" = all
  int64_t fsync_delay_ms = 0;            // each fsync/fsyncdir sleeps this long first

  // True if `rule` is set and `path` contains it.
  static bool matches(const std::optional<std::string>& rule, const std::string& path) {
    return rule && path.find(*rule) != std::string::npos;
  }
  // Names of the active faults, for status.
  std::vector<std::string> active() const;
};

enum class CommandKind {
  kStatus,
  kPowerLoss,
  kPowerLossTorn,
  kQuota,      // number = bytes
  kQuotaOff,
  kEioWrite,   // on, substring
  kEioFsync,   // on, substring
  kFsyncDelay, // number = milliseconds
  kHeal,
};

struct ControlCommand {
  CommandKind kind = CommandKind::kStatus;
  int64_t number = 0;
  bool on = false;
  std::string substring;
};

// Parses one command line (without the newline). Returns "" and fills *out, or an error reason.
std::string parse_control_command(std::string_view line, ControlCommand* out);

}  // namespace holdfast::faultfs
