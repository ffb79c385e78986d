// The `holdfast` binary: one executable whose subcommands are the product's processes:
// `namesrv`, `broker -c broker.conf`, and `standalone` (both in one process, for trying it out),
// plus the operator tools: `admin` (admin_command.h), `bench` (bench_command.h) and `drill`
// (drill_command.h).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>

#include "app/admin_command.h"
#include "app/bench_command.h"
#include "app/drill_command.h"
#include "app/broker_config.h"
#include "app/broker_controller.h"
#include "app/config_registry.h"
#include "app/failover_agent.h"
#include "broker/epoch_file.h"
#include "base/logging.h"
#include "env/env.h"
#include "namesrv/name_server.h"

namespace {

using holdfast::Status;

// Set from the signal handler: a lock-free atomic store is async-signal-safe.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void on_signal(int) { g_stop.store(true); }

// Installed first thing in main(), so a SIGTERM/SIGINT that arrives while a server is still
// starting (or right after it printed its address) still means "stop cleanly".
void install_signal_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

void wait_for_signal() {
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

int fail(const char* what, const Status& st) {
  std::fprintf(stderr, "holdfast %s: %s\n", what, st.to_string().c_str());
  return 1;
}

int run_namesrv(const std::string& host, int port) {
  holdfast::namesrv::NameServerOptions options;
  options.server.host = host;
  options.server.port = static_cast<uint16_t>(port);
  holdfast::namesrv::NameServer ns(options);
  Status st = ns.start();
  if (!st.is_ok()) return fail("namesrv", st);
  std::printf("Holdfast name server on %s:%u (Ctrl-C stops it)\n", host.c_str(), ns.port());
  std::fflush(stdout);
  wait_for_signal();
  ns.stop();
  return 0;
}

// Loads broker.conf (if any) and then the key=value overrides into `config` through the registry.
Status load_broker_config(holdfast::ConfigRegistry& registry, const std::string& path,
                          const std::vector<std::string>& overrides) {
  if (!path.empty()) HF_RETURN_IF_ERROR(registry.load_file(holdfast::Env::posix(), path));
  HF_RETURN_IF_ERROR(registry.parse_overrides(overrides));
  auto log = holdfast::logger("config");
  for (const auto& w : registry.warnings()) log->warn("{}", w);
  for (const auto& line : registry.effective_lines()) log->info("{}", line);
  return Status::ok();
}

int run_controller_mode_broker(holdfast::BrokerConfig config, const std::string& host);

int run_broker(holdfast::BrokerConfig config, const std::string& host) {
  if (config.enable_controller_mode) return run_controller_mode_broker(std::move(config), host);
  holdfast::BrokerRuntimeOptions runtime;
  runtime.listen_host = host;
  holdfast::BrokerController broker(holdfast::Env::posix(), std::move(config), runtime);
  Status st = broker.start();
  if (!st.is_ok()) return fail("broker", st);
  std::printf("Holdfast broker on %s (Ctrl-C stops it)\n", broker.address().c_str());
  std::fflush(stdout);
  wait_for_signal();
  broker.stop();
  return 0;
}

// enableControllerMode: the broker core runs the role the failover agent decides, and restarts in
// place at every role change (docs/replication.md, "Automatic failover").
int run_controller_mode_broker(holdfast::BrokerConfig config, const std::string& host) {
  using holdfast::FailoverRole;
  if (Status st = holdfast::validate_broker_config(config); !st.is_ok()) return fail("broker", st);
  auto log = holdfast::logger("failover");
  holdfast::Env* env = holdfast::Env::posix();
  const std::string ip = holdfast::BrokerController::advertised_ip(config, host);
  holdfast::FailoverOptions fo;
  fo.etcd_endpoints = holdfast::etcd_endpoints(config);
  fo.cluster_name = config.broker_cluster_name;
  fo.broker_name = config.broker_name;
  fo.member_id = config.broker_id;
  fo.address = ip + ":" + std::to_string(config.listen_port);
  fo.ha_address = ip + ":" + std::to_string(holdfast::effective_ha_listen_port(config));
  fo.lease_ttl_ms = config.controller_heartbeat_timeout_ms;
  fo.keepalive_interval_ms = config.broker_heartbeat_interval_ms;
  fo.poll_interval_ms = config.sync_controller_metadata_period_ms;
  fo.max_time_slave_not_catchup_ms = config.ha_max_time_slave_not_catchup_ms;
  fo.min_in_sync_replicas = config.min_in_sync_replicas;
  fo.elect_unclean = config.enable_elect_unclean_master;
  const std::string epochs_path = config.store_path_root_dir + "/config/epochs.json";
  holdfast::FailoverAgent agent(fo, [env, epochs_path] {
    holdfast::broker::EpochFile file(env, epochs_path);
    return file.load().is_ok() ? file.entries() : std::vector<holdfast::broker::Epoch>{};
  });
  agent.start();
  FailoverRole role = agent.role();
  bool announced = false;
  constexpr int kMaxMasterStartFailures = 3;  // about 3 s of retries
  int master_start_failures = 0;
  while (!g_stop.load()) {
    holdfast::BrokerConfig core_config = config;
    core_config.enable_controller_mode = false;  // the core runs one fixed role
    if (role.kind == FailoverRole::Kind::kMaster) {
      core_config.broker_id = 0;
    } else {
      core_config.broker_role = holdfast::BrokerRole::kSlave;
      core_config.ha_master_address.clear();
    }
    holdfast::BrokerRuntimeOptions runtime;
    runtime.listen_host = host;
    runtime.failover = &agent;
    runtime.failover_role = role;
    runtime.member_id = config.broker_id;
    runtime.min_in_sync_replicas = config.min_in_sync_replicas;
    holdfast::BrokerController core(env, core_config, runtime);
    Status st = core.start();
    if (!st.is_ok()) {
      core.stop();
      master_start_failures = role.kind == FailoverRole::Kind::kMaster ? master_start_failures + 1 : 0;
      if (!announced || master_start_failures >= kMaxMasterStartFailures) {
        // An elected member that cannot serve (its HA port taken, its store unusable) must not
        // keep the master key: stopping the agent revokes its lease, so another member is elected
        // now instead of the group having no working master for as long as this process lives.
        if (announced) log->error("failover: elected master of epoch {} but cannot serve as master; giving up the "
                                  "lease so another member is elected", role.epoch);
        agent.stop();
        return fail("broker", st);
      }
      log->error("failover: starting as {} failed: {}; retrying", role.kind == FailoverRole::Kind::kMaster ? "master" : "slave",
                 st.to_string());
      role = agent.wait_role_change(role.generation, 1000);
      continue;
    }
    master_start_failures = 0;
    if (!announced) {
      std::printf("Holdfast broker on %s (Ctrl-C stops it)\n", core.address().c_str());
      std::fflush(stdout);
      announced = true;
    }
    while (!g_stop.load()) {
      FailoverRole next = agent.wait_role_change(role.generation, 100);
      if (next.generation != role.generation) {
        role = std::move(next);
        break;
      }
    }
    core.stop();
  }
  agent.stop();
  return 0;
}

int run_standalone(holdfast::BrokerConfig config, const std::string& host, int namesrv_port) {
  holdfast::namesrv::NameServerOptions ns_options;
  ns_options.server.host = host;
  ns_options.server.port = static_cast<uint16_t>(namesrv_port);
  holdfast::namesrv::NameServer ns(ns_options);
  Status st = ns.start();
  if (!st.is_ok()) return fail("standalone (name server)", st);
  const std::string ns_addr = host + ":" + std::to_string(ns.port());
  config.namesrv_addr = ns_addr;
  if (config.broker_ip1.empty()) config.broker_ip1 = host;
  const std::string data = config.store_path_root_dir;
  const bool sync = config.flush_disk_type == holdfast::FlushDiskType::kSyncFlush;
  holdfast::BrokerRuntimeOptions runtime;
  runtime.listen_host = host;
  holdfast::BrokerController broker(holdfast::Env::posix(), std::move(config), runtime);
  st = broker.start();
  if (!st.is_ok()) {
    ns.stop();
    return fail("standalone (broker)", st);
  }
  std::printf("Holdfast standalone: name server %s, broker %s, data in %s, %s\n", ns_addr.c_str(),
              broker.address().c_str(), data.c_str(), sync ? "SYNC_FLUSH" : "ASYNC_FLUSH");
  std::printf("Try it: holdfast admin send -n %s -t TryIt -p 'hello'\n", ns_addr.c_str());
  std::printf("        holdfast admin consume -n %s -t TryIt\n", ns_addr.c_str());
  std::printf("   or, with RocketMQ's tools: NAMESRV_ADDR=%s sh bin/tools.sh "
              "org.apache.rocketmq.example.quickstart.Producer\n", ns_addr.c_str());
  std::printf("Ctrl-C stops it.\n");
  std::fflush(stdout);
  wait_for_signal();
  broker.stop();
  ns.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  install_signal_handlers();
  CLI::App app{"Holdfast: a RocketMQ-compatible broker that never loses an acknowledged message"};
  app.require_subcommand(1);

  std::string ns_host = "127.0.0.1";
  int ns_port = 9876;
  auto* namesrv = app.add_subcommand("namesrv", "Run the name server (routes for producers and consumers)");
  namesrv->add_option("--host", ns_host, "Address to listen on")->capture_default_str();
  namesrv->add_option("--port", ns_port, "Port to listen on (RocketMQ's default 9876)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();

  // Broker keys: one registry bound to one config struct, shared by `broker` and `standalone`.
  holdfast::BrokerConfig config;
  holdfast::ConfigRegistry registry;
  holdfast::register_broker_config(registry, &config);

  std::string broker_conf;
  std::string broker_host = "0.0.0.0";
  std::vector<std::string> broker_overrides;
  auto* broker = app.add_subcommand("broker", "Run a broker (stores messages, serves producers and consumers)");
  broker->add_option("-c,--config", broker_conf, "broker.conf file (RocketMQ's key=value format)");
  broker->add_option("--host", broker_host, "Address to listen on")->capture_default_str();
  broker->add_option("overrides", broker_overrides, "key=value settings that override broker.conf");
  broker->footer("Configuration keys (broker.conf or key=value on the command line):\n\n" + registry.help_text());

  std::string sa_data = "./data";
  std::string sa_host = "127.0.0.1";
  int sa_ns_port = 9876;
  int sa_broker_port = 10911;
  std::string sa_conf;
  std::vector<std::string> sa_overrides;
  auto* standalone = app.add_subcommand(
      "standalone", "Name server and broker in one process (SYNC_FLUSH, topic auto-creation on)");
  standalone->add_option("--data", sa_data, "Data directory")->capture_default_str();
  standalone->add_option("--host", sa_host, "Address to listen on")->capture_default_str();
  standalone->add_option("--namesrv-port", sa_ns_port, "Name server port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  standalone->add_option("--broker-port", sa_broker_port, "Broker port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  standalone->add_option("-c,--config", sa_conf, "Optional broker.conf for further settings");
  standalone->add_option("overrides", sa_overrides, "key=value broker settings (e.g. flushDiskType=ASYNC_FLUSH)");

  auto admin_options = std::make_shared<holdfast::admin::AdminCliOptions>();
  auto* admin = holdfast::admin::add_admin_command(app, admin_options);
  auto bench_exit_code = std::make_shared<int>(0);
  auto* bench = holdfast::bench::add_bench_command(app, bench_exit_code);
  auto drill_exit_code = std::make_shared<int>(0);
  auto* drill = holdfast::drill::add_drill_command(app, drill_exit_code);

  CLI11_PARSE(app, argc, argv);
  if (admin->parsed()) return admin_options->exit_code;
  if (bench->parsed()) return *bench_exit_code;
  if (drill->parsed()) return *drill_exit_code;
  if (namesrv->parsed()) return run_namesrv(ns_host, ns_port);
  if (broker->parsed()) {
    Status st = load_broker_config(registry, broker_conf, broker_overrides);
    if (!st.is_ok()) return fail("broker", st);
    return run_broker(config, broker_host);
  }
  if (standalone->parsed()) {
    std::error_code ec;
    std::filesystem::path data = std::filesystem::absolute(sa_data, ec);
    std::vector<std::string> overrides = {
        "storePathRootDir=" + data.string(), "listenPort=" + std::to_string(sa_broker_port),
        "autoCreateTopicEnable=true", "brokerName=standalone"};
    overrides.insert(overrides.end(), sa_overrides.begin(), sa_overrides.end());
    Status st = load_broker_config(registry, sa_conf, overrides);
    if (!st.is_ok()) return fail("standalone", st);
    return run_standalone(config, sa_host, sa_ns_port);
  }
  return 2;
}
