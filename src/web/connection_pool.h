#pragma once
// Who holds the web server's threads. Every connection gets a thread of its own at once (up to a
// cap), so a slow client delays nobody else; a connection that is waiting for a request's
// headers (new, idle between keep-alive requests, or trickling them slowly) is *evictable*.
// One address may have at most `per_address_waiting` evictable connections, and all addresses
// together `max_waiting`; past either, the oldest evictable one is closed to make room. New
// clients therefore always get in, and slowloris or idle flooders only evict their own older
// connections, while connections whose request is being served are never touched: that is the
// reserve for authenticated requests and health probes.

#include <httplib.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dxhub::web {

struct PoolLimits {
  int max_threads = 512;         // connections served at once
  int max_waiting = 384;         // evictable connections in all (leaves a reserve of threads)
  int per_address_waiting = 64;  // evictable connections from one address
};

/// httplib's task queue: a thread per task, started on demand up to `max_threads` (then tasks
/// wait for a free thread), kept for reuse while idle for a while.
class ThreadPerTaskQueue final : public httplib::TaskQueue {
 public:
  explicit ThreadPerTaskQueue(int max_threads) : max_threads_(max_threads) {}
  ~ThreadPerTaskQueue() override { shutdown(); }
  ThreadPerTaskQueue(const ThreadPerTaskQueue&) = delete;
  ThreadPerTaskQueue& operator=(const ThreadPerTaskQueue&) = delete;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  void Run();

  const int max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  std::vector<std::thread> threads_;         // guarded by mu_
  int idle_ = 0;                             // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
};

/// The evictable connections, by address. Thread-safe.
class ConnectionRegistry {
 public:
  explicit ConnectionRegistry(PoolLimits limits) : limits_(limits) {}

  class Entry;
  /// Registers the open socket `fd` from `address`; unregistered when the handle is destroyed
  /// (before the socket is closed, so an eviction never hits a reused descriptor).
  std::shared_ptr<Entry> Add(int fd, const std::string& address);
  /// Marks the connection as waiting for a request's headers (evictable) or being served; when
  /// it becomes waiting, the oldest waiting connections over the limits are shut down.
  void SetWaiting(const std::shared_ptr<Entry>& entry, bool waiting);

  /// Evictions so far (for /metrics and tests).
  int64_t evicted() const;

 private:
  friend class Entry;
  void Remove(Entry* entry);
  void EvictOldest(std::list<Entry*>& queue);

  PoolLimits limits_;
  mutable std::mutex mu_;
  std::list<Entry*> waiting_;                            // guarded by mu_: oldest first
  std::map<std::string, std::list<Entry*>> by_address_;  // guarded by mu_: oldest first
  int64_t evicted_ = 0;                                  // guarded by mu_
};

class ConnectionRegistry::Entry {
 public:
  Entry(ConnectionRegistry& registry, int fd, std::string address)
      : registry_(registry), fd_(fd), address_(std::move(address)) {}
  ~Entry() { registry_.Remove(this); }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

 private:
  friend class ConnectionRegistry;
  ConnectionRegistry& registry_;
  int fd_;
  std::string address_;
  bool waiting_ = false;  // guarded by registry_.mu_
};

}  // namespace dxhub::web
