/**
 * Where `ray stop` (through the shim, scripts/ray-shim.py) finds the head
 * candidates of this machine: every `ray-head-ha run` writes a pidfile,
 * `<dir>/<pid namespace inode>.<pid>.json`, into a directory only its user can
 * write, and removes it when it exits. The namespace is in the name because
 * containers (or `unshare --pid`) may share /tmp, and their pids collide. The record says exactly which process it is: the pid, its
 * start time (field 22 of /proc/PID/stat, so a reused pid does not match), its
 * executable, its first argument as given (the script, relative or not), and
 * its PID namespace. The shim signals a pid only when all of these still match
 * and the process runs as the same user, and then through a pidfd.
 *
 * The directory: RAY_HA_RUN_DIR (absolute), else /tmp/ray-head-ha-<euid>; the
 * shim computes the same. See: man 5 proc (/proc/PID/stat, /proc/PID/exe).
 */
import { readdirSync, readFileSync, readlinkSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { OPTIONS } from '../options.js';
import { readProcStat } from '../proc-stat.js';
import { ensurePrivateDir, replaceAtomically } from '../safe-files.js';

export const RUN_DIR_ENV = OPTIONS.runDir.env[0];

export interface CandidateRecord {
  pid: number;
  /** Clock ticks since boot at which the process started (/proc/PID/stat field 22). */
  startTime: string;
  /** readlink /proc/PID/exe. */
  exe: string;
  /** argv[1] exactly as in /proc/PID/cmdline (Node's process.argv[1] is resolved; this is not). */
  argv1: string;
  /** readlink /proc/PID/ns/pid: a pid means something only in its namespace. */
  pidNamespace: string;
}

export function candidatesDir(env: NodeJS.ProcessEnv): string {
  const given = env[RUN_DIR_ENV];
  if (!given) return `/tmp/ray-head-ha-${process.geteuid?.() ?? 'unknown'}`;
  if (!path.isAbsolute(given)) throw new ConfigError(`${RUN_DIR_ENV}=${JSON.stringify(given)}: must be an absolute path`);
  return given;
}

/** Writes this process's pidfile; returns the function that removes it. */
export function registerCandidate(env: NodeJS.ProcessEnv): () => void {
  const dir = candidatesDir(env);
  ensurePrivateDir(dir, `the candidates' directory (${RUN_DIR_ENV})`);
  const record = selfRecord();
  const file = pidfilePath(dir, record.pid, record.pidNamespace);
  pruneStale(dir, record.pidNamespace);
  replaceAtomically(file, `${JSON.stringify(record)}\n`, 0o600);
  return () => {
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  };
}

/** `<dir>/<ns inode>.<pid>.json`, for a pid in `pidNamespace` (readlink /proc/PID/ns/pid: "pid:[INODE]"). */
export function pidfilePath(dir: string, pid: number, pidNamespace = readlinkSync('/proc/self/ns/pid')): string {
  return path.join(dir, `${namespaceInode(pidNamespace)}.${pid}.json`);
}

function namespaceInode(pidNamespace: string): string {
  const inode = /^pid:\[(\d+)\]$/.exec(pidNamespace)?.[1];
  if (!inode) throw new Error(`unexpected PID namespace link ${JSON.stringify(pidNamespace)}`);
  return inode;
}

/**
 * Removes this namespace's pidfiles whose process is gone (a SIGKILLed
 * candidate never removes its own), so the directory stays as long as the
 * candidates running. Another namespace's files are not ours to judge.
 */
function pruneStale(dir: string, pidNamespace: string): void {
  const ours = new RegExp(`^${namespaceInode(pidNamespace)}\\.(\\d{1,10})\\.json$`);
  for (const name of readdirSync(dir)) {
    const pid = Number(ours.exec(name)?.[1] ?? NaN);
    if (!(pid > 0)) continue;
    let recorded: unknown;
    try {
      recorded = (JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Partial<CandidateRecord>).startTime;
    } catch {
      continue; // unreadable: leave it to the shim, which checks it in full
    }
    if (startTimeOf(pid) !== recorded) rmSync(path.join(dir, name), { force: true });
  }
}

/** Field 22 of /proc/PID/stat, or null when there is no such process. */
const startTimeOf = (pid: number | 'self'): string | null => readProcStat(pid)?.startTime ?? null;

export function selfRecord(): CandidateRecord {
  const startTime = startTimeOf('self');
  const argv = readFileSync('/proc/self/cmdline', 'utf8').split('\0');
  if (!startTime || argv[1] === undefined) throw new Error('cannot read /proc/self/stat or /proc/self/cmdline');
  return {
    pid: process.pid,
    startTime,
    // As the shim reads it: without the " (deleted)" the kernel appends once the file was replaced (an upgrade).
    exe: readlinkSync('/proc/self/exe').replace(/ \(deleted\)$/, ''),
    argv1: argv[1],
    pidNamespace: readlinkSync('/proc/self/ns/pid'),
  };
}
