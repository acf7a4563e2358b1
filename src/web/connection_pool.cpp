#include "web/connection_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>

namespace dxhub::web {

void ThreadPerTaskQueue::enqueue(std::function<void()> fn) {
  std::unique_lock lock(mu_);
  if (stopping_)
    return;
  tasks_.push_back(std::move(fn));
  if (idle_ < static_cast<int>(tasks_.size()) && static_cast<int>(threads_.size()) < max_threads_) {
    threads_.emplace_back([this] { Run(); });
  }
  lock.unlock();
  cv_.notify_one();
}

void ThreadPerTaskQueue::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads)
    t.join();
}

void ThreadPerTaskQueue::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
    --idle_;
    // Tasks queued before shutdown still run: each is a connection whose socket must be closed.
    if (tasks_.empty())
      return;
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

std::shared_ptr<ConnectionRegistry::Entry> ConnectionRegistry::Add(int fd,
                                                                   const std::string& address) {
  return std::make_shared<Entry>(*this, fd, address);
}

void ConnectionRegistry::EvictOldest(std::list<Entry*>& queue) {
  Entry* oldest = queue.front();
  // Wakes the connection's thread from its poll or read; that thread closes the socket.
  ::shutdown(oldest->fd_, SHUT_RDWR);
  oldest->waiting_ = false;
  waiting_.remove(oldest);
  by_address_[oldest->address_].remove(oldest);
  ++evicted_;
}

void ConnectionRegistry::SetWaiting(const std::shared_ptr<Entry>& entry, bool waiting) {
  std::lock_guard lock(mu_);
  if (entry->waiting_ == waiting)
    return;
  auto& mine = by_address_[entry->address_];
  entry->waiting_ = waiting;
  if (!waiting) {
    waiting_.remove(entry.get());
    mine.remove(entry.get());
    if (mine.empty())
      by_address_.erase(entry->address_);
    return;
  }
  waiting_.push_back(entry.get());
  mine.push_back(entry.get());
  while (static_cast<int>(mine.size()) > limits_.per_address_waiting)
    EvictOldest(mine);
  while (static_cast<int>(waiting_.size()) > limits_.max_waiting)
    EvictOldest(waiting_);
}

void ConnectionRegistry::Remove(Entry* entry) {
  std::lock_guard lock(mu_);
  if (!entry->waiting_)
    return;
  waiting_.remove(entry);
  auto it = by_address_.find(entry->address_);
  if (it != by_address_.end()) {
    it->second.remove(entry);
    if (it->second.empty())
      by_address_.erase(it);
  }
}

int64_t ConnectionRegistry::evicted() const {
  std::lock_guard lock(mu_);
  return evicted_;
}

}  // namespace dxhub::web
