// FaultEnv: an in-memory Env that models what a power loss leaves behind. Every file keeps its
// live bytes and its last synced bytes, every directory entry its last synced binding, and
// crash() rolls the live state back to the synced one (optionally tearing the unsynced tail).
#include "env/fault_env.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "base/sync_point.h"

namespace holdfast {
namespace {

constexpr int64_t kEpochMs = 1'700'000'000'000;
constexpr int64_t kMonotonicStartMicros = 1'000'000'000;
// "Unlimited" still needs a number for disk_usage(); it also keeps a runaway offset from
// turning into a multi-terabyte allocation.
constexpr uint64_t kUnlimitedBytes = uint64_t{1} << 40;

// Collapses "//" and drops a trailing "/" so that "/a//b/" and "/a/b" name the same entry.
std::string normalize(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

const std::string& key_of(const std::string& key) { return key; }
template <typename V>
const std::string& key_of(const std::pair<const std::string, V>& entry) { return entry.first; }

// The keys of a sorted path container that name direct children of `dir`.
template <typename Container>
std::vector<std::string> children(const Container& entries, const std::string& dir) {
  std::vector<std::string> out;
  if (dir == ".") {  // relative names have no common prefix to seek to
    for (const auto& e : entries) {
      if (parent_dir(key_of(e)) == ".") out.push_back(key_of(e));
    }
    return out;
  }
  const std::string prefix = dir == "/" ? "/" : dir + "/";
  for (auto it = entries.lower_bound(prefix); it != entries.end(); ++it) {
    const std::string& path = key_of(*it);
    if (path.compare(0, prefix.size(), prefix) != 0) break;
    if (path.find('/', prefix.size()) == std::string::npos) out.push_back(path);
  }
  return out;
}

}  // namespace

// One file's contents. Guarded by State::mu.
struct FaultEnv::Inode {
  std::string data;     // what reads see (the page cache)
  std::string durable;  // what a power loss leaves (as of the last successful sync)
  // Ranges [begin, end) of `data` written or zero-extended since the last sync, keyed by begin,
  // with overlapping and touching ranges merged. They cover [durable.size(), data.size()) (every
  // byte past the synced size was written or zero-extended since), so sync() copies only them.
  std::map<uint64_t, uint64_t> dirty;
  int64_t mtime_ms = 0;
  // Has a name in the live namespace. Only linked inodes count against the space limit; an
  // inode kept alive only by open handles (removed, or lost in a crash) is not limited.
  bool linked = false;

  bool has_unsynced() const { return !dirty.empty() || data.size() != durable.size(); }

  // Since touching ranges are merged, a covered interval lies within a single range.
  bool dirty_covers(uint64_t begin, uint64_t end) const {
    auto it = dirty.upper_bound(begin);
    return begin >= end || (it != dirty.begin() && std::prev(it)->second >= end);
  }

  void mark_dirty(uint64_t begin, uint64_t end) {
    if (begin >= end) return;
    auto next = dirty.upper_bound(begin);
    // Extending the previous range in place keeps the common append case allocation-free.
    auto merged = next != dirty.begin() && std::prev(next)->second >= begin
                      ? std::prev(next)
                      : dirty.emplace_hint(next, begin, end);
    merged->second = std::max(merged->second, end);
    while (next != dirty.end() && next->first <= merged->second) {
      merged->second = std::max(merged->second, next->second);
      next = dirty.erase(next);
    }
  }

  // Zero-extends (the new bytes are unsynced) or shrinks (dropping dirty ranges past the end).
  void resize(uint64_t size) {
    const uint64_t old = data.size();
    if (size > old) {
      data.resize(size, '\0');
      mark_dirty(old, size);
    } else if (size < old) {
      data.resize(size);
      dirty.erase(dirty.lower_bound(size), dirty.end());
      if (!dirty.empty()) dirty.rbegin()->second = std::min(dirty.rbegin()->second, size);
    }
  }

  void write(uint64_t offset, const char* src, size_t n) {
    const uint64_t end = offset + n;
    uint64_t dirty_begin = offset;
    if (end > data.size()) {
      dirty_begin = std::min<uint64_t>(offset, data.size());  // a gap before offset reads as zeros
      data.resize(end, '\0');
    }
    std::memcpy(data.data() + offset, src, n);
    mark_dirty(dirty_begin, end);
  }

  void sync() {
    durable.resize(data.size());
    for (const auto& [begin, end] : dirty) {
      const uint64_t stop = std::min<uint64_t>(end, data.size());
      if (begin < stop) std::memcpy(durable.data() + begin, data.data() + begin, stop - begin);
    }
    dirty.clear();
  }

  void drop_unsynced() {
    if (!has_unsynced()) return;
    data = durable;
    dirty.clear();
  }

  // A torn write never touches synced bytes (overwrites of them revert): only the region past
  // the durable size tears, and as it is entirely dirty, "a prefix of the unsynced changes in
  // byte order" is a prefix of it. What survives becomes the new durable state: after the
  // reboot those bytes are on the platter.
  void tear_unsynced(std::mt19937_64& rng) {
    if (!has_unsynced()) return;
    const uint64_t durable_size = durable.size();
    if (data.size() <= durable_size) {
      drop_unsynced();
      return;
    }
    // Invariant: everything past the synced size is dirty, so it is what the tear may keep.
    HF_CHECK(dirty_covers(durable_size, data.size()), "unsynced tail not tracked as dirty");
    using Uniform = std::uniform_int_distribution<uint64_t>;
    const uint64_t extra = Uniform(0, data.size() - durable_size)(rng);
    const uint64_t kept = Uniform(0, extra)(rng);
    const bool zeros = (rng() & 1) == 0;
    durable.append(data, durable_size, kept);
    if (zeros) {
      durable.append(extra - kept, '\0');
    } else {
      for (uint64_t i = kept; i < extra; ++i) durable.push_back(static_cast<char>(rng() & 0xff));
    }
    data = durable;
    dirty.clear();
  }
};

struct FaultEnv::State {
  explicit State(uint64_t seed) : rng(seed) {}

  std::mutex mu;
  std::condition_variable syncs_unblocked;
  // Regular files only. `live` is what the running process sees; `durable` holds, for each
  // directory, its entries as of that directory's last sync_dir (what a power loss leaves).
  std::map<std::string, std::shared_ptr<Inode>> live;
  std::map<std::string, std::shared_ptr<Inode>> durable;
  // Directories are durable as soon as they are created (and gone as soon as removed): Holdfast
  // creates its directories once and never renames them, so unsynced mkdir is not modelled.
  std::set<std::string> dirs;
  std::map<std::string, uint64_t> locks;  // path -> id of the FileLock holding it
  uint64_t next_lock_id = 1;
  uint64_t space_limit = 0;  // 0 = unlimited
  uint64_t used = 0;         // sum of the sizes of linked inodes
  int pending_write_failures = 0;
  int pending_sync_failures = 0;
  std::string sync_fail_prefix;  // see fail_syncs_under()
  bool syncs_blocked = false;
  bool frozen = false;  // see set_frozen()
  uint64_t syncs = 0;
  std::mt19937_64 rng;
  std::atomic<int64_t> clock_micros{0};  // atomic so that clock reads never take the mutex

  int64_t now_ms() const { return kEpochMs + clock_micros.load() / 1000; }
  uint64_t capacity() const { return space_limit == 0 ? kUnlimitedBytes : space_limit; }
  bool dir_exists(const std::string& d) const { return d == "." || d == "/" || dirs.count(d); }
  bool exists(const std::string& path) const { return dir_exists(path) || live.count(path) != 0; }

  Status frozen_error(const char* op, const std::string& path) const {
    return Status::io_error(std::string(op) + " " + path + ": frozen by simulated power loss", EIO);
  }

  // Charges (or refunds) the size change of a linked inode to the space budget; on ENOSPC
  // nothing is charged and the caller must leave the inode untouched.
  Status charge_space(Inode& inode, uint64_t new_size, const char* op, const std::string& path) {
    const uint64_t old = inode.data.size();
    const bool full = new_size > kUnlimitedBytes ||
                      (inode.linked && new_size > old && used + (new_size - old) > capacity());
    if (full) return Status::from_errno(std::string(op) + " " + path, ENOSPC);
    if (inode.linked) used = used + new_size - old;  // used >= old: no wrap-around
    return Status::ok();
  }

  void unlink(Inode& inode) {
    if (!inode.linked) return;
    used -= inode.data.size();
    inode.linked = false;
  }

  Inode* find_file(const std::string& path) const {
    auto it = live.find(path);
    return it == live.end() ? nullptr : it->second.get();
  }

  // The durable entries of `dir` become its live entries (or, with `live_too` false, none).
  void sync_dir(const std::string& dir, bool live_too) {
    for (const std::string& child : children(durable, dir)) durable.erase(child);
    if (!live_too) return;
    for (const std::string& child : children(live, dir)) durable.emplace(child, live.at(child));
  }

  // Creates an empty linked file; the caller has checked that the name is free.
  Result<std::shared_ptr<Inode>> create(const std::string& path) {
    if (frozen) return frozen_error("open", path);
    if (!dir_exists(parent_dir(path))) return Status::from_errno("open " + path, ENOENT);
    auto inode = std::make_shared<Inode>();
    inode->mtime_ms = now_ms();
    inode->linked = true;
    live.emplace(path, inode);
    return inode;
  }
};

namespace {

using Inode = FaultEnv::Inode;
using State = FaultEnv::State;
using Guard = std::lock_guard<std::mutex>;

// A handle shares the inode with every other handle of the file and keeps the State alive, so
// it stays safe to use after the FaultEnv is gone (or after crash() unlinked its file).
class FaultFile final : public File {
 public:
  FaultFile(std::shared_ptr<State> state, std::shared_ptr<Inode> inode, std::string path)
      : state_(std::move(state)), inode_(std::move(inode)), path_(std::move(path)) {}

  Status write_at(uint64_t offset, const char* data, size_t n) override {
    HF_SYNC_POINT("fault_env.write.before");
    Guard guard(state_->mu);
    if (state_->frozen) return state_->frozen_error("pwrite", path_);
    if (state_->pending_write_failures > 0) {
      --state_->pending_write_failures;
      return Status::from_errno("pwrite " + path_, EIO);
    }
    if (n > UINT64_MAX - offset) return Status::from_errno("pwrite " + path_, EFBIG);
    if (n == 0) return Status::ok();
    const uint64_t new_size = std::max<uint64_t>(inode_->data.size(), offset + n);
    HF_RETURN_IF_ERROR(state_->charge_space(*inode_, new_size, "pwrite", path_));
    inode_->write(offset, data, n);
    inode_->mtime_ms = state_->now_ms();
    return Status::ok();
  }

  Status read_at(uint64_t offset, size_t n, char* scratch, size_t* read) const override {
    Guard guard(state_->mu);
    const std::string& data = inode_->data;
    *read = 0;
    if (offset >= data.size()) return Status::ok();
    *read = static_cast<size_t>(std::min<uint64_t>(n, data.size() - offset));
    std::memcpy(scratch, data.data() + offset, *read);
    return Status::ok();
  }

  Status sync() override {
    HF_SYNC_POINT("fault_env.fdatasync.before");
    std::unique_lock<std::mutex> lock(state_->mu);
    // wait() releases the mutex, so a stalled sync does not stall writers or readers.
    state_->syncs_unblocked.wait(lock, [this] { return !state_->syncs_blocked || state_->frozen; });
    if (state_->frozen) return state_->frozen_error("fdatasync", path_);
    if (state_->pending_sync_failures > 0) {
      --state_->pending_sync_failures;
      return Status::from_errno("fdatasync " + path_, EIO);
    }
    if (!state_->sync_fail_prefix.empty() && path_.rfind(state_->sync_fail_prefix, 0) == 0) {
      return Status::from_errno("fdatasync " + path_, EIO);
    }
    inode_->sync();
    ++state_->syncs;
    return Status::ok();
  }

  Status truncate(uint64_t size) override { return resize(size, "ftruncate", /*grow_only=*/false); }
  Status allocate(uint64_t size) override { return resize(size, "fallocate", /*grow_only=*/true); }

  Result<uint64_t> size() const override {
    Guard guard(state_->mu);
    return static_cast<uint64_t>(inode_->data.size());
  }

  const std::string& path() const override { return path_; }

 private:
  Status resize(uint64_t size, const char* op, bool grow_only) {
    Guard guard(state_->mu);
    if (state_->frozen) return state_->frozen_error(op, path_);
    if (grow_only && size <= inode_->data.size()) return Status::ok();
    HF_RETURN_IF_ERROR(state_->charge_space(*inode_, size, op, path_));
    inode_->resize(size);
    inode_->mtime_ms = state_->now_ms();
    return Status::ok();
  }

  std::shared_ptr<State> state_;
  std::shared_ptr<Inode> inode_;
  std::string path_;
};

class FaultFileLock final : public FileLock {
 public:
  FaultFileLock(std::shared_ptr<State> state, std::string path, uint64_t id)
      : state_(std::move(state)), path_(std::move(path)), id_(id) {}
  ~FaultFileLock() override {
    Guard guard(state_->mu);
    // The id check keeps a lock released by crash() and taken again from being dropped here.
    auto it = state_->locks.find(path_);
    if (it != state_->locks.end() && it->second == id_) state_->locks.erase(it);
  }

 private:
  std::shared_ptr<State> state_;
  std::string path_;
  uint64_t id_;
};

}  // namespace

FaultEnv::FaultEnv(uint64_t seed) : state_(std::make_shared<State>(seed)) {}

// Handles may outlive us; make sure none of them waits forever for an unblock_syncs().
FaultEnv::~FaultEnv() { unblock_syncs(); }

void FaultEnv::crash(CrashMode mode) {
  Guard guard(state_->mu);
  State& s = *state_;
  // Visit every known inode once, in path order, so that the torn shapes depend only on the seed.
  std::set<const Inode*> seen;
  for (const auto* names : {&s.durable, &s.live}) {
    for (const auto& [path, inode] : *names) {
      if (!seen.insert(inode.get()).second) continue;
      inode->linked = false;
      if (mode == CrashMode::kTearTail) {
        inode->tear_unsynced(s.rng);
      } else {
        inode->drop_unsynced();
      }
    }
  }
  // A rename whose source and target directories were synced separately can leave one inode
  // durable under two names; give each name its own copy so that they do not alias.
  seen.clear();
  for (auto& [path, inode] : s.durable) {
    if (!seen.insert(inode.get()).second) inode = std::make_shared<Inode>(*inode);
  }
  s.live = s.durable;
  s.used = 0;
  for (auto& [path, inode] : s.live) {
    inode->linked = true;
    s.used += inode->data.size();
  }
  s.locks.clear();  // the processes that held them are gone
}

void FaultEnv::set_space_limit(uint64_t bytes) { Guard g(state_->mu); state_->space_limit = bytes; }
void FaultEnv::fail_next_write() { Guard g(state_->mu); ++state_->pending_write_failures; }
void FaultEnv::fail_next_sync() { Guard g(state_->mu); ++state_->pending_sync_failures; }
void FaultEnv::fail_syncs_under(const std::string& prefix) {
  Guard g(state_->mu);
  state_->sync_fail_prefix = prefix;
}
void FaultEnv::block_syncs() { Guard g(state_->mu); state_->syncs_blocked = true; }
uint64_t FaultEnv::sync_count() const { Guard g(state_->mu); return state_->syncs; }
uint64_t FaultEnv::bytes_used() const { Guard g(state_->mu); return state_->used; }

void FaultEnv::unblock_syncs() {
  {
    Guard guard(state_->mu);
    state_->syncs_blocked = false;
  }
  state_->syncs_unblocked.notify_all();
}

void FaultEnv::set_frozen(bool frozen) {
  {
    Guard guard(state_->mu);
    state_->frozen = frozen;
  }
  state_->syncs_unblocked.notify_all();  // a stalled sync of the dead process fails instead
}

void FaultEnv::advance_clock(int64_t ms) {
  HF_CHECK(ms >= 0, "the fake clock only moves forward, got ", ms, " ms");
  state_->clock_micros.fetch_add(ms * 1000);
}

void FaultEnv::set_mtime(const std::string& path, int64_t mtime_ms) {
  Guard guard(state_->mu);
  if (Inode* inode = state_->find_file(normalize(path))) inode->mtime_ms = mtime_ms;
}

Result<std::unique_ptr<File>> FaultEnv::open_file(const std::string& path, OpenMode mode) {
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (state_->dir_exists(p)) return Status::from_errno("open " + p, EISDIR);
  std::shared_ptr<Inode> inode;
  if (auto it = state_->live.find(p); it != state_->live.end()) {
    inode = it->second;
  } else if (mode == OpenMode::kMustExist) {
    return Status::from_errno("open " + p, ENOENT);
  } else {
    HF_ASSIGN_OR_RETURN(inode, state_->create(p));
  }
  return std::unique_ptr<File>(new FaultFile(state_, std::move(inode), p));
}

bool FaultEnv::file_exists(const std::string& path) {
  Guard guard(state_->mu);
  return state_->exists(normalize(path));
}

Result<std::vector<std::string>> FaultEnv::list_dir(const std::string& path) {
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (!state_->dir_exists(p)) {
    return Status::from_errno("opendir " + p, state_->live.count(p) ? ENOTDIR : ENOENT);
  }
  std::vector<std::string> names = children(state_->live, p);
  for (std::string& dir : children(state_->dirs, p)) names.push_back(std::move(dir));
  const size_t skip = p == "." ? 0 : (p == "/" ? 1 : p.size() + 1);
  for (std::string& name : names) name.erase(0, skip);
  return names;
}

Status FaultEnv::create_dirs(const std::string& path) {
  const std::string p = normalize(path);
  std::vector<std::string> chain;
  for (std::string d = p; !d.empty() && d != "." && d != "/"; d = parent_dir(d)) chain.push_back(d);
  Guard guard(state_->mu);
  for (const std::string& d : chain) {
    if (state_->live.count(d)) return Status::from_errno("mkdir " + d, ENOTDIR);
    if (state_->frozen && !state_->dirs.count(d)) return state_->frozen_error("mkdir", d);
  }
  state_->dirs.insert(chain.begin(), chain.end());
  return Status::ok();
}

Status FaultEnv::remove_file(const std::string& path) {
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (state_->frozen) return state_->frozen_error("unlink", p);
  if (state_->dir_exists(p)) return Status::from_errno("unlink " + p, EISDIR);
  auto it = state_->live.find(p);
  if (it == state_->live.end()) return Status::from_errno("unlink " + p, ENOENT);
  state_->unlink(*it->second);
  state_->live.erase(it);
  return Status::ok();
}

Status FaultEnv::remove_dir(const std::string& path) {
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (state_->frozen) return state_->frozen_error("rmdir", p);
  if (state_->dirs.count(p) == 0) {
    return Status::from_errno("rmdir " + p, state_->live.count(p) ? ENOTDIR : ENOENT);
  }
  if (!children(state_->live, p).empty() || !children(state_->dirs, p).empty()) {
    return Status::from_errno("rmdir " + p, ENOTEMPTY);
  }
  // Directories are always durable, so removing one also makes the removal of its (already
  // unlinked) files durable; otherwise a crash would resurrect files in a missing directory.
  state_->sync_dir(p, /*live_too=*/false);
  state_->dirs.erase(p);
  return Status::ok();
}

Status FaultEnv::rename_file(const std::string& from, const std::string& to) {
  const std::string src = normalize(from);
  const std::string dst = normalize(to);
  const std::string context = "rename " + src + " -> " + dst;
  Guard guard(state_->mu);
  if (state_->frozen) return state_->frozen_error("rename", src + " -> " + dst);
  if (state_->dirs.count(src)) return Status::invalid_argument(context + ": only files can move");
  auto it = state_->live.find(src);
  if (it == state_->live.end()) return Status::from_errno(context, ENOENT);
  if (state_->dir_exists(dst)) return Status::from_errno(context, EISDIR);
  if (!state_->dir_exists(parent_dir(dst))) return Status::from_errno(context, ENOENT);
  if (src == dst) return Status::ok();
  std::shared_ptr<Inode> inode = it->second;
  state_->live.erase(it);
  auto [target, inserted] = state_->live.try_emplace(dst, inode);
  if (!inserted) {
    state_->unlink(*target->second);
    target->second = std::move(inode);
  }
  return Status::ok();
}

Status FaultEnv::sync_dir(const std::string& path) {
  HF_SYNC_POINT("fault_env.sync_dir.before");
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (state_->frozen) return state_->frozen_error("fsync dir", p);
  if (!state_->dir_exists(p)) return Status::from_errno("open dir " + p, ENOENT);
  state_->sync_dir(p, /*live_too=*/true);
  return Status::ok();
}

Result<uint64_t> FaultEnv::file_size(const std::string& path) {
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (state_->dir_exists(p)) return uint64_t{0};
  const Inode* inode = state_->find_file(p);
  if (inode == nullptr) return Status::from_errno("stat " + p, ENOENT);
  return static_cast<uint64_t>(inode->data.size());
}

Result<int64_t> FaultEnv::file_mtime_ms(const std::string& path) {
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (state_->dir_exists(p)) return state_->now_ms();  // directory times are not tracked
  const Inode* inode = state_->find_file(p);
  if (inode == nullptr) return Status::from_errno("stat " + p, ENOENT);
  return inode->mtime_ms;
}

Result<DiskUsage> FaultEnv::disk_usage(const std::string& path) {
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (!state_->exists(p)) return Status::from_errno("statvfs " + p, ENOENT);
  DiskUsage usage;
  usage.total_bytes = state_->capacity();
  usage.available_bytes = usage.total_bytes - std::min(state_->used, usage.total_bytes);
  usage.free_bytes = usage.available_bytes;
  return usage;
}

Result<std::unique_ptr<FileLock>> FaultEnv::lock_file(const std::string& path) {
  const std::string p = normalize(path);
  Guard guard(state_->mu);
  if (state_->dir_exists(p)) return Status::from_errno("open " + p, EISDIR);
  if (state_->live.count(p) == 0) {
    // Like flock(2) on an O_CREAT descriptor, locking creates the (empty) file.
    HF_ASSIGN_OR_RETURN(auto created, state_->create(p));
    (void)created;
  }
  if (state_->locks.count(p)) return Status::busy(p + " is locked by another process");
  const uint64_t id = state_->next_lock_id++;
  state_->locks.emplace(p, id);
  return std::unique_ptr<FileLock>(new FaultFileLock(state_, p, id));
}

int64_t FaultEnv::now_ms() { return state_->now_ms(); }

int64_t FaultEnv::now_micros_monotonic() {
  return kMonotonicStartMicros + state_->clock_micros.load();
}

void FaultEnv::sleep_micros(int64_t micros) {
  // Time passes instantly; yielding keeps a polling loop from starving the thread it waits on.
  if (micros > 0) state_->clock_micros.fetch_add(micros);
  std::this_thread::yield();
}

}  // namespace holdfast
