// ray-head-ha-keeper: holds the head's process tree and its fencing deadline
// in a process of its own, so a frozen, blocked or killed orchestrator can
// never keep a head alive. It runs no Node and execs nothing but the head.
//
// Usage:
//   ray-head-ha-keeper --parent PID [--grace-ms MS] [--deadline-ms ABS_MS]
//                      [--status-fd FD] (--command-fd FD | -- COMMAND [ARG...])
//
//   --parent       pid of the orchestrator that spawned us (checked with getppid)
//   --grace-ms     TERM -> KILL grace used when no `stop <ms>` says otherwise (5000)
//   --deadline-ms  first fencing deadline, absolute CLOCK_MONOTONIC milliseconds
//                  (Node: Math.floor(Number(process.hrtime.bigint()) / 1e6)); none if absent
//   --status-fd    where status lines go (3); a missing fd is ignored
//   --command-fd   read the head command from this fd instead of argv: each
//                  argument NUL-terminated, up to EOF (at most 1 MiB). The
//                  orchestrator uses it, so a password in the head's arguments
//                  never shows in the keeper's /proc/PID/cmdline.
//
// Every number is decimal digits only (no sign, no 0x, no fraction, no
// exponent) within its range: pid 1..4194304, ms 0..2^53-1 (grace: 0..2^31-1),
// fd 0..1048575. Anything else is a usage error (exit 2, nothing started).
//
// Start:
//   1. PR_SET_PDEATHSIG=SIGTERM, then getppid() == --parent, else exit 7 having
//      started nothing (the parent died before the prctl could cover it).
//   2. PR_SET_CHILD_SUBREAPER: whatever the head daemonizes re-parents to us.
//   3. fork; the child: setpgid(0,0) (the head's own group), PR_SET_PDEATHSIG=
//      SIGKILL, getppid() == keeper else _exit, stdin=/dev/null, execvp. An exec
//      failure travels back over a CLOEXEC pipe as errno (-> exit 127).
//
// Control, one line each on stdin (fd 0), from the orchestrator (integers as above):
//   deadline <abs_ms>   move the fencing deadline; never moves it backwards
//   stop [<grace_ms>]   end the head, with this grace; while already ending, a
//                       shorter grace brings the KILL closer (never later)
//   EOF                 the orchestrator is gone: end the head (default grace)
//
// Status, one line each on --status-fd:
//   started <pid>                      the head exec'd
//   exec-failed <errno> <message>      the head could not exec
//   error <message>                    a control line was not understood (ignored)
//   exit <reason> <code|-> <signal|->  last line: why we end, and the head main
//                                      process's exit code or signal number
//
// Ending (deadline passed, stop, EOF, SIGTERM/SIGINT/SIGHUP incl. parent death,
// or the head's main process exiting): TERM the head's group and every
// descendant, wait until none is left or the grace ran out, KILL the group,
// then KILL every remaining descendant (setsid daemons are ours as subreaper)
// and reap until no child is left. Only then exit, so "keeper exited" means
// "the whole tree is dead and reaped". Descendants are signalled through a
// pidfd after re-checking their start time (signal_proc.cc), so a pid reused
// since the /proc scan is never hit; the group only while the head is unreaped
// (its zombie keeps the group id ours).
//
// Exit codes (the reason word on the status line matches):
//   0 stopped      a `stop` command            5 parent-died  parent death while running
//   1 internal     a syscall failed here       6 head-exit    the head ended on its own
//   2 usage        bad arguments               7 parent-gone  parent gone before start
//   3 fenced       the deadline passed         8 signal       TERM/INT/HUP from elsewhere
//   4 eof          control pipe closed       127 exec-failed  the head could not exec
//
// The deadline lives on CLOCK_MONOTONIC and is re-checked after every wake-up,
// so a late poll() return or a stopped orchestrator cannot postpone the kill.
//
// Test build only (RHHA_KEEPER_TEST_HOOKS, the ray-head-ha-keeper-test target;
// the production binary has neither the code nor the names):
// RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS sleeps before step 1's prctl,
// RAY_HEAD_HA_KEEPER_TEST_DELAY_CHILD_MS sleeps in the child before its prctl,
// to open the parent-death races on purpose; RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS
// sleeps between the /proc scan and the signals of the final KILL round, to
// open the pid-reuse window on purpose (it first reports the scanned pids as a
// status line `test kill-scan <pid>...`, which the orchestrator ignores).
//
// See: man 2 prctl, man 2 signalfd, man 2 poll, man 2 setpgid, man 2 waitpid,
//      man 2 clock_gettime, man 2 pidfd_open.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "proc_tree.h"
#include "signal_proc.h"

namespace {

enum class Why { kNone, kStopped, kFenced, kEof, kParentDied, kHeadExit, kSignal, kExecFailed };

struct WhyInfo {
  const char* word;
  int exit_code;
};

WhyInfo Describe(Why why) {
  switch (why) {
    case Why::kStopped: return {"stopped", 0};
    case Why::kFenced: return {"fenced", 3};
    case Why::kEof: return {"eof", 4};
    case Why::kParentDied: return {"parent-died", 5};
    case Why::kHeadExit: return {"head-exit", 6};
    case Why::kSignal: return {"signal", 8};
    case Why::kExecFailed: return {"exec-failed", 127};
    case Why::kNone: break;
  }
  return {"internal", 1};
}

constexpr int kExitInternal = 1;
constexpr int kExitUsage = 2;
constexpr int kExitParentGone = 7;
constexpr double kCheckTreeEveryMs = 20;
constexpr long long kMaxPid = 4194304;               // PID_MAX_LIMIT on 64-bit Linux
constexpr long long kMaxMs = 9007199254740991;       // 2^53-1: what the orchestrator (a JS number) can send
constexpr long long kMaxGraceMs = INT_MAX;           // fits poll()'s timeout
constexpr long long kMaxFd = 1048575;                // below the default fs.nr_open
constexpr size_t kMaxCommandBytes = 1 << 20;

struct Options {
  pid_t parent = 0;
  double grace_ms = 5000;
  double deadline_ms = NAN;
  int status_fd = 3;
  int command_fd = -1;
  char** command = nullptr;
};

double NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Decimal digits only, min <= value <= max: strtod/strtol would take "0x10",
// "1.9", "1e12", " -1" or "+5", and a float loses integers above 2^53.
bool ParseInt(const char* text, long long min, long long max, long long* out) {
  if (!text || !*text) return false;
  long long v = 0;
  for (const char* c = text; *c; c++) {
    if (*c < '0' || *c > '9') return false;
    int digit = *c - '0';
    if (v > (max - digit) / 10) return false;  // v * 10 + digit would pass max
    v = v * 10 + digit;
  }
  if (v < min) return false;
  *out = v;
  return true;
}

#ifdef RHHA_KEEPER_TEST_HOOKS
void SleepMs(double ms) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ms / 1e3);
  ts.tv_nsec = static_cast<long>(std::fmod(ms, 1e3) * 1e6);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void TestDelay(const char* env_name) {
  long long ms;
  if (ParseInt(getenv(env_name), 0, kMaxGraceMs, &ms)) SleepMs(static_cast<double>(ms));
}
#define RHHA_TEST_DELAY(name) TestDelay(name)
#else
#define RHHA_TEST_DELAY(name) ((void)0)
#endif

[[noreturn]] void Usage(const char* problem) {
  fprintf(stderr,
          "ray-head-ha-keeper: %s\n"
          "usage: ray-head-ha-keeper --parent PID [--grace-ms MS] [--deadline-ms ABS_MS] "
          "[--status-fd FD] (--command-fd FD | -- COMMAND [ARG...])\n",
          problem);
  exit(kExitUsage);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--") {
      i++;
      break;
    }
    if (i + 1 >= argc) Usage(("missing value for " + arg).c_str());
    const char* value = argv[++i];
    long long v;
    if (arg == "--parent" && ParseInt(value, 1, kMaxPid, &v)) {
      o.parent = static_cast<pid_t>(v);
    } else if (arg == "--grace-ms" && ParseInt(value, 0, kMaxGraceMs, &v)) {
      o.grace_ms = static_cast<double>(v);
    } else if (arg == "--deadline-ms" && ParseInt(value, 0, kMaxMs, &v)) {
      o.deadline_ms = static_cast<double>(v);
    } else if (arg == "--status-fd" && ParseInt(value, 0, kMaxFd, &v)) {
      o.status_fd = static_cast<int>(v);
    } else if (arg == "--command-fd" && ParseInt(value, 3, kMaxFd, &v)) {
      o.command_fd = static_cast<int>(v);
    } else {
      Usage(("bad option " + arg + " " + value).c_str());
    }
  }
  if (o.parent <= 0) Usage("--parent is required");
  if (o.command_fd >= 0) {
    if (i < argc) Usage("give the command either on --command-fd or after --, not both");
    if (o.command_fd == o.status_fd) Usage("--command-fd and --status-fd must differ");
    return o;
  }
  if (i >= argc) Usage("no command after --");
  o.command = argv + i;
  return o;
}

class Keeper {
 public:
  explicit Keeper(const Options& o) : o_(o), deadline_ms_(o.deadline_ms) {}

  int Run();

 private:
  void Status(const std::string& line);
  void MarkInheritedFdsCloexec();
  int ReceiveCommand();
  void SignalTree(int sig);
  bool StartHead(int* exec_pipe_read);
  void ReapChildren();
  void Begin(Why why, double grace_ms);
  bool TreeIsEmpty();
  void KillTreeAndReap();
  void HandleControl();
  void HandleControlLine(const std::string& line);
  void HandleSignals();
  void HandleExecPipe();

  Options o_;
  std::vector<std::string> command_args_;  // from --command-fd
  std::vector<char*> command_argv_;
  double deadline_ms_;
  pid_t self_ = getpid();
  pid_t head_ = -1;
  bool head_reaped_ = false;
  int head_status_ = 0;
  int signal_fd_ = -1;
  int exec_fd_ = -1;  // open until the child exec'd or failed to
  int exec_errno_ = 0;
  bool control_open_ = true;
  std::string control_buf_;
  Why why_ = Why::kNone;
  double kill_at_ms_ = 0;
};

void Keeper::Status(const std::string& line) {
  if (o_.status_fd < 0) return;
  std::string out = line + "\n";
  // One write per line (well under PIPE_BUF); EPIPE/EBADF just mean nobody listens.
  ssize_t n;
  do {
    n = write(o_.status_fd, out.data(), out.size());
  } while (n < 0 && errno == EINTR);
}

// The head must not inherit our control/status pipes (or anything Node left
// open without CLOEXEC): it would keep the orchestrator's EOF from arriving.
void Keeper::MarkInheritedFdsCloexec() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (struct dirent* entry = readdir(dir)) {
    int fd = atoi(entry->d_name);
    if (fd < 3 || fd == dirfd(dir)) continue;
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(dir);
}

// The head command from --command-fd: NUL-terminated arguments up to EOF.
// Waits no longer than the deadline, and gives up on a signal (our parent's
// death included): nothing has started yet. Returns 0, or the exit code.
int Keeper::ReceiveCommand() {
  std::string data;
  char buf[4096];
  for (;;) {
    double now = NowMs();
    if (!std::isnan(deadline_ms_) && now >= deadline_ms_) {
      Status("exit fenced - -");
      return Describe(Why::kFenced).exit_code;
    }
    double wait_ms = std::isnan(deadline_ms_) ? -1 : deadline_ms_ - now;
    int timeout = wait_ms < 0 ? -1 : static_cast<int>(std::min(std::ceil(wait_ms), double{INT_MAX}));
    struct pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {o_.command_fd, POLLIN, 0}};
    if (poll(fds, 2, timeout) < 0) {
      if (errno == EINTR) continue;
      return kExitInternal;
    }
    struct signalfd_siginfo si;
    while (fds[0].revents && read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGCHLD) continue;
      WhyInfo info = Describe(getppid() != o_.parent ? Why::kParentDied : Why::kSignal);
      Status(std::string("exit ") + info.word + " - -");
      return info.exit_code;
    }
    if (!fds[1].revents) continue;
    ssize_t n = read(o_.command_fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) Usage(("cannot read --command-fd " + std::to_string(o_.command_fd) + ": " + strerror(errno)).c_str());
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxCommandBytes) Usage("the command on --command-fd is over 1 MiB");
  }
  close(o_.command_fd);
  if (data.empty() || data.back() != '\0') Usage("--command-fd: expected NUL-terminated arguments");
  for (size_t start = 0; start < data.size();) {
    size_t end = data.find('\0', start);
    command_args_.push_back(data.substr(start, end - start));
    start = end + 1;
  }
  if (command_args_[0].empty()) Usage("--command-fd: the command is empty");
  for (std::string& arg : command_args_) command_argv_.push_back(&arg[0]);
  command_argv_.push_back(nullptr);
  o_.command = command_argv_.data();
  return 0;
}

// Every descendant found now, each only if its pid still names the process
// the scan saw; the group too while the head is unreaped (afterwards the
// group id could be reused, and its members are in the scan anyway).
void Keeper::SignalTree(int sig) {
  if (head_ > 1 && !head_reaped_) kill(-head_, sig);
  std::vector<rhha::ProcEntry> tree;
  if (rhha::Descendants(self_, &tree) != 0) return;
#ifdef RHHA_KEEPER_TEST_HOOKS
  static bool paused = false;  // the first KILL round only
  if (sig == SIGKILL && !paused && getenv("RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS")) {
    paused = true;
    std::string line = "test kill-scan";
    for (const rhha::ProcEntry& p : tree) line += " " + std::to_string(p.pid);
    Status(line);  // tells the test which pids this round will signal, after the pause
    TestDelay("RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS");
  }
#endif
  for (const rhha::ProcEntry& p : tree) rhha::SignalIfUnchanged(p, sig);
}

bool Keeper::StartHead(int* exec_pipe_read) {
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) return false;
  pid_t keeper = self_;
  pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    // In the child: only async-signal-safe calls until exec.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    setpgid(0, 0);
    RHHA_TEST_DELAY("RAY_HEAD_HA_KEEPER_TEST_DELAY_CHILD_MS");
    // A keeper that dies from here on takes us with it; one that died before
    // the prctl is caught by the getppid check.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != keeper) _exit(126);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0) {
      int e = errno;
      (void)!write(exec_pipe[1], &e, sizeof e);
      _exit(127);
    }
    if (devnull != 0) close(devnull);
    execvp(o_.command[0], o_.command);
    int e = errno;
    (void)!write(exec_pipe[1], &e, sizeof e);
    _exit(127);
  }
  // Also from the parent, so the group exists before any kill(-head) we send,
  // whichever of the two runs first. EACCES: it already exec'd (and did it itself).
  setpgid(child, child);
  close(exec_pipe[1]);
  head_ = child;
  *exec_pipe_read = exec_pipe[0];
  return true;
}

void Keeper::ReapChildren() {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;  // 0: none exited; -1 ECHILD: no children
    if (pid == head_) {
      head_reaped_ = true;
      head_status_ = status;
    }
  }
}

void Keeper::Begin(Why why, double grace_ms) {
  if (why_ != Why::kNone) return;  // the first reason wins
  why_ = why;
  kill_at_ms_ = NowMs() + grace_ms;
  if (why == Why::kExecFailed) return;
  SignalTree(SIGTERM);
}

bool Keeper::TreeIsEmpty() {
  std::vector<pid_t> tree;
  if (rhha::Descendants(self_, &tree) != 0) return false;
  return tree.empty();
}

void Keeper::KillTreeAndReap() {
  // A child whose exec failed is already on its way to _exit(127): let that
  // status, not our SIGKILL, be the one reported.
  if (why_ == Why::kExecFailed && !head_reaped_ && waitpid(head_, &head_status_, 0) == head_) head_reaped_ = true;
  for (;;) {
    SignalTree(SIGKILL);
    // Everything we could see is dying; wait for one child at a time. Its own
    // children, if any escaped the scan, re-parent to us and show up next round.
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      return;  // ECHILD: no child left, hence no descendant
    }
    if (pid == head_) {
      head_reaped_ = true;
      head_status_ = status;
    }
  }
}

void Keeper::HandleControlLine(const std::string& line) {
  size_t space = line.find(' ');
  std::string verb = line.substr(0, space);
  std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
  long long v;
  if (verb == "deadline" && ParseInt(arg.c_str(), 0, kMaxMs, &v)) {
    double d = static_cast<double>(v);
    if (std::isnan(deadline_ms_) || d > deadline_ms_) deadline_ms_ = d;
  } else if (verb == "stop" && arg.empty()) {
    Begin(Why::kStopped, o_.grace_ms);
  } else if (verb == "stop" && ParseInt(arg.c_str(), 0, kMaxGraceMs, &v)) {
    if (why_ != Why::kNone) {
      // Already ending: a later stop may only bring the KILL closer (the
      // orchestrator saw the head's GCS exit and wants the rest gone now).
      kill_at_ms_ = std::min(kill_at_ms_, NowMs() + static_cast<double>(v));
    } else {
      Begin(Why::kStopped, static_cast<double>(v));
    }
  } else if (!line.empty()) {
    Status("error unknown command: " + line.substr(0, 80));
  }
}

void Keeper::HandleControl() {
  char buf[4096];
  ssize_t n = read(0, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    control_open_ = false;
    Begin(Why::kEof, o_.grace_ms);
    return;
  }
  control_buf_.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = control_buf_.find('\n')) != std::string::npos) {
    std::string line = control_buf_.substr(0, nl);
    control_buf_.erase(0, nl + 1);
    HandleControlLine(line);
  }
  if (control_buf_.size() > 4096) {
    Status("error control line too long");
    control_buf_.clear();
  }
}

void Keeper::HandleSignals() {
  struct signalfd_siginfo si;
  while (read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (si.ssi_signo == SIGCHLD) {
      ReapChildren();
    } else {
      // Our PDEATHSIG is SIGTERM: if the parent is gone, that is what it was.
      Begin(getppid() != o_.parent ? Why::kParentDied : Why::kSignal, o_.grace_ms);
    }
  }
  ReapChildren();  // SIGCHLD coalesces; reap whatever is there anyway
}

void Keeper::HandleExecPipe() {
  int err = 0;
  ssize_t n;
  do {
    n = read(exec_fd_, &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  close(exec_fd_);
  exec_fd_ = -1;
  if (n == static_cast<ssize_t>(sizeof err)) {
    exec_errno_ = err;
    Status("exec-failed " + std::to_string(err) + " " + strerror(err));
    Begin(Why::kExecFailed, 0);
  } else {
    Status("started " + std::to_string(head_));
  }
}

int Keeper::Run() {
  signal(SIGPIPE, SIG_IGN);
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, sig);
  if (sigprocmask(SIG_BLOCK, &handled, nullptr) != 0) return kExitInternal;
  signal_fd_ = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) return kExitInternal;

  // 1. Parent death: the signal is blocked, so it queues on the signalfd.
  RHHA_TEST_DELAY("RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS");
  if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0) return kExitInternal;
  if (getppid() != o_.parent) {
    Status("exit parent-gone - -");
    return kExitParentGone;
  }
  // 2. Subreaper for the head's tree.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return kExitInternal;
  MarkInheritedFdsCloexec();
  if (o_.command_fd >= 0) {
    int code = ReceiveCommand();
    if (code != 0) return code;
  }
  if (!std::isnan(deadline_ms_) && NowMs() >= deadline_ms_) {
    Status("exit fenced - -");
    return Describe(Why::kFenced).exit_code;
  }
  // 3. The head.
  if (!StartHead(&exec_fd_)) {
    int e = errno;
    Status("exec-failed " + std::to_string(e) + " " + strerror(e));
    Status("exit exec-failed - -");
    return Describe(Why::kExecFailed).exit_code;
  }

  for (;;) {
    double now = NowMs();
    if (why_ == Why::kNone) {
      if (head_reaped_ && exec_fd_ < 0) {
        Begin(Why::kHeadExit, o_.grace_ms);
      } else if (!std::isnan(deadline_ms_) && now >= deadline_ms_) {
        Begin(Why::kFenced, o_.grace_ms);
      }
    }
    if (why_ != Why::kNone && (now >= kill_at_ms_ || (exec_fd_ < 0 && TreeIsEmpty()))) break;

    double wait_ms = -1;
    if (why_ != Why::kNone) {
      wait_ms = std::min(kill_at_ms_ - now, kCheckTreeEveryMs);
    } else if (!std::isnan(deadline_ms_)) {
      wait_ms = deadline_ms_ - now;
    }
    int timeout = wait_ms < 0 ? -1 : static_cast<int>(std::min(std::ceil(wait_ms), double{INT_MAX}));

    struct pollfd fds[3];
    nfds_t nfds = 0;
    fds[nfds++] = {signal_fd_, POLLIN, 0};
    int control_at = -1, exec_at = -1;
    if (control_open_) {  // also while ending: a later `stop 0` brings the KILL closer
      control_at = static_cast<int>(nfds);
      fds[nfds++] = {0, POLLIN, 0};
    }
    if (exec_fd_ >= 0) {
      exec_at = static_cast<int>(nfds);
      fds[nfds++] = {exec_fd_, POLLIN, 0};
    }
    int ready = poll(fds, nfds, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      Begin(Why::kNone == why_ ? Why::kSignal : why_, 0);
      break;
    }
    if (fds[0].revents) HandleSignals();
    if (exec_at >= 0 && fds[exec_at].revents) HandleExecPipe();
    if (control_at >= 0 && fds[control_at].revents) HandleControl();
  }

  KillTreeAndReap();
  std::string code = "-", sig = "-";
  if (head_reaped_ && WIFEXITED(head_status_)) code = std::to_string(WEXITSTATUS(head_status_));
  if (head_reaped_ && WIFSIGNALED(head_status_)) sig = std::to_string(WTERMSIG(head_status_));
  WhyInfo info = Describe(why_);
  Status(std::string("exit ") + info.word + " " + code + " " + sig);
  return info.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  Keeper keeper(o);
  return keeper.Run();
}
