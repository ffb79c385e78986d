// NamespaceJournal: directory-entry changes (create, mkdir, unlink, rmdir, rename, link, symlink)
// that no directory fsync has made durable yet, and how to reverse them at power loss.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "faultfs/unique_fd.h"

namespace holdfast::faultfs {

// A directory of the backing tree, held open (O_PATH) so undo works on it even after it, or an
// ancestor, has been renamed. Shared by the entries that name it.
struct DirRef {
  UniqueFd fd;
  ino_t ino = 0;
};

enum class EntryKind {
  kCreated,     // `name` in `dir` was made (file, link, symlink, node); undo removes it
  kCreatedDir,  // directory `name` in `dir` was made; undo removes it with all it holds
  kRemoved,     // `name` in `dir` was moved to the graveyard as `grave`; undo moves it back
  kRenamed,     // dir/name -> dir2/name2, replacing what was there (now `grave`, if not empty)
  kExchanged,   // dir/name and dir2/name2 swapped (RENAME_EXCHANGE)
};

struct JournalEntry {
  EntryKind kind = EntryKind::kCreated;
  std::shared_ptr<DirRef> dir;
  std::string name;
  std::shared_ptr<DirRef> dir2;  // kRenamed and kExchanged only
  std::string name2;
  std::string grave;  // graveyard name, or "" when nothing was displaced
  bool dir_synced = false;
  bool dir2_synced = false;
};

// Owned by FaultFs and only touched under its mutex. Entries are kept in the order the changes
// were applied; undo walks them newest first, so each reversal sees the tree as it was right
// after that change (less any later changes already made durable).
//
// The graveyard is a hidden directory in the backing root: unlinked files and directories wait
// there until the unlink is durable, so a power loss can bring them back with their content.
class NamespaceJournal {
 public:
  explicit NamespaceJournal(int graveyard_fd) : graveyard_fd_(graveyard_fd) {}

  void record(JournalEntry entry) { entries_.push_back(std::move(entry)); }
  // A fresh name for something moved into the graveyard.
  std::string next_grave_name() { return "g" + std::to_string(++grave_counter_); }

  // The directory with inode `dir_ino` was fsynced: entries whose every parent is now synced are
  // durable; they are dropped and what they displaced is deleted for good. Returns how many.
  size_t sync_directory(ino_t dir_ino);

  // Reverses every entry, newest first, and empties the journal. Returns the number of reversals
  // that failed (described in *errors); undo goes on past failures.
  int undo_all(std::string* errors);

  size_t size() const { return entries_.size(); }

 private:
  int undo_one(const JournalEntry& entry);

  int graveyard_fd_;
  uint64_t grave_counter_ = 0;
  std::vector<JournalEntry> entries_;
};

}  // namespace holdfast::faultfs
