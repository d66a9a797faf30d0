/**
 * One live head in the GCS's view (docs/design.md, decision 38). A new GCS
 * loads the node table from Redis with the previous leader's head node still
 * ALIVE, and Ray's health check gives up on it only after tens of seconds;
 * until then Ray schedules onto it, the Serve controller counts it, and the
 * dashboard shows two heads. The previous head is provably gone (its term
 * ended before this one began), so the leader says so at once: a helper,
 * scripts/previous-heads.py (Ray's interpreter, Ray's own gRPC stubs, Ray
 * imported ahead of the term), is given this head's own GCS address as the
 * head starts and unregisters there every ALIVE head node at another IP as
 * soon as that GCS answers; once this head's raylet runs, its node ID
 * (`--node_id`) lets the helper unregister the other heads at this IP too.
 *
 * Then the jobs the previous head left (decision 40): Ray's job manager on the
 * head, which alone ends a job whose supervisor died with it, is built only
 * by the first job request that reaches the new head's agent
 * (ray-project/ray#65037). The helper makes that request (a read-only one for
 * a job that does not exist) once the agent has registered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { findInHeadTree } from './gcs-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PREVIOUS_HEADS_SCRIPT = path.join(ROOT, 'scripts', 'previous-heads.py');

/** How long the helper tries in all, from the head's start: Ray's health check gives up on the old node after about this long anyway. */
export const PREVIOUS_HEADS_DEADLINE_MS = 60_000;

export interface PreviousHeadsOptions {
  /** Ray's interpreter (warm-command.ts rayInterpreter). */
  interpreter: string[];
  /** The head's environment: Ray's TLS and token settings for the channel. */
  env: NodeJS.ProcessEnv;
  clock: Clock;
  deadlineMs?: number;
  /** How often to look for the head's raylet until it is there. */
  findEveryMs?: number;
}

/** The node ID a raylet was started with (`--node_id=HEX` on its command line), or null. */
export function rayletNodeId(pid: number): string | null {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
  for (const a of argv) {
    const m = /^--node_id=([0-9a-f]{8,})$/.exec(a);
    if (m) return m[1]!;
  }
  return null;
}

export interface PreviousHeadsResult {
  ownNodeId?: string;
  marked?: string[];
  error?: string;
}

/** The helper's second line: this head's job manager runs (`jobManager: true`), or why not; why jobs may still run on the head (decision 41), or null. */
export interface JobManagerResult {
  jobManager?: boolean;
  error?: string;
  jobsOnHead?: string | null;
}

/** A line the helper printed, read as JSON; a line it never wrote, or an unreadable one, as an error saying so. */
function resultOf<T extends { error?: string }>(line: string | null, helper: Helper): T {
  if (line === null) return { error: `exited without a result: ${helper.stderr().trim().split('\n').at(-1) ?? ''}` } as T;
  try {
    return JSON.parse(line) as T;
  } catch {
    return { error: `unreadable result: ${line.slice(0, 200)}` } as T;
  }
}

/** One helper process: Ray imported (or importing), waiting for its line. */
interface Helper {
  child: ChildProcess;
  /** Its first JSON line (the marks), or null when it ended without one. */
  result: Promise<string | null>;
  /** Its second (the job manager), or null when it ended without one. */
  jobs: Promise<string | null>;
  stderr: () => string;
  closed: Promise<void>;
  spawnError: Promise<string>;
}

/**
 * Marks the previous leaders' head nodes dead beside each new head. One
 * helper is started ahead (ensure(), before each term: the candidate's loop
 * calls it), so that Ray is imported before a term needs it: a head's own
 * start takes about as long as that import.
 */
export class PreviousHeads {
  private spare: Helper | null = null;
  private closed = false;

  constructor(private readonly o: PreviousHeadsOptions) {}

  /** Starts the spare helper if there is none (or it died). */
  ensure(): void {
    if (this.closed) return;
    if (this.spare && this.spare.child.exitCode === null && this.spare.child.signalCode === null) return;
    this.spare = this.spawnHelper();
  }

  private spawnHelper(): Helper {
    const deadlineS = (this.o.deadlineMs ?? PREVIOUS_HEADS_DEADLINE_MS) / 1000;
    const child = spawn(this.o.interpreter[0]!, [...this.o.interpreter.slice(1), PREVIOUS_HEADS_SCRIPT, String(deadlineS)], {
      env: this.o.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.stdin!.on('error', () => {});
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const spawnError = new Promise<string>((resolve) => child.once('error', (e) => resolve(e.message)));
    // Its lines in order: the first resolves `result`, the second `jobs`; null for a line it never wrote.
    const waiting: Array<(l: string | null) => void> = [];
    const [result, jobs] = [0, 1].map(() => new Promise<string | null>((resolve) => waiting.push(resolve)));
    const rl = readline.createInterface({ input: child.stdout! });
    rl.on('line', (l) => waiting.shift()?.(l));
    rl.once('close', () => waiting.splice(0).forEach((resolve) => resolve(null)));
    return { child, result: result!, jobs: jobs!, stderr: () => stderr, closed, spawnError };
  }

  /**
   * For the head `headPid` whose own GCS address (never the Service in
   * front of it) is `gcsAddress`: resolves with what the
   * helper did (null when `signal` aborted first: the term ended, the helper
   * is killed). Never rejects: a failure is logged and the term goes on
   * (Ray's health check then marks the old head dead in its own time).
   */
  async run(headPid: number, gcsAddress: string, log: Logger, signal: AbortSignal): Promise<PreviousHeadsResult | null> {
    const { clock } = this.o;
    const deadlineMs = this.o.deadlineMs ?? PREVIOUS_HEADS_DEADLINE_MS;
    const t0 = clock.nowMs();
    this.ensure();
    const helper = this.spare!;
    this.spare = null;
    const kill = () => helper.child.kill('SIGKILL');
    signal.addEventListener('abort', kill, { once: true });
    // Heads at another IP go as soon as this head's GCS answers; those at this IP once its node ID is known.
    helper.child.stdin!.write(`${gcsAddress}\n`);
    try {
      // This head's node ID, once its raylet runs (Ray starts it shortly after the GCS).
      let own: string | null = null;
      for (;;) {
        const raylet = findInHeadTree(headPid, 'raylet');
        own = raylet ? rayletNodeId(raylet.pid) : null;
        if (own) break;
        if (clock.nowMs() - t0 > deadlineMs) {
          helper.child.stdin!.end();
          log.warn({ waitedMs: deadlineMs }, "the head's raylet never started; previous head nodes at this IP left to Ray's health check");
          break;
        }
        await clock.sleep(this.o.findEveryMs ?? 50, signal);
      }
      if (own) helper.child.stdin!.end(`${own}\n`);
      const line = await Promise.race([helper.result, helper.spawnError.then((e) => JSON.stringify({ error: `cannot run ${this.o.interpreter[0]}: ${e}` }))]);
      if (signal.aborted) return null;
      const result = resultOf<PreviousHeadsResult>(line, helper);
      if (result.error) log.warn({ err: result.error, marked: result.marked, ownNodeId: own }, "could not mark every previous head node dead; left to Ray's health check");
      else if ((result.marked ?? []).length > 0) log.info({ marked: result.marked, ownNodeId: own, ms: Math.round(clock.nowMs() - t0) }, 'previous head nodes marked dead');
      if (!own) return result;
      // Then this head's job manager, which alone ends the jobs whose supervisor died with the previous head
      // (also after a node it could not mark; not when the helper ended on the first line: its GCS never answered).
      const jobsLine = await helper.jobs;
      if (signal.aborted || (jobsLine === null && result.error)) return result;
      const jobs = resultOf<JobManagerResult>(jobsLine, helper);
      if (jobs.jobManager) log.info({ ms: Math.round(clock.nowMs() - t0) }, "the head's job manager runs: it ends the jobs whose supervisor died with the previous head");
      else log.warn({ err: jobs.error }, "the head's job manager did not start: a job whose supervisor died with the previous head stays RUNNING until the next job request (ray-project/ray#65037)");
      if (jobs.jobsOnHead) log.warn({ why: jobs.jobsOnHead }, 'Ray Jobs submitted without resources may run their driver on the head and die with the leader');
      return result;
    } catch {
      return null; // aborted while looking for the raylet
    } finally {
      signal.removeEventListener('abort', kill);
      if (helper.child.exitCode === null && helper.child.signalCode === null) kill();
      await helper.closed;
    }
  }

  /** Ends the spare helper (EOF: it exits doing nothing). */
  async close(): Promise<void> {
    this.closed = true;
    const spare = this.spare;
    this.spare = null;
    if (!spare) return;
    spare.child.stdin!.end();
    const timer = setTimeout(() => spare.child.kill('SIGKILL'), 2000);
    await spare.closed;
    clearTimeout(timer);
  }
}
