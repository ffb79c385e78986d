// Recursive walks over the backing directory with *at calls, so they never follow symlinks and
// keep working when an ancestor has been renamed.
#include "faultfs/dir_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

namespace holdfast::faultfs {
namespace {

// The names in the directory `dir_fd` (without "." and ".."), or -errno.
int list_names(int dir_fd, std::vector<std::string>* names) {
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  while (dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    names->emplace_back(entry->d_name);
  }
  ::closedir(dir);
  return 0;
}

void add_bytes(int dir_fd, const std::string& skip_name, std::set<std::pair<dev_t, ino_t>>* seen,
               int64_t* total) {
  std::vector<std::string> names;
  if (list_names(dir_fd, &names) != 0) return;
  for (const std::string& name : names) {
    if (name == skip_name) continue;
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      if (st.st_nlink > 1 && !seen->insert({st.st_dev, st.st_ino}).second) continue;
      *total += st.st_size;
    } else if (S_ISDIR(st.st_mode)) {
      int child = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) continue;
      add_bytes(child, "", seen, total);
      ::close(child);
    }
  }
}

}  // namespace

int clear_directory(int dir_fd) {
  std::vector<std::string> names;
  if (int rc = list_names(dir_fd, &names); rc != 0) return rc;
  int first_error = 0;
  for (const std::string& name : names) {
    int rc = remove_tree_at(dir_fd, name);
    if (rc != 0 && first_error == 0) first_error = rc;
  }
  return first_error;
}

int remove_tree_at(int dir_fd, const std::string& name) {
  if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) return -errno;
  int child = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (child < 0) return errno == ENOENT ? 0 : -errno;
  int rc = clear_directory(child);
  ::close(child);
  if (rc != 0) return rc;
  if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) return -errno;
  return 0;
}

int is_empty_directory_at(int dir_fd, const std::string& name) {
  int child = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (child < 0) return -errno;
  std::vector<std::string> names;
  int rc = list_names(child, &names);
  ::close(child);
  if (rc != 0) return rc;
  return names.empty() ? 1 : 0;
}

int64_t regular_file_bytes(int dir_fd, const std::string& skip_name) {
  std::set<std::pair<dev_t, ino_t>> seen;
  int64_t total = 0;
  add_bytes(dir_fd, skip_name, &seen, &total);
  return total;
}

}  // namespace holdfast::faultfs
