// FaultFs directory-entry changes: each is applied to the backing tree and journaled (with the
// parent directories held open) under one lock, so the journal order is the order applied.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "faultfs/dir_tree.h"
#include "faultfs/fault_fs.h"

namespace holdfast::faultfs {

int FaultFs::open_parent_locked(const std::string& rel, std::shared_ptr<DirRef>* dir, std::string* name) {
  if (rel.empty() || rel == ".") return -EPERM;  // the graveyard, or the root itself
  size_t slash = rel.rfind('/');
  std::string parent = slash == std::string::npos ? "." : rel.substr(0, slash);
  *name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  auto ref = std::make_shared<DirRef>();
  ref->fd = UniqueFd(::openat(root_.get(), parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!ref->fd.valid()) return -errno;
  struct stat st;
  if (::fstat(ref->fd.get(), &st) != 0) return -errno;
  ref->ino = st.st_ino;
  *dir = std::move(ref);
  return 0;
}

void FaultFs::adopt_new_entry_locked(int dir_fd, const std::string& name, uid_t uid, gid_t gid) {
  // The daemon creates everything; hand it to the caller, as a local file system would. Failure
  // (daemon not root) leaves the daemon's ownership, which is harmless for same-user callers.
  if (uid != ::geteuid() || gid != ::getegid()) {
    (void)::fchownat(dir_fd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
  }
}

int FaultFs::create(const char* path, mode_t mode, int flags, uid_t uid, gid_t gid, Handle** out) {
  std::string rel = backing_path(path);
  std::lock_guard lock(mu_);
  if (powered_off_) return -EIO;
  std::shared_ptr<DirRef> dir;
  std::string name;
  if (int rc = open_parent_locked(rel, &dir, &name); rc != 0) return rc;
  int backing_flags = backing_open_flags(flags);
  UniqueFd fd(::openat(dir->fd.get(), name.c_str(), backing_flags | O_CREAT | O_EXCL, mode));
  bool created = fd.valid();
  if (!created) {
    // Someone else created it first; without O_EXCL that is an ordinary open.
    if (errno != EEXIST || (flags & O_EXCL)) return -errno;
    fd = UniqueFd(::openat(dir->fd.get(), name.c_str(), backing_flags));
    if (!fd.valid()) return -errno;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return -errno;
  if (created) {
    adopt_new_entry_locked(dir->fd.get(), name, uid, gid);
    journal_.record(JournalEntry{EntryKind::kCreated, dir, name});
  } else if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
    if (eio_write_locked(path)) return -EIO;
    if (int rc = truncate_locked(fd.get(), st.st_ino, path, 0); rc != 0) return rc;
  }
  *out = new Handle{std::move(fd), st.st_ino, path};
  return 0;
}

int FaultFs::mknod(const char* path, mode_t mode, dev_t rdev, uid_t uid, gid_t gid) {
  std::string rel = backing_path(path);
  std::lock_guard lock(mu_);
  if (powered_off_) return -EIO;
  std::shared_ptr<DirRef> dir;
  std::string name;
  if (int rc = open_parent_locked(rel, &dir, &name); rc != 0) return rc;
  if (S_ISREG(mode)) {
    UniqueFd fd(::openat(dir->fd.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd.valid()) return -errno;
  } else if (::mknodat(dir->fd.get(), name.c_str(), mode, rdev) != 0) {
    return -errno;
  }
  adopt_new_entry_locked(dir->fd.get(), name, uid, gid);
  journal_.record(JournalEntry{EntryKind::kCreated, dir, name});
  return 0;
}

int FaultFs::mkdir(const char* path, mode_t mode, uid_t uid, gid_t gid) {
  std::string rel = backing_path(path);
  std::lock_guard lock(mu_);
  if (powered_off_) return -EIO;
  std::shared_ptr<DirRef> dir;
  std::string name;
  if (int rc = open_parent_locked(rel, &dir, &name); rc != 0) return rc;
  if (::mkdirat(dir->fd.get(), name.c_str(), mode) != 0) return -errno;
  adopt_new_entry_locked(dir->fd.get(), name, uid, gid);
  journal_.record(JournalEntry{EntryKind::kCreatedDir, dir, name});
  return 0;
}

int FaultFs::symlink(const char* target, const char* path, uid_t uid, gid_t gid) {
  std::string rel = backing_path(path);
  std::lock_guard lock(mu_);
  if (powered_off_) return -EIO;
  std::shared_ptr<DirRef> dir;
  std::string name;
  if (int rc = open_parent_locked(rel, &dir, &name); rc != 0) return rc;
  if (::symlinkat(target, dir->fd.get(), name.c_str()) != 0) return -errno;
  adopt_new_entry_locked(dir->fd.get(), name, uid, gid);
  journal_.record(JournalEntry{EntryKind::kCreated, dir, name});
  return 0;
}

int FaultFs::link(const char* from, const char* to) {
  std::string rel_from = backing_path(from);
  std::string rel_to = backing_path(to);
  if (rel_from.empty() || rel_from == ".") return -EPERM;
  std::lock_guard lock(mu_);
  if (powered_off_) return -EIO;
  std::shared_ptr<DirRef> dir;
  std::string name;
  if (int rc = open_parent_locked(rel_to, &dir, &name); rc != 0) return rc;
  if (::linkat(root_.get(), rel_from.c_str(), dir->fd.get(), name.c_str(), 0) != 0) return -errno;
  journal_.record(JournalEntry{EntryKind::kCreated, dir, name});
  return 0;
}

int FaultFs::unlink(const char* path) {
  std::string rel = backing_path(path);
  std::lock_guard lock(mu_);
  if (powered_off_) return -EIO;
  std::shared_ptr<DirRef> dir;
  std::string name;
  if (int rc = open_parent_locked(rel, &dir, &name); rc != 0) return rc;
  struct stat st;
  if (::fstatat(dir->fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  if (S_ISDIR(st.st_mode)) return -EISDIR;
  std::string grave = journal_.next_grave_name();
  if (::renameat(dir->fd.get(), name.c_str(), graveyard_.get(), grave.c_str()) != 0) return -errno;
  journal_.record(JournalEntry{EntryKind::kRemoved, dir, name, nullptr, "", grave});
  if (S_ISREG(st.st_mode) && st.st_nlink == 1) used_bytes_ -= st.st_size;
  return 0;
}

int FaultFs::rmdir(const char* path) {
  std::string rel = backing_path(path);
  std::lock_guard lock(mu_);
  if (powered_off_) return -EIO;
  std::shared_ptr<DirRef> dir;
  std::string name;
  if (int rc = open_parent_locked(rel, &dir, &name); rc != 0) return rc;
  struct stat st;
  if (::fstatat(dir->fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
  // Entry changes all hold mu_, so the directory stays empty until it is moved.
  int empty = is_empty_directory_at(dir->fd.get(), name);
  if (empty < 0) return empty;
  if (empty == 0) return -ENOTEMPTY;
  std::string grave = journal_.next_grave_name();
  if (::renameat(dir->fd.get(), name.c_str(), graveyard_.get(), grave.c_str()) != 0) return -errno;
  journal_.record(JournalEntry{EntryKind::kRemoved, dir, name, nullptr, "", grave});
  return 0;
}

int FaultFs::rename(const char* from, const char* to, unsigned flags) {
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) return -EINVAL;
  std::string rel_from = backing_path(from);
  std::string rel_to = backing_path(to);
  std::lock_guard lock(mu_);
  if (powered_off_) return -EIO;
  std::shared_ptr<DirRef> dir, dir2;
  std::string name, name2;
  if (int rc = open_parent_locked(rel_from, &dir, &name); rc != 0) return rc;
  if (int rc = open_parent_locked(rel_to, &dir2, &name2); rc != 0) return rc;
  if (flags & RENAME_EXCHANGE) {
    if (::renameat2(dir->fd.get(), name.c_str(), dir2->fd.get(), name2.c_str(), RENAME_EXCHANGE) != 0) return -errno;
    journal_.record(JournalEntry{EntryKind::kExchanged, dir, name, dir2, name2});
    return 0;
  }
  struct stat source, target;
  if (::fstatat(dir->fd.get(), name.c_str(), &source, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  bool replaces = ::fstatat(dir2->fd.get(), name2.c_str(), &target, AT_SYMLINK_NOFOLLOW) == 0;
  if (!replaces && errno != ENOENT) return -errno;
  if (replaces && (flags & RENAME_NOREPLACE)) return -EEXIST;
  if (replaces && source.st_dev == target.st_dev && source.st_ino == target.st_ino) return 0;  // POSIX: no-op

  // The replaced entry goes to the graveyard first, so a power loss can bring it back. A file is
  // hard-linked there (readers never see the name missing); a directory must be empty and moves.
  std::string grave;
  bool moved_directory = false;
  if (replaces) {
    if (S_ISDIR(target.st_mode) != S_ISDIR(source.st_mode)) return S_ISDIR(target.st_mode) ? -EISDIR : -ENOTDIR;
    grave = journal_.next_grave_name();
    if (S_ISDIR(target.st_mode)) {
      int empty = is_empty_directory_at(dir2->fd.get(), name2);
      if (empty < 0) return empty;
      if (empty == 0) return -ENOTEMPTY;
      if (::renameat(dir2->fd.get(), name2.c_str(), graveyard_.get(), grave.c_str()) != 0) return -errno;
      moved_directory = true;
    } else if (::linkat(dir2->fd.get(), name2.c_str(), graveyard_.get(), grave.c_str(), 0) != 0) {
      return -errno;
    }
  }
  if (::renameat(dir->fd.get(), name.c_str(), dir2->fd.get(), name2.c_str()) != 0) {
    int rc = -errno;
    if (moved_directory) {
      (void)::renameat(graveyard_.get(), grave.c_str(), dir2->fd.get(), name2.c_str());
    } else if (!grave.empty()) {
      (void)::unlinkat(graveyard_.get(), grave.c_str(), 0);
    }
    return rc;
  }
  journal_.record(JournalEntry{EntryKind::kRenamed, dir, name, dir2, name2, grave});
  if (replaces && S_ISREG(target.st_mode) && target.st_nlink == 1) used_bytes_ -= target.st_size;
  return 0;
}

}  // namespace holdfast::faultfs
