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

// ppid of `pid`, or -1 when it is gone. The comm field (2) may contain spaces
// and parentheses, so parse after the LAST ')'.
pid_t ReadPpid(const char* pid_name) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/stat", pid_name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[512];
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
  int ppid;
  if (sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return -1;
  return static_cast<pid_t>(ppid);
}

int ScanParents(std::unordered_multimap<pid_t, pid_t>* children_of) {
  DIR* dir = opendir("/proc");
  if (!dir) return -1;
  errno = 0;
  while (struct dirent* entry = readdir(dir)) {
    const char* name = entry->d_name;
    if (name[0] < '0' || name[0] > '9') continue;
    char* end;
    long pid = strtol(name, &end, 10);
    if (*end != '\0') continue;
    pid_t ppid = ReadPpid(name);
    if (ppid < 0) continue;  // exited during the scan
    children_of->emplace(ppid, static_cast<pid_t>(pid));
  }
  closedir(dir);
  return 0;
}

}  // namespace

int Descendants(pid_t root, std::vector<pid_t>* out) {
  std::unordered_multimap<pid_t, pid_t> children_of;
  if (ScanParents(&children_of) < 0) return -1;
  out->clear();
  std::vector<pid_t> frontier{root};
  while (!frontier.empty()) {
    pid_t parent = frontier.back();
    frontier.pop_back();
    auto range = children_of.equal_range(parent);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == root) continue;  // pid 0's "child" can be 1, etc.
      out->push_back(it->second);
      frontier.push_back(it->second);
    }
  }
  return 0;
}

int Children(pid_t parent, std::vector<pid_t>* out) {
  std::unordered_multimap<pid_t, pid_t> children_of;
  if (ScanParents(&children_of) < 0) return -1;
  out->clear();
  auto range = children_of.equal_range(parent);
  for (auto it = range.first; it != range.second; ++it) out->push_back(it->second);
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
