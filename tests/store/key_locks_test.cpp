// KeyLocks: one blob key's lock excludes every thread and every process on the data directory.

#include "store/key_locks.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "../test_util.h"

namespace dxhub::store {
namespace {

using dxhub::testing::ScratchDir;

const std::string kKey(64, 'a');

TEST(KeyLocks, AnotherProcessHoldingAKeyMakesLockWait) {
  ScratchDir dir;
  // The child's "I hold it" flag, visible to the parent.
  void* shared = ::mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  auto* held = new (shared) std::atomic<int>(0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto locks = KeyLocks::Open(dir / "locks");
    if (!locks.ok())
      ::_exit(2);
    {
      auto guard = (*locks)->Lock(kKey);
      if (!guard.ok())
        ::_exit(3);
      held->store(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the window to violate
      held->store(0);
    }
    ::_exit(0);
  }
  while (held->load() == 0)
    std::this_thread::yield();
  auto locks = KeyLocks::Open(dir / "locks");
  ASSERT_TRUE(locks.ok()) << locks.error().ToString();
  {
    auto guard = (*locks)->Lock(kKey);
    ASSERT_TRUE(guard.ok());
    EXPECT_EQ(held->load(), 0) << "got the lock while the other process held it";
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ::munmap(shared, sizeof(std::atomic<int>));
}

TEST(KeyLocks, ThreadsOfOneProcessAndTwoOpeningsExcludeEachOther) {
  ScratchDir dir;
  auto first = KeyLocks::Open(dir / "locks");
  auto second = KeyLocks::Open(dir / "locks");  // as `dxhub import` beside `dxhub serve`
  ASSERT_TRUE(first.ok() && second.ok());
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  auto worker = [&](KeyLocks& locks) {
    for (int i = 0; i < 200; ++i) {
      auto guard = locks.Lock(kKey);
      if (!guard.ok())
        continue;
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
}

TEST(KeyLocks, KeysOfOtherStripesDoNotWaitAndBadKeysAreRefused) {
  ScratchDir dir;
  auto locks = KeyLocks::Open(dir / "locks");
  auto other = KeyLocks::Open(dir / "locks");
  ASSERT_TRUE(locks.ok() && other.ok());
  auto held = (*locks)->Lock(std::string(64, '0'));
  ASSERT_TRUE(held.ok());
  auto free = (*other)->Lock("01" + std::string(62, '0'));  // would hang if stripes were shared
  EXPECT_TRUE(free.ok());
  EXPECT_FALSE((*locks)->Lock("").ok());
  EXPECT_FALSE((*locks)->Lock("zz").ok());
}

}  // namespace
}  // namespace dxhub::store
