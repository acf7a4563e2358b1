#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dxhub {

/// A fixed set of worker threads draining a bounded FIFO of tasks. Submit() blocks while the
/// queue is full, which gives producers (e.g. a directory walk) natural back-pressure.
/// Thread-safe. The destructor drains the queue and joins the workers.
class ThreadPool {
 public:
  /// `name`, if given, names the threads (as `top -H` shows them).
  ThreadPool(size_t threads, size_t max_queued, const std::string& name = "");
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);
  /// Blocks until every submitted task has finished.
  void Wait();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  size_t active_ = 0;                        // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  size_t max_queued_;
  std::vector<std::thread> workers_;
};

}  // namespace dxhub
