// libfuse high-level callbacks. Reads pass straight through; changes go through FaultFs. fh is a
// Handle* for files and directories alike. With nullpath_ok, handle-based calls get no path.
#include "faultfs/fuse_operations.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace holdfast::faultfs {
namespace {

MountContext& context() { return *static_cast<MountContext*>(fuse_get_context()->private_data); }
FaultFs& fs() { return *context().fs; }
Handle* handle_of(fuse_file_info* fi) { return fi ? reinterpret_cast<Handle*>(fi->fh) : nullptr; }

void* on_init(fuse_conn_info* conn, fuse_config* cfg) {
  cfg->use_ino = 1;
  cfg->hard_remove = 1;  // unlink reaches FaultFs, which keeps the inode in its graveyard
  cfg->nullpath_ok = 1;  // so handles keep working after their file is unlinked
  // Writes must reach FaultFs when the caller writes (ENOSPC/EIO surface at write()); mmap
  // writes still use the page cache and arrive at msync/fsync/close or background writeback.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  MountContext* mount = static_cast<MountContext*>(fuse_get_context()->private_data);
  std::printf("faultfs ready %s\n", mount->mount_dir.c_str());
  std::fflush(stdout);
  return mount;
}

int on_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (Handle* h = handle_of(fi)) return ::fstat(h->fd.get(), st) == 0 ? 0 : -errno;
  std::string rel = FaultFs::backing_path(path);
  if (rel.empty()) return -ENOENT;
  return ::fstatat(fs().root_fd(), rel.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int on_readlink(const char* path, char* buf, size_t size) {
  std::string rel = FaultFs::backing_path(path);
  if (rel.empty()) return -ENOENT;
  if (size == 0) return -EINVAL;
  ssize_t n = ::readlinkat(fs().root_fd(), rel.c_str(), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

int on_mknod(const char* path, mode_t mode, dev_t rdev) {
  fuse_context* c = fuse_get_context();
  return fs().mknod(path, mode, rdev, c->uid, c->gid);
}

int on_mkdir(const char* path, mode_t mode) {
  fuse_context* c = fuse_get_context();
  return fs().mkdir(path, mode, c->uid, c->gid);
}

int on_symlink(const char* target, const char* path) {
  fuse_context* c = fuse_get_context();
  return fs().symlink(target, path, c->uid, c->gid);
}

int on_unlink(const char* path) { return fs().unlink(path); }
int on_rmdir(const char* path) { return fs().rmdir(path); }
int on_rename(const char* from, const char* to, unsigned flags) { return fs().rename(from, to, flags); }
int on_link(const char* from, const char* to) { return fs().link(from, to); }

// Ownership, mode and times are passed through and never undone (not part of the model).
int on_chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  if (Handle* h = handle_of(fi)) return ::fchmod(h->fd.get(), mode) == 0 ? 0 : -errno;
  std::string rel = FaultFs::backing_path(path);
  if (rel.empty()) return -ENOENT;
  return ::fchmodat(fs().root_fd(), rel.c_str(), mode, 0) == 0 ? 0 : -errno;
}

int on_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  if (Handle* h = handle_of(fi)) return ::fchown(h->fd.get(), uid, gid) == 0 ? 0 : -errno;
  std::string rel = FaultFs::backing_path(path);
  if (rel.empty()) return -ENOENT;
  return ::fchownat(fs().root_fd(), rel.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int on_utimens(const char* path, const timespec tv[2], fuse_file_info* fi) {
  if (Handle* h = handle_of(fi)) return ::futimens(h->fd.get(), tv) == 0 ? 0 : -errno;
  std::string rel = FaultFs::backing_path(path);
  if (rel.empty()) return -ENOENT;
  return ::utimensat(fs().root_fd(), rel.c_str(), tv, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int on_truncate(const char* path, off_t size, fuse_file_info* fi) { return fs().truncate(path, handle_of(fi), size); }

int on_open(const char* path, fuse_file_info* fi) {
  Handle* h = nullptr;
  if (int rc = fs().open_file(path, fi->flags, &h); rc != 0) return rc;
  fi->fh = reinterpret_cast<uint64_t>(h);
  return 0;
}

int on_create(const char* path, mode_t mode, fuse_file_info* fi) {
  fuse_context* c = fuse_get_context();
  Handle* h = nullptr;
  if (int rc = fs().create(path, mode, fi->flags, c->uid, c->gid, &h); rc != 0) return rc;
  fi->fh = reinterpret_cast<uint64_t>(h);
  return 0;
}

int on_read(const char*, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  ssize_t n = ::pread(handle_of(fi)->fd.get(), buf, size, offset);
  return n < 0 ? -errno : static_cast<int>(n);
}

int on_write(const char*, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  return fs().write(*handle_of(fi), buf, size, offset);
}

int on_statfs(const char*, struct statvfs* out) { return fs().statfs(out); }
int on_flush(const char*, fuse_file_info*) { return 0; }  // close() promises nothing durable

int on_release(const char*, fuse_file_info* fi) {
  delete handle_of(fi);
  return 0;
}

int on_fsync(const char*, int, fuse_file_info* fi) { return fs().fsync(*handle_of(fi)); }

int on_fallocate(const char*, int mode, off_t offset, off_t length, fuse_file_info* fi) {
  return fs().fallocate(*handle_of(fi), mode, offset, length);
}

int on_opendir(const char* path, fuse_file_info* fi) {
  std::string rel = FaultFs::backing_path(path);
  if (rel.empty()) return -ENOENT;
  UniqueFd fd(::openat(fs().root_fd(), rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return -errno;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return -errno;
  fi->fh = reinterpret_cast<uint64_t>(new Handle{std::move(fd), st.st_ino, path});
  return 0;
}

int on_readdir(const char*, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info* fi, fuse_readdir_flags) {
  Handle* h = handle_of(fi);
  // Every call lists the whole directory with offset 0; libfuse buffers and pages it.
  int fd = ::openat(h->fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  bool is_root = FaultFs::backing_path(h->path.c_str()) == ".";
  while (dirent* entry = ::readdir(dir)) {
    if (is_root && std::strcmp(entry->d_name, kGraveyardName) == 0) continue;
    struct stat st {};
    st.st_ino = entry->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(entry->d_type));
    if (fill(buf, entry->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
  }
  ::closedir(dir);
  return 0;
}

int on_releasedir(const char*, fuse_file_info* fi) {
  delete handle_of(fi);
  return 0;
}

int on_fsyncdir(const char*, int, fuse_file_info* fi) { return fs().fsync_directory(*handle_of(fi)); }

}  // namespace

fuse_operations make_fuse_operations() {
  fuse_operations ops{};
  ops.init = on_init;
  ops.getattr = on_getattr;
  ops.readlink = on_readlink;
  ops.mknod = on_mknod;
  ops.mkdir = on_mkdir;
  ops.symlink = on_symlink;
  ops.unlink = on_unlink;
  ops.rmdir = on_rmdir;
  ops.rename = on_rename;
  ops.link = on_link;
  ops.chmod = on_chmod;
  ops.chown = on_chown;
  ops.utimens = on_utimens;
  ops.truncate = on_truncate;
  ops.open = on_open;
  ops.create = on_create;
  ops.read = on_read;
  ops.write = on_write;
  ops.statfs = on_statfs;
  ops.flush = on_flush;
  ops.release = on_release;
  ops.fsync = on_fsync;
  ops.fallocate = on_fallocate;
  ops.opendir = on_opendir;
  ops.readdir = on_readdir;
  ops.releasedir = on_releasedir;
  ops.fsyncdir = on_fsyncdir;
  return ops;
}

}  // namespace holdfast::faultfs
