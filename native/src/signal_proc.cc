// Why a pidfd and a second look: a scan reads /proc at one moment and kill()
// acts at another; in between, a descendant can exit, be reaped, and its pid
// go to a stranger. The order here closes that window:
//   1. pidfd_open(pid): a handle on whichever process holds pid now (A);
//   2. /proc/<pid>/stat still shows the start time the scan saw: the process
//      holding pid at this moment is the scanned one;
//   3. pidfd_send_signal(pidfd): reaches A only, and only while A lives.
// If A is alive at 3, it held pid throughout 1..3, so the check at 2 was about
// A: the signal reaches the scanned process or nobody (ESRCH). The start time
// has clock-tick resolution, so "same pid, same start time, different process"
// needs the pid to be reused within one tick of the first process's start.
//
// Kernels before 5.3 (no pidfd_open; seccomp filters that refuse it the same
// way) get steps 2 and 3 with kill(): the window shrinks to the time between
// the check and the kill, but is not closed.
#include "signal_proc.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace rhha {
namespace {

bool pidfd_unavailable = false;

bool StillTheSame(const ProcEntry& p) {
  pid_t ppid;
  unsigned long long start_time;
  return ReadStat(p.pid, &ppid, &start_time) == 0 && start_time == p.start_time;
}

}  // namespace

int SignalIfUnchanged(const ProcEntry& p, int sig) {
  if (p.pid <= 1) {
    errno = EINVAL;
    return -1;
  }
  if (!pidfd_unavailable) {
    int fd = static_cast<int>(syscall(SYS_pidfd_open, p.pid, 0));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
      pidfd_unavailable = true;
    } else if (fd < 0) {
      return -1;  // ESRCH: gone already
    } else {
      int rc = -1;
      if (!StillTheSame(p)) {
        errno = ESRCH;
      } else {
        rc = static_cast<int>(syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0));
      }
      int saved = errno;
      close(fd);
      errno = saved;
      return rc;
    }
  }
  if (!StillTheSame(p)) {
    errno = ESRCH;
    return -1;
  }
  return kill(p.pid, sig);
}

}  // namespace rhha
