// FileUndo: what one regular file looked like at its last fsync, kept while the file has
// unsynced changes, so a power loss can put the synced bytes and size back.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "faultfs/unique_fd.h"

namespace holdfast::faultfs {

// Owned by FaultFs, one per backing inode with unsynced data, and only touched under FaultFs's
// mutex. Dropped as a whole when the file is fsynced (the file's state is then durable).
//
// Invariant: for every byte position p < synced_size(), either a saved chunk covers p and holds
// the synced byte, or the backing file currently holds the synced byte at p. preserve() keeps
// this true, so it must be called before any change to existing bytes or any shrink.
class FileUndo {
 public:
  // `fd` is a read-write fd on the backing file (it follows the file through renames and
  // unlinks); `synced_size` is the file's size now, before the first unsynced change.
  FileUndo(UniqueFd fd, off_t synced_size);

  // Saves the synced bytes of [offset, offset + length) that are not saved yet. Returns 0 or
  // -errno; on error nothing must be changed in the file.
  int preserve(off_t offset, off_t length);

  // Accounting after a change was applied: a write of `data` at `offset` (remembered as the last
  // write, for torn power loss) or a size change (which ends the "last write" being last).
  void note_write(off_t offset, std::string_view data);
  void note_size_change();

  // Puts back the synced size and bytes. If torn_prefix > 0, then rewrites that many leading
  // bytes of the last write, as if the disk had persisted part of it. Returns 0 or -errno.
  int restore(size_t torn_prefix);

  struct LastWrite {
    off_t offset = 0;
    std::string data;
  };
  const std::optional<LastWrite>& last_write() const { return last_write_; }
  uint64_t unsynced_ops() const { return unsynced_ops_; }
  uint64_t unsynced_bytes() const { return unsynced_bytes_; }
  off_t synced_size() const { return synced_size_; }

 private:
  // A saved run of synced bytes; `bytes` is empty when the run is all zeros (preallocated files
  // are mostly zeros, and keeping them would cost memory for nothing).
  struct Chunk {
    off_t length = 0;
    std::string bytes;
  };
  int save_gap(off_t offset, off_t length);

  UniqueFd fd_;
  off_t synced_size_;
  std::map<off_t, Chunk> saved_;  // keyed by start offset; chunks never overlap
  std::optional<LastWrite> last_write_;
  uint64_t unsynced_ops_ = 0;
  uint64_t unsynced_bytes_ = 0;
};

}  // namespace holdfast::faultfs
