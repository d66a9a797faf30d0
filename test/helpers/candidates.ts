/**
 * Real `ray-head-ha run` processes with the stand-in head, their parsed JSON
 * logs, and a sampler that watches which heads are alive. The processes and
 * the sampler are scripts/lib/candidates.mjs and scripts/lib/head-sampler.mjs
 * (one implementation with the scripts), typed here; the waits and the
 * descriptions of a failed wait are the tests' own.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as candidatesImpl from '../../scripts/lib/candidates.mjs';
import * as samplerImpl from '../../scripts/lib/head-sampler.mjs';
import { isAlive, procState } from './process-tree.js';
import { isListening } from './ports.js';

export const ROOT: string = candidatesImpl.ROOT;
export const CLI: string = candidatesImpl.CLI;
export const STAND_IN: string = candidatesImpl.STAND_IN;

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

export const startCandidate = candidatesImpl.startCandidate as unknown as (o: CandidateOptions) => Candidate;

/** SIGKILL every candidate a test started (and their heads' groups are the supervisor's job). */
export const killAllCandidates = candidatesImpl.killAllCandidates as () => Promise<void>;

export const isLeading = (l: Record<string, unknown>) => l.to === 'leading';
export const headStarted = (l: Record<string, unknown>) => l.msg === 'head started';

export { isAlive, procState };

export interface HeadRecord {
  pid: number;
  grandchild: number;
  /** Left its group with setsid. */
  daemon: number;
  candidate: string | null;
  port: number;
}

/**
 * Records of stand-in heads (each writes <dir>/<pid>.json when it listens),
 * and a sampler that records every sample with two alive at once.
 */
export interface HeadSampler {
  readonly dir: string;
  samples: number;
  maxAlive: number;
  overlaps: { atMs: number; pids: number[]; candidates: (string | null)[] }[];
  overlapMs: number;
  records(): HeadRecord[];
  alive(): HeadRecord[];
  start(periodMs?: number): void;
  stop(): void;
  /** Every recorded head, grandchild and daemon still present: none once every head should be gone. */
  leftovers(): number[];
  /** What heads no longer alive left behind (still present). */
  orphans(): number[];
  close(): void;
}
export const HeadSampler = samplerImpl.HeadSampler as unknown as new () => HeadSampler;

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
