#pragma once
// Logging is the one piece of global mutable state we allow: spdlog's default logger.

#include <spdlog/spdlog.h>

#include <string>

namespace dxhub {

/// Configures the default logger (stderr, level by name: trace/debug/info/warn/error).
void InitLogging(const std::string& level);

}  // namespace dxhub
