// The process tree as /proc shows it: who is whose parent, read once.
// Shared by the addon (descendants()) and the keeper (kill every descendant).
// See: man 5 proc (/proc/[pid]/stat, fields 1 "pid" and 4 "ppid").
#pragma once

#include <sys/types.h>

#include <vector>

namespace rhha {

// Every live descendant of `root` (children, grandchildren, ...), not `root`
// itself, parents before their children. Returns -1 with errno set when /proc
// cannot be read; processes that vanish during the scan are skipped.
int Descendants(pid_t root, std::vector<pid_t>* out);

// Direct children of `parent` (same scan, one level).
int Children(pid_t parent, std::vector<pid_t>* out);

// 0 when /proc/<pid> exists, else -1 with errno (ESRCH when it does not).
int ProcessExists(pid_t pid);

}  // namespace rhha
