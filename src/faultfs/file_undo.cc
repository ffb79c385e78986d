// Saving and restoring a file's synced bytes (see FileUndo's invariant in file_undo.h).
#include "faultfs/file_undo.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace holdfast::faultfs {
namespace {

constexpr off_t kChunkBytes = 1 << 20;  // large saves are split so zero runs compress per MiB

int write_fully(int fd, const char* data, size_t length, off_t offset) {
  while (length > 0) {
    ssize_t n = ::pwrite(fd, data, length, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    data += n;
    length -= static_cast<size_t>(n);
    offset += n;
  }
  return 0;
}

}  // namespace

FileUndo::FileUndo(UniqueFd fd, off_t synced_size) : fd_(std::move(fd)), synced_size_(synced_size) {}

int FileUndo::preserve(off_t offset, off_t length) {
  off_t end = std::min(offset + length, synced_size_);
  off_t pos = offset;
  // Walk the saved chunks overlapping [pos, end) and save the gaps between them.
  auto it = saved_.upper_bound(pos);
  if (it != saved_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second.length > pos) it = prev;
  }
  while (pos < end) {
    off_t gap_end = (it == saved_.end()) ? end : std::min(end, it->first);
    if (gap_end > pos) {
      if (int rc = save_gap(pos, gap_end - pos); rc != 0) return rc;
      pos = gap_end;
      // save_gap inserted chunks before `it`; `it` still points at the next old chunk.
      continue;
    }
    pos = std::max(pos, it->first + it->second.length);
    ++it;
  }
  return 0;
}

int FileUndo::save_gap(off_t offset, off_t length) {
  while (length > 0) {
    off_t piece = std::min(length, kChunkBytes);
    std::string bytes(static_cast<size_t>(piece), '\0');
    size_t got = 0;
    while (got < bytes.size()) {
      ssize_t n = ::pread(fd_.get(), bytes.data() + got, bytes.size() - got, offset + static_cast<off_t>(got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      if (n == 0) break;  // past the current end: the rest reads as zeros (hole after a shrink)
      got += static_cast<size_t>(n);
    }
    bool all_zero = std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
    Chunk chunk{piece, all_zero ? std::string() : std::move(bytes)};
    saved_.emplace(offset, std::move(chunk));
    offset += piece;
    length -= piece;
  }
  return 0;
}

void FileUndo::note_write(off_t offset, std::string_view data) {
  ++unsynced_ops_;
  unsynced_bytes_ += data.size();
  last_write_ = LastWrite{offset, std::string(data)};
}

void FileUndo::note_size_change() {
  ++unsynced_ops_;
  last_write_.reset();
}

int FileUndo::restore(size_t torn_prefix) {
  if (::ftruncate(fd_.get(), synced_size_) != 0) return -errno;
  std::string zeros;
  for (const auto& [offset, chunk] : saved_) {
    const std::string* source = &chunk.bytes;
    if (chunk.bytes.empty()) {
      zeros.assign(static_cast<size_t>(chunk.length), '\0');
      source = &zeros;
    }
    if (int rc = write_fully(fd_.get(), source->data(), source->size(), offset); rc != 0) return rc;
  }
  if (torn_prefix > 0 && last_write_) {
    size_t n = std::min(torn_prefix, last_write_->data.size());
    if (int rc = write_fully(fd_.get(), last_write_->data.data(), n, last_write_->offset); rc != 0) return rc;
  }
  return 0;
}

}  // namespace holdfast::faultfs
