// FaultFs: opening the backing tree, the data path (write, truncate, fallocate, fsync), and the
// control commands including power loss.
#include "faultfs/fault_fs.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "faultfs/dir_tree.h"

namespace holdfast::faultfs {
namespace {

constexpr size_t kSectorBytes = 512;

// How much of a last unsynced write of `length` bytes survives a torn power loss: a whole number
// of sectors strictly shorter than the write, or half of a write under two sectors. Derived
// from the seed and the write, so a seed reproduces the same tear.
size_t torn_prefix_length(uint64_t seed, off_t offset, size_t length) {
  if (length < 2 * kSectorBytes) return length / 2;
  std::mt19937_64 rng(seed ^ (static_cast<uint64_t>(offset) * 0x9E3779B97F4A7C15ULL) ^ length);
  size_t sectors = (length - 1) / kSectorBytes;  // >= 1
  return kSectorBytes * (1 + rng() % sectors);
}

}  // namespace

FaultFs::FaultFs(UniqueFd root, UniqueFd graveyard, uint64_t seed)
    : root_(std::move(root)), graveyard_(std::move(graveyard)), journal_(graveyard_.get()), seed_(seed) {}

std::unique_ptr<FaultFs> FaultFs::open(const std::string& backing_dir, uint64_t seed, std::string* error) {
  UniqueFd root(::open(backing_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) {
    *error = "cannot open backing directory " + backing_dir + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::mkdirat(root.get(), kGraveyardName, 0700) != 0 && errno != EEXIST) {
    *error = std::string("cannot create graveyard: ") + std::strerror(errno);
    return nullptr;
  }
  UniqueFd graveyard(::openat(root.get(), kGraveyardName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!graveyard.valid()) {
    *error = std::string("cannot open graveyard: ") + std::strerror(errno);
    return nullptr;
  }
  // Leftovers belong to a daemon that died without a power loss: its unlinks stand.
  clear_directory(graveyard.get());
  std::unique_ptr<FaultFs> fs(new FaultFs(std::move(root), std::move(graveyard), seed));
  fs->used_bytes_ = regular_file_bytes(fs->root_.get(), kGraveyardName);
  return fs;
}

std::string FaultFs::backing_path(const char* path) {
  std::string rel(path);
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  if (rel.empty()) return ".";
  std::string first = rel.substr(0, rel.find('/'));
  if (first == kGraveyardName) return "";
  return rel;
}

int FaultFs::backing_open_flags(int flags) {
  int access = flags & O_ACCMODE;
  int rest = flags & ~(O_ACCMODE | O_APPEND | O_TRUNC | O_CREAT | O_EXCL | O_DIRECT | O_SYNC | O_DSYNC | O_NOCTTY);
  return rest | O_CLOEXEC | (access == O_RDONLY ? O_RDONLY : O_RDWR);
}

int FaultFs::open_file(const char* path, int flags, Handle** out) {
  std::string rel = backing_path(path);
  if (rel.empty()) return -ENOENT;
  UniqueFd fd(::openat(root_.get(), rel.c_str(), backing_open_flags(flags)));
  if (!fd.valid()) return -errno;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return -errno;
  if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY && st.st_size != 0) {
    std::lock_guard lock(mu_);
    if (powered_off_ || eio_write_locked(path)) return -EIO;
    if (int rc = truncate_locked(fd.get(), st.st_ino, path, 0); rc != 0) return rc;
  }
  *out = new Handle{std::move(fd), st.st_ino, path};
  return 0;
}

bool FaultFs::eio_write_locked(const std::string& path) const {
  return FaultSettings::matches(faults_.eio_write, path);
}

int FaultFs::check_growth_locked(off_t old_size, off_t new_size) const {
  if (!faults_.quota_bytes || new_size <= old_size) return 0;
  return used_bytes_ + (new_size - old_size) > *faults_.quota_bytes ? -ENOSPC : 0;
}

FileUndo* FaultFs::undo_for_locked(int fd, ino_t ino, off_t current_size, int* error) {
  auto it = files_.find(ino);
  if (it != files_.end()) return it->second.get();
  // Invariant: a file without a FileUndo holds exactly its synced bytes and size.
  UniqueFd own(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!own.valid()) {
    *error = -errno;
    return nullptr;
  }
  auto undo = std::make_unique<FileUndo>(std::move(own), current_size);
  return files_.emplace(ino, std::move(undo)).first->second.get();
}

int FaultFs::write(Handle& handle, const char* data, size_t size, off_t offset) {
  std::lock_guard lock(mu_);
  if (powered_off_ || eio_write_locked(handle.path)) return -EIO;
  struct stat st;
  if (::fstat(handle.fd.get(), &st) != 0) return -errno;
  off_t end = offset + static_cast<off_t>(size);
  if (int rc = check_growth_locked(st.st_size, end); rc != 0) return rc;
  int error = 0;
  FileUndo* undo = undo_for_locked(handle.fd.get(), handle.ino, st.st_size, &error);
  if (undo == nullptr) return error;
  if (int rc = undo->preserve(offset, static_cast<off_t>(size)); rc != 0) return rc;
  ssize_t n = ::pwrite(handle.fd.get(), data, size, offset);
  if (n < 0) return -errno;
  undo->note_write(offset, std::string_view(data, static_cast<size_t>(n)));
  used_bytes_ += std::max<off_t>(0, offset + n - st.st_size);
  return static_cast<int>(n);
}

int FaultFs::truncate_locked(int fd, ino_t ino, const std::string& path, off_t size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return -errno;
  if (st.st_size == size) return 0;
  if (int rc = check_growth_locked(st.st_size, size); rc != 0) return rc;
  int error = 0;
  FileUndo* undo = undo_for_locked(fd, ino, st.st_size, &error);
  if (undo == nullptr) return error;
  if (size < st.st_size) {
    if (int rc = undo->preserve(size, st.st_size - size); rc != 0) return rc;
  }
  if (::ftruncate(fd, size) != 0) return -errno;
  undo->note_size_change();
  used_bytes_ += size - st.st_size;
  return 0;
}

int FaultFs::truncate(const char* path, Handle* handle, off_t size) {
  UniqueFd own;
  int fd = handle ? handle->fd.get() : -1;
  std::string where = handle ? handle->path : std::string(path ? path : "");
  if (handle == nullptr) {
    std::string rel = backing_path(where.c_str());
    if (rel.empty()) return -ENOENT;
    own = UniqueFd(::openat(root_.get(), rel.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!own.valid()) return -errno;
    fd = own.get();
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return -errno;
  std::lock_guard lock(mu_);
  if (powered_off_ || eio_write_locked(where)) return -EIO;
  return truncate_locked(fd, st.st_ino, where, size);
}

int FaultFs::fallocate(Handle& handle, int mode, off_t offset, off_t length) {
  constexpr int kSupported = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if (mode & ~kSupported) return -EOPNOTSUPP;
  std::lock_guard lock(mu_);
  if (powered_off_ || eio_write_locked(handle.path)) return -EIO;
  struct stat st;
  if (::fstat(handle.fd.get(), &st) != 0) return -errno;
  off_t new_size = (mode & FALLOC_FL_KEEP_SIZE) ? st.st_size : std::max(st.st_size, offset + length);
  if (int rc = check_growth_locked(st.st_size, new_size); rc != 0) return rc;
  int error = 0;
  FileUndo* undo = undo_for_locked(handle.fd.get(), handle.ino, st.st_size, &error);
  if (undo == nullptr) return error;
  if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
    if (int rc = undo->preserve(offset, length); rc != 0) return rc;
  }
  if (::fallocate(handle.fd.get(), mode, offset, length) != 0) return -errno;
  undo->note_size_change();
  used_bytes_ += new_size - st.st_size;
  return 0;
}

int FaultFs::sleep_fsync_delay() {
  int64_t delay_ms;
  {
    std::lock_guard lock(mu_);
    delay_ms = faults_.fsync_delay_ms;
  }
  if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  return 0;
}

int FaultFs::fsync(Handle& handle) {
  sleep_fsync_delay();
  std::lock_guard lock(mu_);
  if (powered_off_ || FaultSettings::matches(faults_.eio_fsync, handle.path)) return -EIO;
  files_.erase(handle.ino);
  return 0;
}

int FaultFs::fsync_directory(Handle& handle) {
  sleep_fsync_delay();
  std::lock_guard lock(mu_);
  if (powered_off_ || FaultSettings::matches(faults_.eio_fsync, handle.path)) return -EIO;
  journal_.sync_directory(handle.ino);
  return 0;
}

int FaultFs::statfs(struct statvfs* out) {
  if (::fstatvfs(root_.get(), out) != 0) return -errno;
  std::lock_guard lock(mu_);
  if (faults_.quota_bytes && out->f_frsize > 0) {
    int64_t free_bytes = std::max<int64_t>(0, *faults_.quota_bytes - used_bytes_);
    out->f_blocks = static_cast<fsblkcnt_t>(*faults_.quota_bytes) / out->f_frsize;
    out->f_bfree = out->f_bavail = static_cast<fsblkcnt_t>(free_bytes) / out->f_frsize;
  }
  return 0;
}

void FaultFs::discard_graveyard() {
  std::lock_guard lock(mu_);
  clear_directory(graveyard_.get());
}

std::string FaultFs::power_loss(bool torn) {
  std::lock_guard lock(mu_);
  if (powered_off_) return "error already powered off";
  powered_off_ = true;
  uint64_t ops = journal_.size();
  uint64_t bytes = 0;
  uint64_t torn_files = 0;
  int failures = 0;
  std::string errors;
  for (auto& [ino, undo] : files_) {
    ops += undo->unsynced_ops();
    bytes += undo->unsynced_bytes();
    size_t prefix = 0;
    if (torn && undo->last_write()) {
      const FileUndo::LastWrite& last = *undo->last_write();
      prefix = torn_prefix_length(seed_, last.offset, last.data.size());
      if (prefix > 0) {
        ++torn_files;
        bytes -= prefix;
      }
    }
    if (int rc = undo->restore(prefix); rc != 0) {
      ++failures;
      errors += "restore of inode " + std::to_string(ino) + " failed: " + std::strerror(-rc) + "; ";
    }
  }
  files_.clear();
  failures += journal_.undo_all(&errors);
  clear_directory(graveyard_.get());
  if (failures > 0) return "error power loss applied with " + std::to_string(failures) + " undo failures: " + errors;
  std::string reply = "ok dropped=" + std::to_string(ops) + " bytes=" + std::to_string(bytes);
  if (torn) reply += " torn_files=" + std::to_string(torn_files);
  return reply;
}

std::string FaultFs::status_json() {
  std::lock_guard lock(mu_);
  used_bytes_ = regular_file_bytes(root_.get(), kGraveyardName);
  uint64_t ops = journal_.size();
  uint64_t bytes = 0;
  for (const auto& [ino, undo] : files_) {
    ops += undo->unsynced_ops();
    bytes += undo->unsynced_bytes();
  }
  nlohmann::json status = {
      {"unsynced_ops", ops},
      {"unsynced_bytes", bytes},
      {"unsynced_files", files_.size()},
      {"unsynced_entries", journal_.size()},
      {"quota", faults_.quota_bytes ? nlohmann::json(*faults_.quota_bytes) : nlohmann::json(nullptr)},
      {"used_bytes", used_bytes_},
      {"eio_write", faults_.eio_write ? nlohmann::json(*faults_.eio_write) : nlohmann::json(nullptr)},
      {"eio_fsync", faults_.eio_fsync ? nlohmann::json(*faults_.eio_fsync) : nlohmann::json(nullptr)},
      {"fsync_delay_ms", faults_.fsync_delay_ms},
      {"faults", faults_.active()},
      {"powered_off", powered_off_},
  };
  return status.dump();
}

std::string FaultFs::execute(const std::string& line, bool* stop) {
  *stop = false;
  ControlCommand command;
  if (std::string error = parse_control_command(line, &command); !error.empty()) return "error " + error;
  switch (command.kind) {
    case CommandKind::kStatus:
      return "ok " + status_json();
    case CommandKind::kPowerLoss:
    case CommandKind::kPowerLossTorn: {
      std::string reply = power_loss(command.kind == CommandKind::kPowerLossTorn);
      *stop = reply != "error already powered off";
      return reply;
    }
    default:
      break;
  }
  std::lock_guard lock(mu_);
  switch (command.kind) {
    case CommandKind::kQuota:
      used_bytes_ = regular_file_bytes(root_.get(), kGraveyardName);
      faults_.quota_bytes = command.number;
      return "ok quota=" + std::to_string(command.number) + " used_bytes=" + std::to_string(used_bytes_);
    case CommandKind::kQuotaOff:
      faults_.quota_bytes.reset();
      return "ok";
    case CommandKind::kEioWrite:
      faults_.eio_write = command.on ? std::optional<std::string>(command.substring) : std::nullopt;
      return "ok";
    case CommandKind::kEioFsync:
      faults_.eio_fsync = command.on ? std::optional<std::string>(command.substring) : std::nullopt;
      return "ok";
    case CommandKind::kFsyncDelay:
      faults_.fsync_delay_ms = command.number;
      return "ok";
    case CommandKind::kHeal:
      faults_ = FaultSettings{};
      return "ok";
    default:
      return "error unhandled command";
  }
}

}  // namespace holdfast::faultfs
