#include "core/periodic.h"

namespace dxhub {

Periodic::Periodic(std::chrono::milliseconds period, std::function<void()> duty)
    : period_(period), duty_(std::move(duty)) {}

Periodic::~Periodic() {
  Stop();
}

void Periodic::Start() {
  thread_ = std::thread([this] {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (wake_.wait_for(lock, period_, [&] { return stopping_; }))
          return;
      }
      duty_();
    }
  });
}

void Periodic::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

}  // namespace dxhub
