/**
 * Real `ray-head-ha run` processes with the stand-in head, their parsed JSON
 * logs, and a sampler that watches which heads are alive.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDead, procState } from './process-tree.js';
import { isListening } from './ports.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'bin/ray-head-ha.js');
export const STAND_IN = path.join(ROOT, 'test/fixtures/stand-in-head.mjs');

export interface Candidate {
  id: string;
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line matching, waiting up to timeoutMs. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export interface CandidateOptions {
  id: string;
  redis: string;
  namespace: string;
  env?: NodeJS.ProcessEnv;
  args?: string[];
  command: string[];
}

const started: Candidate[] = [];

export function startCandidate(o: CandidateOptions): Candidate {
  const proc = spawn(
    process.execPath,
    [CLI, 'run', '--id', o.id, '--redis', o.redis, '--namespace', o.namespace, ...(o.args ?? []), '--', ...o.command],
    { env: { ...process.env, ...o.env }, stdio: ['ignore', 'inherit', 'pipe'] },
  );
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const listeners = new Set<() => void>();
  let buf = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      stderr.push(line);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not a log line (a plain error, or the head's own output) */
      }
      for (const l of listeners) l();
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const c: Candidate = {
    id: o.id,
    proc,
    logs,
    stderr,
    exited,
    waitForLog(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = logs.find(match);
          if (hit) {
            cleanup();
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${o.id}: no matching log line within ${timeoutMs} ms; stderr:\n${stderr.join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
  started.push(c);
  return c;
}

/** SIGKILL every candidate a test started (and their heads' groups are the supervisor's job). */
export async function killAllCandidates(): Promise<void> {
  for (const c of started.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await c.exited;
    }
  }
}

export const isLeading = (l: Record<string, unknown>) => l.to === 'leading';
export const headStarted = (l: Record<string, unknown>) => l.msg === 'head started';

export { procState };

/** Running code: present and not a zombie. */
export function isAlive(pid: number): boolean {
  return !isDead(pid);
}

export interface HeadRecord {
  pid: number;
  grandchild: number;
  /** Left its group with setsid. */
  daemon: number;
  candidate: string | null;
  port: number;
}

/**
 * Records of stand-in heads, and a sampler that fails on two alive at once.
 * Each head writes <dir>/<pid>.json when it listens.
 */
export class HeadSampler {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'rhha-heads-'));
  maxAlive = 0;
  overlaps: { atMs: number; pids: number[] }[] = [];
  samples = 0;
  private timer: NodeJS.Timeout | null = null;

  records(): HeadRecord[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => {
        try {
          return JSON.parse(readFileSync(path.join(this.dir, f), 'utf8')) as HeadRecord;
        } catch {
          return null;
        }
      })
      .filter((r): r is HeadRecord => r !== null);
  }

  alive(): HeadRecord[] {
    return this.records().filter((r) => isAlive(r.pid));
  }

  start(periodMs = 5): void {
    this.timer = setInterval(() => {
      const alive = this.alive();
      this.samples++;
      this.maxAlive = Math.max(this.maxAlive, alive.length);
      if (alive.length > 1) this.overlaps.push({ atMs: Date.now(), pids: alive.map((r) => r.pid) });
    }, periodMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Every head and grandchild ever recorded is gone (no orphan). */
  leftovers(): number[] {
    return this.records()
      .flatMap((r) => [r.pid, r.grandchild, r.daemon])
      .filter((pid) => procState(pid) !== null);
  }

  close(): void {
    this.stop();
    for (const pid of this.records().flatMap((r) => [r.pid, r.grandchild, r.daemon])) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls `check` until it holds; on timeout the error names `what` and, when given, the state `detail` describes. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  stepMs = 20,
  detail?: () => string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** `ray-head-ha ARGS` to completion (warn-level logs unless env says otherwise), with its `ray-head-ha: ...` error lines. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, RAY_HA_LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('ray-head-ha: '));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, errorLines };
}

/** Each candidate's exit status and last log lines: what a timed-out wait prints to say where the election stood. */
export function describeCandidates(cs: Candidate[], lastLines = 6): string {
  return cs
    .map((c) => {
      const status = c.proc.exitCode !== null || c.proc.signalCode !== null ? `exited ${String(c.proc.exitCode ?? c.proc.signalCode)}` : 'running';
      const lines = c.logs.slice(-lastLines).map((l) => {
        const { time, msg, level, pid: _pid, hostname: _h, ...rest } = l;
        return `    ${String(time)} ${String(level)} ${String(msg)} ${JSON.stringify(rest)}`;
      });
      return `  ${c.id} (${status}):\n${lines.join('\n')}\n    stderr (not JSON): ${c.stderr.filter((x) => !x.startsWith('{')).slice(-3).join(' | ')}`;
    })
    .join('\n');
}

/** The one candidate whose head is alive and serving on `gcsPort`; waits for there to be exactly one. */
export async function leaderWithLiveHead(sampler: HeadSampler, gcsPort: number, cs: Candidate[], timeoutMs: number): Promise<Candidate> {
  let leader: Candidate | undefined;
  await until(
    'one leader with a live head',
    async () => {
      const alive = sampler.alive();
      if (alive.length !== 1) return false;
      leader = cs.find((c) => c.id === alive[0]!.candidate);
      return leader !== undefined && (await isListening(gcsPort));
    },
    timeoutMs,
    20,
    () => `heads alive: ${JSON.stringify(sampler.alive().map((h) => h.candidate))}\n${describeCandidates(cs)}`,
  );
  return leader!;
}
