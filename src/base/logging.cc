// Subsystem loggers writing to stderr; level from HOLDFAST_LOG_LEVEL (default info).
#include "base/logging.h"

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace holdfast {

std::shared_ptr<spdlog::logger> logger(const std::string& subsystem) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (auto existing = spdlog::get(subsystem)) return existing;
  auto l = spdlog::stderr_color_mt(subsystem);
  const char* level = std::getenv("HOLDFAST_LOG_LEVEL");
  l->set_level(level ? spdlog::level::from_str(level) : spdlog::level::info);
  return l;
}

}  // namespace holdfast
