// PosixEnv: the production Env over POSIX file descriptors (pread/pwrite/fdatasync).
#pragma once

#include "env/env.h"

namespace holdfast {

// Stateless apart from the clocks; safe to use from any thread. Obtain it with Env::posix().
class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override;
  bool file_exists(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  Status create_dirs(const std::string& path) override;
  Status remove_file(const std::string& path) override;
  Status remove_dir(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Status sync_dir(const std::string& path) override;
  Result<uint64_t> file_size(const std::string& path) override;
  Result<int64_t> file_mtime_ms(const std::string& path) override;
  Result<DiskUsage> disk_usage(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override;
  int64_t now_ms() override;
  int64_t now_micros_monotonic() override;
  void sleep_micros(int64_t micros) override;
};

}  // namespace holdfast
