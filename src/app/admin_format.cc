// Rendering of admin results as aligned text.
#include "app/admin_format.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace holdfast::admin {

std::string format_timestamp_ms(int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d,%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

namespace {

std::string runtime_value(const BrokerStatus& b, const char* key) {
  auto it = b.runtime.find(key);
  return it == b.runtime.end() ? "-" : it->second;
}

// "0.7320766" -> "73.2%".
std::string ratio_percent(const std::string& text) {
  char* end = nullptr;
  const double ratio = std::strtod(text.c_str(), &end);
  if (text.empty() || end == text.c_str()) return text;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", ratio * 100.0);
  return buf;
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

// Text bodies print as they are; anything else as a size and a hex prefix.
std::string printable_body(const std::string& body) {
  bool text = true;
  for (unsigned char c : body) {
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
      text = false;
      break;
    }
  }
  if (text) return body;
  std::string hex;
  static const char* kDigits = "0123456789ABCDEF";
  for (size_t i = 0; i < body.size() && i < 32; ++i) {
    hex += kDigits[static_cast<unsigned char>(body[i]) >> 4];
    hex += kDigits[static_cast<unsigned char>(body[i]) & 0xF];
  }
  return "<" + std::to_string(body.size()) + " bytes, binary: " + hex + (body.size() > 32 ? "...>" : ">");
}

}  // namespace

namespace {

// The 10-second rate of a "<10 s> <60 s> <600 s>" runtime-info value, as "%.2f" ("-" if absent).
std::string ten_second_rate(const BrokerStatus& b, const char* key) {
  const std::string v = runtime_value(b, key);
  if (v == "-") return v;
  char out[32];
  std::snprintf(out, sizeof(out), "%.2f", std::strtod(v.c_str(), nullptr));  // "" (too early) → 0.00
  return out;
}

}  // namespace

std::string format_cluster_list(const std::vector<BrokerStatus>& rows) {
  std::vector<std::vector<std::string>> table = {{"#Cluster Name", "#Broker Name", "#BID", "#Addr", "#Version",
                                                  "#InTPS", "#OutTPS", "#CommitLog Max Offset", "#Disk Ratio",
                                                  "#Status"}};
  for (const BrokerStatus& b : rows) {
    table.push_back({b.cluster, b.broker_name, std::to_string(b.broker_id), b.addr, runtime_value(b, "brokerVersionDesc"),
                     ten_second_rate(b, "putTps"), ten_second_rate(b, "getTransferedTps"),
                     runtime_value(b, "commitLogMaxOffset"), ratio_percent(runtime_value(b, "commitLogDiskRatio")),
                     b.error.empty() ? "OK" : "DOWN: " + b.error});
  }
  return format_table(table);
}

std::string format_topic_stats(const std::vector<QueueStats>& queues) {
  std::vector<std::vector<std::string>> table = {{"#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"}};
  for (const QueueStats& q : queues) {
    table.push_back({q.broker_name, std::to_string(q.queue_id), std::to_string(q.min_offset),
                     std::to_string(q.max_offset), format_timestamp_ms(q.last_update_ms)});
  }
  return format_table(table);
}

std::string format_group_list(const std::vector<GroupInfo>& groups) {
  std::vector<std::vector<std::string>> table = {
      {"#Group", "#Broker Name", "#Consume Enable", "#Broadcast", "#Retry Max", "#Online Clients"}};
  for (const GroupInfo& g : groups) {
    table.push_back({g.group, g.broker_name, g.consume_enable ? "true" : "false",
                     g.consume_broadcast_enable ? "true" : "false", std::to_string(g.retry_max_times),
                     g.consumers.empty() ? "0" : std::to_string(g.consumers.size()) + " (" + join(g.consumers, ", ") + ")"});
  }
  return format_table(table);
}

std::string format_group_stats(const GroupStats& stats) {
  std::vector<std::vector<std::string>> table = {
      {"#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime"}};
  for (const QueueProgress& q : stats.queues) {
    table.push_back({q.topic, q.broker_name, std::to_string(q.queue_id), std::to_string(q.broker_offset),
                     std::to_string(q.consumer_offset), std::to_string(q.lag), format_timestamp_ms(q.last_timestamp_ms)});
  }
  std::string out = format_table(table);
  char tps[64];
  std::snprintf(tps, sizeof(tps), "%.2f", stats.consume_tps);
  out += "\nConsume TPS: " + std::string(tps) + "\n";
  out += "Diff Total: " + std::to_string(stats.total_lag) + "\n";
  out += "Online Consumers: " + (stats.consumers.empty() ? std::string("none") : join(stats.consumers, ", ")) + "\n";
  return out;
}

std::string format_message(const ReceivedMessage& m) {
  std::string props;
  for (const auto& [k, v] : m.properties) {
    if (!props.empty()) props += ", ";
    props += k + "=" + v;
  }
  std::vector<std::vector<std::string>> rows = {
      {"Message ID:", m.msg_id},
      {"OffsetID:", m.offset_msg_id},
      {"Topic:", m.topic},
      {"Tags:", "[" + m.tags + "]"},
      {"Keys:", "[" + join(m.keys, " ") + "]"},
      {"Broker Name:", m.broker_name.empty() ? "-" : m.broker_name},
      {"Queue ID:", std::to_string(m.queue_id)},
      {"Queue Offset:", std::to_string(m.queue_offset)},
      {"CommitLog Offset:", std::to_string(m.commit_log_offset)},
      {"Reconsume Times:", std::to_string(m.reconsume_times)},
      {"Born Timestamp:", format_timestamp_ms(m.born_timestamp_ms)},
      {"Store Timestamp:", format_timestamp_ms(m.store_timestamp_ms)},
      {"Born Host:", m.born_host},
      {"Store Host:", m.store_host},
      {"System Flag:", std::to_string(m.sys_flag)},
      {"Properties:", "{" + props + "}"},
      {"Message Body:", printable_body(m.body)},
  };
  return format_table(rows);
}

std::string format_message_list(const std::vector<ReceivedMessage>& messages) {
  std::vector<std::vector<std::string>> table = {
      {"#Message ID", "#Offset ID", "#Broker Name", "#QID", "#Offset", "#Store Time"}};
  for (const ReceivedMessage& m : messages) {
    table.push_back({m.msg_id, m.offset_msg_id, m.broker_name, std::to_string(m.queue_id),
                     std::to_string(m.queue_offset), format_timestamp_ms(m.store_timestamp_ms)});
  }
  return format_table(table);
}

}  // namespace holdfast::admin
