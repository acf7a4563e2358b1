#include "store/key_locks.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <string>
#include <utility>

#include "core/fs.h"

namespace dxhub::store {

Result<std::unique_ptr<KeyLocks>> KeyLocks::Open(const std::string& dir) {
  DXHUB_TRY(fs::MakeDirs(dir));
  auto locks = std::make_unique<KeyLocks>(OpenTag{});
  for (size_t i = 0; i < kStripes; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "%02zx", i);
    const std::string path = dir + "/" + name;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
      return fs::ErrnoError(errno, "open lock file " + path);
    locks->stripes_[i].fd = fd;
  }
  return locks;
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
  Stripe& stripe = stripes_[std::stoul(key.substr(0, 2), nullptr, 16)];
  std::unique_lock lock(stripe.mu);
  while (::flock(stripe.fd, LOCK_EX) != 0) {
    if (errno != EINTR)
      return fs::ErrnoError(errno, "lock blob key");
  }
  return Guard(std::move(lock), stripe.fd);
}

}  // namespace dxhub::store
