// The keeper's protocol with the orchestrator, apart from the fencing core
// (keeper.cc): its arguments, the control lines it reads, the status lines
// it writes, and its exit codes. src/supervisor/keeper-protocol.ts is the
// other side.
//
// Usage:
//   ray-head-ha-keeper --parent PID [--grace-ms MS] [--orphan-grace-ms MS] [--deadline-ms ABS_MS]
//                      [--status-fd FD] [--release-fd FD | --warm-release-fd FD] [--stdin-fd FD]
//                      (--command-fd FD | -- COMMAND [ARG...])
//
//   --parent       pid of the orchestrator that spawned us (checked with getppid)
//   --grace-ms     TERM -> KILL grace used when no `stop <ms>` says otherwise (5000)
//   --orphan-grace-ms  the grace when our parent went away (EOF, parent death,
//                  a TERM once we are re-parented): nobody waits for a drain
//                  then, and standbys wait for our release (--grace-ms)
//   --deadline-ms  first fencing deadline, absolute CLOCK_MONOTONIC milliseconds
//                  (Node: Math.floor(Number(process.hrtime.bigint()) / 1e6)); none if absent
//   --status-fd    where status lines go (3); a missing fd is ignored
//   --command-fd   read the head command from this fd instead of argv: each
//                  argument NUL-terminated, up to EOF (at most 1 MiB). The
//                  orchestrator uses it, so a password in the head's arguments
//                  never shows in the keeper's /proc/PID/cmdline.
//   --release-fd   read a release command from this fd at start (after the head
//                  command): NUL-terminated arguments, an empty one, then the
//                  bytes to give it on stdin, up to EOF (at most 1 MiB in all).
//                  It runs once, only when the keeper ended because its parent
//                  may have gone (EOF, parent death, a TERM), the parent is provably dead
//                  (we were re-parented: getppid() != --parent, waited for up to
//                  1 s after an EOF), and the whole tree is reaped. It gets 5 s,
//                  then KILL; its outcome does not change our exit code. The
//                  orchestrator gives `ray-head-ha release-orphaned` here, which
//                  releases the term's lease (docs/design.md, decision 29).
//   --warm-release-fd  the same, for a head started before its term (a warm
//                  standby): the input read here is the release's static part,
//                  and the release runs only once a `term <token>` control line
//                  came, with `<token>\n` appended to that input. A keeper that
//                  never got one (its orchestrator died while it stood by) runs
//                  no release. The term is a line, not the command: a release
//                  input carries the Redis TLS CA bundle, hundreds of KiB.
//
//   --stdin-fd     the head's stdin (default /dev/null); we close our copy once
//                  the head is forked. The orchestrator's warm standby gives
//                  the head its go on it (docs/design.md, decision 32).
//
// Every number is decimal digits only (no sign, no 0x, no fraction, no
// exponent) within its range: pid 1..4194304, ms 0..2^53-1 (grace: 0..2^31-1),
// fd 0..1048575. Anything else is a usage error (exit 2, nothing started).
//
// Control, one line each on stdin (fd 0), from the orchestrator (integers as above):
//   deadline <abs_ms>   move the fencing deadline; never moves it backwards
//   stop [<grace_ms>]   end the head, with this grace; while already ending, a
//                       shorter grace brings the KILL closer (never later)
//   term <id>#<epoch>   the term whose lease the --warm-release-fd command
//                       releases (a warm standby learns it only when it leads):
//                       id 1..200 of [A-Za-z0-9._:@-], epoch 1..2^53-1, the
//                       line at most kMaxControlLineBytes; once only, and only
//                       with --warm-release-fd (else an `error` line, ignored)
//   EOF                 the orchestrator is gone: end the head (default grace)
//
// Status, one line each on --status-fd:
//   started <pid>                      the head exec'd
//   exec-failed <errno> <message>      the head could not exec
//   error <message>                    a control line was not understood (ignored)
//   release <code|-> <signal|->        the release command ran (after the tree
//                                      was reaped; nobody may be listening)
//   exit <reason> <code|-> <signal|->  last line: why we end, and the head main
//                                      process's exit code or signal number
//
// Exit codes (the reason word on the status line matches):
//   0 stopped      a `stop` command            5 parent-died  parent death while running
//   1 internal     a syscall failed here       6 head-exit    the head ended on its own
//   2 usage        bad arguments               7 parent-gone  parent gone before start
//   3 fenced       the deadline passed         8 signal       TERM/INT/HUP from elsewhere
//   4 eof          control pipe closed       127 exec-failed  the head could not exec
#pragma once

#include <sys/types.h>

#include <cmath>

#include <string>
#include <vector>

namespace rhha {

// Why the keeper ends; each has its status word and exit code (WhyInfo).
// kInternal: a syscall failed before anything started (exit 1, no status line).
enum class Why { kNone, kStopped, kFenced, kEof, kParentDied, kHeadExit, kSignal, kExecFailed, kParentGone, kInternal };

struct WhyInfo {
  const char* word;
  int exit_code;
};

WhyInfo Describe(Why why);

constexpr int kExitInternal = 1;
constexpr int kExitUsage = 2;
constexpr long long kMaxMs = 9007199254740991;  // 2^53-1: what the orchestrator (a JS number) can send
constexpr long long kMaxGraceMs = 2147483647;   // INT_MAX: fits poll()'s timeout

// Decimal digits only, min <= value <= max; false for anything else.
bool ParseInt(const char* text, long long min, long long max, long long* out);

struct Options {
  pid_t parent = 0;
  double grace_ms = 5000;
  double orphan_grace_ms = NAN;  // NAN: grace_ms
  double deadline_ms;  // NAN: no deadline
  int status_fd = 3;
  int command_fd = -1;
  int release_fd = -1;
  bool release_awaits_term = false;  // --warm-release-fd: release_fd's input waits for a `term` line
  int stdin_fd = -1;
  char** command = nullptr;  // argv after --, or null with --command-fd
};

// Parses argv; a usage error prints the usage line and exits 2.
Options ParseArgs(int argc, char** argv);
[[noreturn]] void Usage(const std::string& problem);

// The head command as sent on --command-fd: NUL-terminated arguments. Exits 2
// (usage) when it is not that shape or the command is empty.
std::vector<std::string> SplitCommand(const std::string& data);
constexpr size_t kMaxCommandBytes = 1 << 20;

// The release command as sent on --release-fd: NUL-terminated arguments, an
// empty argument, then its stdin. Exits 2 (usage) when it is not that shape.
struct Release {
  std::vector<std::string> args;
  std::string input;
};
Release SplitRelease(const std::string& data);
// The same, returning what is wrong (null when nothing) instead of exiting.
const char* TrySplitRelease(const std::string& data, Release* out);

// A term's token, `<id>#<epoch>` (src/redis/keys.ts formatToken): the id
// 1..kMaxIdBytes of [A-Za-z0-9._:@-] (src/redis/values.ts isName), the epoch
// decimal 1..kMaxMs. False for anything else.
constexpr size_t kMaxIdBytes = 200;
constexpr size_t kMaxTokenBytes = kMaxIdBytes + 1 + 16;  // 2^53-1 has 16 digits
bool IsTermToken(const std::string& token);

// One control line, parsed. kInvalid: not understood (answered with an `error` line).
struct Control {
  enum Kind { kEmpty, kDeadline, kStop, kTerm, kInvalid } kind;
  double ms;         // kDeadline: the deadline; kStop: the grace, or NAN for the default
  std::string line;  // kInvalid: the line, cut to 80 bytes; kTerm: the token
};
Control ParseControlLine(const std::string& line);

// The longest control line, newline excluded (`term ` and the longest token fit).
constexpr size_t kMaxControlLineBytes = 1024;

// Takes every complete line out of `buffer`; a line over kMaxControlLineBytes
// (complete or not) is dropped and reported by `too_long`.
std::vector<std::string> TakeLines(std::string* buffer, bool* too_long);

// Status lines.
std::string StartedLine(pid_t head);
std::string ExecFailedLine(int err);
// `release <code|-> <signal|->` from the release command's wait status.
std::string ReleaseLine(int status);
// `exit <reason> <code|-> <signal|->`; `status` is the head's wait status when `reaped`.
std::string ExitLine(Why why, bool reaped, int status);

}  // namespace rhha
