// `holdfast drill run`: one drill = start the cluster from command templates, run the workload,
// inject a scenario's faults on a schedule, heal, wait for quiescence, read back every queue, and
// check the history (src/drill). A completed run has written RUN_DIR/history.jsonl and the report
// files; its verdict's exit code is 0 when nothing acknowledged was lost, 1 when something was.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace holdfast::drill {

struct ScenarioInfo {
  std::string name;
  std::string proves;  // one sentence: what a pass shows
  bool needs_faultfs = false;
  bool needs_replicas = false;  // needs slaves: --topology failover or master-slave
  bool needs_etcd = false;      // needs the controller-mode group: --topology failover
  // Cuts or slows a broker's links: each broker listens on its own loopback address ({host})
  // and advertises another ({ip}) where the drill's proxies for its client and HA ports listen.
  bool needs_net = false;
};

// The scenarios `drill run` can execute here.
const std::vector<ScenarioInfo>& scenarios();

struct DrillOptions {
  std::string scenario;
  int runs = 1;
  uint64_t seed = 1;
  int64_t duration_ms = 8000;  // load time per run; the fault starts at 30% of it
  std::string report_dir;      // per run: REPORT/run-N/
  std::string holdfast_bin;    // {bin}
  std::string faultfs_bin;     // holdfast-faultfs
  std::string bind_library;    // libholdfast-drill-bind.so, for {bind_to_host}
  std::string flush = "SYNC_FLUSH";  // {flush} in the default broker template
  // "single": a name server and one broker. "master-slave": a name server, a master (--role)
  // and members - 1 slaves with fixed roles (RocketMQ 4's deployment). "failover": etcd, a name
  // server and `members` controller-mode brokers of one group, each reaching etcd through a proxy
  // the drill can cut.
  std::string topology = "single";
  int members = 3;
  std::string role = "SYNC_MASTER";  // {role}: what an elected member becomes (failover topology)
  // Command templates; placeholders: {bin} {ns_port} {port} {ha_port} {data} {flush} {run}
  // {host} (the address the broker listens on) {ip} (the address it advertises) {bind_to_host}
  // (an `env LD_PRELOAD=...` prefix that makes a broker without a bind-address setting listen on
  // {host} only), and with several members {member} (1..N) {role}, master-slave {broker_id}
  // {master_ha}, failover {etcd} {etcd_port} {etcd_peer_port}. A broker template without {ip} and
  // one of {host} or {bind_to_host} cannot run the network scenarios.
  std::string etcd_command;
  std::string namesrv_command;
  std::string broker_command;
  // Pid-file templates for start scripts that daemonize (empty: the command stays in the
  // foreground).
  std::string namesrv_pid_file;
  std::string broker_pid_file;
  int producers = 2;
  bool ordered = false;  // ordered producers and an orderly consumer group (the reorder check)
  bool transactional = false;  // transactional producers (half message, commit, check-back)
  bool keep_data = false;  // keep the store of passing runs too (a failing run's is always kept)
};

// Whether scenario `s` can run with these options: the topology it needs ("single",
// "master-slave", "failover"), and for a network scenario a broker template with {host} and {ip}.
// Empty when it can, else why not.
std::string cannot_run(const ScenarioInfo& s, const DrillOptions& opts);

// Runs opts.runs drills; prints one line per run and a total. Returns 0 when no run lost an
// acknowledged message, 1 when one did, 2 when a drill could not run (with the reason printed).
int run_drills(const DrillOptions& opts);

}  // namespace holdfast::drill
