// FileUndo on an ordinary temp file: restore() brings back the synced bytes and size after
// overwrites, appends, shrinks and regrowth, and a torn restore keeps a prefix of the last write.
#include "faultfs/file_undo.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace holdfast::faultfs {
namespace {

class FileUndoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/file_undo_test.XXXXXX";
    fd_ = ::mkstemp(name);
    ASSERT_GE(fd_, 0);
    path_ = name;
  }
  void TearDown() override {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  void put(off_t offset, const std::string& data) {
    ASSERT_EQ(::pwrite(fd_, data.data(), data.size(), offset), static_cast<ssize_t>(data.size()));
  }
  // A change made the way FaultFs makes it: preserve first, then write, then note.
  void change(FileUndo& undo, off_t offset, const std::string& data) {
    ASSERT_EQ(undo.preserve(offset, static_cast<off_t>(data.size())), 0);
    put(offset, data);
    undo.note_write(offset, data);
  }
  void shrink(FileUndo& undo, off_t size) {
    off_t old = ::lseek(fd_, 0, SEEK_END);
    ASSERT_EQ(undo.preserve(size, old - size), 0);
    ASSERT_EQ(::ftruncate(fd_, size), 0);
    undo.note_size_change();
  }
  std::string contents() {
    off_t size = ::lseek(fd_, 0, SEEK_END);
    std::string data(static_cast<size_t>(size), '\0');
    EXPECT_EQ(::pread(fd_, data.data(), data.size(), 0), size);
    return data;
  }
  FileUndo make_undo() { return FileUndo(UniqueFd(::dup(fd_)), ::lseek(fd_, 0, SEEK_END)); }

  int fd_ = -1;
  std::string path_;
};

TEST_F(FileUndoTest, OverlappingOverwritesAndAppendRestoreSyncedState) {
  put(0, "0123456789");
  FileUndo undo = make_undo();
  change(undo, 2, "abc");
  change(undo, 1, "WXYZ");       // overlaps the saved range on both sides
  change(undo, 8, "appended!");  // straddles the synced end
  EXPECT_EQ(undo.unsynced_ops(), 3u);
  ASSERT_EQ(undo.restore(0), 0);
  EXPECT_EQ(contents(), "0123456789");
}

TEST_F(FileUndoTest, ShrinkThenRegrowRestoresTruncatedBytes) {
  put(0, std::string(3000, 'a') + std::string(3000, '\0') + "tail");
  std::string synced = contents();
  FileUndo undo = make_undo();
  shrink(undo, 10);
  change(undo, 20, "later");  // regrows with a hole where synced bytes were
  ASSERT_EQ(undo.restore(0), 0);
  EXPECT_EQ(contents(), synced);
}

TEST_F(FileUndoTest, TornRestoreKeepsPrefixOfLastWriteOnly) {
  put(0, std::string(4096, 'A'));
  FileUndo undo = make_undo();
  change(undo, 0, std::string(100, 'x'));
  change(undo, 4096, std::string(2048, 'B'));
  ASSERT_EQ(undo.restore(1024), 0);
  EXPECT_EQ(contents(), std::string(4096, 'A') + std::string(1024, 'B'));
}

}  // namespace
}  // namespace holdfast::faultfs
