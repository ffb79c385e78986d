// The timeline page: one inline SVG chart (rates per second, fault windows, recovery markers)
// and two small tables. Every piece of text from the history goes through html_escape.
#include "drill/timeline.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace holdfast::drill {
namespace {

// Chart geometry in SVG user units.
constexpr double kWidth = 1000, kHeight = 500;
constexpr double kLeft = 70, kRight = 30, kTop = 50, kBottom = 100;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr double kPlotHeight = kHeight - kTop - kBottom;
constexpr double kPlotBottom = kTop + kPlotHeight;

constexpr const char* kAckColor = "#1f5fbf";
constexpr const char* kDeliverColor = "#8fd18f";
constexpr const char* kFailColor = "#d62728";
constexpr const char* kSendColor = "#777777";
constexpr const char* kFaultColor = "#f2a0a0";
constexpr const char* kRecoveryColor = "#8b0000";

// The smallest 1, 2 or 5 times a power of ten that is >= x (x > 0).
int64_t nice_step(double x) {
  int64_t power = 1;
  while (true) {
    for (int64_t m : {1, 2, 5}) {
      if (static_cast<double>(m * power) >= x) return m * power;
    }
    power *= 10;
  }
}

struct Scale {
  double ms_per_plot;  // drill time across the plot
  int64_t y_max;       // messages/s at the top of the plot
  double x(double ms) const { return kLeft + std::clamp(ms / ms_per_plot, 0.0, 1.0) * kPlotWidth; }
  double y(double rate) const { return kPlotBottom - rate / static_cast<double>(y_max) * kPlotHeight; }
};

// `style` holds the stroke width and any dash pattern.
std::string polyline(const std::vector<int64_t>& rates, const Scale& s, const char* color, const char* style) {
  std::string points;
  for (size_t i = 0; i < rates.size(); ++i) {
    points += fmt::format("{:.1f},{:.1f} ", s.x((static_cast<double>(i) + 0.5) * 1000.0),
                          s.y(static_cast<double>(rates[i])));
  }
  return fmt::format("<polyline fill=\"none\" stroke=\"{}\" {} points=\"{}\"/>\n", color, style, points);
}

std::string axes(const RateSeries& rates, const Scale& s) {
  std::string svg;
  const int64_t y_step = s.y_max / 5;
  for (int64_t v = 0; v <= s.y_max; v += y_step) {
    const double y = s.y(static_cast<double>(v));
    svg += fmt::format(
        "<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#e4e4e4\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        kLeft, y, kLeft + kPlotWidth, y, kLeft - 6, y + 4, v);
  }
  const int64_t seconds = static_cast<int64_t>(rates.seconds());
  int64_t x_step = 1;
  for (int64_t step : {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600}) {
    x_step = step;
    if (seconds / step <= 12) break;
  }
  for (int64_t sec = 0; sec <= seconds; sec += x_step) {
    const double x = s.x(static_cast<double>(sec) * 1000.0);
    svg += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"black\"/>"
        "<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
        x, kPlotBottom, x, kPlotBottom + 5, x, kPlotBottom + 18, sec);
  }
  svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", kLeft, kPlotBottom,
                     kLeft + kPlotWidth, kPlotBottom);
  svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", kLeft, kTop, kLeft,
                     kPlotBottom);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds since the drill began</text>\n",
                     kLeft + kPlotWidth / 2, kPlotBottom + 36);
  svg += fmt::format(
      "<text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">messages per second</text>\n",
      kTop + kPlotHeight / 2, kTop + kPlotHeight / 2);
  return svg;
}

// The shaded fault windows, drawn under the rate lines.
std::string fault_shading(const Verdict& v, const Scale& s) {
  std::string svg;
  for (const FaultWindow& w : v.faults) {
    const double x1 = s.x(static_cast<double>(w.start_ms));
    const double x2 = w.end_ms ? s.x(static_cast<double>(*w.end_ms)) : kLeft + kPlotWidth;
    const std::string tip = html_escape(fmt::format("{} on {} ({}), {} ms to {}", w.fault, w.target, w.detail,
                                                    w.start_ms, w.end_ms ? fmt::format("{} ms", *w.end_ms)
                                                                         : std::string("the end, not healed")));
    svg += fmt::format(
        "<rect class=\"fault\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\" "
        "fill-opacity=\"0.45\"><title>{}</title></rect>\n",
        x1, kTop, std::max(2.0, x2 - x1), kPlotHeight, kFaultColor, tip);
  }
  return svg;
}

// Over everything: each window's name, a dashed line at the first ack after its start and a
// triangle at the first ack after its end, each with its time. A window's three labels stack
// from its top edge; neighbouring windows alternate between two heights so labels rarely collide.
std::string fault_marks(const Verdict& v, const Scale& s) {
  // A white halo keeps labels readable over bars and lines.
  constexpr const char* kLabel =
      "<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#8b0000\" stroke=\"white\" stroke-width=\"3\" "
      "paint-order=\"stroke\">{}</text>\n";
  std::string svg;
  for (size_t i = 0; i < v.faults.size(); ++i) {
    const FaultWindow& w = v.faults[i];
    const double x1 = s.x(static_cast<double>(w.start_ms));
    const double top = kTop + 14 + 44 * static_cast<double>(i % 2);
    svg += fmt::format(fmt::runtime(kLabel), x1 + 3, top,
                       html_escape(w.end_ms ? w.fault : w.fault + " (not healed)"));
    if (w.recovery_ms) {
      const double xr = s.x(static_cast<double>(w.start_ms + *w.recovery_ms));
      svg += fmt::format(
          "<line class=\"recovery\" x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"{}\" "
          "stroke-dasharray=\"5 3\"><title>first ack {} ms after the fault began</title></line>\n",
          xr, kTop, xr, kPlotBottom, kRecoveryColor, *w.recovery_ms);
      svg += fmt::format(fmt::runtime(kLabel), xr + 3, top + 13, fmt::format("first ack +{} ms", *w.recovery_ms));
    } else {
      svg += fmt::format(fmt::runtime(kLabel), x1 + 3, top + 13, "no ack after this fault");
    }
    if (w.end_ms && w.first_ack_after_end_ms) {
      const double xe = s.x(static_cast<double>(*w.end_ms + *w.first_ack_after_end_ms));
      svg += fmt::format(
          "<path d=\"M{:.1f},{:.1f} l-5,-8 h10 z\" fill=\"{}\"><title>first ack {} ms after the fault ended"
          "</title></path>\n",
          xe, top + 26, kRecoveryColor, *w.first_ack_after_end_ms);
      svg += fmt::format(fmt::runtime(kLabel), xe + 7, top + 26,
                         fmt::format("+{} ms after heal", *w.first_ack_after_end_ms));
    }
  }
  return svg;
}

std::string legend(bool with_sends) {
  struct Item {
    const char* name;
    std::string swatch;
  };
  std::vector<Item> items{
      {"acks/s",
       fmt::format("<line x1=\"0\" y1=\"0\" x2=\"18\" y2=\"0\" stroke=\"{}\" stroke-width=\"2\"/>", kAckColor)},
      {"deliveries/s", fmt::format("<rect x=\"0\" y=\"-6\" width=\"18\" height=\"10\" fill=\"{}\"/>", kDeliverColor)},
      {"failed sends/s",
       fmt::format("<line x1=\"0\" y1=\"0\" x2=\"18\" y2=\"0\" stroke=\"{}\" stroke-width=\"2\"/>", kFailColor)}};
  if (with_sends) {
    items.push_back({"sends begun/s", fmt::format("<line x1=\"0\" y1=\"0\" x2=\"18\" y2=\"0\" stroke=\"{}\" "
                                                  "stroke-dasharray=\"4 3\"/>",
                                                  kSendColor)});
  }
  items.push_back({"fault window", fmt::format("<rect x=\"0\" y=\"-6\" width=\"18\" height=\"10\" fill=\"{}\" "
                                               "fill-opacity=\"0.4\"/>",
                                               kFaultColor)});
  items.push_back({"first ack after a fault", fmt::format("<line x1=\"9\" y1=\"-8\" x2=\"9\" y2=\"6\" stroke=\"{}\" "
                                                          "stroke-dasharray=\"5 3\"/>",
                                                          kRecoveryColor)});
  std::string svg = fmt::format("<g class=\"legend\" transform=\"translate({},{})\">\n", kLeft, kHeight - 30);
  double x = 0;
  for (const auto& item : items) {
    svg += fmt::format("<g transform=\"translate({:.0f},0)\">{}<text x=\"24\" y=\"4\">{}</text></g>\n", x,
                       item.swatch, item.name);
    x += 40 + 7.0 * static_cast<double>(std::string_view(item.name).size());
  }
  return svg + "</g>\n";
}

std::string chart(const std::string& heading, const Verdict& v, const RateSeries& rates) {
  int64_t peak = 1;
  for (const auto* series : {&rates.acks, &rates.fails, &rates.deliveries, &rates.sends}) {
    for (int64_t n : *series) peak = std::max(peak, n);
  }
  const int64_t y_step = nice_step(static_cast<double>(peak) / 5.0);
  const Scale s{static_cast<double>(rates.seconds()) * 1000.0, y_step * 5 * ((peak + y_step * 5 - 1) / (y_step * 5))};
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n<title>{}</title>\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"24\" font-size=\"16\" font-weight=\"bold\" fill=\"{}\">{}</text>\n",
      kWidth, kHeight, kWidth, kHeight, html_escape(heading), kLeft, v.passed() ? "#1a7f37" : "#b00020",
      html_escape(heading));
  svg += axes(rates, s);
  const double bar = std::max(1.0, 0.8 * kPlotWidth / static_cast<double>(rates.seconds()));
  for (size_t i = 0; i < rates.deliveries.size(); ++i) {
    if (rates.deliveries[i] == 0) continue;
    const double y = s.y(static_cast<double>(rates.deliveries[i]));
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n",
                       s.x((static_cast<double>(i) + 0.5) * 1000.0) - bar / 2, y, bar, kPlotBottom - y, kDeliverColor);
  }
  svg += fault_shading(v, s);
  const bool with_sends = std::any_of(rates.sends.begin(), rates.sends.end(), [](int64_t n) { return n > 0; });
  if (with_sends) svg += polyline(rates.sends, s, kSendColor, "stroke-dasharray=\"4 3\" stroke-width=\"1\"");
  svg += polyline(rates.acks, s, kAckColor, "stroke-width=\"2\"");
  svg += polyline(rates.fails, s, kFailColor, "stroke-width=\"2\"");
  svg += fault_marks(v, s);
  svg += legend(with_sends);
  return svg + "</svg>\n";
}

std::string fault_table(const Verdict& v) {
  if (v.faults.empty()) return "<p>No faults were injected.</p>\n";
  std::string html =
      "<table><tr><th>fault</th><th>target</th><th>detail</th><th>start</th><th>end</th>"
      "<th>first ack after start</th><th>first ack after end</th></tr>\n";
  auto ms = [](const std::optional<int64_t>& t) { return t ? fmt::format("{} ms", *t) : std::string("none"); };
  for (const auto& w : v.faults) {
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        html_escape(w.fault), html_escape(w.target), html_escape(w.detail), w.start_ms,
                        w.end_ms ? ms(w.end_ms) : std::string("not healed"), ms(w.recovery_ms),
                        ms(w.first_ack_after_end_ms));
  }
  return html + "</table>\n";
}

std::string count_table(const Verdict& v) {
  const std::pair<const char*, int64_t> rows[] = {
      {"acknowledged", v.acknowledged},  {"lost", v.lost},
      {"unseen", v.unseen},              {"failed sends", v.fails},
      {"delivered", v.delivered},        {"duplicate deliveries", v.duplicate_deliveries},
      {"duplicate acks", v.duplicate_acks}, {"reordered pairs", v.reordered},
      {"stored but unacknowledged", v.stored_unacknowledged}, {"epoch anomalies", v.epoch_anomalies}};
  std::string html = "<table>\n";
  for (const auto& [name, n] : rows) html += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td></tr>\n", name, n);
  return html + "</table>\n";
}

}  // namespace

RateSeries rate_series(const std::vector<Event>& history) {
  int64_t end_ms = 0;
  for (const Event& e : history) end_ms = std::max(end_ms, e.t);
  const size_t seconds = static_cast<size_t>(end_ms / 1000 + 1);
  RateSeries r{std::vector<int64_t>(seconds), std::vector<int64_t>(seconds), std::vector<int64_t>(seconds),
               std::vector<int64_t>(seconds)};
  for (const Event& e : history) {
    const size_t i = static_cast<size_t>(std::max<int64_t>(0, e.t) / 1000);
    switch (e.type) {
      case EventType::kSend: ++r.sends[i]; break;
      case EventType::kAck: ++r.acks[i]; break;
      case EventType::kFail: ++r.fails[i]; break;
      case EventType::kDeliver: ++r.deliveries[i]; break;
      default: break;
    }
  }
  return r;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML text; a space keeps the layout.
        out += (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') ? ' ' : c;
    }
  }
  return out;
}

std::string timeline_html(const std::string& heading, const std::string& subtitle, const Verdict& v,
                          const RateSeries& rates) {
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{0}</title>\n<style>\n"
      "body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}\n"
      "h1.pass {{ color: #1a7f37; }} h1.fail {{ color: #b00020; }}\n"
      "svg {{ max-width: 100%; height: auto; border: 1px solid #ddd; }}\n"
      "table {{ border-collapse: collapse; margin: 1em 0; }}\n"
      "td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }} td.n {{ text-align: right; }}\n"
      "</style>\n</head>\n<body>\n<h1 class=\"{1}\">{0}</h1>\n<p>{2}</p>\n",
      html_escape(heading), v.passed() ? "pass" : "fail", html_escape(subtitle));
  html += chart(heading, v, rates);
  html += "<h2>Faults</h2>\n" + fault_table(v) + "<h2>Counts</h2>\n" + count_table(v);
  return html + "</body>\n</html>\n";
}

}  // namespace holdfast::drill
