#include "core/foreground_activity.h"

#include <thread>

namespace dxhub {

int64_t ForegroundActivity::Now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void ForegroundActivity::Begin() {
  running_.fetch_add(1, std::memory_order_relaxed);
}

void ForegroundActivity::End() {
  last_end_ms_.store(Now(), std::memory_order_relaxed);
  running_.fetch_sub(1, std::memory_order_relaxed);
}

bool ForegroundActivity::Active(std::chrono::milliseconds quiet) const {
  if (running_.load(std::memory_order_relaxed) > 0)
    return true;
  const int64_t last = last_end_ms_.load(std::memory_order_relaxed);
  return last != 0 && Now() - last < quiet.count();
}

std::chrono::milliseconds ForegroundActivity::WaitForQuiet(
    std::chrono::milliseconds quiet, std::chrono::milliseconds max_wait,
    const std::function<bool()>& stop) const {
  const auto start = std::chrono::steady_clock::now();
  constexpr auto kStep = std::chrono::milliseconds(20);
  for (;;) {
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (!Active(quiet) || waited >= max_wait || (stop && stop()))
      return waited;
    std::this_thread::sleep_for(kStep);
  }
}

}  // namespace dxhub
