#include "app/drill_runner.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "app/drill_cluster.h"
#include "app/drill_workload.h"
#include "holdfast/push_consumer.h"
#include "base/check.h"
#include "drill/check_command.h"
#include "drill/history_log.h"

namespace holdfast::drill {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultNamesrv = "{bin} namesrv --host 127.0.0.1 --port {ns_port}";
constexpr const char* kDefaultBroker =
    "{bin} broker --host 127.0.0.1 brokerName=drill-broker brokerClusterName=DrillCluster listenPort={port} "
    "haListenPort={ha_port} fastListenPortEnable=false namesrvAddr=127.0.0.1:{ns_port} storePathRootDir={data} "
    "brokerIP1=127.0.0.1 autoCreateTopicEnable=true mappedFileSizeCommitLog=67108864 flushDiskType={flush} "
    "cleanResourceInterval=1000";

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void sleep_ms(int64_t ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// The history of one run, streamed to RUN_DIR/history.jsonl as it happens. Events come as JSON
// objects in the shape of drill/history.h and are parsed into that contract on the way in.
class HistoryFile {
 public:
  explicit HistoryFile(std::unique_ptr<HistoryLog> log) : log_(std::move(log)) {}
  void add(nlohmann::json e) {
    e["t"] = 0;  // append() stamps the real time
    Result<Event> ev = parse_event(e.dump());
    HF_CHECK(ev.is_ok(), "drill recorded an event outside the history contract: ", e.dump(), ": ",
             ev.status().to_string());
    log_->append(std::move(*ev));
  }
  Status close() { return log_->close(); }

 private:
  std::unique_ptr<HistoryLog> log_;
};

// The cluster of one run: a name server and one broker, the broker's store optionally on faultfs.
struct Cluster {
  std::unique_ptr<FaultFsMount> faultfs;
  std::unique_ptr<NodeProcess> namesrv;
  std::unique_ptr<NodeProcess> broker;

  Status start_all() {
    if (faultfs) HF_RETURN_IF_ERROR(faultfs->mount());
    HF_RETURN_IF_ERROR(namesrv->start(30000));
    return broker->start(60000);
  }
  void stop_all() {
    if (broker) broker->terminate(10000);
    if (namesrv) namesrv->terminate(5000);
    if (faultfs) faultfs->unmount();
  }
};

const ScenarioInfo* find_scenario(const std::string& name) {
  for (const auto& s : scenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// Injects `scenario`'s fault and heals it; records the fault window in the history. Returns ""
// or why the drill could not go on.
std::string inject(const std::string& scenario, Cluster& c, HistoryFile& h, std::mt19937_64& rng) {
  auto window = [&](const char* phase, const std::string& detail) {
    h.add({{"type", "fault"}, {"phase", phase}, {"fault", scenario}, {"target", "broker"}, {"detail", detail}});
  };
  const int64_t outage_ms = 500 + static_cast<int64_t>(rng() % 1500);
  if (scenario == "kill-master") {
    window("start", "kill -9");
    c.broker->kill9();
    sleep_ms(outage_ms);
    Status st = c.broker->start(60000);
    window("end", "restarted");
    return st.is_ok() ? "" : st.to_string();
  }
  if (scenario == "pause-master") {
    window("start", "SIGSTOP");
    c.broker->pause();
    sleep_ms(outage_ms + 2000);
    c.broker->resume();
    window("end", "SIGCONT");
    return "";
  }
  if (scenario == "rolling-restart") {
    window("start", "SIGTERM");
    c.broker->terminate(15000);
    Status st = c.broker->start(60000);
    window("end", "restarted");
    return st.is_ok() ? "" : st.to_string();
  }
  if (scenario == "power-loss-one" || scenario == "power-loss-all") {
    const bool torn = rng() % 2 == 0;
    const bool all = scenario == "power-loss-all";
    window("start", std::string(all ? "name server and broker" : "broker") + " killed, unsynced writes dropped" +
                        (torn ? " (torn)" : ""));
    c.broker->kill9();
    if (all) c.namesrv->kill9();
    Status st = c.faultfs->power_loss(torn);
    if (!st.is_ok()) return st.to_string();
    sleep_ms(outage_ms);
    st = c.faultfs->mount();
    if (st.is_ok() && all) st = c.namesrv->start(30000);
    if (st.is_ok()) st = c.broker->start(60000);
    window("end", "power back, restarted");
    return st.is_ok() ? "" : st.to_string();
  }
  if (scenario == "disk-full") {
    auto status = c.faultfs->control("status");
    if (!status.is_ok()) return status.status().to_string();
    int64_t used = 0;
    try {
      used = nlohmann::json::parse(status.value().substr(status.value().find('{'))).value("used_bytes", int64_t{0});
    } catch (const std::exception& e) {
      return std::string("faultfs status: ") + e.what();
    }
    // Writes into preallocated segments still succeed, as on a real disk; everything that grows a
    // file fails with ENOSPC, and the broker's disk check (every cleanResourceInterval) sees 100%.
    window("start", "ENOSPC past the current size");
    auto r = c.faultfs->control("quota " + std::to_string(used));
    if (!r.is_ok()) return r.status().to_string();
    sleep_ms(outage_ms + 3000);
    r = c.faultfs->control("quota off");
    window("end", "space back");
    return r.is_ok() ? "" : r.status().to_string();
  }
  if (scenario == "fsync-eio") {
    window("start", "EIO on fsync");
    auto r = c.faultfs->control("eio fsync on");
    if (!r.is_ok()) return r.status().to_string();
    sleep_ms(outage_ms);
    r = c.faultfs->control("heal");
    if (!r.is_ok()) return r.status().to_string();
    // A store whose fsync failed is fenced until restarted, as an operator would.
    c.broker->kill9();
    Status st = c.broker->start(60000);
    window("end", "healed, broker restarted");
    return st.is_ok() ? "" : st.to_string();
  }
  return "scenario " + scenario + " has no fault here";
}

struct RunResult {
  int exit_code = 2;
  std::string line;
};

RunResult run_one(const DrillOptions& opts, const std::string& scenario, int index, uint64_t seed) {
  RunResult result;
  const ScenarioInfo* info = find_scenario(scenario);
  const std::string run_dir = fs::absolute(opts.report_dir + "/run-" + std::to_string(index)).string();
  std::error_code ec;
  fs::remove_all(run_dir, ec);
  fs::create_directories(run_dir + "/backing", ec);
  fs::create_directories(run_dir + "/data", ec);
  if (ec) {
    result.line = "cannot create " + run_dir + ": " + ec.message();
    return result;
  }
  std::mt19937_64 rng(seed);
  const uint16_t ns_port = pick_free_port();
  const uint16_t port = pick_free_port();
  uint16_t ha_port = pick_free_port();
  while (ha_port == port || ha_port == ns_port) ha_port = pick_free_port();
  Cluster c;
  std::string data = run_dir + "/data";
  if (info->needs_faultfs) {
    c.faultfs = std::make_unique<FaultFsMount>(opts.faultfs_bin, run_dir + "/backing", data, run_dir + "/faultfs.sock",
                                               run_dir + "/faultfs.log");
  }
  const std::map<std::string, std::string> vars{{"bin", opts.holdfast_bin},         {"ns_port", std::to_string(ns_port)},
                                                {"port", std::to_string(port)},     {"ha_port", std::to_string(ha_port)},
                                                {"data", data + "/store"},          {"flush", opts.flush},
                                                {"run", run_dir}};
  auto ns_cmd = expand_template(opts.namesrv_command.empty() ? kDefaultNamesrv : opts.namesrv_command, vars);
  auto broker_cmd = expand_template(opts.broker_command.empty() ? kDefaultBroker : opts.broker_command, vars);
  if (!ns_cmd.is_ok() || !broker_cmd.is_ok()) {
    result.line = (ns_cmd.is_ok() ? broker_cmd.status() : ns_cmd.status()).to_string();
    return result;
  }
  auto ns_pid_file = expand_template(opts.namesrv_pid_file, vars);
  auto broker_pid_file = expand_template(opts.broker_pid_file, vars);
  if (!ns_pid_file.is_ok() || !broker_pid_file.is_ok()) {
    result.line = (ns_pid_file.is_ok() ? broker_pid_file.status() : ns_pid_file.status()).to_string();
    return result;
  }
  c.namesrv = std::make_unique<NodeProcess>("namesrv", ns_cmd.value(), ns_port, run_dir + "/namesrv.log",
                                            ns_pid_file.value());
  c.broker = std::make_unique<NodeProcess>("broker", broker_cmd.value(), port, run_dir + "/broker.log",
                                           broker_pid_file.value());

  auto log = HistoryLog::open(run_dir + "/history.jsonl");
  if (!log.is_ok()) {
    result.line = log.status().to_string();
    return result;
  }
  HistoryFile history(std::move(*log));
  history.add({{"type", "note"}, {"text", "scenario " + scenario + ", seed " + std::to_string(seed)}});
  Status st = c.start_all();
  if (!st.is_ok()) {
    c.stop_all();
    result.line = "cluster did not start: " + st.to_string();
    return result;
  }
  WorkloadOptions wo;
  wo.name_server = "127.0.0.1:" + std::to_string(ns_port);
  wo.producers = opts.producers;
  wo.run_tag = "r" + std::to_string(seed);
  Workload workload(wo, [&history](nlohmann::json e) { history.add(std::move(e)); });
  std::string err = workload.start();
  const int64_t begin = steady_ms();
  if (err.empty()) {
    sleep_ms(opts.duration_ms * 3 / 10);
    err = inject(scenario, c, history, rng);
    sleep_ms(begin + opts.duration_ms - steady_ms());
  }
  workload.stop_producers();
  history.add({{"type", "note"}, {"text", "heal: producers stopped, waiting for deliveries"}});
  if (err.empty()) workload.wait_delivered(20000);
  workload.stop_consumer();
  if (err.empty()) {
    history.add({{"type", "note"}, {"text", kFinalReadNote}});
    err = workload.final_read();
  }
  c.stop_all();
  Status closed = history.close();
  if (err.empty() && !closed.is_ok()) err = "history not written: " + closed.to_string();
  if (!err.empty()) {
    result.line = "drill could not finish: " + err;
    return result;
  }
  RunInfo run_info;
  run_info.scenario = scenario;
  run_info.seed = seed;
  run_info.run = index;
  run_info.runs = opts.runs;
  run_info.duration_ms = opts.duration_ms;
  run_info.target = opts.broker_command.empty() ? "holdfast: 1 name server, 1 broker, " + opts.flush
                                                : "broker from --broker-cmd";
  run_info.settings = {{"producers", std::to_string(opts.producers)},
                       {"name server command", ns_cmd.value()},
                       {"broker command", broker_cmd.value()}};
  result.exit_code = check_history_file(run_dir + "/history.jsonl", run_dir, &result.line, run_info);
  if (result.exit_code == 0 && !opts.keep_data) {
    // The store of a passing run is not needed (its history and logs stay); segments are
    // allocated up front, so a long series would otherwise fill the disk.
    fs::remove_all(run_dir + "/backing", ec);
    fs::remove_all(run_dir + "/data", ec);
  }
  return result;
}

}  // namespace

const std::vector<ScenarioInfo>& scenarios() {
  static const std::vector<ScenarioInfo> kAll{
      {"kill-master", "kill -9 of the broker under load, restart: every acknowledged message survives", false},
      {"pause-master", "SIGSTOP of the broker for seconds, SIGCONT: sends fail or wait, none acknowledged is lost",
       false},
      {"rolling-restart", "a clean SIGTERM restart of the broker under load loses nothing acknowledged", false},
      {"power-loss-one",
       "the broker's node loses power: unsynced writes vanish (sometimes torn); every acknowledged message survives",
       true},
      {"power-loss-all", "the name server and the broker lose power at once; every acknowledged message survives",
       true},
      {"disk-full", "the store's disk fills (ENOSPC): sends are refused, none acknowledged is lost, writes resume",
       true},
      {"fsync-eio", "fsync fails with EIO: the broker stops acknowledging, nothing acknowledged is lost after restart",
       true},
      {"random", "a seeded mix of the scenarios above, one per run", true},
  };
  return kAll;
}

int run_drills(const DrillOptions& opts) {
  if (!find_scenario(opts.scenario)) {
    std::fprintf(stderr, "drill: unknown scenario '%s' (see `holdfast drill list`)\n", opts.scenario.c_str());
    return 2;
  }
  std::error_code ec;
  fs::create_directories(opts.report_dir, ec);
  if (ec) {
    std::fprintf(stderr, "drill: cannot create report dir %s: %s\n", opts.report_dir.c_str(), ec.message().c_str());
    return 2;
  }
  int worst = 0, failed = 0, could_not_run = 0;
  for (int i = 0; i < opts.runs; ++i) {
    const uint64_t seed = opts.seed + static_cast<uint64_t>(i);
    std::string scenario = opts.scenario;
    if (scenario == "random") {
      std::mt19937_64 pick(seed * 7919 + 1);
      const auto& all = scenarios();
      scenario = all[pick() % (all.size() - 1)].name;  // every scenario but "random" itself
    }
    RunResult r = run_one(opts, scenario, i, seed);
    std::printf("run %d  %-16s seed %-8llu %s\n", i, scenario.c_str(), static_cast<unsigned long long>(seed),
                r.line.c_str());
    std::fflush(stdout);
    if (r.exit_code == 1) ++failed;
    if (r.exit_code == 2) ++could_not_run;
    worst = std::max(worst, r.exit_code == 2 ? 2 : r.exit_code);
  }
  std::printf("drill %s: %d runs, %d lost acknowledged messages in some run, %d could not run; reports in %s\n",
              opts.scenario.c_str(), opts.runs, failed, could_not_run, opts.report_dir.c_str());
  if (failed > 0) return 1;
  return worst;
}

}  // namespace holdfast::drill
