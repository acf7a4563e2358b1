#pragma once
// Exclusive locks on blob keys that hold across every process using one data directory: the
// threads of one `dxhub serve`, a `dxhub import` beside it, and the nodes of a cluster sharing
// the blob directory. The archive holds a key's lock from its duplicate check until the blob is
// renamed into place, so two senders of one SOP Instance UID are serialised wherever they
// arrive, and the blob on disk is always the version the index row describes.

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "core/result.h"

namespace dxhub::store {

class KeyLocks {
 public:
  /// Opens (creating if needed) the lock files under `dir`. Locking is advisory (flock); on NFS
  /// the Linux client maps flock to NFS byte-range locks, which every node then honours.
  /// `max_wait`: how long Lock() waits for a holder elsewhere (a stopped `dxhub import`, a hung
  /// NFS server) before it gives up, so the sender gets a failure it retries, not a stall.
  static Result<std::unique_ptr<KeyLocks>> Open(
      const std::string& dir, std::chrono::milliseconds max_wait = std::chrono::seconds(30));
  /// Use Open(); the tag keeps construction there while make_unique can still reach it.
  struct OpenTag {
    explicit OpenTag() = default;
  };
  KeyLocks(OpenTag, std::string dir, std::chrono::milliseconds max_wait)
      : dir_(std::move(dir)), max_wait_(max_wait) {}
  ~KeyLocks();
  KeyLocks(const KeyLocks&) = delete;
  KeyLocks& operator=(const KeyLocks&) = delete;

  /// Held while alive. Keys share a lock stripe, so this also excludes some other keys briefly.
  class Guard {
   public:
    Guard(Guard&& other) noexcept;
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard();

   private:
    friend class KeyLocks;
    Guard(std::unique_lock<std::timed_mutex> lock, int fd) : lock_(std::move(lock)), fd_(fd) {}
    std::unique_lock<std::timed_mutex> lock_;  // excludes this process's other threads
    int fd_ = -1;                              // flocked: excludes other processes
  };

  /// Blocks until the stripe of `key` (a blob key: hex digits) is this caller's, or fails with
  /// kUnavailable after max_wait. The stripe is the key's first two digits, so every process and
  /// every version agrees on it.
  [[nodiscard]] Result<Guard> Lock(const std::string& key);

 private:
  static constexpr size_t kStripes = 256;
  struct Stripe {
    std::timed_mutex mu;
    int fd = -1;  // guarded by mu; opened by the first Lock() of the stripe
  };
  const std::string dir_;
  std::chrono::milliseconds max_wait_;
  std::array<Stripe, kStripes> stripes_;
};

using KeyLocksPtr = std::unique_ptr<KeyLocks>;

}  // namespace dxhub::store
