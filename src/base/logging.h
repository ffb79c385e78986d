// One spdlog logger per subsystem; ERROR = operator must act, WARN = degraded, INFO = lifecycle.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace holdfast {

// Returns the named subsystem logger ("storage", "env", ...), created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& subsystem);

}  // namespace holdfast
