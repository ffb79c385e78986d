// Whole-tree helpers on the backing directory: recursive removal (undoing an unsynced mkdir),
// emptiness checks (rmdir) and the byte count the disk-full quota is measured against.
#pragma once

#include <cstdint>
#include <string>

namespace holdfast::faultfs {

// Removes `name` under `dir_fd` and, if it is a directory, everything below it. Does not follow
// symlinks. Returns 0 or -errno (ENOENT counts as success: the goal is absence).
int remove_tree_at(int dir_fd, const std::string& name);

// Removes every entry inside the directory `dir_fd` refers to, keeping the directory itself.
int clear_directory(int dir_fd);

// 1 if `name` under `dir_fd` is an empty directory, 0 if it has entries, -errno on failure.
int is_empty_directory_at(int dir_fd, const std::string& name);

// Sum of st_size over the regular files below `dir_fd` (each inode counted once), skipping a
// top-level entry named `skip_name`.
int64_t regular_file_bytes(int dir_fd, const std::string& skip_name);

}  // namespace holdfast::faultfs
