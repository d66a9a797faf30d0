// The process tree as /proc shows it: who is whose parent, read once.
// Shared by the addon (descendants()) and the keeper (kill every descendant).
// See: man 5 proc (/proc/[pid]/stat, fields 1 "pid", 4 "ppid", 22 "starttime").
#pragma once

#include <sys/types.h>

#include <vector>

namespace rhha {

// A process as one scan saw it. pid alone names whoever holds the number now;
// pid + start_time names this process (a reused pid starts later).
struct ProcEntry {
  pid_t pid;
  unsigned long long start_time;  // clock ticks after boot
};

// Every live descendant of `root` (children, grandchildren, ...), not `root`
// itself, parents before their children. Returns -1 with errno set when /proc
// cannot be read; processes that vanish during the scan are skipped.
int Descendants(pid_t root, std::vector<pid_t>* out);

// The same, with each process's start time.
int Descendants(pid_t root, std::vector<ProcEntry>* out);

// ppid and start time of `pid` now; -1 when it is gone or unreadable.
int ReadStat(pid_t pid, pid_t* ppid, unsigned long long* start_time);

// Direct children of `parent` (same scan, one level).
int Children(pid_t parent, std::vector<pid_t>* out);

// 0 when /proc/<pid> exists, else -1 with errno (ESRCH when it does not).
int ProcessExists(pid_t pid);

}  // namespace rhha
