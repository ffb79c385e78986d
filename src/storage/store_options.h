// StoreOptions: the plain option struct the store receives (the config registry lives in app/).
// Defaults follow RocketMQ's names and values except flushDiskType, which defaults to SYNC_FLUSH.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "storage/index_service.h"
#include "storage/message.h"

namespace holdfast {

enum class FlushDiskType { kSyncFlush, kAsyncFlush };

struct StoreOptions {
  std::string root_dir;                                      // storePathRootDir
  int64_t commit_log_segment_size = 1024LL * 1024 * 1024;     // mappedFileSizeCommitLog
  int64_t consume_queue_units_per_file = 300000;              // mappedFileSizeConsumeQueue / 20
  IndexOptions index;                                         // maxHashSlotNum, maxIndexNum
  bool message_index_enable = true;                           // messageIndexEnable
  FlushDiskType flush_disk_type = FlushDiskType::kSyncFlush;  // flushDiskType
  int64_t sync_flush_timeout_ms = 5000;                       // syncFlushTimeout
  int64_t flush_interval_commit_log_ms = 500;                 // flushIntervalCommitLog
  int flush_commit_log_least_pages = 4;                       // flushCommitLogLeastPages
  int64_t flush_commit_log_thorough_interval_ms = 10000;      // flushCommitLogThoroughInterval
  int64_t max_message_size = 4 * 1024 * 1024;                 // maxMessageSize
  HostAddress store_host = HostAddress::ipv4(127, 0, 0, 1, 10911);
  int64_t checkpoint_interval_ms = 1000;                      // flushIntervalConsumeQueue
  bool check_crc_on_recover = true;                           // checkCRCOnRecover
  // Write zeros over each new commit-log segment (and prepare the next one in the background)
  // so that group-commit fdatasyncs overwrite allocated blocks (RocketMQ's warmMapedFileEnable).
  bool warm_segments = true;                                  // warmMapedFileEnable
  // Retention and disk space.
  int file_reserved_time_hours = 72;                          // fileReservedTime
  std::string delete_when = "04";                             // deleteWhen (';'-separated hours)
  int disk_max_used_space_ratio = 75;                         // diskMaxUsedSpaceRatio (percent)
  int disk_space_clean_forcibly_ratio = 85;                   // diskSpaceCleanForciblyRatio
  int disk_space_warning_level_ratio = 90;                    // diskSpaceWarningLevelRatio (reject)
  int64_t clean_resource_interval_ms = 10000;                 // cleanResourceInterval
  int delete_file_batch_max = 10;                             // deleteFileBatchMax
  // Delay of each delay level in ms, level 1 first (messageDelayLevel). The dispatcher stores a
  // schedule-topic record's due time (store time + delay of its level) as its tags code.
  std::vector<int64_t> delay_level_ms = {1000, 5000, 10000, 30000, 60000, 120000, 180000, 240000, 300000,
                                         360000, 420000, 480000, 540000, 600000, 1200000, 1800000, 3600000,
                                         7200000};
  // Wraps each batch of put completions the flusher runs after one fdatasync (the owner's hook to
  // treat their responses as one batch, e.g. one socket write per connection). It must call its
  // argument exactly once. Empty: completions run as they are.
  std::function<void(const std::function<void()>&)> completion_batch;
  // Automatic failover (docs/replication.md): open erases every record at or after this commit-log
  // offset before anything else reads the log (a rejoining broker's divergent tail, which no
  // broker acknowledged). Consume queues and the key index are rebuilt from the cut; the key index
  // then knows only the records from the cut on. -1: keep the log.
  int64_t truncate_log_to = -1;
};

}  // namespace holdfast
