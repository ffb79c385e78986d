// Env helpers shared by every Env implementation: whole-file reads and atomic replacement.
#include "env/env.h"

namespace holdfast {

std::string parent_dir(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

Result<std::string> read_file_to_string(Env* env, const std::string& path) {
  HF_ASSIGN_OR_RETURN(auto file, env->open_file(path, OpenMode::kMustExist));
  HF_ASSIGN_OR_RETURN(uint64_t size, file->size());
  std::string out(size, '\0');
  size_t got = 0;
  HF_RETURN_IF_ERROR(file->read_at(0, size, out.data(), &got));
  out.resize(got);
  return out;
}

Status write_file_atomically(Env* env, const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  {
    HF_ASSIGN_OR_RETURN(auto file, env->open_file(tmp, OpenMode::kCreateIfMissing));
    HF_RETURN_IF_ERROR(file->truncate(0));
    HF_RETURN_IF_ERROR(file->write_at(0, contents.data(), contents.size()));
    HF_RETURN_IF_ERROR(file->sync());
  }
  HF_RETURN_IF_ERROR(env->rename_file(tmp, path));
  return env->sync_dir(parent_dir(path));
}

}  // namespace holdfast
