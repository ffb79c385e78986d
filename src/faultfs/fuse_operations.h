// The libfuse high-level callbacks of holdfast-faultfs: a passthrough onto the backing tree
// where every change goes through FaultFs.
#pragma once

#include <fuse.h>

#include <string>

#include "faultfs/fault_fs.h"

namespace holdfast::faultfs {

// fuse_new()'s user data; outlives the FUSE session.
struct MountContext {
  FaultFs* fs = nullptr;
  std::string mount_dir;  // printed in the ready line once the kernel has sent INIT
};

// The callback table. init() configures the session (inode numbers from the backing tree, no
// writeback cache, no hidden renames of open files) and prints "faultfs ready MOUNT_DIR".
fuse_operations make_fuse_operations();

}  // namespace holdfast::faultfs
