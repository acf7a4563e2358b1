#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace dxhub {

void InitLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("dxhub");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace dxhub
