// Background work below ingest: thread priority and stepping aside for foreground work.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/foreground_activity.h"
#include "core/periodic.h"
#include "core/thread_priority.h"

namespace dxhub {
namespace {

using std::chrono::milliseconds;

TEST(ThreadPriority, ABackgroundThreadRunsIdleAndItsChildrenInherit) {
  std::string own;
  std::string child;
  std::string after;
  bool background_before = true, background_after = false;
  std::thread t([&] {
    background_before = ThisThreadIsBackground();
    ASSERT_TRUE(LowerThisThreadPriority().ok());
    background_after = ThisThreadIsBackground();
    own = ThisThreadPriority();
    std::thread([&] { child = ThisThreadPriority(); }).join();  // OpenCV's pool, say
  });
  t.join();
  after = ThisThreadPriority();
  EXPECT_EQ(own.rfind("idle", 0), 0u) << own;
  EXPECT_EQ(child.rfind("idle", 0), 0u) << child;
  EXPECT_EQ(after.rfind("normal", 0), 0u) << after;  // the rest of the process is untouched
  EXPECT_FALSE(background_before);
  EXPECT_TRUE(background_after);  // so it never leads a SQLite group commit
  EXPECT_FALSE(ThisThreadIsBackground());
}

TEST(ForegroundActivity, QuietUntilSomethingRunsAndForAWhileAfter) {
  ForegroundActivity a;
  EXPECT_FALSE(a.Active(milliseconds(60000)));
  {
    ForegroundActivity::Scope scope(a);
    EXPECT_TRUE(a.Active(milliseconds(0)));
  }
  EXPECT_TRUE(a.Active(milliseconds(60000)));  // finished just now
  EXPECT_FALSE(a.Active(milliseconds(0)));
}

TEST(ForegroundActivity, AWaitEndsWhenStoppedOrQuiet) {
  ForegroundActivity a;
  // Nothing running: no wait for the cap (a minute here; a wait would show as one).
  EXPECT_LT(a.WaitForQuiet(milliseconds(200), milliseconds(60000), nullptr), milliseconds(60000));
  ForegroundActivity::Scope busy(a);
  std::atomic<bool> stop{false};
  std::thread stopper([&] { stop = true; });
  // Ingest never ends here: only the stop request ends the wait, long before the cap.
  const auto waited =
      a.WaitForQuiet(milliseconds(200), milliseconds(600000), [&] { return stop.load(); });
  stopper.join();
  EXPECT_LT(waited, milliseconds(600000));
  EXPECT_TRUE(a.Active(milliseconds(0)));  // still busy: it was the stop, not quiet
}

TEST(Periodic, RunsItsDutyRepeatedlyUntilStopped) {
  std::mutex mu;
  std::condition_variable ran;
  int runs = 0;
  Periodic every(milliseconds(1), [&] {
    std::lock_guard lock(mu);
    ++runs;
    ran.notify_all();
  });
  every.Start();
  {
    std::unique_lock lock(mu);
    // Generous: a loaded test machine may not schedule the thread for a while.
    ASSERT_TRUE(ran.wait_for(lock, std::chrono::seconds(60), [&] { return runs >= 3; }));
  }
  every.Stop();
  int after_stop = 0;
  {
    std::lock_guard lock(mu);
    after_stop = runs;
  }
  std::this_thread::sleep_for(milliseconds(20));
  std::lock_guard lock(mu);
  EXPECT_EQ(runs, after_stop);  // joined: no duty runs once Stop() returned
}

TEST(Periodic, StopBeforeThePeriodEndsDoesNotWaitForIt) {
  std::atomic<int> runs{0};
  Periodic hourly(std::chrono::hours(1), [&] { ++runs; });
  hourly.Start();
  hourly.Stop();  // would hang the test for an hour if it waited
  EXPECT_EQ(runs, 0);
}

}  // namespace
}  // namespace dxhub
