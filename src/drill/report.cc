// The text parts of a drill report (report.json, summary.md, the CLI line); timeline.cc draws
// the page.
#include "drill/report.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "drill/timeline.h"

namespace holdfast::drill {
namespace {

std::string ms_or_none(const std::optional<int64_t>& ms) { return ms ? fmt::format("{} ms", *ms) : "none"; }

// Text for a Markdown table cell or list item: one line, no column breaks, no stray code spans.
std::string md_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      out += ' ';
    } else if (c == '|' || c == '`' || c == '*' || c == '<' || c == '>' || c == '[' || c == ']') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string run_description(const RunInfo& info, const Verdict& v) {
  std::string text = info.scenario.empty() ? "drill" : info.scenario;
  if (info.runs > 1) text += fmt::format(", run {} of {}", info.run + 1, info.runs);
  if (info.seed) text += fmt::format(", seed {}", *info.seed);
  text += fmt::format(", {:.1f} s", static_cast<double>(info.duration_ms.value_or(v.end_ms)) / 1000.0);
  if (!info.target.empty()) text += ", " + info.target;
  return text;
}

Status write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::io_error("cannot write " + path);
  return Status::ok();
}

}  // namespace

std::string verdict_headline(const Verdict& v) {
  return fmt::format("{}: {} acknowledged message{} lost", v.passed() ? "PASS" : "FAIL", v.lost,
                     v.lost == 1 ? "" : "s");
}

std::string summary_line(const Verdict& v) {
  std::string line = fmt::format(
      "{} (of {}{}); {} unseen, {} duplicate deliveries, {} duplicate acks, {} reordered, {} stored but "
      "unacknowledged, {} epoch anomalies, {} failed sends",
      verdict_headline(v), v.acknowledged, v.has_final_read ? "" : ", no final read", v.unseen,
      v.duplicate_deliveries, v.duplicate_acks, v.reordered, v.stored_unacknowledged, v.epoch_anomalies, v.fails);
  for (size_t i = 0; i < v.faults.size(); ++i) {
    line += fmt::format("{}{} {}", i == 0 ? "; recovery: " : ", ", v.faults[i].fault,
                        ms_or_none(v.faults[i].recovery_ms));
  }
  return line;
}

std::string summary_markdown(const RunInfo& info, const Verdict& v) {
  std::string md = "# " + verdict_headline(v) + "\n\n";
  md += md_text(run_description(info, v)) + "\n\n" + md_text(summary_line(v)) + "\n";
  if (!info.settings.empty()) {
    md += "\n## Settings\n\n";
    for (const auto& [name, value] : info.settings) md += "- " + md_text(name) + ": " + md_text(value) + "\n";
  }
  md += "\n## Counts\n\n| what | count |\n|---|---:|\n";
  const std::pair<const char*, int64_t> rows[] = {
      {"sends begun", v.sends},
      {"acks", v.acks},
      {"acknowledged messages", v.acknowledged},
      {"failed sends", v.fails},
      {"deliveries", v.deliveries},
      {"delivered messages", v.delivered},
      {"stored messages (final read)", v.stored},
      {"**lost**", v.lost},
      {"lost after delivery (part of lost)", v.lost_after_delivery},
      {"unseen", v.unseen},
      {"duplicate deliveries", v.duplicate_deliveries},
      {"messages delivered more than once", v.duplicated_ids},
      {"duplicate acks", v.duplicate_acks},
      {"reordered pairs", v.reordered},
      {"stored but unacknowledged", v.stored_unacknowledged},
      {"epoch anomalies", v.epoch_anomalies}};
  for (const auto& [name, count] : rows) md += fmt::format("| {} | {} |\n", name, count);
  if (!v.has_final_read) md += "\nThe history has no final read: lost means never delivered.\n";

  if (!v.faults.empty()) {
    md += "\n## Faults\n\n| fault | target | start | end | first ack after start | first ack after end |\n"
          "|---|---|---:|---:|---:|---:|\n";
    for (const auto& w : v.faults) {
      md += fmt::format("| {} | {} | {} ms | {} | {} | {} |\n", md_text(w.fault), md_text(w.target), w.start_ms,
                        w.end_ms ? fmt::format("{} ms", *w.end_ms) : "not healed", ms_or_none(w.recovery_ms),
                        ms_or_none(w.first_ack_after_end_ms));
    }
  }
  const std::pair<const char*, const std::vector<std::string>*> examples[] = {
      {"lost", &v.examples.lost},
      {"unseen", &v.examples.unseen},
      {"duplicated deliveries", &v.examples.duplicated},
      {"duplicate acks", &v.examples.duplicate_acks},
      {"reordered", &v.examples.reordered},
      {"stored but unacknowledged", &v.examples.stored_unacknowledged},
      {"epoch anomalies", &v.examples.epoch}};
  for (const auto& [name, list] : examples) {
    if (list->empty()) continue;
    md += fmt::format("\n## Examples: {} (first {})\n\n", name, list->size());
    for (const auto& text : *list) md += "- " + md_text(text) + "\n";
  }
  return md;
}

nlohmann::json report_json(const RunInfo& info, const std::vector<Event>& history, const Verdict& v) {
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [name, value] : info.settings) settings[name] = value;
  nlohmann::json run{{"scenario", info.scenario},
                     {"seed", info.seed ? nlohmann::json(*info.seed) : nlohmann::json()},
                     {"run", info.run},
                     {"runs", info.runs},
                     {"duration_ms", info.duration_ms.value_or(v.end_ms)},
                     {"target", info.target},
                     {"settings", settings}};
  const RateSeries rates = rate_series(history);
  nlohmann::json verdict = verdict_to_json(v);
  nlohmann::json recovery = nlohmann::json::array();
  for (const auto& w : verdict["faults"]) {
    recovery.push_back({{"fault", w["fault"]},
                        {"target", w["target"]},
                        {"recovery_ms", w["recovery_ms"]},
                        {"first_ack_after_end_ms", w["first_ack_after_end_ms"]}});
  }
  nlohmann::json faults = verdict["faults"];
  return {{"run", run},
          {"summary", summary_line(v)},
          {"verdict", std::move(verdict)},
          {"per_second",
           {{"seconds", rates.seconds()},
            {"sends", rates.sends},
            {"acks", rates.acks},
            {"fails", rates.fails},
            {"deliveries", rates.deliveries}}},
          {"faults", std::move(faults)},
          {"recovery", std::move(recovery)}};
}

Status write_report(const std::string& dir, const RunInfo& info, const std::vector<Event>& history,
                    const Verdict& v) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io_error("cannot create report directory " + dir + ": " + ec.message());
  const std::string json = report_json(info, history, v).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  HF_RETURN_IF_ERROR(write_file(dir + "/report.json", json + "\n"));
  HF_RETURN_IF_ERROR(write_file(dir + "/summary.md", summary_markdown(info, v)));
  return write_file(dir + "/timeline.html",
                    timeline_html(verdict_headline(v), run_description(info, v), v, rate_series(history)));
}

}  // namespace holdfast::drill
