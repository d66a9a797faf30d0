/**
 * "Pods" on one machine for the real-Ray e2e: each is a command in its own PID
 * namespace (`unshare --pid --fork --mount-proc`), so that
 * - SIGKILL to the namespace's init kills every process in it at once, as
 *   when a pod dies (the kernel does it; nothing can escape or linger);
 * - Ray's "already running" check (which greps the raylets it can see in
 *   /proc) only sees the pod's own processes, as in Kubernetes.
 * The network is shared: pods must use distinct ports where they run at once.
 */
// One implementation, shared with scripts/bench-ray.mjs (a plain .mjs, so it lives there); typed here.
import type { ChildProcess } from 'node:child_process';
import * as impl from '../../scripts/lib/ray-pods.mjs';

export interface Pod {
  name: string;
  /** The unshare process (host pid namespace). */
  proc: ChildProcess;
  /** Host pid of the namespace's init: the command itself. */
  initPid: number;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Host pids of every process in the pod's namespace. */
  pids(): number[];
  /** Command lines of the pod's processes. */
  commands(): string[];
  signalInit(signal: NodeJS.Signals): void;
  /** SIGKILL the init (the kernel kills the rest) and wait until no process of the pod is left. */
  kill(): Promise<void>;
}

/** Command line of a process, or '' when it is gone. */
export const cmdline: (pid: number) => string = impl.cmdline;

/** Starts argv in a new PID namespace; its output (stdout and stderr) is appended to logFile. */
export const startPod = impl.startPod as (name: string, argv: string[], env: NodeJS.ProcessEnv, logFile: string) => Promise<Pod>;

/** Polls fn every stepMs until it returns something truthy; returns that value. */
export const waitFor = impl.waitFor as <T>(
  what: string,
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
  stepMs?: number,
) => Promise<T>;
