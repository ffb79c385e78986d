#include "app/drill_command.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/drill_runner.h"
#include "drill/check_command.h"

namespace holdfast::drill {
namespace {

// The directory of the running binary, where holdfast-faultfs is built and installed beside it.
std::string self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

}  // namespace

CLI::App* add_drill_command(CLI::App& app, std::shared_ptr<int> exit_code) {
  CLI::App* drill = app.add_subcommand("drill", "Fault drills with a loss checker (docs/drills.md)");
  drill->require_subcommand(1);

  auto opts = std::make_shared<DrillOptions>();
  CLI::App* run = drill->add_subcommand("run", "Start a cluster, load it, inject a scenario's faults, heal, check");
  run->add_option("--scenario", opts->scenario, "Scenario (holdfast drill list)")->required();
  run->add_option("--runs", opts->runs, "Drills to run, seeds S, S+1, ...")->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  run->add_option("--seed", opts->seed, "First seed")->capture_default_str();
  auto duration = std::make_shared<double>(8);
  run->add_option("--duration", *duration, "Seconds of load per run (the fault starts at 30%)")
      ->check(CLI::Range(2.0, 3600.0))
      ->capture_default_str();
  run->add_option("--report", opts->report_dir, "Report directory (one run-N/ folder per run)")->required();
  run->add_option("--flush", opts->flush, "flushDiskType for the default broker template")
      ->check(CLI::IsMember({"SYNC_FLUSH", "ASYNC_FLUSH"}))
      ->capture_default_str();
  run->add_option("--topology", opts->topology,
                  "single: a name server and one broker; master-slave: a master and --members - 1 slaves; "
                  "failover: etcd, a name server and --members controller-mode brokers of one group")
      ->check(CLI::IsMember({"single", "master-slave", "failover"}))
      ->capture_default_str();
  run->add_option("--members", opts->members, "Brokers in the master-slave and failover topologies")->check(CLI::Range(2, 5))
      ->capture_default_str();
  run->add_option("--role", opts->role, "{role}: the master's brokerRole (an elected member's, in failover)")
      ->check(CLI::IsMember({"SYNC_MASTER", "ASYNC_MASTER"}))
      ->capture_default_str();
  run->add_option("--etcd-cmd", opts->etcd_command,
                  "etcd command template ({etcd_port} {etcd_peer_port} {run}); default: /usr/bin/etcd, one member");
  run->add_option("--producers", opts->producers, "Producer threads")->check(CLI::Range(1, 64))->capture_default_str();
  run->add_option("--namesrv-cmd", opts->namesrv_command,
                  "Name server command template ({bin} {ns_port} {run}); default: holdfast namesrv");
  run->add_option("--broker-cmd", opts->broker_command,
                  "Broker command template ({bin} {ns_port} {port} {ha_port} {data} {flush} {run} {host} {ip} {bind_to_host}; with members: "
                  "{member} {role}; master-slave: {broker_id} {master_ha}; failover: {etcd}); default: holdfast broker");
  CLI::Option* ordered = run->add_flag("--ordered", opts->ordered,
                "Ordered messages: each producer sends to one queue by key, the group consumes orderly, and the "
                "checker counts reorderings");
  run->add_flag("--transactional", opts->transactional,
                "Transactional producers: half messages whose local transaction commits, check-backs answered "
                "from the drill's record")
      ->excludes(ordered);
  run->add_flag("--keep-data", opts->keep_data, "Keep the store of passing runs too (a failing run's is kept)");
  run->add_option("--namesrv-pidfile", opts->namesrv_pid_file,
                  "For a name server start script that daemonizes: where it writes the pid (template)");
  run->add_option("--broker-pidfile", opts->broker_pid_file,
                  "For a broker start script that daemonizes (e.g. Apache RocketMQ's): where it writes the pid (template)");
  run->add_option("--bin", opts->holdfast_bin, "The holdfast binary for {bin} (default: this one)");
  run->add_option("--faultfs", opts->faultfs_bin, "holdfast-faultfs binary (default: beside this one)");
  run->callback([opts, duration, exit_code]() {
    opts->duration_ms = static_cast<int64_t>(*duration * 1000);
    // Client warnings during faults are expected and would bury the verdict lines; the nodes keep
    // the level the operator set (info by default) in their logs.
    const char* level = std::getenv("HOLDFAST_LOG_LEVEL");
    ::setenv("HOLDFAST_DRILL_NODE_LOG_LEVEL", level ? level : "info", 1);
    if (!level) ::setenv("HOLDFAST_LOG_LEVEL", "error", 1);
    if (opts->holdfast_bin.empty()) opts->holdfast_bin = self_dir() + "/holdfast";
    if (opts->faultfs_bin.empty()) opts->faultfs_bin = self_dir() + "/holdfast-faultfs";
    opts->bind_library = self_dir() + "/libholdfast-drill-bind.so";
    *exit_code = run_drills(*opts);
  });

  CLI::App* list = drill->add_subcommand("list", "The scenarios and what each proves");
  list->callback([exit_code]() {
    for (const auto& s : scenarios()) {
      std::printf("%-22s %s%s%s%s\n", s.name.c_str(), s.proves.c_str(), s.needs_faultfs ? " [faultfs]" : "",
                  s.needs_etcd ? " [--topology failover]"
                                 : (s.needs_replicas ? " [--topology failover|master-slave]" : ""),
                  s.needs_net ? " [broker on {host}, advertising {ip}]" : "");
    }
    *exit_code = 0;
  });

  add_drill_check_command(*drill, exit_code);
  return drill;
}

}  // namespace holdfast::drill
