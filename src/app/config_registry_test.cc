// Tests of ConfigRegistry and the broker's keys: operators' broker.conf files, every error message
// exactly as an operator sees it, overrides, renderings, and docs/config.md staying in sync.
#include "app/config_registry.h"

#include <gtest/gtest.h>

#include <cstring>

#include <cstdlib>
#include <limits>

#include "app/broker_config.h"
#include "env/env.h"

namespace holdfast {
namespace {

class BrokerConfigTest : public ::testing::Test {
 protected:
  BrokerConfigTest() { register_broker_config(registry_, &config_); }

  // Parses `text` as broker.conf and returns the error message ("" when it parsed).
  std::string parse_error(const std::string& text) {
    const Status st = registry_.parse_text("broker.conf", text);
    return st.is_ok() ? "" : st.message();
  }

  BrokerConfig config_;  // declared first: the registry points into it
  ConfigRegistry registry_;
};

// The shape of the files operators run (RocketMQ's 2m-2s-sync examples and tutorials).
constexpr const char* kOperatorConf = R"(# Cluster name
brokerClusterName=rocketmq-cluster
# Broker name; a master and its slaves share it
brokerName=broker-a
# 0 = master
brokerId=0
namesrvAddr=rocketmq-nameserver1:9876;rocketmq-nameserver2:9876
defaultTopicQueueNums=4
autoCreateTopicEnable=false
autoCreateSubscriptionGroup=true
listenPort=10911
# Delete files at 4 am
deleteWhen=04
fileReservedTime=120
mappedFileSizeCommitLog=1073741824
mappedFileSizeConsumeQueue=300000
diskMaxUsedSpaceRatio=88
storePathRootDir=/usr/local/rocketmq/store
storePathCommitLog=/usr/local/rocketmq/store/commitlog
maxMessageSize=65536
brokerRole=SYNC_MASTER
flushDiskType=ASYNC_FLUSH
)";

TEST_F(BrokerConfigTest, RefusesSettingsWhosePromiseIsNotKept) {
  // Replication is served: its keys take RocketMQ's values; a malformed address is refused.
  EXPECT_EQ(parse_error("brokerRole=SLAVE\nbrokerId=1\nhaMasterAddress=10.0.0.1:10912\nslaveReadEnable=true\n"
                        "haSendHeartbeatInterval=1000\nhaHousekeepingInterval=5000\nhaTransferBatchSize=65536\n"
                        "haSlaveFallbehindMax=1048576\nslaveTimeout=500"),
            "");
  EXPECT_EQ(parse_error("brokerRole=SYNC_MASTER\nhaListenPort=10912"), "");
  EXPECT_EQ(parse_error("haMasterAddress=nowhere"),
            "broker.conf:1: haMasterAddress must be empty or host:port, got 'nowhere'");
  EXPECT_NE(parse_error("slaveTimeout=0"), "");
  EXPECT_EQ(parse_error("brokerPermission=4"),
            "broker.conf:1: brokerPermission must be 6 (read and write): a read-only or write-only broker is "
            "not implemented yet, the value would be ignored, got '4'");
  // Transactions are served: their keys take any value in range.
  EXPECT_EQ(parse_error("transactionCheckInterval=5000\ntransactionTimeOut=1000\ntransactionCheckMax=3"), "");
  EXPECT_NE(parse_error("transactionCheckMax=0"), "");
  // The values that promise nothing are accepted, as an operator's file often spells them out.
  EXPECT_EQ(parse_error("brokerRole=ASYNC_MASTER\nhaListenPort=0\nhaMasterAddress=\nslaveReadEnable=false\n"
                        "brokerPermission=6\ntransactionCheckInterval=30000\ntransactionTimeOut=6000\n"
                        "transactionCheckMax=15"),
            "");
}

TEST_F(BrokerConfigTest, ParsesOperatorBrokerConf) {
  std::string conf = kOperatorConf;
  conf.replace(conf.find("brokerRole=SYNC_MASTER"), std::strlen("brokerRole=SYNC_MASTER"), "brokerRole=ASYNC_MASTER");
  ASSERT_EQ(parse_error(conf), "");
  EXPECT_EQ(config_.broker_cluster_name, "rocketmq-cluster");
  EXPECT_EQ(config_.broker_name, "broker-a");
  EXPECT_EQ(config_.broker_id, 0);
  EXPECT_EQ(name_server_addresses(config_),
            (std::vector<std::string>{"rocketmq-nameserver1:9876", "rocketmq-nameserver2:9876"}));
  EXPECT_EQ(config_.default_topic_queue_nums, 4);
  EXPECT_FALSE(config_.auto_create_topic_enable);
  EXPECT_EQ(config_.listen_port, 10911);
  EXPECT_EQ(config_.delete_when, "04");
  EXPECT_EQ(config_.file_reserved_time_hours, 120);
  EXPECT_EQ(config_.mapped_file_size_consume_queue, 300000);
  EXPECT_EQ(config_.disk_max_used_space_ratio, 88);
  EXPECT_EQ(config_.store_path_root_dir, "/usr/local/rocketmq/store");
  EXPECT_EQ(config_.max_message_size, 65536);
  EXPECT_EQ(config_.broker_role, BrokerRole::kAsyncMaster);
  EXPECT_EQ(config_.flush_disk_type, FlushDiskType::kAsyncFlush);
  EXPECT_TRUE(registry_.warnings().empty());

  Result<StoreOptions> options = to_store_options(config_);
  ASSERT_TRUE(options.is_ok()) << options.status().to_string();
  EXPECT_EQ(options->root_dir, "/usr/local/rocketmq/store");
  EXPECT_EQ(options->consume_queue_units_per_file, 15000);
  EXPECT_EQ(options->flush_disk_type, FlushDiskType::kAsyncFlush);
  EXPECT_EQ(options->file_reserved_time_hours, 120);
}

TEST_F(BrokerConfigTest, DefaultsWhenAbsent) {
  ASSERT_EQ(parse_error("# nothing set\n"), "");
  EXPECT_EQ(config_.flush_disk_type, FlushDiskType::kSyncFlush);  // Holdfast's durable default
  EXPECT_EQ(config_.broker_role, BrokerRole::kAsyncMaster);
  EXPECT_EQ(config_.broker_cluster_name, "DefaultCluster");
  EXPECT_FALSE(config_.broker_name.empty());
  EXPECT_EQ(config_.listen_port, 10911);
  EXPECT_EQ(effective_ha_listen_port(config_), 10912);
  EXPECT_EQ(config_.mapped_file_size_commit_log, 1073741824);
  EXPECT_EQ(config_.mapped_file_size_consume_queue, 6000000);
  EXPECT_EQ(config_.file_reserved_time_hours, 72);
  EXPECT_EQ(config_.delete_when, "04");
  EXPECT_EQ(config_.disk_max_used_space_ratio, 75);
  EXPECT_TRUE(config_.warm_maped_file_enable);
  EXPECT_EQ(config_.broker_permission, 6);
  EXPECT_EQ(config_.transaction_check_interval_ms, 30000);
  EXPECT_EQ(config_.transaction_timeout_ms, 6000);
  EXPECT_EQ(config_.transaction_check_max, 15);
  const std::string suffix = "/store";
  ASSERT_GE(config_.store_path_root_dir.size(), suffix.size());
  EXPECT_EQ(config_.store_path_root_dir.substr(config_.store_path_root_dir.size() - suffix.size()),
            suffix);
  EXPECT_TRUE(validate_broker_config(config_).is_ok());
}

// The registry's defaults and the store's own defaults must agree, or which one applies would
// depend on how the store was built.
TEST_F(BrokerConfigTest, DefaultsMatchStoreOptionsDefaults) {
  Result<StoreOptions> got = to_store_options(default_broker_config());
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  const StoreOptions want;
  EXPECT_EQ(got->commit_log_segment_size, want.commit_log_segment_size);
  EXPECT_EQ(got->consume_queue_units_per_file, want.consume_queue_units_per_file);
  EXPECT_EQ(got->index.hash_slot_count, want.index.hash_slot_count);
  EXPECT_EQ(got->index.max_index_count, want.index.max_index_count);
  EXPECT_EQ(got->message_index_enable, want.message_index_enable);
  EXPECT_EQ(got->flush_disk_type, want.flush_disk_type);
  EXPECT_EQ(got->sync_flush_timeout_ms, want.sync_flush_timeout_ms);
  EXPECT_EQ(got->flush_interval_commit_log_ms, want.flush_interval_commit_log_ms);
  EXPECT_EQ(got->flush_commit_log_least_pages, want.flush_commit_log_least_pages);
  EXPECT_EQ(got->flush_commit_log_thorough_interval_ms, want.flush_commit_log_thorough_interval_ms);
  EXPECT_EQ(got->max_message_size, want.max_message_size);
  EXPECT_EQ(got->store_host, want.store_host);
  EXPECT_EQ(got->checkpoint_interval_ms, want.checkpoint_interval_ms);
  EXPECT_EQ(got->check_crc_on_recover, want.check_crc_on_recover);
  EXPECT_EQ(got->warm_segments, want.warm_segments);
  EXPECT_EQ(got->file_reserved_time_hours, want.file_reserved_time_hours);
  EXPECT_EQ(got->delete_when, want.delete_when);
  EXPECT_EQ(got->disk_max_used_space_ratio, want.disk_max_used_space_ratio);
  EXPECT_EQ(got->disk_space_clean_forcibly_ratio, want.disk_space_clean_forcibly_ratio);
  EXPECT_EQ(got->disk_space_warning_level_ratio, want.disk_space_warning_level_ratio);
  EXPECT_EQ(got->clean_resource_interval_ms, want.clean_resource_interval_ms);
  EXPECT_EQ(got->delete_file_batch_max, want.delete_file_batch_max);
}

TEST_F(BrokerConfigTest, CommentsBlankLinesAndWhitespace) {
  ASSERT_EQ(parse_error("\xEF\xBB\xBF# comment\n\n   \n! also a comment\n  # indented comment\n"
                        "\t listenPort =  10921 \r\nbrokerName\t=\tbroker-b\r\n"
                        "brokerIP1=\nautoCreateTopicEnable=FALSE\nbrokerClusterName=c#1"),
            "");
  EXPECT_EQ(config_.listen_port, 10921);
  EXPECT_EQ(config_.broker_name, "broker-b");
  EXPECT_EQ(config_.broker_ip1, "");
  EXPECT_FALSE(config_.auto_create_topic_enable);
  EXPECT_EQ(config_.broker_cluster_name, "c#1");  // as java.util.Properties: no inline comments
}

TEST_F(BrokerConfigTest, InlineCommentIsPartOfTheValue) {
  EXPECT_EQ(parse_error("listenPort=10911 # the port\n"),
            "broker.conf:1: listenPort must be an integer between 1 and 65535, got '10911 # the port'");
}

TEST_F(BrokerConfigTest, UnknownKeySuggestsClosest) {
  EXPECT_EQ(parse_error("brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerId=0\n"
                        "deleteWhen=04\nfileReservedTime=48\nbrokerRole=ASYNC_MASTER\n"
                        "flushDiskTyp=ASYNC_FLUSH\n"),
            "broker.conf:7: unknown key 'flushDiskTyp' (did you mean 'flushDiskType'?)");
  EXPECT_EQ(parse_error("listenport=10911"),
            "broker.conf:1: unknown key 'listenport' (did you mean 'listenPort'?)");
  EXPECT_EQ(parse_error("warmMappedFileEnable=true"),
            "broker.conf:1: unknown key 'warmMappedFileEnable' (did you mean 'warmMapedFileEnable'?)");
}

TEST_F(BrokerConfigTest, UnknownKeyWithoutCloseMatch) {
  EXPECT_EQ(parse_error("vendorExtensionFlag=true"),
            "broker.conf:1: unknown key 'vendorExtensionFlag' (see --help for the known keys)");
}

TEST_F(BrokerConfigTest, UnsupportedRocketMQKeys) {
  EXPECT_EQ(parse_error("brokerIP2=10.0.0.2"),
            "broker.conf:1: unsupported RocketMQ key 'brokerIP2': a separate HA address is not "
            "implemented; remove the line");
  EXPECT_EQ(parse_error("aclEnable=true"),
            "broker.conf:1: unsupported RocketMQ key 'aclEnable': ACL is not implemented; the broker "
            "would run unprotected");
  ASSERT_EQ(parse_error("aclEnable=False\nlistenPort=10921"), "");  // the harmless value
  EXPECT_EQ(config_.listen_port, 10921);
  ASSERT_EQ(registry_.warnings().size(), 1u);
  EXPECT_EQ(registry_.warnings()[0], "broker.conf:1: ignored RocketMQ key 'aclEnable=False' (not "
                                     "implemented; this value changes nothing)");
}

TEST_F(BrokerConfigTest, BadInteger) {
  EXPECT_EQ(parse_error("brokerName=a\nbrokerId=0\nlistenPort=abc\n"),
            "broker.conf:3: listenPort must be an integer between 1 and 65535, got 'abc'");
  EXPECT_EQ(parse_error("listenPort=10911.5"),
            "broker.conf:1: listenPort must be an integer between 1 and 65535, got '10911.5'");
  EXPECT_EQ(parse_error("listenPort="),
            "broker.conf:1: listenPort must be an integer between 1 and 65535, got ''");
  ASSERT_EQ(parse_error("listenPort=+10921"), "");  // Java's parseInt accepts a leading '+'
  EXPECT_EQ(config_.listen_port, 10921);
}

TEST_F(BrokerConfigTest, OutOfRange) {
  EXPECT_EQ(parse_error("listenPort=70000"),
            "broker.conf:1: listenPort must be an integer between 1 and 65535, got '70000'");
  EXPECT_EQ(parse_error("diskMaxUsedSpaceRatio=99"),
            "broker.conf:1: diskMaxUsedSpaceRatio must be an integer between 10 and 95, got '99'");
  EXPECT_EQ(parse_error("brokerId=-1"), "broker.conf:1: brokerId must be an integer >= 0, got '-1'");
  EXPECT_EQ(parse_error("brokerId=99999999999999999999"),
            "broker.conf:1: brokerId must be an integer >= 0, got '99999999999999999999'");
  EXPECT_EQ(parse_error("mappedFileSizeCommitLog=4294967296"),
            "broker.conf:1: mappedFileSizeCommitLog must be an integer >= 1048576, got '4294967296'");
  EXPECT_EQ(parse_error("registerNameServerPeriod=5000"),
            "broker.conf:1: registerNameServerPeriod must be an integer between 10000 and 60000, "
            "got '5000'");
}

TEST_F(BrokerConfigTest, BadEnum) {
  EXPECT_EQ(parse_error("flushDiskType=SYNC"),
            "broker.conf:1: flushDiskType must be one of SYNC_FLUSH, ASYNC_FLUSH, got 'SYNC'");
  EXPECT_EQ(parse_error("brokerRole=async_master"),
            "broker.conf:1: brokerRole must be one of ASYNC_MASTER, SYNC_MASTER, SLAVE, got "
            "'async_master'");
}

TEST_F(BrokerConfigTest, BadBool) {
  EXPECT_EQ(parse_error("autoCreateTopicEnable=yes"),
            "broker.conf:1: autoCreateTopicEnable must be true or false, got 'yes'");
  ASSERT_EQ(parse_error("autoCreateTopicEnable=FALSE"), "");
  EXPECT_FALSE(config_.auto_create_topic_enable);
}

TEST_F(BrokerConfigTest, MalformedLines) {
  EXPECT_EQ(parse_error("brokerName=a\nlistenPort 10911\n"),
            "broker.conf:2: expected key=value, got 'listenPort 10911'");
  EXPECT_EQ(parse_error("=10911"), "broker.conf:1: missing key before '=' in '=10911'");
  EXPECT_EQ(parse_error("brokerName=a\\\n  b"),
            "broker.conf:1: line continuation ('\\' at the end of a line) is not supported\n"
            "broker.conf:2: expected key=value, got 'b'");
}

TEST_F(BrokerConfigTest, KeyRules) {
  EXPECT_EQ(parse_error("mappedFileSizeConsumeQueue=6000001"),
            "broker.conf:1: mappedFileSizeConsumeQueue must be a multiple of 20 (the consume-queue "
            "unit size), got '6000001'");
  EXPECT_EQ(parse_error("deleteWhen=24"),
            "broker.conf:1: deleteWhen must be ';'-separated hours 0-23 such as '04' or '04;16', "
            "got '24'");
  EXPECT_EQ(parse_error("namesrvAddr=127.0.0.1"),
            "broker.conf:1: namesrvAddr must be a ';'-separated list of host:port, got '127.0.0.1'");
  EXPECT_EQ(parse_error("brokerIP1=10.0.0"),
            "broker.conf:1: brokerIP1 must be empty or an IPv4/IPv6 address, got '10.0.0'");
  EXPECT_EQ(parse_error("brokerName="), "broker.conf:1: brokerName must not be empty, got ''");
  EXPECT_EQ(parse_error("messageDelayLevel=1s 5x"),
            "broker.conf:1: messageDelayLevel must be space-separated delays such as '1s 5m 2h' "
            "(units s, m, h, d), got '1s 5x'");
  ASSERT_EQ(parse_error("deleteWhen=04;16\nnamesrvAddr=ns1:9876;"), "");
  EXPECT_EQ(config_.delete_when, "04;16");
}

TEST_F(BrokerConfigTest, EveryBadLineReportedAndNothingApplied) {
  EXPECT_EQ(parse_error("listenPort=10921\nbrokerId=x\nflushDiskType=NEVER\n"),
            "broker.conf:2: brokerId must be an integer >= 0, got 'x'\n"
            "broker.conf:3: flushDiskType must be one of SYNC_FLUSH, ASYNC_FLUSH, got 'NEVER'");
  EXPECT_EQ(config_.listen_port, 10911);  // the good line was not applied either
}

TEST_F(BrokerConfigTest, LaterDuplicateWinsWithWarning) {
  ASSERT_EQ(parse_error("brokerName=a\nlistenPort=10911\nbrokerId=0\nlistenPort=10921\n"), "");
  EXPECT_EQ(config_.listen_port, 10921);
  ASSERT_EQ(registry_.warnings().size(), 1u);
  EXPECT_EQ(registry_.warnings()[0],
            "broker.conf:4: duplicate key 'listenPort' (also set at broker.conf:2); the later value wins");
}

TEST_F(BrokerConfigTest, CommandLineOverridesWinOverFile) {
  ASSERT_EQ(parse_error("flushDiskType=SYNC_FLUSH\nlistenPort=10911\n"), "");
  ASSERT_TRUE(registry_.parse_overrides({"flushDiskType=ASYNC_FLUSH", "--listenPort=10921"}).is_ok());
  EXPECT_EQ(config_.flush_disk_type, FlushDiskType::kAsyncFlush);
  EXPECT_EQ(config_.listen_port, 10921);
  EXPECT_TRUE(registry_.warnings().empty());  // overriding the file is the point, not a mistake
  const std::vector<std::string> lines = registry_.effective_lines();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "listenPort=10921 (command line argument 2)"),
            lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "brokerClusterName=DefaultCluster (default)"),
            lines.end());
}

TEST_F(BrokerConfigTest, CommandLineErrors) {
  Status st = registry_.parse_overrides({"listenPort=10921", "listenPrt=1"});
  EXPECT_EQ(st.message(), "command line argument 2: unknown key 'listenPrt' (did you mean 'listenPort'?)");
  EXPECT_EQ(config_.listen_port, 10911);
  st = registry_.parse_overrides({"listenPort"});
  EXPECT_EQ(st.message(), "command line argument 1: expected key=value, got 'listenPort'");
  st = registry_.parse_overrides({"--listenPort=0"});
  EXPECT_EQ(st.message(),
            "command line argument 1: listenPort must be an integer between 1 and 65535, got '0'");
}

TEST_F(BrokerConfigTest, EffectiveLinesNameTheirOrigin) {
  ASSERT_EQ(parse_error("brokerName=broker-a\n\nlistenPort=10921\n"), "");
  const std::vector<std::string> lines = registry_.effective_lines();
  ASSERT_EQ(lines.size(), registry_.entries().size());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "listenPort=10921 (broker.conf:3)"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "flushDiskType=SYNC_FLUSH (default)"), lines.end());
}

TEST_F(BrokerConfigTest, HelpTextListsEveryKeyWithDefault) {
  const std::string help = registry_.help_text();
  for (const ConfigEntry& e : registry_.entries()) {
    EXPECT_NE(help.find("  " + e.key + " ("), std::string::npos) << e.key;
    EXPECT_NE(help.find(e.doc), std::string::npos) << e.key;
  }
  EXPECT_NE(help.find("  listenPort (int32: 1 .. 65535; default 10911)"), std::string::npos);
  EXPECT_NE(help.find("  flushDiskType (enum: SYNC_FLUSH, ASYNC_FLUSH; default SYNC_FLUSH)"),
            std::string::npos);
  EXPECT_NE(help.find("\nStorage:\n"), std::string::npos);
}

TEST_F(BrokerConfigTest, MarkdownHasARowPerKey) {
  const std::string md = registry_.markdown("# Title\n");
  for (const ConfigEntry& e : registry_.entries()) {
    EXPECT_NE(md.find("| `" + e.key + "` | "), std::string::npos) << e.key;
  }
  EXPECT_NE(md.find("| `diskMaxUsedSpaceRatio` | int32 | `75` | 10 .. 95 | "), std::string::npos);
  EXPECT_NE(md.find("| `brokerIP1` | string | (empty) | "), std::string::npos);
}

TEST(BrokerConfigDocTest, DocsConfigMdIsInSync) {
  Result<std::string> on_disk = read_file_to_string(Env::posix(), HOLDFAST_CONFIG_DOC_PATH);
  ASSERT_TRUE(on_disk.is_ok()) << on_disk.status().to_string();
  EXPECT_TRUE(on_disk.value() == broker_config_markdown())
      << "docs/config.md is out of date; regenerate it with "
         "`cmake --build <build-dir> --target update_config_doc`";
}

TEST_F(BrokerConfigTest, CrossKeyRules) {
  ASSERT_EQ(parse_error("maxMessageSize=4194304\nmappedFileSizeCommitLog=4194304\n"), "");
  EXPECT_EQ(to_store_options(config_).status().message(),
            "mappedFileSizeCommitLog (4194304) must be at least maxMessageSize (4194304) + 68 KiB "
            "= 4263936: a record never spans segments");

  BrokerConfig c = default_broker_config();
  c.broker_role = BrokerRole::kSlave;
  EXPECT_EQ(validate_broker_config(c).message(),
            "brokerRole SLAVE needs brokerId >= 1 (0 is the master's id), got 0");
  c = default_broker_config();
  c.broker_id = 1;
  EXPECT_EQ(validate_broker_config(c).message(), "brokerRole ASYNC_MASTER needs brokerId 0, got 1");
  c = default_broker_config();
  c.listen_port = 65535;
  EXPECT_EQ(validate_broker_config(c).message(),
            "haListenPort is 0 (listenPort + 1) but listenPort is 65535; set haListenPort");
  c.ha_listen_port = 65535;
  EXPECT_EQ(validate_broker_config(c).message(), "haListenPort must differ from listenPort (both 65535)");
  c = default_broker_config();
  c.store_path_root_dir = "/data/store";
  c.store_path_commit_log = "/data/store/commitlog/";
  EXPECT_TRUE(validate_broker_config(c).is_ok());
  c.store_path_commit_log = "/fast/commitlog";
  EXPECT_EQ(validate_broker_config(c).message(),
            "storePathCommitLog must be empty or /data/store/commitlog (Holdfast keeps the commit "
            "log under storePathRootDir), got '/fast/commitlog'");
  c = default_broker_config();
  c.disk_space_clean_forcibly_ratio = 80;
  c.disk_space_warning_level_ratio = 80;
  EXPECT_EQ(validate_broker_config(c).message(),
            "diskSpaceCleanForciblyRatio (80) must be below diskSpaceWarningLevelRatio (80): forced "
            "cleaning must start before puts are rejected");
  c.broker_id = 3;  // two problems: both reported
  EXPECT_EQ(validate_broker_config(c).message(),
            "brokerRole ASYNC_MASTER needs brokerId 0, got 3\n"
            "diskSpaceCleanForciblyRatio (80) must be below diskSpaceWarningLevelRatio (80): forced "
            "cleaning must start before puts are rejected");
}

TEST_F(BrokerConfigTest, ToStoreOptionsMapsEveryKey) {
  ASSERT_EQ(parse_error(R"(storePathRootDir=/data/hf
brokerIP1=10.1.2.3
listenPort=20911
mappedFileSizeCommitLog=67108864
mappedFileSizeConsumeQueue=60000
maxHashSlotNum=1000
maxIndexNum=4000
messageIndexEnable=false
flushDiskType=ASYNC_FLUSH
syncFlushTimeout=7000
flushIntervalCommitLog=200
flushCommitLogLeastPages=0
flushCommitLogThoroughInterval=3000
flushIntervalConsumeQueue=2000
maxMessageSize=1048576
checkCRCOnRecover=false
warmMapedFileEnable=false
fileReservedTime=24
deleteWhen=01;13
diskMaxUsedSpaceRatio=60
diskSpaceCleanForciblyRatio=70
diskSpaceWarningLevelRatio=80
cleanResourceInterval=5000
deleteFileBatchMax=3
)"),
            "");
  Result<StoreOptions> o = to_store_options(config_);
  ASSERT_TRUE(o.is_ok()) << o.status().to_string();
  EXPECT_EQ(o->root_dir, "/data/hf");
  EXPECT_EQ(o->store_host, HostAddress::ipv4(10, 1, 2, 3, 20911));
  EXPECT_EQ(o->commit_log_segment_size, 67108864);
  EXPECT_EQ(o->consume_queue_units_per_file, 3000);
  EXPECT_EQ(o->index.hash_slot_count, 1000u);
  EXPECT_EQ(o->index.max_index_count, 4000u);
  EXPECT_FALSE(o->message_index_enable);
  EXPECT_EQ(o->flush_disk_type, FlushDiskType::kAsyncFlush);
  EXPECT_EQ(o->sync_flush_timeout_ms, 7000);
  EXPECT_EQ(o->flush_interval_commit_log_ms, 200);
  EXPECT_EQ(o->flush_commit_log_least_pages, 0);
  EXPECT_EQ(o->flush_commit_log_thorough_interval_ms, 3000);
  EXPECT_EQ(o->checkpoint_interval_ms, 2000);
  EXPECT_EQ(o->max_message_size, 1048576);
  EXPECT_FALSE(o->check_crc_on_recover);
  EXPECT_FALSE(o->warm_segments);
  EXPECT_EQ(o->file_reserved_time_hours, 24);
  EXPECT_EQ(o->delete_when, "01;13");
  EXPECT_EQ(o->disk_max_used_space_ratio, 60);
  EXPECT_EQ(o->disk_space_clean_forcibly_ratio, 70);
  EXPECT_EQ(o->disk_space_warning_level_ratio, 80);
  EXPECT_EQ(o->clean_resource_interval_ms, 5000);
  EXPECT_EQ(o->delete_file_batch_max, 3);

  ASSERT_EQ(parse_error("brokerIP1=fd00::7"), "");
  o = to_store_options(config_);
  ASSERT_TRUE(o.is_ok());
  EXPECT_TRUE(o->store_host.ipv6);
  EXPECT_EQ(o->store_host.port, 20911);
  EXPECT_EQ(o->store_host.ip[0], 0xfd);
  EXPECT_EQ(o->store_host.ip[15], 7);
}

TEST_F(BrokerConfigTest, TildeExpandsToHome) {
  const char* old = std::getenv("HOME");
  const std::string saved = old ? old : "";
  ASSERT_EQ(setenv("HOME", "/home/operator", 1), 0);
  const std::string error = parse_error("storePathRootDir=~/rmq/store\nstorePathCommitLog=~/rmq/store/commitlog");
  if (old) setenv("HOME", saved.c_str(), 1); else unsetenv("HOME");
  ASSERT_EQ(error, "");
  EXPECT_EQ(config_.store_path_root_dir, "/home/operator/rmq/store");
  EXPECT_TRUE(validate_broker_config(config_).is_ok());
}

TEST(DelayLevelsTest, ParsesRocketMQDefault) {
  Result<std::vector<int64_t>> levels = parse_delay_levels(default_broker_config().message_delay_level);
  ASSERT_TRUE(levels.is_ok());
  ASSERT_EQ(levels->size(), 18u);
  EXPECT_EQ(levels->front(), 1000);
  EXPECT_EQ((*levels)[4], 60000);
  EXPECT_EQ(levels->back(), 2 * 3600 * 1000);
  EXPECT_EQ(parse_delay_levels("2d")->front(), 2 * 86400 * 1000LL);
  EXPECT_EQ(parse_delay_levels("1s 5").status().message(),
            "bad delay level '5' (expected a positive number followed by s, m, h or d)");
  EXPECT_FALSE(parse_delay_levels("0s").is_ok());
  EXPECT_FALSE(parse_delay_levels("  ").is_ok());
}

TEST(ConfigFileTest, LoadFileReadsThroughEnvAndNamesThePath) {
  Env* env = Env::posix();
  const std::string path = ::testing::TempDir() + "/config_registry_test_broker.conf";
  ASSERT_TRUE(write_file_atomically(env, path, "listenPort=10931\nlistenPrt=1\n").is_ok());
  BrokerConfig config;
  ConfigRegistry registry;
  register_broker_config(registry, &config);
  EXPECT_EQ(registry.load_file(env, path).message(),
            path + ":2: unknown key 'listenPrt' (did you mean 'listenPort'?)");
  ASSERT_TRUE(write_file_atomically(env, path, "listenPort=10931\n").is_ok());
  ASSERT_TRUE(registry.load_file(env, path).is_ok());
  EXPECT_EQ(config.listen_port, 10931);
  ASSERT_TRUE(env->remove_file(path).is_ok());
  const Status missing = registry.load_file(env, path);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message().rfind("cannot read config file '" + path + "': ", 0), 0u)
      << missing.message();
}

// Types the broker does not use yet (double, unbounded int64, a custom enum) through a small struct.
TEST(ConfigRegistryTest, GenericTypesAndBounds) {
  enum class Color { kRed, kBlue };
  struct Options {
    double ratio;
    int64_t big;
    Color color;
    std::string name;
  } o;
  ConfigRegistry r;
  r.begin_group("Test");
  r.add_double("ratio", &o.ratio, 0.5, 0.0, 1.0, "A ratio.");
  r.add_int64("big", &o.big, 7, std::numeric_limits<int64_t>::min(),
              std::numeric_limits<int64_t>::max(), "Anything.");
  r.add_enum("color", &o.color, Color::kBlue, {{"RED", Color::kRed}, {"BLUE", Color::kBlue}}, "Hue.");
  r.add_string("name", &o.name, "x", "A name.");
  EXPECT_EQ(o.ratio, 0.5);
  EXPECT_EQ(o.color, Color::kBlue);
  ASSERT_TRUE(r.parse_text("t.conf", "ratio=0.25\nbig=-9223372036854775808\ncolor=RED\nname= a b ").is_ok());
  EXPECT_EQ(o.ratio, 0.25);
  EXPECT_EQ(o.big, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(o.color, Color::kRed);
  EXPECT_EQ(o.name, "a b");
  EXPECT_EQ(r.parse_text("t.conf", "ratio=1.5").message(),
            "t.conf:1: ratio must be a number between 0 and 1, got '1.5'");
  EXPECT_EQ(r.parse_text("t.conf", "ratio=nan").message(),
            "t.conf:1: ratio must be a number between 0 and 1, got 'nan'");
  EXPECT_EQ(r.parse_text("t.conf", "big=1e3").message(), "t.conf:1: big must be an integer, got '1e3'");
  EXPECT_EQ(r.closest_key("colour"), "color");
  EXPECT_EQ(r.closest_key("zzzzzzzz"), "");
  EXPECT_EQ(r.find("ratio")->range_text(), "0 .. 1");
  EXPECT_EQ(r.find("big")->range_text(), "");
  EXPECT_EQ(r.find("color")->expectation(), "one of RED, BLUE");
}

}  // namespace
}  // namespace holdfast
