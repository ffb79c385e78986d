// MessageStore start-up: clean open without a scan, or crash recovery from the checkpoint.
#include <limits>

#include "base/logging.h"
#include "storage/checkpoint.h"
#include "storage/message_store.h"

namespace holdfast {

Status MessageStore::open_existing_consume_queues() {
  const std::string base = join_path(options_.root_dir, "consumequeue");
  if (!env_->file_exists(base)) return env_->create_dirs(base);
  HF_ASSIGN_OR_RETURN(auto topics, env_->list_dir(base));
  for (const auto& topic : topics) {
    auto ids = env_->list_dir(join_path(base, topic));
    if (!ids.is_ok()) continue;
    for (const auto& id : *ids) {
      if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos || id.size() > 9) continue;
      HF_RETURN_IF_ERROR(consume_queue_for(topic, std::stoi(id), true).status());
    }
  }
  return Status::ok();
}

Status MessageStore::recover() {
  const int64_t t0 = env_->now_micros_monotonic();
  const bool crashed = env_->file_exists(join_path(options_.root_dir, "abort"));
  const std::string ckpt_path = join_path(options_.root_dir, "checkpoint");
  Result<StoreCheckpoint> ckpt = env_->file_exists(ckpt_path)
                                     ? read_checkpoint(env_, ckpt_path)
                                     : Result<StoreCheckpoint>(Status::not_found("no checkpoint"));
  recovery_.crashed = crashed;
  recovery_.checkpoint_valid = ckpt.is_ok();
  const bool empty_store = log_->min_segment_start() < 0;
  int64_t end = 0;
  const bool truncating = options_.truncate_log_to >= 0 && !empty_store;
  if (!truncating && !crashed && ckpt.is_ok() && ckpt->dispatched_offset == ckpt->flushed_offset) {
    // Clean stop: everything up to the checkpoint is flushed and dispatched; no scan.
    end = ckpt->flushed_offset;
    recovery_.scanned_from = end;
  } else {
    // An empty log without a checkpoint (a new store, or one whose first segment a crash took)
    // goes through recovery too: consume queue or index files left from before must be emptied.
    if (!crashed && !empty_store) {
      logger("storage")->warn("no usable checkpoint for a cleanly stopped store; scanning the log");
    }
    HF_RETURN_IF_ERROR(recover_crashed(ckpt));
    end = recovery_.recovered_end;
  }
  appended_ = end;
  written_ = flushed_ = confirmed_ = dispatched_ = end;
  recovery_.recovered_end = end;
  // Retention may have removed segments: consume queues start at the first unit still in the log.
  if (const int64_t min_phys = log_->min_segment_start(); min_phys > 0) {
    std::shared_lock<std::shared_mutex> lock(queues_mu_);
    for (auto& [k, cq] : queues_) HF_RETURN_IF_ERROR(cq->correct_min_offset(min_phys));
  }
  recovery_.duration_us = env_->now_micros_monotonic() - t0;
  logger("storage")->info("store opened at offset {} ({}; {} records re-dispatched, {} bytes erased, {} ms)",
                          end, crashed ? "recovered after a crash" : "clean start",
                          recovery_.redispatched_records, recovery_.truncated_bytes,
                          recovery_.duration_us / 1000);
  return Status::ok();
}

Status MessageStore::recover_crashed(const Result<StoreCheckpoint>& ckpt) {
  const int64_t log_min = std::max<int64_t>(log_->min_segment_start(), 0);
  int64_t from = ckpt.is_ok() ? ckpt->dispatched_offset : log_min;
  // A truncation re-dispatches from the cut (or from the oldest record left, when the cut lies
  // below it: then nothing of the log stays).
  const int64_t limit = options_.truncate_log_to >= 0 ? options_.truncate_log_to : std::numeric_limits<int64_t>::max();
  if (from > limit) from = limit;
  if (from < log_min) from = log_min;
  if (log_->min_segment_start() < 0) from = 0;
  recovery_.scanned_from = from;

  // Consume queues: keep only units for records below `from` (they were durable at the
  // checkpoint); the rest is rebuilt by re-dispatching the log from `from`.
  auto verify = [this, log_min](const std::string& topic, int32_t queue_id) {
    return [this, topic, queue_id, log_min](int64_t queue_offset, const ConsumeQueueUnit& u) {
      // Units below the oldest segment point at records retention deleted: nothing to compare.
      if (u.physical_offset < log_min) return true;
      std::string rec(static_cast<size_t>(u.size), '\0');
      size_t got = 0;
      if (!log_->read(u.physical_offset, rec.size(), rec.data(), &got).is_ok() || got != rec.size()) {
        return false;
      }
      RecordView v;
      return decode_record(rec.data(), rec.size(), false, &v).outcome == DecodeOutcome::kRecord &&
             v.topic == topic && v.queue_id == queue_id && v.queue_offset == queue_offset &&
             v.physical_offset == u.physical_offset;
    };
  };
  {
    std::shared_lock<std::shared_mutex> lock(queues_mu_);
    for (auto& [k, cq] : queues_) {
      HF_RETURN_IF_ERROR(cq->recover(from, verify(cq->topic(), cq->queue_id())).status());
    }
  }
  IndexDurablePoint point;
  if (ckpt.is_ok() && ckpt->dispatched_offset == from) point = ckpt->index_point;
  HF_RETURN_IF_ERROR(index_->recover_to(point));

  int64_t end = from;
  int64_t records = 0;
  touched_queues_.clear();
  HF_RETURN_IF_ERROR(dispatch_range(from, limit, &end, true, &records));
  // Everything past the last valid record is a torn tail or stale bytes: erase it.
  HF_RETURN_IF_ERROR(log_->truncate_after(end, &recovery_.truncated_bytes));
  if (options_.truncate_log_to >= 0 && recovery_.truncated_bytes > 0) {
    logger("storage")->warn("failover: commit log cut at offset {}: the tail after it, which no broker "
                            "acknowledged, is erased", end);
  }
  recovery_.redispatched_records = records;
  recovery_.recovered_end = end;
  // Make the rebuilt state durable and record it, so a crash right now does not repeat the work.
  HF_RETURN_IF_ERROR(log_->sync_through(end));
  appended_ = end;
  written_ = flushed_ = confirmed_ = dispatched_ = end;
  HF_RETURN_IF_ERROR(write_checkpoint_now());
  return Status::ok();
}

}  // namespace holdfast
