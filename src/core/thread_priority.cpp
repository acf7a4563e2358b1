#include "core/thread_priority.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dxhub {
namespace {

// From linux/ioprio.h, which glibc does not wrap.
constexpr int kIoprioWhoProcess = 1;  // a thread id is a "process" to ioprio_set
constexpr int kIoprioClassBestEffort = 2;
constexpr int kIoprioClassIdle = 3;
constexpr int kIoprioClassShift = 13;

int IoPrio(int cls, int data) {
  return (cls << kIoprioClassShift) | data;
}

pid_t ThreadId() {
  return static_cast<pid_t>(::syscall(SYS_gettid));
}

}  // namespace

void NameThisThread(const std::string& name) {
  (void)::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

Status LowerThisThreadPriority() {
  const pid_t tid = ThreadId();
  std::string failed;
  sched_param param{};
  param.sched_priority = 0;
  // With a thread id, sched_setscheduler and setpriority act on that thread alone.
  if (::sched_setscheduler(tid, SCHED_IDLE, &param) != 0) {
    failed = std::string("SCHED_IDLE: ") + std::strerror(errno);
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 19) != 0)
      failed += std::string("; nice: ") + std::strerror(errno);
  }
  if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, IoPrio(kIoprioClassIdle, 0)) != 0 &&
      ::syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, IoPrio(kIoprioClassBestEffort, 7)) != 0) {
    failed += std::string(failed.empty() ? "" : "; ") + "ioprio: " + std::strerror(errno);
  }
  if (!failed.empty())
    return MakeError(ErrorCode::kUnsupported, "cannot lower thread priority: " + failed);
  return Ok();
}

bool ThisThreadIsBackground() {
  const pid_t tid = ThreadId();
  const int policy = ::sched_getscheduler(tid);
  if (policy == SCHED_IDLE || policy == SCHED_BATCH)
    return true;
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  return errno == 0 && nice > 0;
}

std::string ThisThreadPriority() {
  const pid_t tid = ThreadId();
  const int policy = ::sched_getscheduler(tid);
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  std::string name = policy == SCHED_IDLE ? "idle" : policy == SCHED_BATCH ? "batch" : "normal";
  return name + " nice " + std::to_string(nice);
}

}  // namespace dxhub
