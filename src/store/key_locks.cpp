#include "store/key_locks.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include "core/fs.h"

namespace dxhub::store {

Result<std::unique_ptr<KeyLocks>> KeyLocks::Open(const std::string& dir,
                                                 std::chrono::milliseconds max_wait) {
  DXHUB_TRY(fs::MakeDirs(dir));
  return std::make_unique<KeyLocks>(OpenTag{}, dir, max_wait);
}

KeyLocks::~KeyLocks() {
  for (Stripe& stripe : stripes_) {
    if (stripe.fd >= 0)
      ::close(stripe.fd);
  }
}

KeyLocks::Guard::Guard(Guard&& other) noexcept
    : lock_(std::move(other.lock_)), fd_(std::exchange(other.fd_, -1)) {}

KeyLocks::Guard::~Guard() {
  if (fd_ >= 0)
    (void)::flock(fd_, LOCK_UN);
}

Result<KeyLocks::Guard> KeyLocks::Lock(const std::string& key) {
  if (key.size() < 2 || !std::isxdigit(static_cast<unsigned char>(key[0])) ||
      !std::isxdigit(static_cast<unsigned char>(key[1])))
    return MakeError(ErrorCode::kInternal, "bad blob key");
  const size_t index = std::stoul(key.substr(0, 2), nullptr, 16);
  Stripe& stripe = stripes_[index];
  // Neither wait blocks without an end; the holder is normally another thread's or node's
  // ingest of the same stripe, done within milliseconds.
  const auto deadline = std::chrono::steady_clock::now() + max_wait_;
  auto too_long = [&] {
    return MakeError(ErrorCode::kUnavailable,
                     "another ingest has held this instance's lock (DATA/locks/" +
                         key.substr(0, 2) + ") too long");
  };
  std::unique_lock lock(stripe.mu, deadline);
  if (!lock.owns_lock())
    return too_long();
  if (stripe.fd < 0) {
    // Opened on first use, not up front: most commands never ingest, and a stripe's file stays
    // open after (its lock is per open file). Read-only is enough for flock, and works on a lock
    // file another user created.
    char name[8];
    std::snprintf(name, sizeof name, "%02zx", index);  // "AB..." and "ab..." share a file
    const std::string path = dir_ + "/" + name;
    stripe.fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0640);
    if (stripe.fd < 0)
      return fs::ErrnoError(errno, "open lock file " + path);
  }
  auto pause = std::chrono::microseconds(200);
  while (::flock(stripe.fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR)
      continue;
    if (errno != EWOULDBLOCK)
      return fs::ErrnoError(errno, "lock blob key");
    if (std::chrono::steady_clock::now() >= deadline)
      return too_long();
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  return Guard(std::move(lock), stripe.fd);
}

}  // namespace dxhub::store
