// `holdfast admin ha status`: per broker group, the master and its slaves, each slave's
// acknowledged offset, lag in bytes and time, and whether it is in sync.
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/admin_client.h"
#include "app/admin_command.h"
#include "app/admin_format.h"
#include "remoting/request_code.h"

namespace holdfast::admin {

namespace req = remoting::request_code;
using remoting::RemotingCommand;

Result<std::vector<HaBrokerStatus>> AdminClient::ha_status() {
  std::vector<HaBrokerStatus> rows;
  HF_RETURN_IF_ERROR(ask_every_broker(
      req::kHoldfastHaStatus, "replication status",
      [&rows](const std::string& cluster, const std::string& name, int64_t id, const std::string& addr,
              const Result<RemotingCommand>& response) {
        HaBrokerStatus row;
        row.cluster = cluster;
        row.broker_name = name;
        row.broker_id = id;
        row.addr = addr;
        if (!response.is_ok()) {
          row.error = response.status().message();
        } else {
          row.json = response->body;
        }
        rows.push_back(std::move(row));
      }));
  return rows;
}

namespace {

using Options = std::shared_ptr<AdminCliOptions>;

std::string ago(int64_t now_ms, int64_t then_ms) {
  if (then_ms <= 0) return "never";
  const int64_t ms = std::max<int64_t>(0, now_ms - then_ms);
  if (ms < 10000) return std::to_string(ms) + " ms ago";
  return std::to_string(ms / 1000) + " s ago";
}

// Automatic failover: one line per broker with its member id, lease and the in-sync set etcd records.
std::vector<std::string> controller_row(const nlohmann::json& doc) {
  const nlohmann::json& c = doc["controller"];
  std::string in_sync = "?";
  int64_t set_epoch = 0;
  const nlohmann::json etcd = c.value("etcd", nlohmann::json::object());
  if (etcd.is_object() && etcd.contains("syncset") && etcd["syncset"].is_object()) {
    in_sync = etcd["syncset"].value("members", nlohmann::json::array()).dump();
    set_epoch = etcd["syncset"].value("epoch", int64_t{0});
  }
  std::string holder = "-";
  if (etcd.is_object() && etcd.contains("master") && etcd["master"].is_object()) {
    holder = "member " + std::to_string(etcd["master"].value("id", int64_t{0}));
  }
  return {"", "", "", "  failover", "member " + std::to_string(c.value("memberId", int64_t{0})) + " " +
                                        c.value("role", std::string("?")),
          "epoch " + std::to_string(c.value("epoch", int64_t{0})), "-", "-", "-",
          "lease " + std::to_string(c.value("leaseValidForMillis", int64_t{0})) + " ms",
          "master lease: " + holder + "; in-sync set " + in_sync + " (set epoch " + std::to_string(set_epoch) + ")" +
              (c.value("mayAcknowledge", false) ? "; acknowledging" : "")};
}

std::string format_ha(const std::vector<HaBrokerStatus>& rows) {
  std::vector<std::vector<std::string>> table = {{"#Cluster", "#Broker Name", "#BID", "#Addr", "#Role", "#Epoch",
                                                  "#Max Offset", "#Acked / Held", "#Lag Bytes", "#Last Ack",
                                                  "#In Sync"}};
  for (const HaBrokerStatus& r : rows) {
    std::vector<std::string> row = {r.cluster, r.broker_name, std::to_string(r.broker_id), r.addr};
    nlohmann::json doc = r.error.empty() ? nlohmann::json::parse(r.json, nullptr, false) : nlohmann::json();
    if (!r.error.empty() || !doc.is_object()) {
      row.insert(row.end(), {"?", "-", "-", "-", "-", "-", r.error.empty() ? "unreadable answer" : "DOWN: " + r.error});
      table.push_back(std::move(row));
      continue;
    }
    const int64_t now = doc.value("nowMillis", int64_t{0});
    const std::string role = doc.value("role", "?");
    const int64_t end = doc.value("confirmedOffset", int64_t{0});
    std::string epoch = "-";
    if (doc.contains("epochs") && doc["epochs"].is_array() && !doc["epochs"].empty()) {
      const auto& last = doc["epochs"].back();
      if (last.is_array() && last.size() == 2) epoch = last[0].dump() + " @" + last[1].dump();
    }
    const std::string diverged = doc.value("diverged", std::string());
    if (role == "SLAVE") {
      const bool up = doc.value("masterConnected", false);
      row.insert(row.end(), {role, epoch, std::to_string(end), std::to_string(doc.value("flushedOffset", int64_t{0})),
                             "-", "received " + ago(now, doc.value("lastReceiveMillis", int64_t{0})),
                             !diverged.empty() ? "DIVERGED: " + diverged
                             : up ? "master " + doc.value("masterHaAddress", std::string("?"))
                                  : "master unreachable (" + doc.value("masterHaAddress", std::string("unknown")) + ")"});
      table.push_back(std::move(row));
      if (doc.contains("controller") && doc["controller"].is_object()) table.push_back(controller_row(doc));
      continue;
    }
    const auto& slaves = doc.contains("slaves") && doc["slaves"].is_array() ? doc["slaves"] : nlohmann::json::array();
    row.insert(row.end(), {role, epoch, std::to_string(end), "-", "-", "-",
                           !diverged.empty() ? "DIVERGED: " + diverged
                                             : std::to_string(slaves.size()) + " slave(s) connected"});
    table.push_back(std::move(row));
    if (doc.contains("controller") && doc["controller"].is_object()) table.push_back(controller_row(doc));
    for (const auto& s : slaves) {
      table.push_back({"", "", "", "  slave " + s.value("peer", std::string("?")), "(connection)", "-", "-",
                       std::to_string(s.value("ackOffset", int64_t{0})),
                       std::to_string(s.value("lagBytes", int64_t{0})),
                       ago(now, s.value("lastAckMillis", int64_t{0})),
                       s.value("inSync", false) ? "yes (caught up " + ago(now, s.value("caughtUpMillis", int64_t{0})) + ")"
                                                : "no"});
    }
  }
  return format_table(table);
}

}  // namespace

void add_ha_commands(CLI::App* admin, const Options& options) {
  CLI::App* ha = admin->add_subcommand("ha", "Replication: masters, slaves, acknowledged offsets and lag");
  ha->require_subcommand(1);
  ha->fallthrough();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* status = ha->add_subcommand("status", "Every broker group: master and slaves, each slave's acknowledged "
                                                  "offset, lag in bytes and time, in sync or not");
  add_connection_options(status, options);
  status->add_flag("--json", *as_json, "Print each broker's answer as JSON lines");
  status->callback([options, as_json]() {
    AdminClient client = make_client(*options);
    auto rows = client.ha_status();
    if (!rows.is_ok()) {
      options->exit_code = report_error("ha status", rows.status().message());
      return;
    }
    if (*as_json) {
      for (const HaBrokerStatus& r : *rows) {
        nlohmann::json line = {{"cluster", r.cluster}, {"brokerName", r.broker_name}, {"brokerId", r.broker_id},
                               {"addr", r.addr}};
        if (!r.error.empty()) {
          line["error"] = r.error;
        } else {
          line["status"] = nlohmann::json::parse(r.json, nullptr, false);
        }
        std::fprintf(stdout, "%s\n", line.dump().c_str());
      }
    } else {
      std::fputs(format_ha(*rows).c_str(), stdout);
    }
    std::fflush(stdout);
    options->exit_code = 0;
  });
}

}  // namespace holdfast::admin
