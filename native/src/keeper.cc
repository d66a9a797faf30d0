// ray-head-ha-keeper: holds the head's process tree and its fencing deadline
// in a process of its own, so a frozen, blocked or killed orchestrator can
// never keep a head alive. It runs no Node and execs nothing but the head.
// This file is the fencing core; its arguments, control and status lines and
// exit codes are in keeper_protocol.h.
//
// Start:
//   1. PR_SET_PDEATHSIG=SIGTERM, then getppid() == --parent, else exit 7 having
//      started nothing (the parent died before the prctl could cover it).
//   2. PR_SET_CHILD_SUBREAPER: whatever the head daemonizes re-parents to us.
//   3. fork; the child: setpgid(0,0) (the head's own group), PR_SET_PDEATHSIG=
//      SIGKILL, getppid() == keeper else _exit, stdin=/dev/null (or --stdin-fd), execvp. An exec
//      failure travels back over a CLOEXEC pipe as errno (-> exit 127).
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
// Release (--release-fd): once the tree is reaped after our parent went away
// and is provably dead (re-parented), run the release command it gave us, so
// standbys need not wait out the lease (docs/design.md, decision 29).
//
// The deadline lives on CLOCK_MONOTONIC and is re-checked after every wake-up,
// so a late poll() return or a stopped orchestrator cannot postpone the kill.
// Once the deadline has passed, the KILL comes no later than deadline + grace,
// counted from the deadline, not from when we noticed; a wake more than
// kLateWakeMs past it (a frozen leader thawing) KILLs at once.
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

#include "keeper_protocol.h"
#include "proc_tree.h"
#include "signal_proc.h"

namespace rhha {
namespace {

constexpr double kCheckTreeEveryMs = 20;
// After an EOF, how long the parent gets to be seen dead (re-parented) before we decide it lives.
constexpr double kParentDeathProofMs = 1000;
// How long the release command may run before it is killed.
constexpr double kReleaseMs = 5000;
// A wake this far past the fencing deadline means we did not run when it
// passed: the whole leader was frozen (cgroup freezer, docker pause, SIGSTOP)
// or starved. The lease may be someone else's by now and their head running,
// so the grace is already spent: KILL at once. poll() itself wakes us within
// about a millisecond of its timeout (it rounds up to whole ms), so a wake
// that merely lost a scheduling slice still gets its TERM and grace.
constexpr double kLateWakeMs = 10;

double NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// A poll() timeout for `wait_ms` (negative: no timeout), rounded up so we never wake early.
int PollTimeout(double wait_ms) {
  return wait_ms < 0 ? -1 : static_cast<int>(std::min(std::ceil(wait_ms), double{INT_MAX}));
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

class Keeper {
 public:
  explicit Keeper(const Options& o) : o_(o), deadline_ms_(o.deadline_ms) {}

  // Starts the head, holds it until a reason to end comes, ends it; returns the exit code.
  int Run() {
    Why early = Start();
    if (early != Why::kNone) return Report(early);
    Why why = Hold();
    KillTreeAndReap(why);
    // kSignal too: the parent-death signal also comes when the thread that
    // spawned us exits, before the process is gone and we are re-parented.
    bool parent_may_be_gone = why == Why::kEof || why == Why::kParentDied || why == Why::kSignal;
    // A release that awaits its term and never got one (a warm head whose
    // orchestrator died while it stood by) has no lease to release.
    bool release_ready = !release_.args.empty() && (!o_.release_awaits_term || has_term_);
    if (release_ready && parent_may_be_gone && ParentProvablyDead()) RunRelease();
    return Report(why);
  }

 private:
  Why Start();
  Why Hold();
  Why ReceiveCommand();
  Why ReadToEof(int fd, const char* flag, std::string* data);
  bool ParentProvablyDead();
  void RunRelease();
  void SleepOnSignals(double ms);
  Why StartHead();
  void Status(const std::string& line);
  int Report(Why why);
  void MarkInheritedFdsCloexec();
  void SignalTree(int sig);
  void ReapChildren();
  void Begin(Why why, double grace_ms);
  void Orphaned(Why why);
  bool TreeIsEmpty();
  void KillTreeAndReap(Why why);
  void HandleControl();
  void HandleSignals();
  void HandleExecPipe();
  Why SignalWhy() const { return getppid() != o_.parent ? Why::kParentDied : Why::kSignal; }

  Options o_;
  std::vector<std::string> command_args_;  // from --command-fd
  std::vector<char*> command_argv_;
  Release release_;  // from --release-fd / --warm-release-fd; no args: none
  bool has_term_ = false;  // --warm-release-fd: a `term` line came (its token is in release_.input)
  double deadline_ms_;
  pid_t self_ = getpid();
  pid_t head_ = -1;
  bool head_reaped_ = false;
  int head_status_ = 0;
  int signal_fd_ = -1;
  int exec_fd_ = -1;  // open until the child exec'd or failed to
  bool control_open_ = true;
  std::string control_buf_;
  Why why_ = Why::kNone;  // set once: the first reason to end wins
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

// The last status line, and the exit code that repeats its reason.
int Keeper::Report(Why why) {
  if (why == Why::kInternal) return kExitInternal;
  Status(ExitLine(why, head_reaped_, head_status_));
  return Describe(why).exit_code;
}

// Steps 1-3 of the header. Returns kNone once the head is forked, else why nothing was.
Why Keeper::Start() {
  signal(SIGPIPE, SIG_IGN);
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, sig);
  if (sigprocmask(SIG_BLOCK, &handled, nullptr) != 0) return Why::kInternal;
  signal_fd_ = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) return Why::kInternal;

  // 1. Parent death: the signal is blocked, so it queues on the signalfd.
  RHHA_TEST_DELAY("RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS");
  if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0) return Why::kInternal;
  if (getppid() != o_.parent) return Why::kParentGone;
  // 2. Subreaper for the head's tree.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return Why::kInternal;
  MarkInheritedFdsCloexec();
  if (o_.command_fd >= 0) {
    Why why = ReceiveCommand();
    if (why != Why::kNone) return why;
  }
  if (o_.release_fd >= 0) {
    std::string data;
    Why why = ReadToEof(o_.release_fd, o_.release_awaits_term ? "--warm-release-fd" : "--release-fd", &data);
    if (why != Why::kNone) return why;
    release_ = SplitRelease(data);
  }
  if (!std::isnan(deadline_ms_) && NowMs() >= deadline_ms_) return Why::kFenced;
  // 3. The head.
  return StartHead();
}

// Waits, feeding on signals, control lines and the exec pipe, until a reason
// to end has come and either the tree is empty or the grace is over.
Why Keeper::Hold() {
  for (;;) {
    double now = NowMs();
    if (why_ == Why::kNone) {
      if (head_reaped_ && exec_fd_ < 0) {
        Begin(Why::kHeadExit, o_.grace_ms);
      } else if (!std::isnan(deadline_ms_) && now >= deadline_ms_) {
        Begin(Why::kFenced, o_.grace_ms);
      }
      now = NowMs();  // Begin's own clock read: a KILL due now is due at this `now`
    }
    if (why_ != Why::kNone && (now >= kill_at_ms_ || (exec_fd_ < 0 && TreeIsEmpty()))) return why_;

    double wait_ms = -1;
    if (why_ != Why::kNone) {
      wait_ms = std::min(kill_at_ms_ - now, kCheckTreeEveryMs);
    } else if (!std::isnan(deadline_ms_)) {
      wait_ms = deadline_ms_ - now;
    }
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
    if (poll(fds, nfds, PollTimeout(wait_ms)) < 0) {
      if (errno == EINTR) continue;
      Begin(Why::kSignal, 0);  // keeps an earlier reason
      return why_;
    }
    // Past the deadline, it fences before any line or signal read now can
    // name another reason (a thawed orchestrator's stop with its grace).
    if (why_ == Why::kNone && !std::isnan(deadline_ms_) && NowMs() >= deadline_ms_) Begin(Why::kFenced, o_.grace_ms);
    if (fds[0].revents) HandleSignals();
    if (exec_at >= 0 && fds[exec_at].revents) HandleExecPipe();
    if (control_at >= 0 && fds[control_at].revents) HandleControl();
  }
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

// Everything on `fd` up to EOF (at most kMaxCommandBytes), then closes it.
// Waits no longer than the deadline, and gives up on a signal (our parent's
// death included): nothing has started yet. Returns kNone, or why it gave up.
Why Keeper::ReadToEof(int fd, const char* flag, std::string* data) {
  char buf[4096];
  for (;;) {
    double now = NowMs();
    if (!std::isnan(deadline_ms_) && now >= deadline_ms_) return Why::kFenced;
    struct pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {fd, POLLIN, 0}};
    if (poll(fds, 2, PollTimeout(std::isnan(deadline_ms_) ? -1 : deadline_ms_ - now)) < 0) {
      if (errno == EINTR) continue;
      return Why::kInternal;
    }
    struct signalfd_siginfo si;
    while (fds[0].revents && read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo != SIGCHLD) return SignalWhy();
    }
    if (!fds[1].revents) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) Usage(std::string("cannot read ") + flag + " " + std::to_string(fd) + ": " + strerror(errno));
    if (n == 0) break;
    data->append(buf, static_cast<size_t>(n));
    if (data->size() > kMaxCommandBytes) Usage(std::string("what came on ") + flag + " is over 1 MiB");
  }
  close(fd);
  return Why::kNone;
}

// The head command from --command-fd. Returns kNone once it has it, or why it gave up.
Why Keeper::ReceiveCommand() {
  std::string data;
  Why why = ReadToEof(o_.command_fd, "--command-fd", &data);
  if (why != Why::kNone) return why;
  command_args_ = SplitCommand(data);
  for (std::string& arg : command_args_) command_argv_.push_back(&arg[0]);
  command_argv_.push_back(nullptr);
  o_.command = command_argv_.data();
  return Why::kNone;
}

// Every descendant found now, each only if its pid still names the process
// the scan saw; the group too while the head is unreaped (afterwards the
// group id could be reused, and its members are in the scan anyway).
void Keeper::SignalTree(int sig) {
  if (head_ > 1 && !head_reaped_) kill(-head_, sig);
  std::vector<ProcEntry> tree;
  if (Descendants(self_, &tree) != 0) return;
#ifdef RHHA_KEEPER_TEST_HOOKS
  static bool paused = false;  // the first KILL round only
  if (sig == SIGKILL && !paused && getenv("RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS")) {
    paused = true;
    std::string line = "test kill-scan";
    for (const ProcEntry& p : tree) line += " " + std::to_string(p.pid);
    Status(line);  // tells the test which pids this round will signal, after the pause
    TestDelay("RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS");
  }
#endif
  for (const ProcEntry& p : tree) SignalIfUnchanged(p, sig);
}

// Forks the head; kNone when it is on its way to exec (the exec pipe says how it went).
Why Keeper::StartHead() {
  int exec_pipe[2];
  pid_t child = -1;
  if (pipe2(exec_pipe, O_CLOEXEC) == 0) child = fork();
  if (child < 0) {
    Status(ExecFailedLine(errno));
    return Why::kExecFailed;
  }
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
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != self_) _exit(126);
    // stdin: the warm standby's go pipe (--stdin-fd, close-on-exec here;
    // the dup on 0 is not), else /dev/null.
    int in = o_.stdin_fd >= 0 ? o_.stdin_fd : open("/dev/null", O_RDONLY);
    if (in >= 0 && dup2(in, 0) >= 0) {
      if (in != 0 && o_.stdin_fd < 0) close(in);
      execvp(o_.command[0], o_.command);
    }
    int e = errno;
    (void)!write(exec_pipe[1], &e, sizeof e);
    _exit(127);
  }
  // Also from the parent, so the group exists before any kill(-head) we send,
  // whichever of the two runs first. EACCES: it already exec'd (and did it itself).
  setpgid(child, child);
  close(exec_pipe[1]);
  // Only the head holds the go pipe: the orchestrator's end closing is then
  // an EOF the head sees.
  if (o_.stdin_fd >= 0) close(o_.stdin_fd);
  head_ = child;
  exec_fd_ = exec_pipe[0];
  return Why::kNone;
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
  double now = NowMs();
  kill_at_ms_ = now + grace_ms;
  if (!std::isnan(deadline_ms_) && now >= deadline_ms_) {
    // Past the fencing deadline, whatever the reason: the grace counts from
    // the deadline, and a late wake (we were frozen) has none left.
    kill_at_ms_ = std::min(kill_at_ms_, now - deadline_ms_ > kLateWakeMs ? now : deadline_ms_ + o_.grace_ms);
  }
  if (why == Why::kExecFailed) return;
  SignalTree(SIGTERM);
}

// Our parent went away (EOF, or its death): end with the orphan grace, or, if
// already ending (a TERM came first: the parent-death signal also comes when
// the thread that spawned us exits), bring the KILL that close.
void Keeper::Orphaned(Why why) {
  if (why_ == Why::kNone) {
    Begin(why, o_.orphan_grace_ms);
  } else {
    kill_at_ms_ = std::min(kill_at_ms_, NowMs() + o_.orphan_grace_ms);
  }
}

bool Keeper::TreeIsEmpty() {
  std::vector<pid_t> tree;
  if (Descendants(self_, &tree) != 0) return false;
  return tree.empty();
}

void Keeper::KillTreeAndReap(Why why) {
  // A child whose exec failed is already on its way to _exit(127): let that
  // status, not our SIGKILL, be the one reported.
  if (why == Why::kExecFailed && !head_reaped_ && waitpid(head_, &head_status_, 0) == head_) head_reaped_ = true;
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

// Sleeps up to `ms` on the signalfd (a signal or a child wakes us early; both are drained).
void Keeper::SleepOnSignals(double ms) {
  struct pollfd fd = {signal_fd_, POLLIN, 0};
  if (poll(&fd, 1, PollTimeout(ms)) > 0) {
    struct signalfd_siginfo si;
    while (read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    }
  }
}

// Our parent is dead once we were re-parented (a pid is not reused while its
// holder lives). A parent-death signal proves it at once; after an EOF the
// parent may still be exiting, so give it kParentDeathProofMs. A parent that
// only closed our pipe and lives on does the release itself.
bool Keeper::ParentProvablyDead() {
  double until = NowMs() + kParentDeathProofMs;
  for (;;) {
    if (getppid() != o_.parent) return true;
    double left = until - NowMs();
    if (left <= 0) return false;
    SleepOnSignals(std::min(left, 10.0));
  }
}

// Runs the release command with its input on stdin, for at most kReleaseMs,
// reports how it ended, and reaps whatever it left (we are still a subreaper).
void Keeper::RunRelease() {
  std::vector<char*> argv;
  for (std::string& arg : release_.args) argv.push_back(&arg[0]);
  argv.push_back(nullptr);
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return;
  pid_t child = fork();
  if (child < 0) {
    close(in[0]);
    close(in[1]);
    return;
  }
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(in[0], 0) >= 0) execvp(argv[0], argv.data());
    _exit(127);
  }
  close(in[0]);
  double until = NowMs() + kReleaseMs;
  fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
  size_t sent = 0;
  while (sent < release_.input.size() && NowMs() < until) {
    ssize_t n = write(in[1], release_.input.data() + sent, release_.input.size() - sent);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
      break;  // EPIPE: it exited without reading
    } else {
      struct pollfd out = {in[1], POLLOUT, 0};
      poll(&out, 1, 10);
    }
  }
  close(in[1]);
  int status = 0;
  pid_t got;
  while ((got = waitpid(child, &status, WNOHANG)) == 0 && NowMs() < until) SleepOnSignals(std::min(until - NowMs(), 10.0));
  if (got == 0) {
    kill(child, SIGKILL);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  Status(ReleaseLine(status));
  head_ = -1;  // its pid may have been reused by now: not the head's any more
  KillTreeAndReap(Why::kNone);
}

void Keeper::HandleControl() {
  char buf[4096];
  ssize_t n = read(0, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    control_open_ = false;
    Orphaned(Why::kEof);
    return;
  }
  control_buf_.append(buf, static_cast<size_t>(n));
  bool too_long;
  for (const std::string& line : TakeLines(&control_buf_, &too_long)) {
    Control c = ParseControlLine(line);
    if (c.kind == Control::kDeadline) {
      if (std::isnan(deadline_ms_) || c.ms > deadline_ms_) deadline_ms_ = c.ms;
    } else if (c.kind == Control::kStop && why_ != Why::kNone && !std::isnan(c.ms)) {
      // Already ending: a later stop may only bring the KILL closer (the
      // orchestrator saw the head's GCS exit and wants the rest gone now).
      kill_at_ms_ = std::min(kill_at_ms_, NowMs() + c.ms);
    } else if (c.kind == Control::kStop) {
      Begin(Why::kStopped, std::isnan(c.ms) ? o_.grace_ms : c.ms);
    } else if (c.kind == Control::kTerm) {
      if (!o_.release_awaits_term) {
        Status("error term: no release awaits a term (no --warm-release-fd)");
      } else if (has_term_) {
        Status("error term: already given");
      } else {
        // The release input is its static part, then the term's token on a line of its own.
        release_.input += c.line + "\n";
        has_term_ = true;
      }
    } else if (c.kind == Control::kInvalid) {
      Status("error unknown command: " + c.line);
    }
  }
  if (too_long) Status("error control line too long");
}

void Keeper::HandleSignals() {
  struct signalfd_siginfo si;
  while (read(signal_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (si.ssi_signo == SIGCHLD) {
      ReapChildren();
    } else {
      // Our PDEATHSIG is SIGTERM: if the parent is gone, that is what it was.
      Why why = SignalWhy();
      if (why == Why::kParentDied) {
        Orphaned(why);
      } else {
        Begin(why, o_.grace_ms);
      }
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
    Status(ExecFailedLine(err));
    Begin(Why::kExecFailed, 0);
  } else {
    Status(StartedLine(head_));
  }
}

}  // namespace
}  // namespace rhha

int main(int argc, char** argv) {
  rhha::Options o = rhha::ParseArgs(argc, argv);
  rhha::Keeper keeper(o);
  return keeper.Run();
}
