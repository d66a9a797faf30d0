// Signals a process the keeper found in a /proc scan, and only that process:
// never whoever holds its pid by the time the signal goes out.
// See: man 2 pidfd_open, man 2 pidfd_send_signal, man 5 proc (starttime).
#pragma once

#include <sys/types.h>

#include "proc_tree.h"

namespace rhha {

// Sends `sig` to `p` if it is still the process the scan saw (same pid, same
// start time). Returns 0 when sent; -1 with errno ESRCH when it is gone or its
// pid now names another process; -1 with another errno when signalling failed.
int SignalIfUnchanged(const ProcEntry& p, int sig);

}  // namespace rhha
