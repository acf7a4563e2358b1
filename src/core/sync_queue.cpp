#include "core/sync_queue.h"

#include <utility>

#include "core/fs.h"
#include "core/thread_priority.h"

namespace dxhub {

PendingSync::PendingSync(PendingSync&& other) noexcept
    : file_(std::move(other.file_)),
      queue_(std::exchange(other.queue_, nullptr)),
      dir_ticket_(other.dir_ticket_) {}

PendingSync& PendingSync::operator=(PendingSync&& other) noexcept {
  file_ = std::move(other.file_);
  queue_ = std::exchange(other.queue_, nullptr);
  dir_ticket_ = other.dir_ticket_;
  return *this;
}

Status PendingSync::Wait() {
  if (queue_ == nullptr)
    return Ok();
  Status file = file_.get();
  Status dir = queue_->WaitForDirectory(dir_ticket_);
  queue_ = nullptr;
  DXHUB_TRY(file);
  return dir;
}

SyncQueue::SyncQueue(std::string dir, size_t threads) : dir_(std::move(dir)) {
  if (threads == 0)
    threads = 1;
  threads_.reserve(threads + 1);
  try {
    threads_.emplace_back([this] { DirectoryLoop(); });
    for (size_t i = 0; i < threads; ++i)
      threads_.emplace_back([this] { FileLoop(); });
  } catch (...) {  // out of threads: stop those that started before the vector goes
    Stop();
    throw;
  }
}

SyncQueue::~SyncQueue() {
  Stop();
}

void SyncQueue::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  file_cv_.notify_all();
  dir_work_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable())
      t.join();
  }
}

PendingSync SyncQueue::Sync(const std::string& path) {
  PendingSync pending;
  pending.queue_ = this;
  {
    std::lock_guard lock(mu_);
    FileJob job{path, {}};
    pending.file_ = job.done.get_future();
    files_.push_back(std::move(job));
    // The file exists now, so any directory fsync that starts from here on covers its entry.
    pending.dir_ticket_ = ++dir_requested_;
  }
  file_cv_.notify_one();
  dir_work_cv_.notify_one();
  return pending;
}

Status SyncQueue::WaitForDirectory(uint64_t ticket) {
  std::unique_lock lock(mu_);
  dir_done_cv_.wait(lock, [&] { return dir_synced_ >= ticket; });
  for (const auto& failure : dir_failures_) {
    if (ticket > failure.after && ticket <= failure.through)
      return failure.error;
  }
  return Ok();
}

void SyncQueue::FileLoop() {
  NameThisThread("blob-sync");
  for (;;) {
    std::unique_lock lock(mu_);
    file_cv_.wait(lock, [&] { return stopping_ || !files_.empty(); });
    if (files_.empty())
      return;  // stopping, and everything submitted is done
    FileJob job = std::move(files_.front());
    files_.pop_front();
    lock.unlock();
    job.done.set_value(fs::DataSyncPath(job.path));
  }
}

void SyncQueue::DirectoryLoop() {
  NameThisThread("blob-sync");
  for (;;) {
    uint64_t target = 0;
    uint64_t after = 0;
    {
      std::unique_lock lock(mu_);
      auto owed = [&] { return dir_requested_ > dir_synced_; };
      dir_work_cv_.wait(lock, [&] { return stopping_ || owed(); });
      if (!owed())
        return;  // stopping, and every ticket handed out has its answer
      target = dir_requested_;
      after = dir_synced_;
    }
    Status synced = fs::SyncPath(dir_);
    {
      std::lock_guard lock(mu_);
      if (!synced.ok()) {
        dir_failures_.push_back({after, target, synced.error()});
        if (dir_failures_.size() > kFailuresKept)
          dir_failures_.pop_front();
      }
      dir_synced_ = target;  // answered: durable, or failed as recorded above
    }
    dir_done_cv_.notify_all();
  }
}

}  // namespace dxhub
