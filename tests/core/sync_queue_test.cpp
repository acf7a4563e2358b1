// SyncQueue: files made durable off the caller's thread, one directory fsync shared by many.

#include "core/sync_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "../test_util.h"
#include "core/fs.h"

namespace dxhub {
namespace {

using dxhub::testing::ScratchDir;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(SyncQueue, EveryFileOfManyConcurrentCallersBecomesDurable) {
  ScratchDir dir;
  SyncQueue queue(dir.path(), 3);
  constexpr int kThreads = 8;
  constexpr int kFiles = 25;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kFiles; ++i) {
        const std::string path = dir / (std::to_string(t) + "-" + std::to_string(i));
        if (!fs::WriteFile(path, Bytes("bytes " + path), /*sync=*/false).ok()) {
          ++failures[t];
          continue;
        }
        PendingSync pending = queue.Sync(path);
        if (!pending.Wait().ok())
          ++failures[t];
      }
    });
  }
  for (auto& t : threads)
    t.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST(SyncQueue, AFileThatCannotBeSyncedFailsItsWait) {
  ScratchDir dir;
  SyncQueue queue(dir.path(), 2);
  PendingSync gone = queue.Sync(dir / "never-written");
  Status st = gone.Wait();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("never-written"), std::string::npos) << st.error().message;
}

TEST(SyncQueue, ADirectoryThatCannotBeSyncedFailsEveryWaitOnIt) {
  ScratchDir dir;
  const std::string file = dir / "f";
  ASSERT_TRUE(fs::WriteFile(file, Bytes("x"), false).ok());
  SyncQueue queue(dir / "no-such-dir", 1);
  Status st = queue.Sync(file).Wait();  // the file syncs; the directory entry cannot
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("no-such-dir"), std::string::npos) << st.error().message;
}

TEST(SyncQueue, AMovedPendingSyncWaitsOnceAndItsSourceHasNothingToWaitFor) {
  ScratchDir dir;
  const std::string file = dir / "f";
  ASSERT_TRUE(fs::WriteFile(file, Bytes("z"), false).ok());
  SyncQueue queue(dir.path(), 1);
  PendingSync first = queue.Sync(file);
  PendingSync second = std::move(first);
  EXPECT_TRUE(first.Wait().ok());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_TRUE(second.Wait().ok());
  EXPECT_TRUE(second.Wait().ok());  // already answered
}

TEST(SyncQueue, DroppedWaitsAndAnEmptyPendingAreHarmless) {
  ScratchDir dir;
  EXPECT_TRUE(PendingSync().Wait().ok());
  {
    SyncQueue queue(dir.path(), 2);
    for (int i = 0; i < 20; ++i) {
      const std::string path = dir / std::to_string(i);
      ASSERT_TRUE(fs::WriteFile(path, Bytes("y"), false).ok());
      (void)queue.Sync(path);  // an ingest refused after its sync started
    }
  }  // the destructor finishes them and joins
  SUCCEED();
}

}  // namespace
}  // namespace dxhub
