// faultfs_probe: one file operation per run, against any path (usually a holdfast-faultfs
// mount), printing "ok ..." and exiting 0 when it did what was asked, or printing why not and
// exiting 1 (operation failed) or 3 (it failed differently than expected). Independent of the
// broker so the file system's promises can be tested on their own.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

const char* kUsage =
    "usage: faultfs_probe COMMAND ARGS...   (TEXT may be repeat:N:C for N copies of C)\n"
    "  write PATH OFFSET TEXT [--sync]     pwrite (creating the file), fsync with --sync\n"
    "  create PATH TEXT [--sync] [--dirsync]  create/truncate, write, fsync file / parent dir\n"
    "  rename FROM TO [--dirsync]          rename, then fsync both parent directories\n"
    "  unlink PATH [--dirsync]             unlink, then fsync the parent directory\n"
    "  mkdir PATH [--dirsync]              mkdir, then fsync the parent directory\n"
    "  dirsync DIR                         open DIR and fsync it\n"
    "  truncate PATH SIZE [--sync]         ftruncate, fsync with --sync\n"
    "  fallocate PATH SIZE                 posix_fallocate(0, SIZE), creating the file\n"
    "  mmap-write PATH OFFSET TEXT [--msync]  write through a shared mapping, msync(MS_SYNC)\n"
    "  fill PATH CHUNK                     append CHUNK-byte writes until one fails; expects ENOSPC\n"
    "  eio-write PATH                      expects a write to fail with EIO\n"
    "  eio-fsync PATH                      expects a write to work and fsync to fail with EIO\n"
    "  read PATH                           prints the file's bytes\n";

int fail(const std::string& what) {
  std::printf("fail: %s: %s\n", what.c_str(), std::strerror(errno));
  return 1;
}

int unexpected(const std::string& what) {
  std::printf("unexpected: %s\n", what.c_str());
  return 3;
}

std::string expand_text(const std::string& spec) {
  if (spec.rfind("repeat:", 0) != 0) return spec;
  size_t colon = spec.find(':', 7);
  if (colon == std::string::npos || colon + 1 >= spec.size()) return spec;
  size_t count = std::strtoull(spec.substr(7, colon - 7).c_str(), nullptr, 10);
  return std::string(count, spec[colon + 1]);
}

bool has_flag(const std::vector<std::string>& args, const char* flag) {
  for (const std::string& arg : args) {
    if (arg == flag) return true;
  }
  return false;
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

int sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return fail("open directory " + dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  errno = err;
  return rc == 0 ? 0 : fail("fsync directory " + dir);
}

bool write_all(int fd, const std::string& data, off_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
    if (n < 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

int do_write(const std::vector<std::string>& a) {
  std::string data = expand_text(a[2]);
  int fd = ::open(a[0].c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) return fail("open " + a[0]);
  if (!write_all(fd, data, std::strtoll(a[1].c_str(), nullptr, 10))) return fail("pwrite");
  if (has_flag(a, "--sync") && ::fsync(fd) != 0) return fail("fsync");
  ::close(fd);
  std::printf("ok wrote %zu bytes\n", data.size());
  return 0;
}

int do_create(const std::vector<std::string>& a) {
  std::string data = expand_text(a[1]);
  int fd = ::open(a[0].c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return fail("create " + a[0]);
  if (!write_all(fd, data, 0)) return fail("pwrite");
  if (has_flag(a, "--sync") && ::fsync(fd) != 0) return fail("fsync");
  ::close(fd);
  if (has_flag(a, "--dirsync")) {
    if (int rc = sync_directory(parent_of(a[0])); rc != 0) return rc;
  }
  std::printf("ok created %s\n", a[0].c_str());
  return 0;
}

int do_rename(const std::vector<std::string>& a) {
  if (::rename(a[0].c_str(), a[1].c_str()) != 0) return fail("rename");
  if (has_flag(a, "--dirsync")) {
    if (int rc = sync_directory(parent_of(a[0])); rc != 0) return rc;
    if (parent_of(a[1]) != parent_of(a[0])) {
      if (int rc = sync_directory(parent_of(a[1])); rc != 0) return rc;
    }
  }
  std::printf("ok renamed\n");
  return 0;
}

int do_unlink(const std::vector<std::string>& a) {
  if (::unlink(a[0].c_str()) != 0) return fail("unlink");
  if (has_flag(a, "--dirsync")) return sync_directory(parent_of(a[0])) == 0 ? (std::printf("ok\n"), 0) : 1;
  std::printf("ok\n");
  return 0;
}

int do_mkdir(const std::vector<std::string>& a) {
  if (::mkdir(a[0].c_str(), 0755) != 0) return fail("mkdir");
  if (has_flag(a, "--dirsync")) return sync_directory(parent_of(a[0])) == 0 ? (std::printf("ok\n"), 0) : 1;
  std::printf("ok\n");
  return 0;
}

int do_truncate(const std::vector<std::string>& a) {
  int fd = ::open(a[0].c_str(), O_WRONLY);
  if (fd < 0) return fail("open " + a[0]);
  if (::ftruncate(fd, std::strtoll(a[1].c_str(), nullptr, 10)) != 0) return fail("ftruncate");
  if (has_flag(a, "--sync") && ::fsync(fd) != 0) return fail("fsync");
  ::close(fd);
  std::printf("ok\n");
  return 0;
}

int do_fallocate(const std::vector<std::string>& a) {
  int fd = ::open(a[0].c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) return fail("open " + a[0]);
  int rc = ::posix_fallocate(fd, 0, std::strtoll(a[1].c_str(), nullptr, 10));
  ::close(fd);
  errno = rc;
  if (rc != 0) return fail("posix_fallocate");
  std::printf("ok\n");
  return 0;
}

int do_mmap_write(const std::vector<std::string>& a) {
  std::string data = expand_text(a[2]);
  off_t offset = std::strtoll(a[1].c_str(), nullptr, 10);
  int fd = ::open(a[0].c_str(), O_RDWR);
  if (fd < 0) return fail("open " + a[0]);
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail("fstat");
  if (offset + static_cast<off_t>(data.size()) > st.st_size) return unexpected("mapping is shorter than the write");
  void* map = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return fail("mmap");
  std::memcpy(static_cast<char*>(map) + offset, data.data(), data.size());
  if (has_flag(a, "--msync") && ::msync(map, static_cast<size_t>(st.st_size), MS_SYNC) != 0) return fail("msync");
  ::munmap(map, static_cast<size_t>(st.st_size));
  ::close(fd);
  std::printf("ok mapped write of %zu bytes\n", data.size());
  return 0;
}

int do_fill(const std::vector<std::string>& a) {
  std::string chunk(std::strtoull(a[1].c_str(), nullptr, 10), 'F');
  if (chunk.empty()) return unexpected("CHUNK must be positive");
  int fd = ::open(a[0].c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return fail("open " + a[0]);
  uint64_t written = 0;
  for (;;) {
    ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n < 0) break;
    written += static_cast<uint64_t>(n);
    if (written > (1ULL << 34)) return unexpected("wrote 16 GiB without an error");
  }
  int err = errno;
  ::close(fd);
  std::printf("%s written=%llu errno=%s\n", err == ENOSPC ? "ok" : "unexpected",
              static_cast<unsigned long long>(written), strerrorname_np(err));
  return err == ENOSPC ? 0 : 3;
}

int do_eio_write(const std::vector<std::string>& a) {
  int fd = ::open(a[0].c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) return fail("open " + a[0]);
  ssize_t n = ::write(fd, "x", 1);
  int err = errno;
  ::close(fd);
  if (n >= 0) return unexpected("write succeeded");
  if (err != EIO) return unexpected(std::string("write failed with ") + strerrorname_np(err));
  std::printf("ok write errno=EIO\n");
  return 0;
}

int do_eio_fsync(const std::vector<std::string>& a) {
  int fd = ::open(a[0].c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) return fail("open " + a[0]);
  if (::write(fd, "y", 1) != 1) return fail("write");
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc == 0) return unexpected("fsync succeeded");
  if (err != EIO) return unexpected(std::string("fsync failed with ") + strerrorname_np(err));
  std::printf("ok fsync errno=EIO\n");
  return 0;
}

int do_read(const std::vector<std::string>& a) {
  int fd = ::open(a[0].c_str(), O_RDONLY);
  if (fd < 0) return fail("open " + a[0]);
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) std::fwrite(buf, 1, static_cast<size_t>(n), stdout);
  ::close(fd);
  return n < 0 ? fail("read") : 0;
}

struct Command {
  const char* name;
  size_t min_args;
  int (*run)(const std::vector<std::string>&);
};

const Command kCommands[] = {
    {"write", 3, do_write},       {"create", 2, do_create},   {"rename", 2, do_rename},
    {"unlink", 1, do_unlink},     {"mkdir", 1, do_mkdir},     {"truncate", 2, do_truncate},
    {"fallocate", 2, do_fallocate},
    {"mmap-write", 3, do_mmap_write}, {"fill", 2, do_fill},   {"eio-write", 1, do_eio_write},
    {"eio-fsync", 1, do_eio_fsync},   {"read", 1, do_read},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string name = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (name == "dirsync" && args.size() == 1) {
    if (sync_directory(args[0]) != 0) return 1;
    std::printf("ok\n");
    return 0;
  }
  for (const Command& command : kCommands) {
    if (name == command.name && args.size() >= command.min_args) return command.run(args);
  }
  std::fputs(kUsage, stderr);
  return 2;
}
