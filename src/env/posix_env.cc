// PosixEnv: every file system call Holdfast makes lives here (and nowhere outside src/env/).
#include "env/posix_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace holdfast {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

  Status write_at(uint64_t offset, const char* data, size_t n) override {
    while (n > 0) {
      ssize_t w = ::pwrite(fd_, data, n, static_cast<off_t>(offset));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::from_errno("pwrite " + path_, errno);
      }
      data += w;
      n -= static_cast<size_t>(w);
      offset += static_cast<uint64_t>(w);
    }
    return Status::ok();
  }

  Status read_at(uint64_t offset, size_t n, char* scratch, size_t* read) const override {
    size_t total = 0;
    while (total < n) {
      ssize_t r = ::pread(fd_, scratch + total, n - total, static_cast<off_t>(offset + total));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::from_errno("pread " + path_, errno);
      }
      if (r == 0) break;
      total += static_cast<size_t>(r);
    }
    *read = total;
    return Status::ok();
  }

  Status sync() override {
    if (::fdatasync(fd_) != 0) return Status::from_errno("fdatasync " + path_, errno);
    return Status::ok();
  }

  Status truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return Status::from_errno("ftruncate " + path_, errno);
    }
    return Status::ok();
  }

  Status allocate(uint64_t size) override {
    int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
    if (rc != 0) return Status::from_errno("fallocate " + path_, rc);
    return Status::ok();
  }

  Result<uint64_t> size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::from_errno("fstat " + path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

}  // namespace

Env* Env::posix() {
  static PosixEnv env;
  return &env;
}

Result<std::unique_ptr<File>> PosixEnv::open_file(const std::string& path, OpenMode mode) {
  int flags = O_RDWR | O_CLOEXEC;
  if (mode == OpenMode::kCreateIfMissing) flags |= O_CREAT;
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return Status::from_errno("open " + path, errno);
  return std::unique_ptr<File>(new PosixFile(path, fd));
}

bool PosixEnv::file_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Result<std::vector<std::string>> PosixEnv::list_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return Status::from_errno("opendir " + path, errno);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  return names;
}

Status PosixEnv::create_dirs(const std::string& path) {
  if (path.empty()) return Status::ok();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::ok();
    return Status::io_error(path + " exists and is not a directory");
  }
  std::string parent = parent_dir(path);
  if (parent != path && parent != "." && parent != "/") HF_RETURN_IF_ERROR(create_dirs(parent));
  if (::mkdir(path.c_str(), 0755) != 0) {
    if (errno == EEXIST) return Status::ok();
    return Status::from_errno("mkdir " + path, errno);
  }
  // A new directory's entry is durable only once its parent is synced: without this a power loss
  // right after the first start can take the whole store directory, synced files and all.
  return sync_dir(parent.empty() || parent == path ? "." : parent);
}

Status PosixEnv::remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return Status::from_errno("unlink " + path, errno);
  return Status::ok();
}

Status PosixEnv::remove_dir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0) return Status::from_errno("rmdir " + path, errno);
  return Status::ok();
}

Status PosixEnv::rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Status::from_errno("rename " + from + " -> " + to, errno);
  }
  return Status::ok();
}

Status PosixEnv::sync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno("open dir " + path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::from_errno("fsync dir " + path, err);
  return Status::ok();
}

Result<uint64_t> PosixEnv::file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::from_errno("stat " + path, errno);
  return static_cast<uint64_t>(st.st_size);
}

Result<int64_t> PosixEnv::file_mtime_ms(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::from_errno("stat " + path, errno);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

Result<DiskUsage> PosixEnv::disk_usage(const std::string& path) {
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0) return Status::from_errno("statvfs " + path, errno);
  DiskUsage u;
  u.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  u.available_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  u.free_bytes = static_cast<uint64_t>(vfs.f_bfree) * vfs.f_frsize;
  return u;
}

Result<std::unique_ptr<FileLock>> PosixEnv::lock_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno("open " + path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return Status::busy(path + " is locked by another process");
    return Status::from_errno("flock " + path, err);
  }
  return std::unique_ptr<FileLock>(new PosixFileLock(fd));
}

int64_t PosixEnv::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t PosixEnv::now_micros_monotonic() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void PosixEnv::sleep_micros(int64_t micros) {
  std::this_thread::sleep_for(std::chrono::microseconds(micros));
}

}  // namespace holdfast
