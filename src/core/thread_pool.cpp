#include "core/thread_pool.h"

#include "core/thread_priority.h"

namespace dxhub {

ThreadPool::ThreadPool(size_t threads, size_t max_queued, const std::string& name)
    : max_queued_(max_queued == 0 ? 1 : max_queued) {
  if (threads == 0)
    threads = 1;
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i)
    workers_.emplace_back([this, name] {
      if (!name.empty())
        NameThisThread(name);
      Run();
    });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  for (auto& t : workers_)
    t.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  std::unique_lock lock(mu_);
  not_full_.wait(lock, [&] { return queue_.size() < max_queued_; });
  queue_.push_back(std::move(task));
  not_empty_.notify_one();
}

void ThreadPool::Wait() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return queue_.empty() && active_ == 0; });
}

void ThreadPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      not_empty_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
      ++active_;
      not_full_.notify_one();
    }
    task();
    {
      std::lock_guard lock(mu_);
      --active_;
      if (queue_.empty() && active_ == 0)
        idle_.notify_all();
    }
  }
}

}  // namespace dxhub
