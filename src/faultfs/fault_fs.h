// FaultFs: the passthrough file system's state and the power-loss model. The FUSE callbacks
// (fuse_operations.cc) translate each request into one call here; the control server calls
// execute() for each command line.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "faultfs/control_command.h"
#include "faultfs/file_undo.h"
#include "faultfs/namespace_journal.h"
#include "faultfs/unique_fd.h"

namespace holdfast::faultfs {

// The hidden top-level directory of the backing tree that holds unlinked-but-not-durable entries.
inline constexpr const char* kGraveyardName = ".holdfast-faultfs-graveyard";

// An open file or directory on the mount (FUSE's fh). `path` is the mount path at open time; it
// is what eio substring rules match against.
struct Handle {
  UniqueFd fd;
  ino_t ino = 0;
  std::string path;
};

// Power-loss model: every change is applied to the backing tree at once (readers see it) and is
// unsynced until made durable: file data and size by fsync/fdatasync of the file (msync arrives
// as writes plus fsync); a directory entry change (create, mkdir, mknod, symlink, link, unlink,
// rmdir, rename) by fsync of its parent directory, both parents for a cross-directory rename.
// Power loss reverts everything unsynced, so the backing tree then holds exactly the durable
// state: bytes and sizes revert, unsynced creates vanish (even with fsynced data), renames are
// reversed, unsynced unlinks come back with their synced content. A torn power loss then puts
// back a prefix of each file's last unsynced write. Power loss ends the mount (the page cache
// would still show undone data); the caller remounts to "power on". Not modeled: mode, owner,
// times, xattrs; reordering other than the torn last write (see README.md).
//
// Threads: FUSE worker threads and control-server threads call in concurrently. Every method
// that changes the tree or the undo state holds mu_ for the whole change, so the undo state and
// the tree always agree; reads (getattr, read, readdir) do not lock. After power_loss() every
// changing call fails with EIO until the process exits.
//
// Methods return 0 (or a byte count) on success and -errno on failure, FUSE's convention.
class FaultFs {
 public:
  // Opens the backing root and (re)creates an empty graveyard. Returns nullptr and sets *error.
  static std::unique_ptr<FaultFs> open(const std::string& backing_dir, uint64_t seed, std::string* error);

  // Backing path of a mount path ("/a/b" -> "a/b", "/" -> "."); "" for the hidden graveyard.
  static std::string backing_path(const char* path);
  int root_fd() const { return root_.get(); }

  // Data path.
  // Backing open flags for FUSE open flags: write intents open read-write (undo reads old
  // bytes through the same fd); O_APPEND, O_TRUNC, O_CREAT, O_DIRECT and O_*SYNC are handled
  // here or by the kernel, not by the backing file.
  static int backing_open_flags(int flags);
  int open_file(const char* path, int flags, Handle** out);
  int write(Handle& handle, const char* data, size_t size, off_t offset);
  int truncate(const char* path, Handle* handle, off_t size);
  int fallocate(Handle& handle, int mode, off_t offset, off_t length);
  int fsync(Handle& handle);
  int fsync_directory(Handle& handle);

  // Directory entries (fault_fs_namespace.cc). uid/gid own what is created.
  int create(const char* path, mode_t mode, int flags, uid_t uid, gid_t gid, Handle** out);
  int mknod(const char* path, mode_t mode, dev_t rdev, uid_t uid, gid_t gid);
  int mkdir(const char* path, mode_t mode, uid_t uid, gid_t gid);
  int symlink(const char* target, const char* path, uid_t uid, gid_t gid);
  int link(const char* from, const char* to);
  int unlink(const char* path);
  int rmdir(const char* path);
  int rename(const char* from, const char* to, unsigned flags);

  // statfs of the backing file system, shrunk to the quota when one is set.
  int statfs(struct statvfs* out);

  // Runs one control command line; returns the reply line ("ok ..." or "error ...", no newline).
  // Sets *stop when the daemon must now unmount and exit (after a power loss).
  std::string execute(const std::string& line, bool* stop);

  // Clean shutdown: unlinks waiting in the graveyard become final.
  void discard_graveyard();

 private:
  FaultFs(UniqueFd root, UniqueFd graveyard, uint64_t seed);

  // All *_locked helpers need mu_ held.
  bool eio_write_locked(const std::string& path) const;
  // Checks the quota for a size change from old_size to new_size of one file (ENOSPC or 0).
  int check_growth_locked(off_t old_size, off_t new_size) const;
  FileUndo* undo_for_locked(int fd, ino_t ino, off_t current_size, int* error);
  int truncate_locked(int fd, ino_t ino, const std::string& path, off_t size);
  // Opens the parent directory of a backing path for an entry change; *name gets the last part.
  int open_parent_locked(const std::string& rel, std::shared_ptr<DirRef>* dir, std::string* name);
  void adopt_new_entry_locked(int dir_fd, const std::string& name, uid_t uid, gid_t gid);
  int sleep_fsync_delay();
  std::string power_loss(bool torn);
  std::string status_json();

  UniqueFd root_;
  UniqueFd graveyard_;
  std::mutex mu_;
  bool powered_off_ = false;
  std::unordered_map<ino_t, std::unique_ptr<FileUndo>> files_;  // inodes with unsynced data
  NamespaceJournal journal_;
  FaultSettings faults_;
  int64_t used_bytes_ = 0;  // regular-file bytes under the mount; recomputed on quota/status
  uint64_t seed_;  // torn-write prefix lengths derive from it
};

}  // namespace holdfast::faultfs
