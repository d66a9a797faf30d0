// Reads the parent links of all processes from /proc/[pid]/stat. The scan is
// not atomic: a process may fork or exit while it runs, so callers that need
// "nothing left" repeat it until it comes back empty (the keeper does).
// See: man 5 proc.
#include "proc_tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cstdio>
#include <unordered_map>
#include <utility>

namespace rhha {
namespace {

// ppid and start time of /proc/<pid_name>, or -1 when it is gone. The comm
// field (2) may contain spaces and parentheses, so parse after the LAST ')'.
int ReadStatNamed(const char* pid_name, pid_t* ppid, unsigned long long* start_time) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/stat", pid_name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char* close_paren = strrchr(buf, ')');
  if (!close_paren) return -1;
  char state;
  int parent;
  // Fields 3 (state) and 4 (ppid), 17 skipped, then 22 (starttime).
  if (sscanf(close_paren + 1, " %c %d %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
             &state, &parent, start_time) != 3) {
    return -1;
  }
  *ppid = static_cast<pid_t>(parent);
  return 0;
}

int ScanParents(std::unordered_multimap<pid_t, ProcEntry>* children_of) {
  DIR* dir = opendir("/proc");
  if (!dir) return -1;
  errno = 0;
  while (struct dirent* entry = readdir(dir)) {
    const char* name = entry->d_name;
    if (name[0] < '0' || name[0] > '9') continue;
    char* end;
    long pid = strtol(name, &end, 10);
    if (*end != '\0') continue;
    pid_t ppid;
    unsigned long long start_time;
    if (ReadStatNamed(name, &ppid, &start_time) != 0) continue;  // exited during the scan
    children_of->emplace(ppid, ProcEntry{static_cast<pid_t>(pid), start_time});
  }
  closedir(dir);
  return 0;
}

}  // namespace

int Descendants(pid_t root, std::vector<ProcEntry>* out) {
  std::unordered_multimap<pid_t, ProcEntry> children_of;
  if (ScanParents(&children_of) < 0) return -1;
  out->clear();
  std::vector<pid_t> frontier{root};
  while (!frontier.empty()) {
    pid_t parent = frontier.back();
    frontier.pop_back();
    auto range = children_of.equal_range(parent);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second.pid == root) continue;  // pid 0's "child" can be 1, etc.
      out->push_back(it->second);
      frontier.push_back(it->second.pid);
    }
  }
  return 0;
}

int Descendants(pid_t root, std::vector<pid_t>* out) {
  std::vector<ProcEntry> found;
  if (Descendants(root, &found) != 0) return -1;
  out->clear();
  for (const ProcEntry& p : found) out->push_back(p.pid);
  return 0;
}

int ReadStat(pid_t pid, pid_t* ppid, unsigned long long* start_time) {
  char name[32];
  snprintf(name, sizeof name, "%d", static_cast<int>(pid));
  return ReadStatNamed(name, ppid, start_time);
}

int Children(pid_t parent, std::vector<pid_t>* out) {
  std::unordered_multimap<pid_t, ProcEntry> children_of;
  if (ScanParents(&children_of) < 0) return -1;
  out->clear();
  auto range = children_of.equal_range(parent);
  for (auto it = range.first; it != range.second; ++it) out->push_back(it->second.pid);
  return 0;
}

int ProcessExists(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d", static_cast<int>(pid));
  if (access(path, F_OK) == 0) return 0;
  if (errno == ENOENT) errno = ESRCH;
  return -1;
}

}  // namespace rhha
