#pragma once
// Whether foreground work (ingest: a C-STORE, a STOW part, an import) is going on, so that
// background work (AI, processing) can step aside for it. SCHED_IDLE (thread_priority.h) keeps
// background threads off a busy CPU, but ingest on a small machine is bound by fsync latency
// and by the one SQLite writer, not by CPU: every AI claim and result is another write in the
// queue a waiting modality's commit stands in. So background workers also wait while ingest is
// active, for at most a bounded time, and get a turn at least that often: the PACS sees no
// slowdown, and the models still make progress (they catch up in full when it is quiet).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

namespace dxhub {

class ForegroundActivity {
 public:
  /// Marks one piece of foreground work as started / finished (use Scope).
  void Begin();
  void End();

  class Scope {
   public:
    explicit Scope(ForegroundActivity& a) : a_(a) { a_.Begin(); }
    ~Scope() { a_.End(); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ForegroundActivity& a_;
  };

  /// Foreground work is running, or finished less than `quiet` ago.
  bool Active(std::chrono::milliseconds quiet) const;

  /// Waits until foreground work has been quiet for `quiet`, or `max_wait` has passed, or
  /// `stop()` is true (checked every few milliseconds). Returns how long it waited.
  std::chrono::milliseconds WaitForQuiet(std::chrono::milliseconds quiet,
                                         std::chrono::milliseconds max_wait,
                                         const std::function<bool()>& stop) const;

 private:
  static int64_t Now();
  std::atomic<int> running_{0};
  std::atomic<int64_t> last_end_ms_{0};  // steady clock
};

}  // namespace dxhub
