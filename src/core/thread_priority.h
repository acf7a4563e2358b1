#pragma once
// Background work (AI, processing, verification) runs below ingest. A C-STORE is latency a
// modality waits for; a classification is throughput that can wait a few seconds. Linux's
// SCHED_IDLE gives a thread CPU only when no normal thread wants it, and the idle I/O class
// does the same for its disk requests, so background threads cost ingest almost nothing yet
// run at full speed when the PACS is quiet. Threads a background thread starts (OpenCV's pool)
// inherit both.

#include <string>

#include "core/result.h"

namespace dxhub {

/// Moves the calling thread to SCHED_IDLE and the idle I/O class. Lowering needs no privilege;
/// where the kernel refuses anyway (a seccomp filter), it falls back to nice 19 and best-effort
/// I/O priority 7, and says what it could not do.
Status LowerThisThreadPriority();

/// Names the calling thread as `top -H`, `ps -L` and /proc/PID/task/*/comm show it (at most 15
/// bytes are kept), so an engineer can see which of dxhub's threads takes the CPU.
void NameThisThread(const std::string& name);

/// Whether the calling thread runs below normal priority (SCHED_IDLE, SCHED_BATCH or niced):
/// such a thread must not take a lock that foreground threads wait for, as it may not get the
/// CPU to release it while they are busy.
bool ThisThreadIsBackground();

/// The calling thread's policy as "idle", "batch" or "normal", and its nice value (tests).
std::string ThisThreadPriority();

}  // namespace dxhub
