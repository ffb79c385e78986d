// The timeline page of a drill report: per-second rates drawn as an inline SVG, fault windows
// shaded, recovery marked. Self-contained: no scripts, style sheets or fonts from elsewhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drill/checker.h"
#include "drill/history.h"

namespace holdfast::drill {

// Events per whole second of drill time: index i counts events with i*1000 <= t < (i+1)*1000
// (negative times count in second 0). Every series has the same length, at least 1.
struct RateSeries {
  std::vector<int64_t> sends, acks, fails, deliveries;
  size_t seconds() const { return acks.size(); }
};
RateSeries rate_series(const std::vector<Event>& history);

// Text made safe inside HTML and SVG elements and attribute values.
std::string html_escape(std::string_view text);

// The whole page. `heading` is the verdict (page title and first heading); `subtitle` describes
// the run. Both are escaped here.
std::string timeline_html(const std::string& heading, const std::string& subtitle, const Verdict& v,
                          const RateSeries& rates);

}  // namespace holdfast::drill
