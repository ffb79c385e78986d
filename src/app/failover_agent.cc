// FailoverAgent: lease keep-alive on one thread, the group's state machine on another.
#include "app/failover_agent.h"

#include <algorithm>
#include <chrono>
#include <set>

#include <nlohmann/json.hpp>

#include "base/logging.h"
#include "ha/etcd_client.h"

namespace holdfast {

using ha::EtcdClient;
using ha::EtcdCompare;
using ha::EtcdOp;

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json epochs_json(const std::vector<broker::Epoch>& epochs) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : epochs) list.push_back({e.epoch, e.start_offset});
  return list;
}

std::vector<broker::Epoch> epochs_from(const nlohmann::json& list) {
  std::vector<broker::Epoch> out;
  if (!list.is_array()) return out;
  for (const auto& e : list) {
    if (e.is_array() && e.size() == 2 && e[0].is_number_integer() && e[1].is_number_integer()) {
      out.push_back({e[0].get<int64_t>(), e[1].get<int64_t>()});
    }
  }
  return out;
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

struct FailoverAgent::GroupView {
  bool has_master = false;
  int64_t master_id = 0;
  std::string master_address, master_ha_address, master_value;
  int64_t master_epoch = 0;
  int64_t master_lease = 0;
  std::vector<broker::Epoch> master_epochs;
  bool has_epoch = false;
  int64_t epoch_counter = 0;
  int64_t epoch_mod = 0;
  bool has_syncset = false;
  int64_t syncset_epoch = 0;
  int64_t syncset_mod = 0;
  std::vector<int64_t> syncset;
  struct Member {
    std::string address, ha_address;
    int64_t end = -1;
    int64_t last_epoch = 0;
    bool candidate = false;
  };
  std::map<int64_t, Member> members;
};

FailoverAgent::FailoverAgent(FailoverOptions options, std::function<std::vector<broker::Epoch>()> local_epochs)
    : options_(std::move(options)),
      local_epochs_(std::move(local_epochs)),
      ttl_seconds_(std::max<int64_t>(1, (options_.lease_ttl_ms + 999) / 1000)),
      // The share of the TTL kept in reserve for clock-rate differences and etcd's expiry check.
      margin_ms_(std::max<int64_t>(250, ttl_seconds_ * 1000 / 5)) {
  lease_etcd_ = std::make_unique<EtcdClient>(options_.etcd_endpoints, options_.etcd_timeout_ms);
  control_etcd_ = std::make_unique<EtcdClient>(options_.etcd_endpoints, options_.etcd_timeout_ms);
}

FailoverAgent::~FailoverAgent() { stop(); }

int64_t FailoverAgent::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string FailoverAgent::key(const std::string& name) const {
  return "/holdfast/" + options_.cluster_name + "/" + options_.broker_name + "/" + name;
}

void FailoverAgent::start() {
  logger("failover")->info("failover: member {} of {}/{} on etcd {} (lease TTL {} s, acknowledgements stop {} ms "
                           "before it)",
                           options_.member_id, options_.cluster_name, options_.broker_name,
                           options_.etcd_endpoints.empty() ? "" : options_.etcd_endpoints.front(), ttl_seconds_,
                           margin_ms_);
  keepalive_ = std::thread([this] { keepalive_loop(); });
  control_ = std::thread([this] { control_loop(); });
}

void FailoverAgent::stop() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    stop_cv_.notify_all();
  }
  if (keepalive_.joinable()) keepalive_.join();
  if (control_.joinable()) control_.join();
  master_epoch_.store(0);
  if (const int64_t lease = lease_id_.exchange(0); lease != 0) {
    // A clean stop hands the group over at once instead of after the TTL.
    Status st = lease_etcd_->revoke(lease);
    if (!st.is_ok()) logger("failover")->warn("failover: revoking lease {}: {}", lease, st.to_string());
  }
}

FailoverRole FailoverAgent::role() const {
  std::lock_guard<std::mutex> l(mu_);
  return role_;
}

FailoverRole FailoverAgent::wait_role_change(uint64_t generation, int64_t timeout_ms) const {
  std::unique_lock<std::mutex> l(mu_);
  role_cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return role_.generation != generation; });
  return role_;
}

bool FailoverAgent::may_acknowledge(int64_t epoch) const {
  return epoch > 0 && master_epoch_.load() == epoch && now_ms() < lease_valid_until_ms_.load();
}

void FailoverAgent::set_hooks(FailoverHooks hooks) {
  std::lock_guard<std::mutex> l(hooks_mu_);
  hooks_ = std::move(hooks);
}

void FailoverAgent::clear_hooks() {
  std::lock_guard<std::mutex> l(hooks_mu_);  // waits for a hook call in progress
  hooks_ = FailoverHooks{};
}

void FailoverAgent::set_role(FailoverRole next, bool restart) {
  std::lock_guard<std::mutex> l(mu_);
  next.generation = restart ? role_.generation + 1 : role_.generation;
  if (next.kind == FailoverRole::Kind::kMaster && role_.kind != FailoverRole::Kind::kMaster) last_in_sync_ms_.clear();
  role_ = std::move(next);
  master_epoch_.store(role_.kind == FailoverRole::Kind::kMaster ? role_.epoch : 0);
  role_cv_.notify_all();
}

void FailoverAgent::keepalive_loop() {
  auto log = logger("failover");
  while (!stop_.load()) {
    const int64_t lease = lease_id_.load();
    const int64_t sent = now_ms();
    if (lease == 0) {
      auto granted = lease_etcd_->grant(ttl_seconds_);
      if (granted.is_ok()) {
        lease_valid_until_ms_.store(sent + ttl_seconds_ * 1000 - margin_ms_);
        lease_id_.store(*granted);
        log->info("failover: member {} holds etcd lease {:x}", options_.member_id, *granted);
      } else {
        std::lock_guard<std::mutex> l(mu_);
        last_error_ = "etcd lease grant: " + granted.status().to_string();
      }
    } else {
      auto ttl = lease_etcd_->keepalive(lease);
      if (ttl.is_ok() && *ttl > 0) {
        lease_valid_until_ms_.store(sent + *ttl * 1000 - margin_ms_);
      } else if (ttl.is_ok()) {
        // etcd dropped the lease: whatever this broker was master of is someone else's now.
        master_epoch_.store(0);
        lease_valid_until_ms_.store(0);
        lease_id_.store(0);
        log->warn("failover: etcd lease {:x} of member {} expired", lease, options_.member_id);
        continue;
      } else {
        std::lock_guard<std::mutex> l(mu_);
        last_error_ = "etcd keep-alive: " + ttl.status().to_string();
      }
    }
    std::unique_lock<std::mutex> l(stop_mu_);
    stop_cv_.wait_for(l, std::chrono::milliseconds(options_.keepalive_interval_ms), [this] { return stop_.load(); });
  }
}

void FailoverAgent::control_loop() {
  while (!stop_.load()) {
    control_round(*control_etcd_);
    std::unique_lock<std::mutex> l(stop_mu_);
    stop_cv_.wait_for(l, std::chrono::milliseconds(options_.poll_interval_ms), [this] { return stop_.load(); });
  }
}

void FailoverAgent::control_round(EtcdClient& etcd) {
  auto log = logger("failover");
  {
    // A master past its lease deadline cannot acknowledge: it steps down at once, so that it stops
    // telling name servers it is the master. Should etcd still hold its lease (etcd was away),
    // the next successful read makes it master again.
    const FailoverRole current = role();
    if (current.kind == FailoverRole::Kind::kMaster && !may_acknowledge(current.epoch)) {
      log->warn("failover: member {} stops acting as master of epoch {}: its etcd lease was not renewed in time",
                options_.member_id, current.epoch);
      set_role(FailoverRole{}, true);
    }
  }
  const std::string prefix = key("");
  auto kvs = etcd.get_prefix(prefix);
  if (!kvs.is_ok()) {
    std::lock_guard<std::mutex> l(mu_);
    last_error_ = "etcd read: " + kvs.status().to_string();
    return;
  }
  GroupView view;
  nlohmann::json raw = nlohmann::json::object();
  for (const auto& kv : *kvs) {
    const std::string name = kv.key.substr(prefix.size());
    auto doc = nlohmann::json::parse(kv.value, nullptr, false);
    raw[name] = doc.is_discarded() ? nlohmann::json(kv.value) : doc;
    if (name == "master" && doc.is_object()) {
      view.has_master = true;
      view.master_id = doc.value("id", int64_t{0});
      view.master_address = doc.value("address", std::string());
      view.master_ha_address = doc.value("haAddress", std::string());
      view.master_epoch = doc.value("epoch", int64_t{0});
      view.master_epochs = epochs_from(doc.value("epochs", nlohmann::json::array()));
      view.master_lease = kv.lease;
      view.master_value = kv.value;
    } else if (name == "epoch") {
      view.has_epoch = true;
      view.epoch_counter = std::atoll(kv.value.c_str());
      view.epoch_mod = kv.mod_revision;
    } else if (name == "syncset" && doc.is_object()) {
      view.has_syncset = true;
      view.syncset_epoch = doc.value("epoch", int64_t{0});
      view.syncset_mod = kv.mod_revision;
      for (const auto& m : doc.value("members", nlohmann::json::array())) {
        if (m.is_number_integer()) view.syncset.push_back(m.get<int64_t>());
      }
    } else if (name.rfind("members/", 0) == 0 && doc.is_object()) {
      GroupView::Member m;
      m.address = doc.value("address", std::string());
      m.ha_address = doc.value("haAddress", std::string());
      m.end = doc.value("end", int64_t{-1});
      m.last_epoch = doc.value("lastEpoch", int64_t{0});
      m.candidate = doc.value("candidate", false);
      view.members[std::atoll(name.c_str() + 8)] = m;
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    view_json_ = raw.dump();
    last_error_.clear();
  }
  const int64_t lease = lease_id_.load();
  if (lease == 0) return;  // the keep-alive thread is (re)granting one
  const int64_t me = options_.member_id;
  const std::vector<broker::Epoch> local = local_epochs_();
  const int64_t last_epoch = local.empty() ? 0 : local.back().epoch;

  // This member's entry: its addresses, and (as a candidate) its durable end.
  if (published_lease_ != lease || !view.members.count(me)) {
    nlohmann::json m{{"address", options_.address}, {"haAddress", options_.ha_address}, {"end", -1},
                     {"lastEpoch", last_epoch}, {"candidate", false}};
    if (etcd.put(key("members/" + std::to_string(me)), m.dump(), lease).is_ok()) {
      published_lease_ = lease;
      candidate_published_ = false;
    }
    return;
  }

  const FailoverRole current = role();
  if (view.has_master) {
    candidate_published_ = false;
    if (view.members.at(me).candidate) {
      // An end published for a finished election must not count in the next one.
      nlohmann::json m{{"address", options_.address}, {"haAddress", options_.ha_address}, {"end", -1},
                       {"lastEpoch", last_epoch}, {"candidate", false}};
      (void)etcd.put(key("members/" + std::to_string(me)), m.dump(), lease);
    }
    if (view.master_id == me) {
      if (view.master_lease == lease) {
        if (current.kind != FailoverRole::Kind::kMaster || current.epoch != view.master_epoch) {
          if (now_ms() >= lease_valid_until_ms_.load()) return;  // not before a keep-alive succeeds again
          FailoverRole next;
          next.kind = FailoverRole::Kind::kMaster;
          next.epoch = view.master_epoch;
          next.master_id = me;
          next.master_address = options_.address;
          next.master_ha_address = options_.ha_address;
          next.master_epochs = view.master_epochs;
          for (int64_t m : view.syncset) {
            if (m != me) next.in_sync.push_back(m);
          }
          set_role(std::move(next), true);
        }
        maintain_in_sync(etcd, view);
      } else if (current.kind == FailoverRole::Kind::kMaster) {
        log->warn("failover: the master key of epoch {} names this member under an old lease; stepping down",
                  view.master_epoch);
        set_role(FailoverRole{}, true);
      }
      return;
    }
    if (current.kind == FailoverRole::Kind::kSlave && current.epoch == view.master_epoch &&
        current.master_id == view.master_id) {
      return;
    }
    FailoverRole next;
    next.kind = FailoverRole::Kind::kSlave;
    next.epoch = view.master_epoch;
    next.master_id = view.master_id;
    next.master_address = view.master_address;
    next.master_ha_address = view.master_ha_address;
    next.master_epochs = view.master_epochs;
    auto cut = broker::epoch_truncation_point(view.master_epochs, local);
    if (!cut.is_ok()) {
      log->error("failover: cannot follow master {} (epoch {}): {}. This member keeps its log and will not "
                 "replicate until an operator recovers it (docs/replication.md)",
                 view.master_id, view.master_epoch, cut.status().message());
    } else {
      next.truncate_to = *cut;
    }
    log->info("failover: member {} follows master {} ({}) of epoch {}{}", me, view.master_id, view.master_address,
              view.master_epoch,
              next.truncate_to >= 0 ? ", after cutting its log at " + std::to_string(next.truncate_to) : "");
    set_role(std::move(next), true);
    return;
  }

  // No master.
  if (current.kind == FailoverRole::Kind::kMaster) {
    log->warn("failover: member {} lost the mastership of epoch {} (its lease ended); stepping down", me,
              current.epoch);
    set_role(FailoverRole{}, true);
    return;
  }
  if (current.kind == FailoverRole::Kind::kSlave) {
    log->warn("failover: master {} of epoch {} is gone; member {} stops replicating and stands for election",
              current.master_id, current.epoch, me);
    {
      std::lock_guard<std::mutex> l(hooks_mu_);
      if (hooks_.stop_replication) hooks_.stop_replication();
    }
    set_role(FailoverRole{}, false);
  }
  elect(etcd, view);
}

void FailoverAgent::elect(EtcdClient& etcd, const GroupView& view) {
  auto log = logger("failover");
  const int64_t me = options_.member_id;
  const bool fresh = !view.has_epoch && !view.has_syncset;
  bool in_sync_alive = false;
  for (int64_t m : view.syncset) in_sync_alive = in_sync_alive || view.members.count(m) > 0;
  const bool unclean = !fresh && !in_sync_alive && options_.elect_unclean;
  auto eligible = [&](int64_t id) { return fresh || unclean || contains(view.syncset, id); };
  if (!eligible(me)) return;

  const std::vector<broker::Epoch> local = local_epochs_();
  const int64_t last_epoch = local.empty() ? 0 : local.back().epoch;
  if (!candidate_published_) {
    int64_t end = -1;
    {
      std::lock_guard<std::mutex> l(hooks_mu_);
      if (hooks_.durable_end) end = hooks_.durable_end();
    }
    if (end < 0) return;  // the broker core is not up yet
    nlohmann::json m{{"address", options_.address}, {"haAddress", options_.ha_address}, {"end", end},
                     {"lastEpoch", last_epoch}, {"candidate", true}};
    if (etcd.put(key("members/" + std::to_string(me)), m.dump(), lease_id_.load()).is_ok()) {
      candidate_published_ = true;
      candidate_since_ms_ = now_ms();
    }
    return;
  }
  // Let the other candidates publish their ends before comparing.
  if (now_ms() - candidate_since_ms_ < 2 * options_.poll_interval_ms) return;
  int64_t winner = 0;
  const GroupView::Member* best = nullptr;
  for (const auto& [id, m] : view.members) {
    if (!m.candidate || !eligible(id)) continue;
    if (best == nullptr || m.last_epoch > best->last_epoch ||
        (m.last_epoch == best->last_epoch && m.end > best->end)) {
      best = &m;
      winner = id;
    }
  }
  if (winner != me || best == nullptr) return;

  int64_t new_epoch = std::max(view.epoch_counter, last_epoch);
  for (const auto& [id, m] : view.members) new_epoch = std::max(new_epoch, m.last_epoch);
  ++new_epoch;
  const int64_t end = best->end;
  std::vector<broker::Epoch> epochs;
  for (const auto& e : local) {
    if (e.start_offset <= end) epochs.push_back(e);
  }
  epochs.push_back({new_epoch, end});
  std::vector<int64_t> members{me};
  if (!fresh && !unclean) {
    for (int64_t m : view.syncset) {
      if (m != me && view.members.count(m)) members.push_back(m);
    }
  }
  const nlohmann::json master{{"id", me},
                              {"address", options_.address},
                              {"haAddress", options_.ha_address},
                              {"epoch", new_epoch},
                              {"epochs", epochs_json(epochs)}};
  const nlohmann::json syncset{{"epoch", view.syncset_epoch + 1}, {"members", members}};
  const int64_t lease = lease_id_.load();
  std::vector<EtcdCompare> compares;
  compares.push_back({key("master"), EtcdCompare::Target::kCreateRevision, EtcdCompare::Result::kEqual, 0, ""});
  compares.push_back({key("epoch"), EtcdCompare::Target::kModRevision, EtcdCompare::Result::kEqual, view.epoch_mod, ""});
  compares.push_back(
      {key("syncset"), EtcdCompare::Target::kModRevision, EtcdCompare::Result::kEqual, view.syncset_mod, ""});
  std::vector<EtcdOp> ops;
  ops.push_back({EtcdOp::Kind::kPut, key("master"), master.dump(), lease});
  ops.push_back({EtcdOp::Kind::kPut, key("epoch"), std::to_string(new_epoch), 0});
  ops.push_back({EtcdOp::Kind::kPut, key("syncset"), syncset.dump(), 0});
  auto won = etcd.txn(compares, ops);
  if (!won.is_ok() || !*won) return;  // someone else moved first, or the answer was lost: re-read
  if (unclean) {
    log->error("failover: UNCLEAN election: member {} becomes master of epoch {} although it was not in the "
               "in-sync set (no in-sync member is alive; enableElectUncleanMaster=true). Messages acknowledged "
               "under earlier epochs may be missing.",
               me, new_epoch);
  }
  log->warn("failover: member {} elected master of epoch {} at commit-log offset {} (in-sync set {})", me, new_epoch,
            end, nlohmann::json(members).dump());
  FailoverRole next;
  next.kind = FailoverRole::Kind::kMaster;
  next.epoch = new_epoch;
  next.master_id = me;
  next.master_address = options_.address;
  next.master_ha_address = options_.ha_address;
  next.master_epochs = epochs;
  for (int64_t m : members) {
    if (m != me) next.in_sync.push_back(m);
  }
  candidate_published_ = false;
  set_role(std::move(next), true);
}

void FailoverAgent::maintain_in_sync(EtcdClient& etcd, const GroupView& view) {
  auto log = logger("failover");
  const int64_t me = options_.member_id;
  const int64_t epoch = view.master_epoch;
  if (!may_acknowledge(epoch)) return;
  std::unique_lock<std::mutex> hooks_lock(hooks_mu_);
  if (!hooks_.slaves || !hooks_.try_add_in_sync || !hooks_.set_in_sync) return;  // core not up yet
  std::vector<int64_t> others;
  for (int64_t m : view.syncset) {
    if (m != me) others.push_back(m);
  }
  hooks_.set_in_sync(others);  // the local set is what etcd records
  const std::vector<ha::SlaveInfo> slaves = hooks_.slaves();
  const int64_t now = wall_ms();
  auto change = [&](std::vector<int64_t> next_others) {
    std::vector<int64_t> members{me};
    members.insert(members.end(), next_others.begin(), next_others.end());
    const nlohmann::json syncset{{"epoch", view.syncset_epoch + 1}, {"members", members}};
    std::vector<EtcdCompare> compares;
    compares.push_back({key("master"), EtcdCompare::Target::kValue, EtcdCompare::Result::kEqual, 0, view.master_value});
    compares.push_back(
        {key("syncset"), EtcdCompare::Target::kModRevision, EtcdCompare::Result::kEqual, view.syncset_mod, ""});
    auto ok = etcd.txn(compares, {{EtcdOp::Kind::kPut, key("syncset"), syncset.dump(), 0}});
    return ok.is_ok() && *ok;
  };

  std::vector<int64_t> lagging;
  for (int64_t m : others) {
    int64_t& last = last_in_sync_ms_[m];
    if (last == 0) last = now;  // a grace period from when this master first saw it in the set
    for (const auto& s : slaves) {
      if (s.member_id == m && s.caught_up_ms > last) last = s.caught_up_ms;
    }
    if (now - last > options_.max_time_slave_not_catchup_ms) lagging.push_back(m);
  }
  if (!lagging.empty()) {
    std::vector<int64_t> keep;
    for (int64_t m : others) {
      if (!contains(lagging, m)) keep.push_back(m);
    }
    if (change(keep)) {
      hooks_.set_in_sync(keep);
      for (int64_t m : lagging) last_in_sync_ms_.erase(m);
      log->warn("failover: member(s) {} left the in-sync set of epoch {} (not caught up for {} ms); in-sync set now {}",
                nlohmann::json(lagging).dump(), epoch, options_.max_time_slave_not_catchup_ms,
                nlohmann::json(keep).dump());
    }
    return;
  }
  for (const auto& s : slaves) {
    const int64_t m = s.member_id;
    if (m <= 0 || m == me || contains(others, m)) continue;
    if (!hooks_.try_add_in_sync(m)) continue;
    std::vector<int64_t> grown = others;
    grown.push_back(m);
    if (change(grown)) {
      last_in_sync_ms_[m] = now;
      log->info("failover: member {} caught up and joined the in-sync set of epoch {}", m, epoch);
    } else {
      hooks_.set_in_sync(others);
    }
    return;
  }
}

std::string FailoverAgent::status_json() const {
  nlohmann::json j;
  std::lock_guard<std::mutex> l(mu_);
  j["memberId"] = options_.member_id;
  j["leaseId"] = lease_id_.load();
  j["leaseTtlSeconds"] = ttl_seconds_;
  j["leaseValidForMillis"] = std::max<int64_t>(0, lease_valid_until_ms_.load() - now_ms());
  const char* kind = role_.kind == FailoverRole::Kind::kMaster  ? "MASTER"
                     : role_.kind == FailoverRole::Kind::kSlave ? "SLAVE"
                                                                : "CANDIDATE";
  j["role"] = kind;
  j["epoch"] = role_.epoch;
  j["masterId"] = role_.master_id;
  j["masterAddress"] = role_.master_address;
  j["mayAcknowledge"] = role_.kind == FailoverRole::Kind::kMaster && may_acknowledge(role_.epoch);
  j["etcd"] = nlohmann::json::parse(view_json_.empty() ? "{}" : view_json_, nullptr, false);
  if (!last_error_.empty()) j["lastError"] = last_error_;
  return j.dump();
}

}  // namespace holdfast
