/**
 * "Pods" on one machine for the real-Ray e2e: each is a command in its own PID
 * namespace (`unshare --pid --fork --mount-proc`), so that
 * - SIGKILL to the namespace's init kills every process in it at once, as
 *   when a pod dies (the kernel does it; nothing can escape or linger);
 * - Ray's "already running" check (which greps the raylets it can see in
 *   /proc) only sees the pod's own processes, as in Kubernetes.
 * The network is shared: pods must use distinct ports where they run at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync, readlinkSync, closeSync } from 'node:fs';

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

function pidNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

function isZombie(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

export async function startPod(name: string, argv: string[], env: NodeJS.ProcessEnv, logFile: string): Promise<Pod> {
  const fd = openSync(logFile, 'a');
  const proc = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', ...argv], {
    env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const selfNs = pidNamespace(process.pid);
  // The init is unshare's only child, in a new pid namespace.
  let initPid = 0;
  const deadline = Date.now() + 10_000;
  while (!initPid) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`pod ${name}: unshare did not start (see ${logFile})`);
    const children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim();
    const child = Number(children.split(' ')[0]);
    if (child && pidNamespace(child) && pidNamespace(child) !== selfNs) initPid = child;
    else await new Promise((r) => setTimeout(r, 10));
  }
  const ns = pidNamespace(initPid);
  const pod: Pod = {
    name,
    proc,
    initPid,
    logFile,
    exited,
    pids: () => allPids().filter((p) => pidNamespace(p) === ns && !isZombie(p)),
    commands: () => pod.pids().map(cmdline),
    signalInit(signal) {
      process.kill(initPid, signal);
    },
    async kill() {
      try {
        process.kill(initPid, 'SIGKILL');
      } catch {
        // already gone
      }
      const until = Date.now() + 10_000;
      while (pod.pids().length > 0) {
        if (Date.now() > until) throw new Error(`pod ${name}: processes left after SIGKILL: ${pod.commands().join(' | ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await exited;
    },
  };
  return pod;
}
