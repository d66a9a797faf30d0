// ray_head_ha.node: the few process controls Node has no API for, and nothing
// more (spawning, process.kill(pid) and timers stay in TypeScript).
//
//   setChildSubreaper(enable?)     prctl(PR_SET_CHILD_SUBREAPER, 1 or 0) on this process
//   isChildSubreaper()             prctl(PR_GET_CHILD_SUBREAPER)
//   setParentDeathSignal(sig)      prctl(PR_SET_PDEATHSIG, sig) on this process
//   getParentDeathSignal()         prctl(PR_GET_PDEATHSIG)
//   killGroup(pgid, sig)           kill(-pgid, sig); false on ESRCH
//   descendants(pid)               every descendant of pid, from /proc parent links
//   reapIfZombie(pid)              reap that one pid if it exited and libuv does not own it
//   adoptedOrphans(exclude?)       direct children of this process that libuv did not spawn
//
// libuv reaps the children it spawned itself (waitpid by pid on SIGCHLD). A
// subreaper also receives orphans nobody here spawned; those must be reaped
// by pid, and libuv's own must never be touched: a stolen exit status means
// the ChildProcess 'exit' event never fires. So no waitpid(-1) here, and a pid
// is checked against the loop's live uv_process_t handles (uv_walk) and peeked
// at with WNOWAIT before it is reaped.
//
// Errors are thrown like Node's own: Error with errno (negative, as Node
// does), code ('EPERM') and syscall; bad arguments throw TypeError('Usage: ...').
//
// See: man 2 prctl, man 2 kill, man 2 waitid, man 5 proc, man 7 credentials.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <napi.h>

#include "proc_tree.h"

// The handful of libuv calls used, declared here rather than through uv.h
// (node-api-headers do not ship it). All are exported by the node binary and
// stable since libuv 1.19.
extern "C" {
typedef struct uv_handle_s uv_handle_t;
typedef struct uv_process_s uv_process_t;
typedef void (*uv_walk_cb)(uv_handle_t* handle, void* arg);
void uv_walk(struct uv_loop_s* loop, uv_walk_cb walk_cb, void* arg);
int uv_handle_get_type(const uv_handle_t* handle);
const char* uv_handle_type_name(int type);
int uv_process_get_pid(const uv_process_t* handle);
}

namespace {

[[noreturn]] void ThrowErrno(const Napi::Env& env, const char* syscall, int errnum) {
  const char* code = strerrorname_np(errnum);
  std::string message = std::string(syscall) + " " + (code ? code : "UNKNOWN") + ": " + strerror(errnum);
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, -errnum));
  error.Set("code", Napi::String::New(env, code ? code : "UNKNOWN"));
  error.Set("syscall", Napi::String::New(env, syscall));
  throw error;
}

[[noreturn]] void ThrowUsage(const Napi::Env& env, const char* usage) {
  throw Napi::TypeError::New(env, std::string("Usage: ") + usage);
}

bool IsIntegerIn(const Napi::Value& value, double min, double max) {
  if (!value.IsNumber()) return false;
  double d = value.As<Napi::Number>().DoubleValue();
  return std::isfinite(d) && std::floor(d) == d && d >= min && d <= max;
}

constexpr double kMaxPid = 4194304;  // PID_MAX_LIMIT on 64-bit Linux

// Pids of the live uv_process_t handles on this thread's loop: children that
// libuv spawned and will reap itself.
std::vector<pid_t> LibuvChildPids(const Napi::Env& env) {
  struct uv_loop_s* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw Napi::Error::New(env, "cannot get the libuv loop");
  }
  std::vector<pid_t> pids;
  uv_walk(
      loop,
      [](uv_handle_t* handle, void* arg) {
        if (strcmp(uv_handle_type_name(uv_handle_get_type(handle)), "process") != 0) return;
        int pid = uv_process_get_pid(reinterpret_cast<uv_process_t*>(handle));
        if (pid > 0) static_cast<std::vector<pid_t>*>(arg)->push_back(pid);
      },
      &pids);
  return pids;
}

Napi::Value SignalName(const Napi::Env& env, int sig) {
  const char* abbrev = sigabbrev_np(sig);
  if (!abbrev) return Napi::String::New(env, "SIG" + std::to_string(sig));
  return Napi::String::New(env, std::string("SIG") + abbrev);
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  if (info.Length() > 1 || (info.Length() == 1 && !info[0].IsBoolean() && !info[0].IsUndefined())) {
    ThrowUsage(info.Env(), "setChildSubreaper(enable?: boolean), true by default");
  }
  bool enable = info.Length() == 0 || info[0].IsUndefined() || info[0].As<Napi::Boolean>().Value();
  if (prctl(PR_SET_CHILD_SUBREAPER, enable ? 1 : 0, 0, 0, 0) != 0) ThrowErrno(info.Env(), "prctl", errno);
  return info.Env().Undefined();
}

Napi::Value IsChildSubreaper(const Napi::CallbackInfo& info) {
  if (info.Length() != 0) ThrowUsage(info.Env(), "isChildSubreaper()");
  int value = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) != 0) ThrowErrno(info.Env(), "prctl", errno);
  return Napi::Boolean::New(info.Env(), value != 0);
}

#ifdef RHHA_ADDON_TEST_EXPORTS
// Test-only exports (ray_head_ha_test.node): the product never calls them;
// the tests use them to check the prctl and kill wrappers on their own.

// Note: the kernel sends it when the THREAD that forked this process exits,
// not when the parent process does (man 2 prctl). Useful only for completeness.
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  if (info.Length() != 1 || !IsIntegerIn(info[0], 0, 1024)) {
    ThrowUsage(info.Env(), "setParentDeathSignal(signal: integer >= 0), 0 clears it");
  }
  int sig = info[0].As<Napi::Number>().Int32Value();
  if (prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0) ThrowErrno(info.Env(), "prctl", errno);
  return info.Env().Undefined();
}

Napi::Value GetParentDeathSignal(const Napi::CallbackInfo& info) {
  if (info.Length() != 0) ThrowUsage(info.Env(), "getParentDeathSignal()");
  int sig = 0;
  if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0) ThrowErrno(info.Env(), "prctl", errno);
  return Napi::Number::New(info.Env(), sig);
}

// pgid must be > 1: kill(-1, sig) would signal every process we may signal.
Napi::Value KillGroup(const Napi::CallbackInfo& info) {
  if (info.Length() != 2 || !IsIntegerIn(info[0], 2, kMaxPid) || !IsIntegerIn(info[1], 0, 1024)) {
    ThrowUsage(info.Env(), "killGroup(pgid: integer > 1, signal: integer >= 0)");
  }
  pid_t pgid = info[0].As<Napi::Number>().Int32Value();
  int sig = info[1].As<Napi::Number>().Int32Value();
  if (kill(-pgid, sig) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == ESRCH) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), "kill", errno);
}
#endif  // RHHA_ADDON_TEST_EXPORTS

Napi::Value Descendants(const Napi::CallbackInfo& info) {
  if (info.Length() != 1 || !IsIntegerIn(info[0], 1, kMaxPid)) {
    ThrowUsage(info.Env(), "descendants(pid: integer > 0)");
  }
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  if (rhha::ProcessExists(pid) != 0) ThrowErrno(info.Env(), "open", errno);
  std::vector<pid_t> found;
  if (rhha::Descendants(pid, &found) != 0) ThrowErrno(info.Env(), "opendir", errno);
  Napi::Array result = Napi::Array::New(info.Env(), found.size());
  for (size_t i = 0; i < found.size(); i++) result.Set(i, Napi::Number::New(info.Env(), found[i]));
  return result;
}

// Returns {pid, code, signal} when `pid` had exited and is now reaped; null
// when it is still running or belongs to libuv (libuv will reap it). Throws
// ECHILD when it is not a child of this process.
Napi::Value ReapIfZombie(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !IsIntegerIn(info[0], 1, kMaxPid)) ThrowUsage(env, "reapIfZombie(pid: integer > 0)");
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  std::vector<pid_t> owned = LibuvChildPids(env);
  // 1. Look without reaping: is it our child, and has it exited?
  siginfo_t peek;
  memset(&peek, 0, sizeof peek);
  int rc;
  do {
    rc = waitid(P_PID, pid, &peek, WEXITED | WNOHANG | WNOWAIT);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) ThrowErrno(env, "waitid", errno);
  if (peek.si_pid == 0) return env.Null();  // still running
  // 2. libuv's own child: leave its exit status for libuv's SIGCHLD handler.
  if (std::find(owned.begin(), owned.end(), pid) != owned.end()) return env.Null();
  // 3. Reap exactly this pid.
  siginfo_t reaped;
  memset(&reaped, 0, sizeof reaped);
  do {
    rc = waitid(P_PID, pid, &reaped, WEXITED | WNOHANG);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) ThrowErrno(env, "waitid", errno);
  if (reaped.si_pid == 0) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, reaped.si_pid));
  bool exited = reaped.si_code == CLD_EXITED;
  result.Set("code", exited ? Napi::Number::New(env, reaped.si_status) : env.Null());
  result.Set("signal", exited ? env.Null() : SignalName(env, reaped.si_status));
  return result;
}

// Direct children of this process minus libuv's (and minus `exclude`, pids
// the caller knows it spawned by other means, e.g. on another thread's loop).
Napi::Value AdoptedOrphans(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "adoptedOrphans(exclude?: integer[])";
  if (info.Length() > 1) ThrowUsage(env, usage);
  std::vector<pid_t> skip = LibuvChildPids(env);
  if (info.Length() == 1 && !info[0].IsUndefined()) {
    if (!info[0].IsArray()) ThrowUsage(env, usage);
    Napi::Array exclude = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < exclude.Length(); i++) {
      Napi::Value v = exclude.Get(i);
      if (!IsIntegerIn(v, 1, kMaxPid)) ThrowUsage(env, usage);
      skip.push_back(v.As<Napi::Number>().Int32Value());
    }
  }
  std::vector<pid_t> children;
  if (rhha::Children(getpid(), &children) != 0) ThrowErrno(env, "opendir", errno);
  Napi::Array result = Napi::Array::New(env);
  uint32_t n = 0;
  for (pid_t child : children) {
    if (std::find(skip.begin(), skip.end(), child) == skip.end()) result.Set(n++, Napi::Number::New(env, child));
  }
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper, "setChildSubreaper"));
  exports.Set("isChildSubreaper", Napi::Function::New(env, IsChildSubreaper, "isChildSubreaper"));
  exports.Set("descendants", Napi::Function::New(env, Descendants, "descendants"));
  exports.Set("reapIfZombie", Napi::Function::New(env, ReapIfZombie, "reapIfZombie"));
  exports.Set("adoptedOrphans", Napi::Function::New(env, AdoptedOrphans, "adoptedOrphans"));
#ifdef RHHA_ADDON_TEST_EXPORTS
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
  exports.Set("getParentDeathSignal", Napi::Function::New(env, GetParentDeathSignal, "getParentDeathSignal"));
  exports.Set("killGroup", Napi::Function::New(env, KillGroup, "killGroup"));
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(ray_head_ha, Init)
