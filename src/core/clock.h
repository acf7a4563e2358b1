#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dxhub {

/// Time behind an interface so tests can control it (stable-study timers, session expiry).
class Clock {
 public:
  virtual ~Clock() = default;
  /// Milliseconds since the Unix epoch, UTC.
  virtual int64_t NowMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

/// ISO-8601 UTC with milliseconds, e.g. 2026-11-24T19:46:03.123Z.
std::string FormatIsoMillis(int64_t millis);

}  // namespace dxhub
