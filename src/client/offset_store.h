// Where a push consumer keeps its consumed offsets: on the brokers (clustering) or in a local file
// (broadcasting, where each instance has its own progress). Offsets are "the next offset to
// consume" for a queue (facts §10.2).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/status.h"
#include "holdfast/message.h"
#include "holdfast/outcome.h"

namespace holdfast::client {

// Thread-safe. update() only changes memory; persist_all() writes what changed.
class OffsetStore {
 public:
  virtual ~OffsetStore() = default;
  // The stored offset of queue; nullopt when the store has none (a new group or queue), an Error
  // when the store could not be asked.
  virtual Outcome<std::optional<int64_t>> read(const MessageQueue& queue) = 0;
  // Records offset in memory (never moves an offset backwards unless `allow_backwards`).
  void update(const MessageQueue& queue, int64_t offset, bool allow_backwards = false);
  std::optional<int64_t> cached(const MessageQueue& queue) const;
  // Writes the queue's offset now (a queue that is dropped is persisted at once).
  virtual void persist(const MessageQueue& queue) = 0;
  virtual void persist_all() = 0;
  // Forgets the queue (after persist, when it is no longer owned).
  void forget(const MessageQueue& queue);

 protected:
  mutable std::mutex mu_;
  std::map<MessageQueue, int64_t> offsets_;
};

// Broker-side store: read = QUERY_CONSUMER_OFFSET (22 = none), persist = UPDATE_CONSUMER_OFFSET.
class RemoteOffsetStore final : public OffsetStore {
 public:
  using Query = std::function<Outcome<int64_t>(const MessageQueue&)>;
  using Commit = std::function<Outcome<void>(const MessageQueue&, int64_t)>;
  RemoteOffsetStore(Query query, Commit commit) : query_(std::move(query)), commit_(std::move(commit)) {}
  Outcome<std::optional<int64_t>> read(const MessageQueue& queue) override;
  void persist(const MessageQueue& queue) override;
  void persist_all() override;

 private:
  Query query_;
  Commit commit_;
  std::map<MessageQueue, int64_t> persisted_;  // guarded by mu_
};

// Local file store for broadcasting. The file is JSON
//   {"offsetTable":[{"topic":T,"brokerName":B,"queueId":Q,"offset":O}, ...]}
// replaced atomically (write a temp file, fsync it, rename over, fsync the directory), so a
// crash leaves either the old or the new table, never a torn one. The client has no Env seam (it
// must not depend on the store's env); plain POSIX calls are used here.
class LocalFileOffsetStore final : public OffsetStore {
 public:
  // path: the offsets file; its directory is created when missing.
  explicit LocalFileOffsetStore(std::string path) : path_(std::move(path)) {}
  // Reads the file into memory; a missing file is an empty table, an unreadable one an error.
  Status load();
  Outcome<std::optional<int64_t>> read(const MessageQueue& queue) override;
  void persist(const MessageQueue& queue) override { persist_all(); }
  void persist_all() override;
  // Writes the whole table (used by persist_all; returns the failure for tests).
  Status write_file();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex file_mu_;
};

}  // namespace holdfast::client
