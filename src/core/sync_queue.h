#pragma once
// Makes new files durable off the caller's thread, so that the fsyncs of an instance overlap
// with the work that does not need them yet (parsing, hashing, the duplicate check) instead of
// adding up one after another on the association's critical path.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"

namespace dxhub {

class SyncQueue;

/// A file on its way to the disk. Wait() before anything durable points at the file; dropping
/// a PendingSync without waiting is fine (the sync still runs, its result is discarded).
class PendingSync {
 public:
  PendingSync() = default;  // nothing to wait for
  PendingSync(PendingSync&& other) noexcept;
  PendingSync& operator=(PendingSync&& other) noexcept;
  PendingSync(const PendingSync&) = delete;
  PendingSync& operator=(const PendingSync&) = delete;

  /// Blocks until the file's bytes and its directory entry are on disk; the first error of
  /// either otherwise.
  [[nodiscard]] Status Wait();

 private:
  friend class SyncQueue;
  std::future<Status> file_;
  SyncQueue* queue_ = nullptr;
  uint64_t dir_ticket_ = 0;
};

/// fdatasyncs files on a few threads of its own and fsyncs one directory for all of them: a
/// directory fsync makes durable every entry created before it began, so one serves every file
/// submitted while the previous one was running. Thread-safe. The destructor finishes what was
/// submitted and joins its threads; every PendingSync must be waited on or dropped before it.
class SyncQueue {
 public:
  /// `dir`: the directory the files are created in; `threads`: file syncs run concurrently (a
  /// thread blocked in fdatasync costs no CPU; concurrent syncs let the disk merge flushes).
  SyncQueue(std::string dir, size_t threads);
  ~SyncQueue();
  SyncQueue(const SyncQueue&) = delete;
  SyncQueue& operator=(const SyncQueue&) = delete;

  /// Starts making `path` (an existing file in the directory) durable and returns at once.
  PendingSync Sync(const std::string& path);

 private:
  friend class PendingSync;
  struct FileJob {
    std::string path;
    std::promise<Status> done;
  };

  Status WaitForDirectory(uint64_t ticket);
  void Stop();
  void FileLoop();
  void DirectoryLoop();

  const std::string dir_;
  std::mutex mu_;
  // Separate wake-ups, so that a file job wakes one file thread, not all of them.
  std::condition_variable file_cv_;      // a file job queued, or stopping
  std::condition_variable dir_work_cv_;  // a directory sync owed, or stopping
  std::condition_variable dir_done_cv_;  // a directory sync finished
  std::deque<FileJob> files_;            // guarded by mu_
  uint64_t dir_requested_ = 0;           // guarded by mu_: tickets handed out
  uint64_t dir_synced_ = 0;              // guarded by mu_: every ticket <= this has its answer
  bool stopping_ = false;                // guarded by mu_
  // Tickets a failed directory fsync was to cover, (after, through]. They fail even if a later
  // fsync succeeds: after a failed fsync Linux may drop the dirty state it could not write, so a
  // later success proves nothing about them. The last few are kept; their waiters wake at once,
  // long before a failure that old would be dropped.
  struct DirFailure {
    uint64_t after = 0;
    uint64_t through = 0;
    Error error;
  };
  static constexpr size_t kFailuresKept = 16;
  std::deque<DirFailure> dir_failures_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace dxhub
