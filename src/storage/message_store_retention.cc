// MessageStore housekeeping: disk-space watermarks, expired segment deletion (fileReservedTime at
// deleteWhen, or earlier under disk pressure).
#include <ctime>
#include <sstream>

#include "base/logging.h"
#include "storage/message_store.h"

namespace holdfast {
namespace {

bool hour_listed(const std::string& delete_when, int hour) {
  std::stringstream ss(delete_when);
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (!item.empty() && item.find_first_not_of("0123456789") == std::string::npos &&
        std::stoi(item) == hour) {
      return true;
    }
  }
  return false;
}

}  // namespace

void MessageStore::housekeeper_loop() {
  int64_t last_clean_us = env_->now_micros_monotonic();
  for (;;) {
    {
      // Wakes often enough to prepare the next segment before the appender reaches it.
      std::unique_lock<std::mutex> lock(housekeeping_mu_);
      housekeeping_cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop_housekeeping_; });
      if (stop_housekeeping_) return;
    }
    if (options_.warm_segments && !fenced()) {
      const int64_t written = written_offset();
      const int64_t seg = log_->segment_size();
      if (written % seg > seg / 2 && log_->max_segment_start() <= log_->segment_start(written)) {
        Status st = log_->preallocate(log_->segment_start(written) + seg);
        if (!st.is_ok()) logger("storage")->warn("could not prepare the next segment: {}", st.to_string());
      }
    }
    const int64_t now = env_->now_micros_monotonic();
    if (now - last_clean_us < options_.clean_resource_interval_ms * 1000) continue;
    last_clean_us = now;
    Status st = run_housekeeping_once();
    if (!st.is_ok()) logger("storage")->warn("housekeeping: {}", st.to_string());
  }
}

Status MessageStore::check_disk_space() {
  HF_ASSIGN_OR_RETURN(DiskUsage usage, env_->disk_usage(options_.root_dir));
  const double ratio = usage.used_ratio();
  const bool full = ratio > options_.disk_space_warning_level_ratio / 100.0;
  const bool was_full = disk_full_.exchange(full);
  if (full && !was_full) {
    logger("storage")->error("disk usage {:.1f}% is over diskSpaceWarningLevelRatio {}%: rejecting new messages",
                             ratio * 100, options_.disk_space_warning_level_ratio);
  } else if (!full && was_full) {
    logger("storage")->warn("disk usage back to {:.1f}%: accepting messages again", ratio * 100);
  }
  return Status::ok();
}

Status MessageStore::run_housekeeping_once() {
  HF_RETURN_IF_ERROR(check_disk_space());
  HF_ASSIGN_OR_RETURN(DiskUsage usage, env_->disk_usage(options_.root_dir));
  const double ratio = usage.used_ratio();
  const int64_t now = env_->now_ms();
  std::time_t secs = static_cast<std::time_t>(now / 1000);
  std::tm local{};
  localtime_r(&secs, &local);
  const bool time_to_delete = hour_listed(options_.delete_when, local.tm_hour);
  const bool space_pressure = ratio > options_.disk_max_used_space_ratio / 100.0;
  const bool force = ratio > options_.disk_space_clean_forcibly_ratio / 100.0;
  if (time_to_delete || space_pressure) {
    HF_RETURN_IF_ERROR(delete_expired_files(force, now));
    HF_RETURN_IF_ERROR(check_disk_space());
  }
  return Status::ok();
}

Status MessageStore::delete_expired_files(bool force, int64_t now_ms) {
  const auto starts = log_->segment_starts();
  const int64_t reserved_ms = int64_t{options_.file_reserved_time_hours} * 3600 * 1000;
  int deleted = 0;
  for (size_t i = 0; i + 1 < starts.size() && deleted < options_.delete_file_batch_max; ++i) {
    const int64_t start = starts[i];
    // Never delete what the dispatcher has not yet read.
    if (start + log_->segment_size() > dispatched_offset()) break;
    HF_ASSIGN_OR_RETURN(int64_t mtime, env_->file_mtime_ms(log_->segment_path(start)));
    if (!force && mtime + reserved_ms > now_ms) break;
    HF_RETURN_IF_ERROR(log_->delete_segment(start));
    ++deleted;
    logger("storage")->info("deleted commit log segment {} ({})", start,
                            force ? "disk over diskSpaceCleanForciblyRatio" : "older than fileReservedTime");
  }
  if (deleted > 0) {
    pending_min_physical_offset_.store(log_->min_segment_start());
    std::lock_guard<std::mutex> lock(dispatch_mu_);
    dispatch_cv_.notify_all();
  }
  return Status::ok();
}

}  // namespace holdfast
