// The keeper's protocol: arguments, control lines, status lines, exit codes.
// The format is documented in keeper_protocol.h.
// See: man 3 strtol (and why it is not used here), man 2 wait.
#include "keeper_protocol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

namespace rhha {

namespace {
constexpr long long kMaxPid = 4194304;  // PID_MAX_LIMIT on 64-bit Linux
constexpr long long kMaxFd = 1048575;   // below the default fs.nr_open
}  // namespace

WhyInfo Describe(Why why) {
  switch (why) {
    case Why::kStopped: return {"stopped", 0};
    case Why::kFenced: return {"fenced", 3};
    case Why::kEof: return {"eof", 4};
    case Why::kParentDied: return {"parent-died", 5};
    case Why::kHeadExit: return {"head-exit", 6};
    case Why::kParentGone: return {"parent-gone", 7};
    case Why::kSignal: return {"signal", 8};
    case Why::kExecFailed: return {"exec-failed", 127};
    case Why::kNone:
    case Why::kInternal: break;
  }
  return {"internal", kExitInternal};
}

// strtod/strtol would take "0x10", "1.9", "1e12", " -1" or "+5", and a float
// loses integers above 2^53.
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

void Usage(const std::string& problem) {
  fprintf(stderr,
          "ray-head-ha-keeper: %s\n"
          "usage: ray-head-ha-keeper --parent PID [--grace-ms MS] [--orphan-grace-ms MS] [--deadline-ms ABS_MS] "
          "[--status-fd FD] [--release-fd FD | --warm-release-fd FD] [--stdin-fd FD] (--command-fd FD | -- COMMAND [ARG...])\n",
          problem.c_str());
  exit(kExitUsage);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  o.deadline_ms = NAN;
  int i = 1;
  for (; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "--") {
      i++;
      break;
    }
    if (i + 1 >= argc) Usage("missing value for " + arg);
    const char* value = argv[++i];
    long long v;
    if (arg == "--parent" && ParseInt(value, 1, kMaxPid, &v)) {
      o.parent = static_cast<pid_t>(v);
    } else if (arg == "--grace-ms" && ParseInt(value, 0, kMaxGraceMs, &v)) {
      o.grace_ms = static_cast<double>(v);
    } else if (arg == "--orphan-grace-ms" && ParseInt(value, 0, kMaxGraceMs, &v)) {
      o.orphan_grace_ms = static_cast<double>(v);
    } else if (arg == "--deadline-ms" && ParseInt(value, 0, kMaxMs, &v)) {
      o.deadline_ms = static_cast<double>(v);
    } else if (arg == "--status-fd" && ParseInt(value, 0, kMaxFd, &v)) {
      o.status_fd = static_cast<int>(v);
    } else if (arg == "--command-fd" && ParseInt(value, 3, kMaxFd, &v)) {
      o.command_fd = static_cast<int>(v);
    } else if ((arg == "--release-fd" || arg == "--warm-release-fd") && o.release_fd < 0 && ParseInt(value, 3, kMaxFd, &v)) {
      o.release_fd = static_cast<int>(v);
      o.release_awaits_term = arg == "--warm-release-fd";
    } else if (arg == "--stdin-fd" && ParseInt(value, 3, kMaxFd, &v)) {
      o.stdin_fd = static_cast<int>(v);
    } else {
      Usage("bad option " + arg + " " + value);
    }
  }
  if (o.parent <= 0) Usage("--parent is required");
  if (isnan(o.orphan_grace_ms)) o.orphan_grace_ms = o.grace_ms;
  if (o.release_fd >= 0 && (o.release_fd == o.status_fd || o.release_fd == o.command_fd)) {
    Usage("--release-fd (--warm-release-fd) must differ from --status-fd and --command-fd");
  }
  if (o.stdin_fd >= 0 && (o.stdin_fd == o.status_fd || o.stdin_fd == o.command_fd || o.stdin_fd == o.release_fd)) {
    Usage("--stdin-fd must differ from --status-fd, --command-fd and --release-fd");
  }
  if (o.command_fd >= 0) {
    if (i < argc) Usage("give the command either on --command-fd or after --, not both");
    if (o.command_fd == o.status_fd) Usage("--command-fd and --status-fd must differ");
    return o;
  }
  if (i >= argc) Usage("no command after --");
  o.command = argv + i;
  return o;
}

std::vector<std::string> SplitCommand(const std::string& data) {
  if (data.empty() || data.back() != '\0') Usage("--command-fd: expected NUL-terminated arguments");
  std::vector<std::string> args;
  for (size_t start = 0; start < data.size();) {
    size_t end = data.find('\0', start);
    args.push_back(data.substr(start, end - start));
    start = end + 1;
  }
  if (args[0].empty()) Usage("--command-fd: the command is empty");
  return args;
}

const char* TrySplitRelease(const std::string& data, Release* out) {
  Release r;
  size_t start = 0;
  for (;;) {
    size_t end = data.find('\0', start);
    if (end == std::string::npos) return "expected NUL-terminated arguments and an empty one";
    std::string arg = data.substr(start, end - start);
    start = end + 1;
    if (arg.empty()) break;
    r.args.push_back(arg);
  }
  if (r.args.empty()) return "the command is empty";
  r.input = data.substr(start);
  *out = std::move(r);
  return nullptr;
}

Release SplitRelease(const std::string& data) {
  Release r;
  if (const char* problem = TrySplitRelease(data, &r)) Usage(std::string("--release-fd: ") + problem);
  return r;
}

bool IsTermToken(const std::string& token) {
  if (token.size() > kMaxTokenBytes) return false;
  size_t hash = token.find('#');
  if (hash == std::string::npos || hash == 0 || hash > kMaxIdBytes) return false;
  for (size_t i = 0; i < hash; i++) {
    char c = token[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '@' ||
              c == '-';
    if (!ok) return false;
  }
  long long epoch;
  // c_str() stops at an embedded NUL: compare lengths so "a#1\0x" is not "a#1".
  std::string digits = token.substr(hash + 1);
  return digits.size() == strlen(digits.c_str()) && ParseInt(digits.c_str(), 1, kMaxMs, &epoch);
}

Control ParseControlLine(const std::string& line) {
  if (line.empty()) return {Control::kEmpty, NAN, ""};
  size_t space = line.find(' ');
  std::string verb = line.substr(0, space);
  std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
  // An embedded NUL would end the c_str() that ParseInt reads: refuse it here.
  bool has_nul = arg.find('\0') != std::string::npos;
  long long v;
  if (!has_nul && verb == "deadline" && ParseInt(arg.c_str(), 0, kMaxMs, &v)) return {Control::kDeadline, static_cast<double>(v), ""};
  if (verb == "stop" && arg.empty()) return {Control::kStop, NAN, ""};
  if (!has_nul && verb == "stop" && ParseInt(arg.c_str(), 0, kMaxGraceMs, &v)) return {Control::kStop, static_cast<double>(v), ""};
  if (verb == "term" && IsTermToken(arg)) return {Control::kTerm, NAN, arg};
  return {Control::kInvalid, NAN, line.substr(0, 80)};
}

std::vector<std::string> TakeLines(std::string* buffer, bool* too_long) {
  std::vector<std::string> lines;
  *too_long = false;
  size_t nl;
  while ((nl = buffer->find('\n')) != std::string::npos) {
    if (nl > kMaxControlLineBytes) {
      *too_long = true;
    } else {
      lines.push_back(buffer->substr(0, nl));
    }
    buffer->erase(0, nl + 1);
  }
  if (buffer->size() > kMaxControlLineBytes) {
    *too_long = true;
    buffer->clear();
  }
  return lines;
}

std::string StartedLine(pid_t head) { return "started " + std::to_string(head); }

std::string ExecFailedLine(int err) { return "exec-failed " + std::to_string(err) + " " + strerror(err); }

namespace {
// `<code|-> <signal|->` of a wait status; "- -" when there is none.
std::string CodeAndSignal(bool reaped, int status) {
  std::string code = "-", sig = "-";
  if (reaped && WIFEXITED(status)) code = std::to_string(WEXITSTATUS(status));
  if (reaped && WIFSIGNALED(status)) sig = std::to_string(WTERMSIG(status));
  return code + " " + sig;
}
}  // namespace

std::string ReleaseLine(int status) { return "release " + CodeAndSignal(true, status); }

std::string ExitLine(Why why, bool reaped, int status) {
  return std::string("exit ") + Describe(why).word + " " + CodeAndSignal(reaped, status);
}

}  // namespace rhha
