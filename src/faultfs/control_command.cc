// Parsing of control command lines.
#include "faultfs/control_command.h"

#include <charconv>
#include <cstdint>
#include <sstream>

namespace holdfast::faultfs {
namespace {

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::istringstream in{std::string(line)};
  std::string word;
  while (in >> word) words.push_back(word);
  return words;
}

// A non-negative integer with an optional K/M/G (binary) suffix.
bool parse_amount(const std::string& text, int64_t* out) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < 0) return false;
  std::string_view suffix(end, text.data() + text.size() - end);
  int shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (!suffix.empty()) return false;
  if (shift > 0 && value > (INT64_MAX >> shift)) return false;
  *out = value << shift;
  return true;
}

std::string parse_eio(const std::vector<std::string>& words, CommandKind kind, ControlCommand* out) {
  if (words.size() < 3 || words.size() > 4 || (words[2] != "on" && words[2] != "off")) {
    return "usage: eio write|fsync on|off [SUBSTRING]";
  }
  out->kind = kind;
  out->on = words[2] == "on";
  if (words.size() == 4) {
    if (!out->on) return "eio ... off takes no substring";
    out->substring = words[3];
  }
  return "";
}

}  // namespace

std::vector<std::string> FaultSettings::active() const {
  std::vector<std::string> names;
  if (quota_bytes) names.push_back("quota");
  if (eio_write) names.push_back("eio_write");
  if (eio_fsync) names.push_back("eio_fsync");
  if (fsync_delay_ms > 0) names.push_back("fsync_delay");
  return names;
}

std::string parse_control_command(std::string_view line, ControlCommand* out) {
  std::vector<std::string> words = split_words(line);
  if (words.empty()) return "empty command";
  const std::string& verb = words[0];
  *out = ControlCommand{};
  if (verb == "status" && words.size() == 1) {
    out->kind = CommandKind::kStatus;
  } else if (verb == "heal" && words.size() == 1) {
    out->kind = CommandKind::kHeal;
  } else if (verb == "power-loss" && words.size() == 1) {
    out->kind = CommandKind::kPowerLoss;
  } else if (verb == "power-loss" && words.size() == 2 && words[1] == "torn") {
    out->kind = CommandKind::kPowerLossTorn;
  } else if (verb == "quota" && words.size() == 2) {
    if (words[1] == "off") {
      out->kind = CommandKind::kQuotaOff;
    } else if (parse_amount(words[1], &out->number)) {
      out->kind = CommandKind::kQuota;
    } else {
      return "usage: quota BYTES|off";
    }
  } else if (verb == "eio" && words.size() >= 2 && words[1] == "write") {
    return parse_eio(words, CommandKind::kEioWrite, out);
  } else if (verb == "eio" && words.size() >= 2 && words[1] == "fsync") {
    return parse_eio(words, CommandKind::kEioFsync, out);
  } else if (verb == "fsync-delay" && words.size() == 2) {
    if (!parse_amount(words[1], &out->number) || out->number > 3600 * 1000) return "usage: fsync-delay MS";
    out->kind = CommandKind::kFsyncDelay;
  } else {
    return "unknown command '" + std::string(line.substr(0, 80)) + "'";
  }
  return "";
}

}  // namespace holdfast::faultfs
