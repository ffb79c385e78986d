// Making directory-entry changes durable, and reversing the ones that are not.
#include "faultfs/namespace_journal.h"

#include <fcntl.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "faultfs/dir_tree.h"

namespace holdfast::faultfs {
namespace {

int rename_at(int from_dir, const std::string& from, int to_dir, const std::string& to, unsigned flags) {
  if (::renameat2(from_dir, from.c_str(), to_dir, to.c_str(), flags) != 0) return -errno;
  return 0;
}

}  // namespace

size_t NamespaceJournal::sync_directory(ino_t dir_ino) {
  size_t dropped = 0;
  auto durable = [&](JournalEntry& entry) {
    if (entry.dir && entry.dir->ino == dir_ino) entry.dir_synced = true;
    if (entry.dir2 && entry.dir2->ino == dir_ino) entry.dir2_synced = true;
    bool done = entry.dir_synced && (!entry.dir2 || entry.dir2_synced);
    if (!done) return false;
    if (!entry.grave.empty()) remove_tree_at(graveyard_fd_, entry.grave);
    ++dropped;
    return true;
  };
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(), durable), entries_.end());
  return dropped;
}

int NamespaceJournal::undo_all(std::string* errors) {
  int failures = 0;
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    int rc = undo_one(*it);
    if (rc != 0) {
      ++failures;
      if (errors) *errors += "undo of '" + it->name + "' failed: " + std::strerror(-rc) + "; ";
    }
  }
  entries_.clear();
  return failures;
}

int NamespaceJournal::undo_one(const JournalEntry& entry) {
  int dir = entry.dir->fd.get();
  switch (entry.kind) {
    case EntryKind::kCreated:
      if (::unlinkat(dir, entry.name.c_str(), 0) != 0 && errno != ENOENT) return -errno;
      return 0;
    case EntryKind::kCreatedDir:
      return remove_tree_at(dir, entry.name);
    case EntryKind::kRemoved:
      return rename_at(graveyard_fd_, entry.grave, dir, entry.name, 0);
    case EntryKind::kRenamed: {
      int dir2 = entry.dir2->fd.get();
      if (int rc = rename_at(dir2, entry.name2, dir, entry.name, 0); rc != 0) return rc;
      if (entry.grave.empty()) return 0;
      return rename_at(graveyard_fd_, entry.grave, dir2, entry.name2, 0);
    }
    case EntryKind::kExchanged:
      return rename_at(dir, entry.name, entry.dir2->fd.get(), entry.name2, RENAME_EXCHANGE);
  }
  return -EINVAL;
}

}  // namespace holdfast::faultfs
