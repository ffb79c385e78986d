// BrokerConfig: the broker's keys (RocketMQ's names and defaults, except flushDiskType, which
// defaults to SYNC_FLUSH), their registration in a ConfigRegistry, cross-key validation, and the
// mapping into the plain option structs the subsystems receive.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "app/config_registry.h"
#include "base/status.h"
#include "storage/store_options.h"

namespace holdfast {

// RocketMQ's BrokerRole. It lives here until the broker and HA subsystems exist to own it.
enum class BrokerRole { kAsyncMaster, kSyncMaster, kSlave };

// Plain data; each field's comment names its RocketMQ key. The defaults live in one place,
// register_broker_config(), which writes them into the struct; use default_broker_config() for a
// struct holding them. A value-initialized BrokerConfig{} is not a usable configuration.
struct BrokerConfig {
  // Identity and name service.
  std::string broker_cluster_name;          // brokerClusterName
  std::string broker_name;                  // brokerName
  int64_t broker_id{};                      // brokerId (0 = master)
  std::string broker_ip1;                   // brokerIP1 (empty = detect)
  std::string namesrv_addr;                 // namesrvAddr (';'-separated host:port list)
  int32_t listen_port{};                    // listenPort
  bool fast_listen_port_enable{};           // fastListenPortEnable (also serve listenPort - 2)
  int32_t register_name_server_period_ms{}; // registerNameServerPeriod
  int32_t broker_permission{};              // brokerPermission
  // Replication.
  BrokerRole broker_role{};                 // brokerRole
  int32_t ha_listen_port{};                 // haListenPort (0 = listenPort + 1)
  std::string ha_master_address;            // haMasterAddress (empty = learn from name server)
  bool slave_read_enable{};                 // slaveReadEnable
  int32_t ha_send_heartbeat_interval_ms{};  // haSendHeartbeatInterval
  int32_t ha_housekeeping_interval_ms{};    // haHousekeepingInterval
  int32_t ha_transfer_batch_size{};         // haTransferBatchSize
  int64_t ha_slave_fallbehind_max{};        // haSlaveFallbehindMax
  int32_t slave_timeout_ms{};               // slaveTimeout
  // Automatic failover (controller mode on etcd).
  bool enable_controller_mode{};            // enableControllerMode
  std::string etcd_endpoints;               // etcdEndpoints (';'-separated host:port list)
  int64_t controller_heartbeat_timeout_ms{};  // controllerHeartBeatTimeoutMills (lease TTL)
  int32_t broker_heartbeat_interval_ms{};   // brokerHeartbeatInterval (lease keep-alive)
  int32_t sync_controller_metadata_period_ms{};  // syncControllerMetadataPeriod (etcd poll)
  int64_t ha_max_time_slave_not_catchup_ms{};    // haMaxTimeSlaveNotCatchup
  int32_t min_in_sync_replicas{};           // minInSyncReplicas
  bool enable_elect_unclean_master{};       // enableElectUncleanMaster
  // Storage.
  std::string store_path_root_dir;          // storePathRootDir ("~/" expanded)
  std::string store_path_commit_log;        // storePathCommitLog (empty or <root>/commitlog)
  int32_t mapped_file_size_commit_log{};    // mappedFileSizeCommitLog
  int32_t mapped_file_size_consume_queue{}; // mappedFileSizeConsumeQueue (multiple of 20)
  int32_t max_message_size{};               // maxMessageSize
  bool message_index_enable{};              // messageIndexEnable
  int32_t max_hash_slot_num{};              // maxHashSlotNum
  int32_t max_index_num{};                  // maxIndexNum
  bool check_crc_on_recover{};              // checkCRCOnRecover
  bool warm_maped_file_enable{};            // warmMapedFileEnable (RocketMQ's spelling)
  // Flush.
  FlushDiskType flush_disk_type{};          // flushDiskType
  int64_t sync_flush_timeout_ms{};          // syncFlushTimeout
  int32_t flush_interval_commit_log_ms{};   // flushIntervalCommitLog
  int32_t flush_commit_log_least_pages{};   // flushCommitLogLeastPages
  int32_t flush_commit_log_thorough_interval_ms{};  // flushCommitLogThoroughInterval
  int32_t flush_interval_consume_queue_ms{};        // flushIntervalConsumeQueue
  int32_t flush_consumer_offset_interval_ms{};      // flushConsumerOffsetInterval
  // Retention and disk space.
  int32_t file_reserved_time_hours{};       // fileReservedTime
  std::string delete_when;                  // deleteWhen (';'-separated hours)
  int32_t disk_max_used_space_ratio{};      // diskMaxUsedSpaceRatio (percent)
  int32_t disk_space_clean_forcibly_ratio{};// diskSpaceCleanForciblyRatio (percent)
  int32_t disk_space_warning_level_ratio{}; // diskSpaceWarningLevelRatio (percent)
  int32_t clean_resource_interval_ms{};     // cleanResourceInterval
  int32_t delete_file_batch_max{};          // deleteFileBatchMax
  // Topics, groups and clients.
  bool auto_create_topic_enable{};          // autoCreateTopicEnable
  bool auto_create_subscription_group{};    // autoCreateSubscriptionGroup
  int32_t default_topic_queue_nums{};       // defaultTopicQueueNums
  bool long_polling_enable{};               // longPollingEnable
  int64_t short_polling_time_ms{};          // shortPollingTimeMills (RocketMQ's spelling)
  int64_t channel_expired_timeout_ms{};     // channelExpiredTimeout
  std::string message_delay_level;          // messageDelayLevel
  // Transactions.
  int64_t transaction_check_interval_ms{};  // transactionCheckInterval
  int64_t transaction_timeout_ms{};         // transactionTimeOut
  int32_t transaction_check_max{};          // transactionCheckMax
};

// Registers every broker key in `registry`, bound to `config`'s fields, and writes the defaults
// into `*config`. `config` must outlive `registry`.
void register_broker_config(ConfigRegistry& registry, BrokerConfig* config);

// A BrokerConfig holding the defaults.
BrokerConfig default_broker_config();

// Rules that span keys (each key's own type and bounds were checked when it was parsed):
// mappedFileSizeCommitLog >= maxMessageSize + 68 KiB, HA port, brokerId vs brokerRole,
// storePathCommitLog under storePathRootDir, disk ratios, index geometry.
Status validate_broker_config(const BrokerConfig& config);

// The store's options. Validates first (validate_broker_config). An empty brokerIP1 gives a
// store host of 127.0.0.1:listenPort, which the composition root replaces by the detected address.
Result<StoreOptions> to_store_options(const BrokerConfig& config);

// haListenPort, resolving 0 to listenPort + 1 as RocketMQ does.
int32_t effective_ha_listen_port(const BrokerConfig& config);

// namesrvAddr split at ';', empty items dropped.
std::vector<std::string> name_server_addresses(const BrokerConfig& config);
// etcdEndpoints split at ';', empty items dropped.
std::vector<std::string> etcd_endpoints(const BrokerConfig& config);

// Parses messageDelayLevel ("1s 5s 10s 30s 1m ... 2h"; units s, m, h, d) into milliseconds per
// level, level 1 first.
Result<std::vector<int64_t>> parse_delay_levels(std::string_view text);

// The content of docs/config.md: an introduction and the table of every broker key.
std::string broker_config_markdown();

}  // namespace holdfast
