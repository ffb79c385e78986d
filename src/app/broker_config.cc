// The broker's keys: names, types, defaults, bounds and one-line meanings in one place, plus the
// rules that span keys and the mapping into StoreOptions.
#include "app/broker_config.h"

#include <arpa/inet.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <limits>

namespace holdfast {
namespace {

constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int32_t kConsumeQueueUnitSize = 20;  // facts §6.3
// The store's own rule: the largest record (body limit + 64 KiB of headers) plus a page of slack
// must fit in one segment, because a record never spans segments (facts §6.2).
constexpr int64_t kSegmentSlack = 64 * 1024 + 4096;

std::string home_dir() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && *found->pw_dir != '\0') {
    return found->pw_dir;
  }
  return ".";
}

// RocketMQ's default brokerName is the local host name.
std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "broker-a";
  return buf;
}

// RocketMQ never expands "~"; a literal directory named "~" is never what an operator meant.
std::string expand_home(std::string path) {
  if (path == "~") return home_dir();
  if (path.rfind("~/", 0) == 0) return home_dir() + path.substr(1);
  return path;
}

std::string normal_dir(const std::string& path) {
  std::string s = std::filesystem::path(path).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool parse_port(std::string_view s, int32_t* port) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *port);
  return ec == std::errc() && ptr == s.data() + s.size() && *port >= 1 && *port <= 65535;
}

bool is_host_port(std::string_view s) {
  const size_t colon = s.rfind(':');
  int32_t port = 0;
  return colon != std::string_view::npos && colon > 0 && parse_port(s.substr(colon + 1), &port);
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find(sep, start), s.size());
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

const std::string& str(const ConfigValue& v) { return std::get<std::string>(v); }

std::string rule_not_empty(const ConfigValue& v) {
  return str(v).empty() ? "must not be empty" : "";
}

std::string rule_multiple_of_unit(const ConfigValue& v) {
  return std::get<int64_t>(v) % kConsumeQueueUnitSize == 0
             ? ""
             : "must be a multiple of 20 (the consume-queue unit size)";
}

std::string rule_hours(const ConfigValue& v) {
  const std::vector<std::string> hours = split(str(v), ';');
  bool ok = !hours.empty();
  for (const std::string& h : hours) {
    int hour = -1;
    const auto [ptr, ec] = std::from_chars(h.data(), h.data() + h.size(), hour);
    ok = ok && ec == std::errc() && ptr == h.data() + h.size() && hour >= 0 && hour <= 23;
  }
  return ok ? "" : "must be ';'-separated hours 0-23 such as '04' or '04;16'";
}

std::string rule_name_servers(const ConfigValue& v) {
  for (const std::string& addr : split(str(v), ';')) {
    if (!is_host_port(addr)) return "must be a ';'-separated list of host:port";
  }
  return "";
}

std::string rule_ip_or_empty(const ConfigValue& v) {
  unsigned char buf[16];
  const std::string& s = str(v);
  return s.empty() || inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1
             ? ""
             : "must be empty or an IPv4/IPv6 address";
}

std::string rule_delay_levels(const ConfigValue& v) {
  return parse_delay_levels(str(v)).is_ok()
             ? ""
             : "must be space-separated delays such as '1s 5m 2h' (units s, m, h, d)";
}

std::string rule_host_port_or_empty(const ConfigValue& v) {
  return str(v).empty() || is_host_port(str(v)) ? "" : "must be empty or host:port";
}

std::string rule_read_write_permission(const ConfigValue& v) {
  return std::get<int64_t>(v) == 6 ? ""
                                   : "must be 6 (read and write): a read-only or write-only broker is not "
                                     "implemented yet, the value would be ignored";
}

const char* role_name(BrokerRole role) {
  switch (role) {
    case BrokerRole::kAsyncMaster: return "ASYNC_MASTER";
    case BrokerRole::kSyncMaster: return "SYNC_MASTER";
    case BrokerRole::kSlave: return "SLAVE";
  }
  return "?";
}

}  // namespace

void register_broker_config(ConfigRegistry& r, BrokerConfig* c) {
  r.begin_group("Identity and name service");
  r.add_string("brokerClusterName", &c->broker_cluster_name, "DefaultCluster",
               "Cluster this broker registers under with the name servers.")
      .with_rule("not empty", rule_not_empty);
  r.add_string("brokerName", &c->broker_name, host_name(),
               "Broker group name; a master and its slaves share it.")
      .with_documented_default("this host's name")
      .with_rule("not empty", rule_not_empty);
  r.add_int64("brokerId", &c->broker_id, 0, 0, kInt64Max,
              "0 for the master; 1 or more for a slave.");
  r.add_string("brokerIP1", &c->broker_ip1, "",
               "Address registered with the name servers and put in message ids; empty = detected.")
      .with_rule("empty or an IP address", rule_ip_or_empty);
  r.add_string("namesrvAddr", &c->namesrv_addr, "",
               "Name servers to register with, ';'-separated host:port.")
      .with_rule("host:port;host:port", rule_name_servers);
  r.add_int32("listenPort", &c->listen_port, 10911, 1, 65535,
              "Port of the remoting server (clients and name servers).");
  r.add_bool("fastListenPortEnable", &c->fast_listen_port_enable, true,
             "Also serve clients on listenPort - 2, as RocketMQ brokers do (its \"VIP channel\": RocketMQ "
             "slaves copy a master's topics through it). A port that is taken is logged and skipped.");
  r.add_int32("registerNameServerPeriod", &c->register_name_server_period_ms, 30000, 10000, 60000,
              "Milliseconds between registrations with every name server.");
  r.add_int32("brokerPermission", &c->broker_permission, 6, 0, 7,
              "Permission bits registered for the broker's topics: 4 read, 2 write, 1 inherit.")
      .with_rule("6 only (not implemented yet)", rule_read_write_permission);

  r.begin_group("Replication");
  r.add_enum("brokerRole", &c->broker_role, BrokerRole::kAsyncMaster,
             {{"ASYNC_MASTER", BrokerRole::kAsyncMaster},
              {"SYNC_MASTER", BrokerRole::kSyncMaster},
              {"SLAVE", BrokerRole::kSlave}},
             "SYNC_MASTER acknowledges a put once a slave holds it durably, ASYNC_MASTER at once; SLAVE "
             "replicates its master and takes no sends.");
  r.add_int32("haListenPort", &c->ha_listen_port, 0, 0, 65535,
              "Port the master serves replication on; 0 = listenPort + 1.");
  r.add_string("haMasterAddress", &c->ha_master_address, "",
               "Slave only: master's HA host:port; empty = learnt from the name server.")
      .with_rule("empty or host:port", rule_host_port_or_empty);
  r.add_bool("slaveReadEnable", &c->slave_read_enable, false,
             "Whether a slave serves pulls while its master is up (it always does when the master is "
             "unreachable).");
  r.add_int32("haSendHeartbeatInterval", &c->ha_send_heartbeat_interval_ms, 5000, 100, 600000,
              "Milliseconds between a slave's offset reports and a master's heartbeats when idle.");
  r.add_int32("haHousekeepingInterval", &c->ha_housekeeping_interval_ms, 20000, 1000, 600000,
              "An HA connection that reads nothing for this many milliseconds is closed.");
  r.add_int32("haTransferBatchSize", &c->ha_transfer_batch_size, 32768, 1024, 64 * 1024 * 1024,
              "Most commit-log bytes a master sends a slave in one batch.");
  r.add_int64("haSlaveFallbehindMax", &c->ha_slave_fallbehind_max, 256LL * 1024 * 1024, 0, kInt64Max,
              "SYNC_MASTER: a slave more than this many bytes behind does not count (SLAVE_NOT_AVAILABLE).");
  r.add_int32("slaveTimeout", &c->slave_timeout_ms, 3000, 1, 600000,
              "SYNC_MASTER: milliseconds a put waits for a slave's acknowledgement (FLUSH_SLAVE_TIMEOUT).");

  r.begin_group("Automatic failover");
  r.add_bool("enableControllerMode", &c->enable_controller_mode, false,
             "Elect the group's master through etcd and fail over automatically (docs/replication.md); "
             "brokerId is then the member id (1 or more) and brokerRole the role an elected master takes.");
  r.add_string("etcdEndpoints", &c->etcd_endpoints, "",
               "Controller mode: ';'-separated host:port list of the etcd cluster's client URLs (v3 API).")
      .with_rule("empty or a ';'-separated list of host:port", [](const ConfigValue& v) {
        return str(v).empty() ? std::string() : rule_name_servers(v);
      });
  r.add_int64("controllerHeartBeatTimeoutMills", &c->controller_heartbeat_timeout_ms, 3000, 1000, 600000,
              "Controller mode: TTL of a broker's etcd lease, rounded up to whole seconds. A master that has "
              "not renewed it for this long (less a safety margin) stops acknowledging; then another "
              "in-sync member is elected.");
  r.add_int32("brokerHeartbeatInterval", &c->broker_heartbeat_interval_ms, 1000, 100, 60000,
              "Controller mode: milliseconds between renewals of the broker's etcd lease.");
  r.add_int32("syncControllerMetadataPeriod", &c->sync_controller_metadata_period_ms, 200, 20, 60000,
              "Controller mode: milliseconds between reads of the group's state in etcd (master, epoch, "
              "in-sync set).");
  r.add_int64("haMaxTimeSlaveNotCatchup", &c->ha_max_time_slave_not_catchup_ms, 15000, 100, 3600000,
              "Controller mode: a slave that has not caught up for this long leaves the in-sync set.");
  r.add_int32("minInSyncReplicas", &c->min_in_sync_replicas, 2, 1, 16,
              "Controller mode, SYNC_MASTER: fewest in-sync members (master included) that may acknowledge "
              "a put; with fewer, sends get SLAVE_NOT_AVAILABLE instead of fewer copies.");
  r.add_bool("enableElectUncleanMaster", &c->enable_elect_unclean_master, false,
             "Controller mode: let a member outside the in-sync set become master when no in-sync member "
             "is alive (it may lack acknowledged messages; logged as an error).");

  r.begin_group("Storage");
  r.add_string("storePathRootDir", &c->store_path_root_dir, home_dir() + "/store",
               "Root of the store: commit log, consume queues, index, checkpoint. A leading ~/ is expanded.")
      .with_documented_default("$HOME/store")
      .with_normalize(expand_home)
      .with_rule("not empty", rule_not_empty);
  r.add_string("storePathCommitLog", &c->store_path_commit_log, "",
               "Commit log directory; must be empty or <storePathRootDir>/commitlog.")
      .with_normalize(expand_home);
  r.add_int32("mappedFileSizeCommitLog", &c->mapped_file_size_commit_log, 1073741824, 1 << 20,
              kInt32Max,
              "Bytes per commit-log segment; at least maxMessageSize + 68 KiB. Fixed once the store has data.");
  r.add_int32("mappedFileSizeConsumeQueue", &c->mapped_file_size_consume_queue, 6000000,
              kConsumeQueueUnitSize, kInt32Max,
              "Bytes per consume-queue file (20-byte units). Fixed once the store has data.")
      .with_rule("multiple of 20", rule_multiple_of_unit);
  r.add_int32("maxMessageSize", &c->max_message_size, 4194304, 1, kInt32Max,
              "Largest accepted message body in bytes.");
  r.add_bool("messageIndexEnable", &c->message_index_enable, true,
             "Index messages by KEYS and UNIQ_KEY for lookup by key and id.");
  r.add_int32("maxHashSlotNum", &c->max_hash_slot_num, 5000000, 1, kInt32Max,
              "Hash slots per index file. Changing it makes existing index files unreadable.");
  r.add_int32("maxIndexNum", &c->max_index_num, 20000000, 2, kInt32Max,
              "Entries per index file. Changing it makes existing index files unreadable.");
  r.add_bool("checkCRCOnRecover", &c->check_crc_on_recover, true,
             "Check each record's body CRC during crash recovery.");
  r.add_bool("warmMapedFileEnable", &c->warm_maped_file_enable, true,
             "Holdfast: zero-fill each new commit-log segment (the next one ahead of time) so "
             "fdatasync never allocates blocks. RocketMQ: false.");

  r.begin_group("Flush");
  r.add_enum("flushDiskType", &c->flush_disk_type, FlushDiskType::kSyncFlush,
             {{"SYNC_FLUSH", FlushDiskType::kSyncFlush}, {"ASYNC_FLUSH", FlushDiskType::kAsyncFlush}},
             "SYNC_FLUSH acknowledges a put after fdatasync (group commit). RocketMQ: ASYNC_FLUSH.");
  r.add_int64("syncFlushTimeout", &c->sync_flush_timeout_ms, 5000, 1, kInt64Max,
              "SYNC_FLUSH: milliseconds a put waits for its flush before FLUSH_DISK_TIMEOUT.");
  r.add_int32("flushIntervalCommitLog", &c->flush_interval_commit_log_ms, 500, 1, kInt32Max,
              "ASYNC_FLUSH: milliseconds between flushes; the most an OS crash can lose.");
  r.add_int32("flushCommitLogLeastPages", &c->flush_commit_log_least_pages, 4, 0, kInt32Max,
              "ASYNC_FLUSH: flush only when at least this many 4 KiB pages are dirty.");
  r.add_int32("flushCommitLogThoroughInterval", &c->flush_commit_log_thorough_interval_ms, 10000,
              1, kInt32Max, "ASYNC_FLUSH: milliseconds after which a flush ignores the page minimum.");
  r.add_int32("flushIntervalConsumeQueue", &c->flush_interval_consume_queue_ms, 1000, 1, kInt32Max,
              "Milliseconds between consume-queue/index flushes and checkpoints.");
  r.add_int32("flushConsumerOffsetInterval", &c->flush_consumer_offset_interval_ms, 5000, 1,
              kInt32Max, "Milliseconds between persists of consumer offsets.");

  r.begin_group("Retention and disk space");
  r.add_int32("fileReservedTime", &c->file_reserved_time_hours, 72, 1, kInt32Max,
              "Hours a commit-log segment is kept after its last write.");
  r.add_string("deleteWhen", &c->delete_when, "04",
               "Hours of the day (local time) when expired files are deleted.")
      .with_rule("';'-separated hours 0-23", rule_hours);
  r.add_int32("diskMaxUsedSpaceRatio", &c->disk_max_used_space_ratio, 75, 10, 95,
              "Disk use percent above which expired files are deleted at any hour.");
  r.add_int32("diskSpaceCleanForciblyRatio", &c->disk_space_clean_forcibly_ratio, 85, 30, 85,
              "Disk use percent above which the oldest files are deleted even if not expired.");
  r.add_int32("diskSpaceWarningLevelRatio", &c->disk_space_warning_level_ratio, 90, 35, 90,
              "Disk use percent above which puts are rejected until space returns.");
  r.add_int32("cleanResourceInterval", &c->clean_resource_interval_ms, 10000, 1, kInt32Max,
              "Milliseconds between retention and disk-space checks.");
  r.add_int32("deleteFileBatchMax", &c->delete_file_batch_max, 10, 1, kInt32Max,
              "Most files deleted per retention pass.");

  r.begin_group("Topics, groups and clients");
  r.add_bool("autoCreateTopicEnable", &c->auto_create_topic_enable, true,
             "Create a topic on first send (through TBW102).");
  r.add_bool("autoCreateSubscriptionGroup", &c->auto_create_subscription_group, true,
             "Create a consumer group's subscription config on first use.");
  r.add_int32("defaultTopicQueueNums", &c->default_topic_queue_nums, 8, 1, kInt32Max,
              "Queues of the TBW102 template topic.");
  r.add_bool("longPollingEnable", &c->long_polling_enable, true,
             "Hold a pull that finds nothing until messages arrive or it times out.");
  r.add_int64("shortPollingTimeMills", &c->short_polling_time_ms, 1000, 1, kInt64Max,
              "Milliseconds a pull is held when long polling is off.");
  r.add_int64("channelExpiredTimeout", &c->channel_expired_timeout_ms, 120000, 1, kInt64Max,
              "Milliseconds without a heartbeat after which a client connection is dropped.");
  r.add_string("messageDelayLevel", &c->message_delay_level,
               "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h",
               "Delay of each delay level (level 1 first); also the retry backoff.")
      .with_rule("units s, m, h, d", rule_delay_levels);

  r.begin_group("Transactions");
  r.add_int64("transactionCheckInterval", &c->transaction_check_interval_ms, 30000, 1, kInt64Max,
              "Milliseconds between check-back rounds over pending half messages (RocketMQ 5.x value).");
  r.add_int64("transactionTimeOut", &c->transaction_timeout_ms, 6000, 0, kInt64Max,
              "Milliseconds after a half message's birth before it is first checked (a message's "
              "CHECK_IMMUNITY_TIME_IN_SECONDS, when longer, wins).");
  r.add_int32("transactionCheckMax", &c->transaction_check_max, 15, 1, kInt32Max,
              "Check-backs before a half message is moved to TRANS_CHECK_MAX_TIME_TOPIC (kept there, "
              "listed by `holdfast admin tx list`, resolvable by hand).");

  // RocketMQ keys operators' files often carry that Holdfast does not implement. The store-path
  // ones come from widely copied example files; RocketMQ itself ignores them.
  const std::string kUnderRoot =
      "Holdfast keeps it under storePathRootDir (RocketMQ ignores this key too); remove the line";
  for (const char* key : {"storePathConsumeQueue", "storePathIndex", "storeCheckpoint", "abortFile"}) {
    r.add_unsupported(key, kUnderRoot);
  }
  r.add_unsupported("brokerIP2", "a separate HA address is not implemented; remove the line");
  r.add_unsupported("transientStorePoolEnable",
                    "Holdfast writes the commit log with pwrite and has no off-heap pool", "false");
  r.add_unsupported("enableDLegerCommitLog", "DLedger is not implemented; use brokerRole", "false");
  r.add_unsupported("controllerAddr", "Holdfast elects masters through etcd, not a RocketMQ controller: set "
                    "enableControllerMode=true and etcdEndpoints");
  r.add_unsupported("totalReplicas", "quorum writes are not implemented; SYNC_MASTER waits for one slave (with "
                    "enableControllerMode: for every in-sync member, see minInSyncReplicas)");
  r.add_unsupported("inSyncReplicas", "quorum writes are not implemented; SYNC_MASTER waits for one slave (with "
                    "enableControllerMode: for every in-sync member, see minInSyncReplicas)");
  r.add_unsupported("aclEnable", "ACL is not implemented; the broker would run unprotected", "false");
}

BrokerConfig default_broker_config() {
  BrokerConfig config;
  ConfigRegistry registry;
  register_broker_config(registry, &config);
  return config;
}

int32_t effective_ha_listen_port(const BrokerConfig& c) {
  return c.ha_listen_port != 0 ? c.ha_listen_port : c.listen_port + 1;
}

std::vector<std::string> name_server_addresses(const BrokerConfig& c) {
  return split(c.namesrv_addr, ';');
}

std::vector<std::string> etcd_endpoints(const BrokerConfig& c) {
  return split(c.etcd_endpoints, ';');
}

Result<std::vector<int64_t>> parse_delay_levels(std::string_view text) {
  std::vector<int64_t> levels;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = text.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(text.find_first_of(" \t", start), text.size());
    const std::string_view token = text.substr(start, end - start);
    pos = end;
    int64_t unit_ms = 0;
    switch (token.back()) {
      case 's': unit_ms = 1000; break;
      case 'm': unit_ms = 60 * 1000; break;
      case 'h': unit_ms = 60 * 60 * 1000; break;
      case 'd': unit_ms = 24 * 60 * 60 * 1000; break;
      default: break;
    }
    int64_t count = 0;
    const std::string_view digits = token.substr(0, token.size() - 1);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    if (unit_ms == 0 || digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() ||
        count < 1 || count > kInt64Max / unit_ms) {
      return Status::invalid_argument("bad delay level '" + std::string(token) +
                                      "' (expected a positive number followed by s, m, h or d)");
    }
    levels.push_back(count * unit_ms);
  }
  if (levels.empty()) return Status::invalid_argument("no delay levels");
  return levels;
}

Status validate_broker_config(const BrokerConfig& c) {
  std::vector<std::string> errors;
  const int64_t min_segment = static_cast<int64_t>(c.max_message_size) + kSegmentSlack;
  if (c.mapped_file_size_commit_log < min_segment) {
    errors.push_back("mappedFileSizeCommitLog (" + std::to_string(c.mapped_file_size_commit_log) +
                     ") must be at least maxMessageSize (" + std::to_string(c.max_message_size) +
                     ") + 68 KiB = " + std::to_string(min_segment) +
                     ": a record never spans segments");
  }
  if (c.ha_listen_port == 0 && c.listen_port >= 65535) {
    errors.push_back("haListenPort is 0 (listenPort + 1) but listenPort is 65535; set haListenPort");
  } else if (effective_ha_listen_port(c) == c.listen_port) {
    errors.push_back("haListenPort must differ from listenPort (both " +
                     std::to_string(c.listen_port) + ")");
  }
  if (c.enable_controller_mode) {
    if (c.etcd_endpoints.empty()) errors.push_back("enableControllerMode needs etcdEndpoints");
    if (c.broker_id < 1) {
      errors.push_back("enableControllerMode needs brokerId >= 1: it is the member id (the elected master "
                       "registers as 0), got " + std::to_string(c.broker_id));
    }
    if (c.broker_role == BrokerRole::kSlave) {
      errors.push_back("enableControllerMode: brokerRole is the role an elected master takes, SYNC_MASTER or "
                       "ASYNC_MASTER, not SLAVE (every member is a candidate)");
    }
    if (c.listen_port == 0) errors.push_back("enableControllerMode needs a fixed listenPort (other members are told it)");
  } else if (c.broker_role == BrokerRole::kSlave && c.broker_id < 1) {
    errors.push_back("brokerRole SLAVE needs brokerId >= 1 (0 is the master's id), got " +
                     std::to_string(c.broker_id));
  }
  // RocketMQ silently forces a master's brokerId to 0; a mismatch is more likely a mistake.
  if (!c.enable_controller_mode && c.broker_role != BrokerRole::kSlave && c.broker_id != 0) {
    errors.push_back(std::string("brokerRole ") + role_name(c.broker_role) +
                     " needs brokerId 0, got " + std::to_string(c.broker_id));
  }
  if (c.store_path_root_dir.empty()) errors.push_back("storePathRootDir must not be empty");
  const std::string commit_log_dir = normal_dir(c.store_path_root_dir + "/commitlog");
  if (!c.store_path_commit_log.empty() && normal_dir(c.store_path_commit_log) != commit_log_dir) {
    errors.push_back("storePathCommitLog must be empty or " + commit_log_dir +
                     " (Holdfast keeps the commit log under storePathRootDir), got '" +
                     c.store_path_commit_log + "'");
  }
  if (c.disk_space_clean_forcibly_ratio >= c.disk_space_warning_level_ratio) {
    errors.push_back("diskSpaceCleanForciblyRatio (" +
                     std::to_string(c.disk_space_clean_forcibly_ratio) +
                     ") must be below diskSpaceWarningLevelRatio (" +
                     std::to_string(c.disk_space_warning_level_ratio) +
                     "): forced cleaning must start before puts are rejected");
  }
  IndexOptions index;
  index.hash_slot_count = static_cast<uint32_t>(c.max_hash_slot_num);
  index.max_index_count = static_cast<uint32_t>(c.max_index_num);
  if (c.max_hash_slot_num < 1 || c.max_index_num < 2) {
    errors.push_back("maxHashSlotNum must be >= 1 and maxIndexNum >= 2");
  } else if (Status st = validate_index_options(index); !st.is_ok()) {
    errors.push_back(st.message());
  }
  if (c.mapped_file_size_consume_queue < kConsumeQueueUnitSize ||
      c.mapped_file_size_consume_queue % kConsumeQueueUnitSize != 0) {
    errors.push_back("mappedFileSizeConsumeQueue must be a positive multiple of 20, got " +
                     std::to_string(c.mapped_file_size_consume_queue));
  }
  if (errors.empty()) return Status::ok();
  std::string message;
  for (const std::string& e : errors) message += (message.empty() ? "" : "\n") + e;
  return Status::invalid_argument(message);
}

Result<StoreOptions> to_store_options(const BrokerConfig& c) {
  HF_RETURN_IF_ERROR(validate_broker_config(c));
  StoreOptions o;
  o.root_dir = c.store_path_root_dir;
  o.commit_log_segment_size = c.mapped_file_size_commit_log;
  o.consume_queue_units_per_file = c.mapped_file_size_consume_queue / kConsumeQueueUnitSize;
  o.index.hash_slot_count = static_cast<uint32_t>(c.max_hash_slot_num);
  o.index.max_index_count = static_cast<uint32_t>(c.max_index_num);
  o.message_index_enable = c.message_index_enable;
  o.flush_disk_type = c.flush_disk_type;
  o.sync_flush_timeout_ms = c.sync_flush_timeout_ms;
  o.flush_interval_commit_log_ms = c.flush_interval_commit_log_ms;
  o.flush_commit_log_least_pages = c.flush_commit_log_least_pages;
  o.flush_commit_log_thorough_interval_ms = c.flush_commit_log_thorough_interval_ms;
  o.max_message_size = c.max_message_size;
  o.checkpoint_interval_ms = c.flush_interval_consume_queue_ms;
  o.check_crc_on_recover = c.check_crc_on_recover;
  o.warm_segments = c.warm_maped_file_enable;
  o.file_reserved_time_hours = c.file_reserved_time_hours;
  o.delete_when = c.delete_when;
  o.disk_max_used_space_ratio = c.disk_max_used_space_ratio;
  o.disk_space_clean_forcibly_ratio = c.disk_space_clean_forcibly_ratio;
  o.disk_space_warning_level_ratio = c.disk_space_warning_level_ratio;
  o.clean_resource_interval_ms = c.clean_resource_interval_ms;
  o.delete_file_batch_max = c.delete_file_batch_max;
  o.store_host = HostAddress::ipv4(127, 0, 0, 1, c.listen_port);
  if (!c.broker_ip1.empty()) {
    unsigned char ip[16];
    if (inet_pton(AF_INET, c.broker_ip1.c_str(), ip) == 1) {
      o.store_host = HostAddress::ipv4(ip[0], ip[1], ip[2], ip[3], c.listen_port);
    } else if (inet_pton(AF_INET6, c.broker_ip1.c_str(), ip) == 1) {
      o.store_host.ipv6 = true;
      std::copy(ip, ip + 16, o.store_host.ip.begin());
    } else {
      return Status::invalid_argument("brokerIP1 must be empty or an IPv4/IPv6 address, got '" +
                                      c.broker_ip1 + "'");
    }
  }
  return o;
}

namespace {

constexpr std::string_view kDocPreamble = R"md(# Broker configuration

<!-- Generated by holdfast_config_doc from src/app/broker_config.cc; do not edit by hand.
     Regenerate: cmake --build <build-dir> --target update_config_doc
     config_registry_test fails when this file and the registry disagree. -->

The broker reads RocketMQ's `broker.conf` format with RocketMQ's key names, so an operator's
existing file works unchanged as long as it uses only the keys below.

**File format** (a strict subset of `java.util.Properties`):
- one `key=value` per line; whitespace around the key and the value is ignored;
- lines starting with `#` or `!` are comments; a `#` later in a line is part of the value, as in Java;
- a key set twice: the later value wins, and a warning names both lines;
- `key=value` (or `--key=value`) arguments on the command line override the file;
- unknown keys and malformed or out-of-range values stop start-up with the file, line and key, and a
  suggestion for a misspelt key (`broker.conf:7: unknown key 'flushDiskTyp' (did you mean
  'flushDiskType'?)`); every bad line of a file is reported at once;
- not supported: `:` or a space as the separator, `\` line continuation, escapes.

At start-up the broker logs the effective value of every key and where it came from (`default`,
`broker.conf:5`, `command line argument 1`).

**`holdfast standalone`** runs a name server and a broker in one process and sets, before any
`-c broker.conf` and `key=value` arguments (which still win): `storePathRootDir` = `--data`
(default `./data`), `listenPort` = `--broker-port` (10911), `autoCreateTopicEnable=true`,
`brokerName=standalone`; `brokerIP1` defaults to `--host`, and `namesrvAddr` always names its own
name server. `flushDiskType` stays SYNC_FLUSH unless set.

## Where Holdfast differs from RocketMQ

| Key | RocketMQ | Holdfast | Why |
|---|---|---|---|
| `flushDiskType` | default `ASYNC_FLUSH` | default `SYNC_FLUSH` | zero loss by default: a put is acknowledged after fdatasync (group commit); see `docs/durability.md` |
| `warmMapedFileEnable` | default `false` (pre-touch pages) | default `true` (zero-fill) | each new segment is written with zeros ahead of use, so a group-commit fdatasync overwrites allocated blocks instead of allocating them |
| booleans | any text but `true` reads as `false` | only `true` or `false` (any case) | a typo must not switch a feature off |
| `registerNameServerPeriod` | silently clamped to 10000..60000 | rejected outside 10000..60000 | no silent changes |
| `brokerId` | forced to 0 on a master | must be 0 on a master, 1 or more on a slave | a mismatch is more likely a mistake |
| `storePathCommitLog` | any directory (or `,`-separated list) | empty or `<storePathRootDir>/commitlog` | one store root holds every file the store recovers |
| `haListenPort` | set to `listenPort + 1` at start-up | `0` means `listenPort + 1` | same behaviour, explicit |
| `storePathRootDir` | `~` not expanded | a leading `~/` is expanded from `$HOME` | |

Computed defaults: `brokerName` is this machine's host name; `storePathRootDir` is `$HOME/store`.

Rules across keys (checked at start-up): `mappedFileSizeCommitLog` >= `maxMessageSize` + 68 KiB
(a record never spans segments); the HA port differs from `listenPort`; `brokerId` matches
`brokerRole` (with `enableControllerMode`: `brokerId` >= 1, `brokerRole` SYNC_MASTER or ASYNC_MASTER,
`etcdEndpoints` set, a fixed `listenPort`); `diskSpaceCleanForciblyRatio` < `diskSpaceWarningLevelRatio`.
)md";

}  // namespace

std::string broker_config_markdown() {
  BrokerConfig config;
  ConfigRegistry registry;
  register_broker_config(registry, &config);
  return registry.markdown(kDocPreamble);
}

}  // namespace holdfast
