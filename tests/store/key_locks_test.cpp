// KeyLocks: one blob key's lock excludes every thread and every process on the data directory.

#include "store/key_locks.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "../test_util.h"

namespace dxhub::store {
namespace {

using dxhub::testing::ScratchDir;
using std::chrono::milliseconds;

const std::string kKey(64, 'a');  // stripe "aa"

// Whether some process holds the flock of a lock file, probed without waiting.
bool HeldElsewhere(const std::string& lock_file) {
  const int fd = ::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // releases the probe's own lock, if it got one
  return held;
}

TEST(KeyLocks, ALockHeldByAnotherProcessExcludesThisOne) {
  ScratchDir dir;
  int to_parent[2];
  int to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Holds the key until the parent says so; every exit closes the pipe, so the parent never
    // waits on a child that failed.
    ::close(to_parent[0]);
    ::close(to_child[1]);
    auto locks = KeyLocks::Open(dir / "locks");
    if (!locks.ok())
      ::_exit(2);
    auto guard = (*locks)->Lock(kKey);
    if (!guard.ok())
      ::_exit(3);
    char c = 'L';
    if (::write(to_parent[1], &c, 1) != 1)
      ::_exit(4);
    (void)::read(to_child[0], &c, 1);
    ::_exit(0);  // the lock goes with the process
  }
  ::close(to_parent[1]);
  ::close(to_child[0]);
  char c = 0;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1) << "the child could not take the lock";

  EXPECT_TRUE(HeldElsewhere(dir / "locks/aa"));
  auto locks = KeyLocks::Open(dir / "locks", milliseconds(50));
  ASSERT_TRUE(locks.ok()) << locks.error().ToString();
  auto refused = (*locks)->Lock(kKey);  // gives up: the child still holds it
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE((*locks)->Lock(std::string(64, 'b')).ok());  // another stripe is free

  ASSERT_EQ(::write(to_child[1], &c, 1), 1);  // let go
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_TRUE((*locks)->Lock(kKey).ok());
  ::close(to_parent[0]);
  ::close(to_child[1]);
}

TEST(KeyLocks, ThreadsAndTwoOpeningsInOneProcessExcludeEachOther) {
  ScratchDir dir;
  auto first = KeyLocks::Open(dir / "locks");
  auto second = KeyLocks::Open(dir / "locks");  // as `dxhub import` beside `dxhub serve`
  ASSERT_TRUE(first.ok() && second.ok());
  {
    auto held = (*first)->Lock(kKey);
    ASSERT_TRUE(held.ok());
    EXPECT_TRUE(HeldElsewhere(dir / "locks/aa"));
  }
  EXPECT_FALSE(HeldElsewhere(dir / "locks/aa"));  // released with the guard
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> failures{0};
  auto worker = [&](KeyLocks& locks) {
    for (int i = 0; i < 200; ++i) {
      auto guard = locks.Lock(kKey);
      if (!guard.ok()) {
        ++failures;
        continue;
      }
      if (inside.fetch_add(1) != 0)
        ++overlaps;
      std::this_thread::yield();
      inside.fetch_sub(1);
    }
  };
  std::thread a([&] { worker(**first); });
  std::thread b([&] { worker(**second); });
  std::thread c([&] { worker(**first); });
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(failures.load(), 0);
}

TEST(KeyLocks, KeysThatAreNotHexAreRefused) {
  ScratchDir dir;
  auto locks = KeyLocks::Open(dir / "locks");
  ASSERT_TRUE(locks.ok());
  EXPECT_FALSE((*locks)->Lock("").ok());
  EXPECT_FALSE((*locks)->Lock("zz").ok());
  EXPECT_TRUE((*locks)->Lock("AB").ok());  // the same stripe as "ab"
}

}  // namespace
}  // namespace dxhub::store
