#include "app/drill_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "app/admin_client.h"
#include "app/drill_cluster.h"
#include "app/drill_workload.h"
#include "holdfast/push_consumer.h"
#include "base/check.h"
#include "drill/check_command.h"
#include "drill/history_log.h"
#include "drill/tcp_proxy.h"
#include "transport/ports.h"

namespace holdfast::drill {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDefaultNamesrv = "{bin} namesrv --host 127.0.0.1 --port {ns_port}";
constexpr const char* kDefaultBroker =
    "{bin} broker --host {host} brokerName=drill-broker brokerClusterName=DrillCluster listenPort={port} "
    "haListenPort={ha_port} fastListenPortEnable=false namesrvAddr=127.0.0.1:{ns_port} storePathRootDir={data} "
    "brokerIP1={ip} autoCreateTopicEnable=true mappedFileSizeCommitLog=67108864 flushDiskType={flush} "
    "cleanResourceInterval=1000 transactionCheckInterval=1000 transactionTimeOut=2000";
// master-slave topology: {broker_id} 0 for the master, {role} its role or SLAVE.
constexpr const char* kMasterSlaveSuffix = " brokerId={broker_id} brokerRole={role}";
// A controller-mode member (docs/replication.md, "Automatic failover"): {member} is its brokerId,
// {etcd} its own link to etcd, {role} the role it takes when elected; lease 2 s.
constexpr const char* kDefaultFailoverBroker =
    "{bin} broker --host {host} brokerName=drill-broker brokerClusterName=DrillCluster listenPort={port} "
    "haListenPort={ha_port} fastListenPortEnable=false namesrvAddr=127.0.0.1:{ns_port} storePathRootDir={data} "
    "brokerIP1={ip} autoCreateTopicEnable=true mappedFileSizeCommitLog=67108864 flushDiskType={flush} "
    "cleanResourceInterval=1000 transactionCheckInterval=1000 transactionTimeOut=2000 enableControllerMode=true etcdEndpoints={etcd} brokerId={member} brokerRole={role} "
    "controllerHeartBeatTimeoutMills=2000 brokerHeartbeatInterval=400 syncControllerMetadataPeriod=100 "
    "haMaxTimeSlaveNotCatchup=5000 slaveTimeout=2000 haSendHeartbeatInterval=500";
// One etcd member (Debian's etcd-server) with short heartbeats, so that leases of 2 s are accepted.
constexpr const char* kDefaultEtcd =
    "/usr/bin/etcd --name drill --data-dir {run}/etcd --listen-client-urls http://127.0.0.1:{etcd_port} "
    "--advertise-client-urls http://127.0.0.1:{etcd_port} --listen-peer-urls http://127.0.0.1:{etcd_peer_port} "
    "--initial-advertise-peer-urls http://127.0.0.1:{etcd_peer_port} "
    "--initial-cluster drill=http://127.0.0.1:{etcd_peer_port} --heartbeat-interval 50 --election-timeout 500";

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Set by SIGINT/SIGTERM while drills run: the run in progress stops its cluster and no further
// run starts (a lock-free atomic store is async-signal-safe).
std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted.store(true); }

// Sleeps up to ms, in short steps, returning early once the drill is interrupted.
void sleep_ms(int64_t ms) {
  const int64_t until = steady_ms() + ms;
  for (int64_t now = steady_ms(); now < until && !g_interrupted.load(); now = steady_ms()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(50, until - now)));
  }
}

bool write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

// libfaketime from Debian's package: every member of a clock-jump run runs under it, its offset
// read from a file the drill rewrites (at most once a second).
constexpr const char* kFaketimeLibrary = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

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

// One broker of the cluster: its process, its disk (a faultfs mount when the scenario needs one),
// in the failover topology its own link to etcd, and for the network scenarios the links that
// reach its client and HA ports (proxies the drill can cut or slow down).
struct Member {
  int id = 1;  // brokerId in the failover topology, {member}
  uint16_t port = 0, ha_port = 0;
  std::string host = "127.0.0.1";  // {host}: where the broker listens
  std::string ip = "127.0.0.1";    // {ip}: where clients, slaves and the name server are told it is
  std::unique_ptr<FaultFsMount> faultfs;
  std::unique_ptr<TcpProxy> etcd_link;
  std::unique_ptr<TcpProxy> client_link, ha_link;  // on ip:port and ip:ha_port (network scenarios)
  std::unique_ptr<NodeProcess> broker;
  std::string faketime_file;  // clock-jump: the libfaketime offset this member's clocks run at

  std::string address() const { return ip + ":" + std::to_string(port); }

  Status start() {
    if (faultfs) HF_RETURN_IF_ERROR(faultfs->mount());
    return broker->start(60000);
  }
};

// The cluster of one run: a name server and one broker ("single"), or etcd, a name server and a
// controller-mode broker group of several members ("failover").
struct Cluster {
  bool failover = false;  // etcd and controller-mode members
  std::string ns_addr;
  std::unique_ptr<NodeProcess> etcd;
  std::unique_ptr<NodeProcess> namesrv;
  std::vector<Member> members;

  Status start_all() {
    if (etcd) HF_RETURN_IF_ERROR(etcd->start(30000));
    HF_RETURN_IF_ERROR(namesrv->start(30000));
    for (auto& m : members) HF_RETURN_IF_ERROR(m.start());
    return Status::ok();
  }
  void stop_all() {
    for (auto& m : members) {
      if (m.broker) {
        m.broker->resume();
        m.broker->terminate(10000);
      }
    }
    if (namesrv) namesrv->terminate(5000);
    if (etcd) etcd->terminate(5000);
    for (auto& m : members) {
      for (TcpProxy* link : {m.etcd_link.get(), m.client_link.get(), m.ha_link.get()}) {
        if (link) link->stop();
      }
      if (m.faultfs) m.faultfs->unmount();
    }
  }

  // The member the name server names as the group's master (brokerId 0), or -1. Uses only the
  // name server's public cluster view, so it works for any RocketMQ-compatible cluster.
  int master() const {
    if (members.size() == 1) return 0;
    admin::AdminClient client(admin::AdminOptions{{ns_addr}, 2000});
    auto view = client.cluster_view();
    if (!view.is_ok()) return -1;
    for (const auto& [name, group] : view->brokers) {
      const std::string addr = group.master_addr();
      for (size_t i = 0; i < members.size(); ++i) {
        if (!addr.empty() && addr == members[i].address()) return static_cast<int>(i);
      }
    }
    return -1;
  }
  // How many members the name server lists for the group (master and slaves).
  size_t registered() const {
    admin::AdminClient client(admin::AdminOptions{{ns_addr}, 2000});
    auto view = client.cluster_view();
    if (!view.is_ok()) return 0;
    size_t n = 0;
    for (const auto& [name, group] : view->brokers) n += group.addrs.size();
    return n;
  }

  // Several members: waits until a master and every slave are registered, then creates the topic
  // on the master, and in the failover topology on every member (a slave elected later must
  // already have its queues).
  std::string wait_ready(const std::string& topic, int64_t timeout_ms) {
    if (members.size() == 1) return "";
    const int64_t deadline = steady_ms() + timeout_ms;
    while (master() < 0 || registered() < members.size()) {
      if (steady_ms() > deadline) return "the group did not elect a master with every member registered in time";
      sleep_ms(200);
    }
    admin::AdminClient client(admin::AdminOptions{{ns_addr}, 3000});
    const int master_index = master();
    for (size_t i = 0; i < members.size(); ++i) {
      const Member& m = members[i];
      // Fixed slaves refuse topic changes (RocketMQ's do) and copy the master's topics.
      if (!failover && static_cast<int>(i) != master_index) continue;
      admin::TopicSpec spec;
      spec.topic = topic;
      spec.read_queue_nums = spec.write_queue_nums = 4;
      spec.broker_addr = m.address();
      std::string err;
      for (int attempt = 0; attempt < 50; ++attempt) {
        auto r = client.create_topic(spec);
        err = r.is_ok() ? "" : r.status().to_string();
        if (err.empty()) break;
        sleep_ms(200);
      }
      if (!err.empty()) return "cannot create " + topic + " on member " + std::to_string(m.id) + ": " + err;
    }
    return "";
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
  const int master = c.master();
  if (master < 0) return "the name server names no master to hurt";
  Member& target = c.members[static_cast<size_t>(master)];
  const bool group = c.members.size() > 1;
  const std::string target_name = group ? "member " + std::to_string(target.id) + " (master)" : "broker";
  auto window = [&](const char* phase, const std::string& detail, const std::string& who) {
    h.add({{"type", "fault"}, {"phase", phase}, {"fault", scenario}, {"target", who}, {"detail", detail}});
  };
  const int64_t outage_ms = 500 + static_cast<int64_t>(rng() % 1500);
  // kill -9 of one member, down for the outage, restarted.
  auto kill_and_restart = [&](Member& m, const std::string& who) {
    window("start", "kill -9", who);
    m.broker->kill9();
    sleep_ms(outage_ms);
    Status st = m.start();
    window("end", "restarted", who);
    return st.is_ok() ? std::string() : st.to_string();
  };
  if (scenario == "kill-master") return kill_and_restart(target, target_name);
  // A fault file-system setting on the master's disk for hold_ms, then undone.
  auto faultfs_window = [&](const std::string& on, const std::string& on_detail, int64_t hold_ms,
                            const std::string& off, const std::string& off_detail) {
    window("start", on_detail, target_name);
    auto r = target.faultfs->control(on);
    if (!r.is_ok()) return r.status().to_string();
    sleep_ms(hold_ms);
    r = target.faultfs->control(off);
    window("end", off_detail, target_name);
    return r.is_ok() ? std::string() : r.status().to_string();
  };
  if (scenario == "pause-master") {
    window("start", "SIGSTOP", target_name);
    target.broker->pause();
    sleep_ms(outage_ms + 2000);
    target.broker->resume();
    window("end", "SIGCONT", target_name);
    return "";
  }
  if (scenario == "rolling-restart") {
    // Every member in turn, the slaves first and the master last, each back before the next goes.
    std::vector<size_t> order;
    for (size_t i = 0; i < c.members.size(); ++i) {
      if (static_cast<int>(i) != master) order.push_back(i);
    }
    order.push_back(static_cast<size_t>(master));
    window("start", "SIGTERM and restart of every member in turn", group ? "every member" : "broker");
    for (size_t i : order) {
      c.members[i].broker->terminate(15000);
      Status st = c.members[i].start();
      if (!st.is_ok()) return st.to_string();
    }
    window("end", "restarted", group ? "every member" : "broker");
    return "";
  }
  if (scenario == "power-loss-one" || scenario == "power-loss-all") {
    const bool torn = rng() % 2 == 0;
    const bool all = scenario == "power-loss-all";
    const std::string who = all ? (group ? "every node" : "name server and broker") : target_name;
    window("start", "killed, unsynced writes dropped" + std::string(torn ? " (torn)" : ""), who);
    std::vector<Member*> hit;
    if (all) {
      for (auto& m : c.members) hit.push_back(&m);
    } else {
      hit.push_back(&target);
    }
    for (Member* m : hit) m->broker->kill9();
    if (all) {
      c.namesrv->kill9();
      if (c.etcd) c.etcd->kill9();  // etcd crashes with the rest; its own disk is not on faultfs
    }
    for (Member* m : hit) {
      auto dropped = m->faultfs->power_loss(torn);
      if (!dropped.is_ok()) return dropped.status().to_string();
      h.add({{"type", "note"}, {"text", m->broker->name() + " power loss: " + dropped.value()}});
    }
    sleep_ms(outage_ms);
    Status st;
    if (all && c.etcd) st = c.etcd->start(30000);
    if (st.is_ok() && all) st = c.namesrv->start(30000);
    for (Member* m : hit) {
      if (st.is_ok()) st = m->start();
    }
    window("end", "power back, restarted", who);
    return st.is_ok() ? "" : st.to_string();
  }
  if (scenario == "disk-full") {
    auto status = target.faultfs->control("status");
    if (!status.is_ok()) return status.status().to_string();
    int64_t used = 0;
    try {
      used = nlohmann::json::parse(status.value().substr(status.value().find('{'))).value("used_bytes", int64_t{0});
    } catch (const std::exception& e) {
      return std::string("faultfs status: ") + e.what();
    }
    // Writes into preallocated segments still succeed, as on a real disk; everything that grows a
    // file fails with ENOSPC, and the broker's disk check (every cleanResourceInterval) sees 100%.
    return faultfs_window("quota " + std::to_string(used), "ENOSPC past the current size", outage_ms + 3000,
                          "quota off", "space back");
  }
  if (scenario == "fsync-eio" || scenario == "write-eio") {
    const bool on_write = scenario == "write-eio";
    window("start", on_write ? "EIO on write" : "EIO on fsync", target_name);
    auto r = target.faultfs->control(on_write ? "eio write on" : "eio fsync on");
    if (!r.is_ok()) return r.status().to_string();
    sleep_ms(outage_ms);
    r = target.faultfs->control("heal");
    if (!r.is_ok()) return r.status().to_string();
    // A store whose write or fsync failed is fenced until restarted, as an operator would.
    target.broker->kill9();
    Status st = target.start();
    window("end", "healed, broker restarted", target_name);
    return st.is_ok() ? "" : st.to_string();
  }
  // Cuts one of the master's links for a few seconds: both ways, or in one run in three only what
  // the proxy's target sends back (`back`), and in another only what its client sends (`forth`).
  // The link's open connections are reset when it heals.
  auto link_cut = [&](TcpProxy& link, const std::string& what, const std::string& forth, const std::string& back) {
    const int mode = static_cast<int>(rng() % 3);
    window("start", what + (mode == 0 ? " cut (both directions)" : ": " + (mode == 1 ? back : forth) + " dropped (one way)"),
           target_name);
    if (mode == 0) {
      link.cut();
    } else {
      link.cut_one_way(/*client_to_target=*/mode == 2);
    }
    sleep_ms(outage_ms + 3000);
    link.heal();
    window("end", "healed", target_name);
    return std::string();
  };
  if (scenario == "partition-master") {
    // The master loses etcd while clients and slaves still reach it: the split-brain case. It
    // must stop acknowledging before its lease runs out in etcd, and another member is elected.
    // In the one-way runs its keep-alives reach etcd but the answers do not (it must still stop),
    // or the answers come but its requests are lost.
    return link_cut(*target.etcd_link, "link to etcd", "the master's requests", "etcd's answers");
  }
  if (scenario == "partition-client") {
    return link_cut(*target.client_link, "client port", "what reaches the master", "the master's answers");
  }
  if (scenario == "partition-replication") {
    return link_cut(*target.ha_link, "HA port (replication to the slaves)", "what the slaves send",
                    "what the master sends");
  }
  if (scenario == "slow-network") {
    const int64_t delay_ms = 50 + static_cast<int64_t>(rng() % 350);
    window("start", std::to_string(delay_ms) + " ms added each way on the client and HA ports", target_name);
    target.client_link->set_delay(delay_ms);
    target.ha_link->set_delay(delay_ms);
    sleep_ms(outage_ms + 3000);
    target.client_link->set_delay(0);
    target.ha_link->set_delay(0);
    window("end", "latency back to normal", target_name);
    return "";
  }
  if (scenario == "slow-fsync") {
    const int64_t delay_ms = 100 + static_cast<int64_t>(rng() % 900);
    return faultfs_window("fsync-delay " + std::to_string(delay_ms),
                          "every fsync takes " + std::to_string(delay_ms) + " ms longer", outage_ms + 2000,
                          "fsync-delay 0", "fsync back to normal");
  }
  if (scenario == "slave-loss") {
    size_t slave = 0;
    while (static_cast<int>(slave) == master) ++slave;
    Member& s = c.members[slave];
    return kill_and_restart(s, "member " + std::to_string(s.id) + " (slave)");
  }
  if (scenario == "clock-jump") {
    // Either a jump 10-30 s ahead, or (one run in two) a clock that runs 2-5 times too fast.
    // libfaketime scales the time since the process started, so a fast clock also jumps ahead
    // by what the member has run so far times the factor less one.
    const int64_t jump_s = 10 + static_cast<int64_t>(rng() % 21);
    const bool fast = rng() % 2 == 0;
    const int64_t factor = 2 + static_cast<int64_t>(rng() % 4);
    const std::string who = target_name;
    window("start", fast ? "wall clock runs " + std::to_string(factor) + " times too fast"
                         : "clocks " + std::to_string(jump_s) + " s ahead",
           who);
    const std::string spec = fast ? "+0 x" + std::to_string(factor) : "+" + std::to_string(jump_s);
    if (!write_text_file(target.faketime_file, spec + "\n")) return "cannot write " + target.faketime_file;
    sleep_ms(outage_ms + 2000);
    // "x1" too: libfaketime keeps the last rate it read when a spec names none.
    if (!write_text_file(target.faketime_file, "+0 x1\n")) return "cannot write " + target.faketime_file;
    sleep_ms(1100);  // libfaketime reads the file at most once a second
    window("end", "clocks back", who);
    return "";
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
  const bool failover = opts.topology == "failover";
  const bool master_slave = opts.topology == "master-slave";
  const std::string run_dir = fs::absolute(opts.report_dir + "/run-" + std::to_string(index)).string();
  std::error_code ec;
  fs::remove_all(run_dir, ec);
  fs::create_directories(run_dir, ec);
  if (ec) {
    result.line = "cannot create " + run_dir + ": " + ec.message();
    return result;
  }
  std::mt19937_64 rng(seed);
  std::set<uint16_t> used;
  auto fresh_port = [&used] {
    uint16_t p = transport::pick_free_port();
    while (p == 0 || used.count(p)) p = transport::pick_free_port();
    used.insert(p);
    return p;
  };
  Cluster c;
  c.failover = failover;
  const uint16_t ns_port = fresh_port();
  c.ns_addr = "127.0.0.1:" + std::to_string(ns_port);
  std::map<std::string, std::string> vars{{"bin", opts.holdfast_bin}, {"ns_port", std::to_string(ns_port)},
                                          {"flush", opts.flush},       {"role", opts.role},
                                          {"run", run_dir}};
  if (failover) {
    vars["etcd_port"] = std::to_string(fresh_port());
    vars["etcd_peer_port"] = std::to_string(fresh_port());
    auto etcd_cmd = expand_template(opts.etcd_command.empty() ? kDefaultEtcd : opts.etcd_command, vars);
    if (!etcd_cmd.is_ok()) {
      result.line = etcd_cmd.status().to_string();
      return result;
    }
    c.etcd = std::make_unique<NodeProcess>("etcd", etcd_cmd.value(), static_cast<uint16_t>(std::stoi(vars["etcd_port"])),
                                           run_dir + "/etcd.log");
  }
  auto ns_cmd = expand_template(opts.namesrv_command.empty() ? kDefaultNamesrv : opts.namesrv_command, vars);
  auto ns_pid_file = expand_template(opts.namesrv_pid_file, vars);
  if (!ns_cmd.is_ok() || !ns_pid_file.is_ok()) {
    result.line = (ns_cmd.is_ok() ? ns_pid_file.status() : ns_cmd.status()).to_string();
    return result;
  }
  c.namesrv = std::make_unique<NodeProcess>("namesrv", ns_cmd.value(), ns_port, run_dir + "/namesrv.log",
                                            ns_pid_file.value());
  const int member_count = failover || master_slave ? opts.members : 1;
  // The etcd links listen first: each takes a port of the kernel's choosing, which must not be
  // one the members are about to be given (a member's HA port once collided with one).
  std::vector<std::unique_ptr<TcpProxy>> links;
  for (int i = 0; failover && i < member_count; ++i) {
    std::unique_ptr<TcpProxy> link;
    for (int attempt = 0; !link && attempt < 20; ++attempt) {
      link = std::make_unique<TcpProxy>("127.0.0.1", static_cast<uint16_t>(std::stoi(vars["etcd_port"])));
      std::string err = link->start();
      if (!err.empty()) {
        result.line = "etcd proxy: " + err;
        return result;
      }
      if (used.count(link->port())) link.reset();  // a port already promised to a node: again
    }
    if (!link) {
      result.line = "etcd proxy: no free port";
      return result;
    }
    used.insert(link->port());
    links.push_back(std::move(link));
  }
  std::string first_broker_cmd;
  std::vector<std::pair<uint16_t, uint16_t>> ports;  // listen and HA port per member
  for (int i = 1; i <= member_count; ++i) {
    // The HA port is listenPort + 1, as RocketMQ's broker has it whatever haListenPort says, and
    // its fast port (listenPort - 2) must be free too.
    uint16_t port = fresh_port();
    for (int attempt = 0; attempt < 100; ++attempt) {
      const auto ha = static_cast<uint16_t>(port + 1), fast = static_cast<uint16_t>(port - 2);
      if (port > 2 && port < 65535 && !used.count(ha) && !used.count(fast) && transport::port_is_free(ha) &&
          transport::port_is_free(fast)) {
        break;
      }
      port = fresh_port();
    }
    used.insert(static_cast<uint16_t>(port - 2));
    used.insert(static_cast<uint16_t>(port + 1));
    ports.emplace_back(port, static_cast<uint16_t>(port + 1));
  }
  // master-slave: where slaves that are not told by the name server reach the master's HA port
  // (RocketMQ 4's need haMasterAddress).
  vars["master_ha"] = (info->needs_net ? std::string("127.0.20.1") : std::string("127.0.0.1")) + ":" +
                     std::to_string(ports.front().second);
  for (int i = 1; i <= member_count; ++i) {
    Member m;
    m.id = i;
    m.port = ports[static_cast<size_t>(i - 1)].first;
    m.ha_port = ports[static_cast<size_t>(i - 1)].second;
    if (info->needs_net) {
      // The broker listens on 127.0.10.i and advertises 127.0.20.i, where the drill's proxies
      // for its two ports listen (Linux routes all of 127/8 to the loopback device).
      m.host = "127.0.10." + std::to_string(i);
      m.ip = "127.0.20." + std::to_string(i);
      m.client_link = std::make_unique<TcpProxy>(m.host, m.port);
      m.ha_link = std::make_unique<TcpProxy>(m.host, m.ha_port);
      for (TcpProxy* link : {m.client_link.get(), m.ha_link.get()}) {
        const std::string err = link->start(m.ip, link == m.client_link.get() ? m.port : m.ha_port);
        if (!err.empty()) {
          result.line = "broker link proxy: " + err;
          return result;
        }
      }
    }
    const std::string dir = member_count > 1 ? run_dir + "/m" + std::to_string(i) : run_dir;
    fs::create_directories(dir + "/data", ec);
    if (info->needs_faultfs) {
      fs::create_directories(dir + "/backing", ec);
      m.faultfs = std::make_unique<FaultFsMount>(opts.faultfs_bin, dir + "/backing", dir + "/data", dir + "/faultfs.sock",
                                                 dir + "/faultfs.log");
    }
    std::map<std::string, std::string> mvars = vars;
    mvars["port"] = std::to_string(m.port);
    mvars["host"] = m.host;
    mvars["ip"] = m.ip;
    mvars["bind_to_host"] =
        info->needs_net ? "env LD_PRELOAD=" + opts.bind_library + " HOLDFAST_DRILL_BIND_HOST=" + m.host : "env";
    mvars["ha_port"] = std::to_string(m.ha_port);
    mvars["data"] = dir + "/data/store";
    mvars["member"] = std::to_string(i);
    // master-slave: member 1 is the master (brokerId 0, --role), the others its slaves.
    mvars["broker_id"] = std::to_string(master_slave ? i - 1 : 0);
    if (master_slave) mvars["role"] = i == 1 ? opts.role : "SLAVE";
    if (failover) {
      m.etcd_link = std::move(links[static_cast<size_t>(i - 1)]);
      mvars["etcd"] = m.etcd_link->address();
    }
    const std::string tmpl =
        !opts.broker_command.empty()
            ? opts.broker_command
            : (failover ? kDefaultFailoverBroker
                        : (master_slave ? std::string(kDefaultBroker) + kMasterSlaveSuffix : std::string(kDefaultBroker)));
    auto broker_cmd = expand_template(tmpl, mvars);
    auto broker_pid_file = expand_template(opts.broker_pid_file, mvars);
    if (!broker_cmd.is_ok() || !broker_pid_file.is_ok()) {
      result.line = (broker_cmd.is_ok() ? broker_pid_file.status() : broker_cmd.status()).to_string();
      return result;
    }
    std::string command = broker_cmd.value();
    if (scenario == "clock-jump") {
      if (!fs::exists(kFaketimeLibrary)) {
        result.line = std::string("clock-jump needs ") + kFaketimeLibrary + " (Debian package libfaketime)";
        return result;
      }
      m.faketime_file = dir + "/faketime";
      if (!write_text_file(m.faketime_file, "+0\n")) {
        result.line = "cannot write " + m.faketime_file;
        return result;
      }
      command = std::string("env LD_PRELOAD=") + kFaketimeLibrary + " FAKETIME_TIMESTAMP_FILE=" + m.faketime_file +
                " FAKETIME_CACHE_DURATION=1 DONT_FAKE_MONOTONIC=1 " + command;
    }
    if (first_broker_cmd.empty()) first_broker_cmd = command;
    const std::string name = member_count > 1 ? "member" + std::to_string(i) : "broker";
    m.broker = std::make_unique<NodeProcess>(name, command, m.port, run_dir + "/" + name + ".log",
                                             broker_pid_file.value());
    m.broker->set_ready_host(m.host);
    c.members.push_back(std::move(m));
  }

  auto log = HistoryLog::open(run_dir + "/history.jsonl");
  if (!log.is_ok()) {
    result.line = log.status().to_string();
    return result;
  }
  HistoryFile history(std::move(*log));
  history.add({{"type", "note"}, {"text", "scenario " + scenario + ", seed " + std::to_string(seed)}});
  WorkloadOptions wo;
  Status st = c.start_all();
  std::string err = st.is_ok() ? c.wait_ready(wo.topic, 60000) : "";
  if (!st.is_ok() || !err.empty()) {
    c.stop_all();
    result.line = "cluster did not start: " + (st.is_ok() ? err : st.to_string());
    return result;
  }
  wo.name_server = c.ns_addr;
  wo.producers = opts.producers;
  wo.ordered = opts.ordered;
  wo.transactional = opts.transactional;
  wo.run_tag = "r" + std::to_string(seed);
  Workload workload(wo, [&history](nlohmann::json e) { history.add(std::move(e)); });
  err = workload.start();
  // The load time counts from the first acknowledgement (up to 30 s of waiting for it): a cluster
  // that takes a while to start replicating (a RocketMQ slave's first offset report waits for its
  // heartbeat interval) would otherwise meet the fault with nothing acknowledged to lose.
  for (const int64_t until = steady_ms() + 30000;
       err.empty() && workload.acked() == 0 && steady_ms() < until && !g_interrupted.load();) {
    sleep_ms(20);
  }
  const int64_t begin = steady_ms();
  if (err.empty()) {
    sleep_ms(opts.duration_ms * 3 / 10);
    err = inject(scenario, c, history, rng);
    // The load goes on to the end of the run, and past it until the healed cluster acknowledges
    // again (up to 20 s), so that every run measures its recovery.
    const int64_t healed = steady_ms();
    const int64_t acked_at_heal = workload.acked();
    sleep_ms(begin + opts.duration_ms - steady_ms());
    while (err.empty() && workload.acked() == acked_at_heal && steady_ms() < healed + 20000 && !g_interrupted.load()) {
      sleep_ms(50);
    }
  }
  if (g_interrupted.load() && err.empty()) err = "interrupted (SIGINT/SIGTERM)";
  workload.stop_producers();
  history.add({{"type", "note"}, {"text", "heal: producers stopped, waiting for deliveries"}});
  if (err.empty()) workload.wait_delivered(20000);
  workload.stop_consumer();
  if (err.empty()) {
    history.add({{"type", "note"}, {"text", kFinalReadNote}});
    err = workload.final_read();
  }
  workload.stop_transaction_producers();
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
  if (!opts.broker_command.empty()) {
    run_info.target = "broker from --broker-cmd, " + opts.topology + " topology";
  } else if (master_slave) {
    run_info.target = "holdfast: 1 name server, a " + opts.role + " master and " + std::to_string(member_count - 1) +
                      " slave(s), " + opts.flush;
  } else if (failover) {
    run_info.target = "holdfast: etcd, 1 name server, " + std::to_string(member_count) + " controller-mode members, " +
                      opts.role + ", " + opts.flush;
  } else {
    run_info.target = "holdfast: 1 name server, 1 broker, " + opts.flush;
  }
  run_info.settings = {{"producers", std::to_string(opts.producers)},
                       {"ordered", opts.ordered ? "yes" : "no"},
                       {"transactional", opts.transactional ? "yes" : "no"},
                       {"topology", opts.topology},
                       {"name server command", ns_cmd.value()},
                       {"broker command", first_broker_cmd}};
  result.exit_code = check_history_file(run_dir + "/history.jsonl", run_dir, &result.line, run_info);
  if (result.exit_code == 0 && workload.acked() == 0) {
    // A pass with nothing acknowledged proves nothing (a cluster that never worked passes it).
    result.exit_code = 2;
    result.line = "INCONCLUSIVE: nothing was acknowledged (" + result.line + ")";
  }
  if (result.exit_code == 0 && !opts.keep_data) {
    // The store of a passing run is not needed (its history and logs stay); segments are
    // allocated up front, so a long series would otherwise fill the disk.
    for (const char* sub : {"backing", "data", "etcd"}) {
      fs::remove_all(run_dir + "/" + sub, ec);
      for (int i = 1; i <= member_count && member_count > 1; ++i) {
        fs::remove_all(run_dir + "/m" + std::to_string(i) + "/" + sub, ec);
      }
    }
  }
  return result;
}

}  // namespace

std::string cannot_run(const ScenarioInfo& s, const DrillOptions& opts) {
  if (s.needs_etcd && opts.topology != "failover") return "--topology failover";
  if (s.needs_replicas && opts.topology == "single") return "--topology failover or master-slave";
  const std::string& b = opts.broker_command;
  if (s.needs_net && !b.empty() &&
      ((b.find("{host}") == std::string::npos && b.find("{bind_to_host}") == std::string::npos) ||
       b.find("{ip}") == std::string::npos)) {
    return "a broker that listens on {host} and advertises {ip} (in --broker-cmd: {ip}, and {host} or "
           "{bind_to_host})";
  }
  return "";
}

const std::vector<ScenarioInfo>& scenarios() {
  static const std::vector<ScenarioInfo> kAll{
      {"kill-master", "kill -9 of the master under load, restart: every acknowledged message survives", false},
      {"pause-master", "SIGSTOP of the master for seconds, SIGCONT: sends fail or wait, none acknowledged is lost",
       false},
      {"rolling-restart", "a clean SIGTERM restart of every broker in turn under load loses nothing acknowledged",
       false},
      {"power-loss-one",
       "the master's node loses power: unsynced writes vanish (sometimes torn); every acknowledged message survives",
       true},
      {"power-loss-all", "every node loses power at once; every acknowledged message survives", true},
      {"disk-full", "the master's disk fills (ENOSPC): sends are refused, none acknowledged is lost, writes resume",
       true},
      {"fsync-eio", "fsync fails with EIO: the master stops acknowledging, nothing acknowledged is lost after restart",
       true},
      {"write-eio",
       "writes to the master's disk fail with EIO: it stops acknowledging, nothing acknowledged is lost after restart",
       true},
      {"slow-fsync", "the master's fsyncs take 0.1-1 s longer for seconds: acknowledgements slow down, none is lost",
       true},
      {"partition-master",
       "the master is cut off from etcd (both ways or one way) while clients still reach it: it stops "
       "acknowledging, another member is elected, nothing acknowledged is lost",
       false, false, true},
      {"slave-loss", "kill -9 of a slave under load, restart: the group keeps acknowledging, nothing is lost", false,
       true},
      {"partition-client",
       "the master's client port is cut off (both ways or one way) for seconds: sends fail or go unanswered, "
       "nothing acknowledged is lost, answers lost in flight leave stored-but-unacknowledged messages",
       false, false, false, true},
      {"partition-replication",
       "the master's HA port is cut off from its slaves (both ways or one way): the master stops acknowledging "
       "what it cannot replicate, nothing acknowledged is lost, the slaves catch up after the heal",
       false, true, false, true},
      {"slow-network", "50-400 ms added each way on the master's client and HA ports for seconds: acknowledgements "
       "slow down, none is lost",
       false, false, false, true},
      {"clock-jump",
       "the master's wall clock jumps 10-30 s ahead or runs 2-5 times too fast (libfaketime), then back: nothing "
       "acknowledged is lost, no two masters acknowledge at once",
       false},
      {"random", "a seeded mix of the scenarios above (those the topology supports), one per run", true},
  };
  return kAll;
}

int run_drills(const DrillOptions& opts) {
  const ScenarioInfo* chosen = find_scenario(opts.scenario);
  if (!chosen) {
    std::fprintf(stderr, "drill: unknown scenario '%s' (see `holdfast drill list`)\n", opts.scenario.c_str());
    return 2;
  }
  if (const std::string why = cannot_run(*chosen, opts); !why.empty()) {
    std::fprintf(stderr, "drill: scenario '%s' needs %s\n", opts.scenario.c_str(), why.c_str());
    return 2;
  }
  std::error_code ec;
  fs::create_directories(opts.report_dir, ec);
  if (ec) {
    std::fprintf(stderr, "drill: cannot create report dir %s: %s\n", opts.report_dir.c_str(), ec.message().c_str());
    return 2;
  }
  int worst = 0, failed = 0, could_not_run = 0, ran = 0;
  g_interrupted.store(false);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  for (int i = 0; i < opts.runs && !g_interrupted.load(); ++i) {
    const uint64_t seed = opts.seed + static_cast<uint64_t>(i);
    std::string scenario = opts.scenario;
    if (scenario == "random") {
      std::mt19937_64 pick(seed * 7919 + 1);
      std::vector<std::string> eligible;  // every scenario but "random" itself that the topology runs
      for (const auto& s : scenarios()) {
        if (s.name != "random" && cannot_run(s, opts).empty()) eligible.push_back(s.name);
      }
      scenario = eligible[pick() % eligible.size()];
    }
    RunResult r = run_one(opts, scenario, i, seed);
    std::printf("run %d  %-21s seed %-8llu %s\n", i, scenario.c_str(), static_cast<unsigned long long>(seed),
                r.line.c_str());
    std::fflush(stdout);
    if (r.exit_code == 1) ++failed;
    ++ran;
    if (r.exit_code == 2) ++could_not_run;
    worst = std::max(worst, r.exit_code == 2 ? 2 : r.exit_code);
  }
  std::printf("drill %s: %d runs%s, %d lost acknowledged messages in some run, %d could not run; reports in %s\n",
              opts.scenario.c_str(), ran, g_interrupted.load() ? " (interrupted)" : "", failed, could_not_run,
              opts.report_dir.c_str());
  if (g_interrupted.load()) worst = std::max(worst, 2);
  if (failed > 0) return 1;
  return worst;
}

}  // namespace holdfast::drill
