#pragma once
// A duty run on its own thread every period until stopped (a heartbeat, a directory refresh):
// an explicit object, so whoever starts it owns when it stops.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace dxhub {

class Periodic {
 public:
  Periodic(std::chrono::milliseconds period, std::function<void()> duty);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

  /// Runs the duty every period from now on (the first time one period from now).
  void Start();
  /// Waits for a running duty to finish; it is not run again.
  void Stop();

 private:
  const std::chrono::milliseconds period_;
  std::function<void()> duty_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace dxhub
