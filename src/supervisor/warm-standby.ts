/**
 * Warm standby (docs/design.md, decision 32): while it stands by, a candidate
 * keeps one head process started ahead of its term, `warm-head.py` with Ray's
 * CLI already imported, under its own keeper like any head (its process
 * group, the parent-death signal, the fencing deadline). It touches no
 * cluster state and listens on no port; on winning the lease, leadTerm gives
 * it the go and it runs the same `ray start --head --block ...` without the
 * import.
 *
 * Fencing: the warm keeper's deadline is refreshed to now + `aheadMs`, where
 * aheadMs = renewDeadline - commandTimeout. An acquire sent at t1 answers by
 * t1 + commandTimeout or fails, so any refresh before the term began set a
 * deadline no later than t1 + renewDeadline, the term's own first deadline:
 * handing the warm head over only ever moves its deadline forward (the keeper
 * never moves one back). take() stops the refreshing, and leadTerm checks the
 * order again before the go (a head that could outlive its lease starts cold).
 *
 * A warm head that dies is replaced (with a backoff); one older than
 * MAX_AGE_MS is replaced; with none ready, the term starts cold and says why.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { HeadSpec, HeadSupervisor, WarmHeadHandle } from './types.js';

/** A warm head is replaced after this long: it runs the Ray it imported then. */
export const MAX_AGE_MS = 60 * 60_000;
/** A warm head whose deadline is this close is not handed over (its keeper may be fencing it now). */
const MIN_DEADLINE_LEFT_MS = 200;

export interface WarmStandbyOptions {
  startWarm: NonNullable<HeadSupervisor['startWarm']>;
  /**
   * The warm command (src/ray/warm-command.ts) and the head's environment,
   * without the term's variables; its release (onOrphaned) without a token.
   */
  spec: Omit<HeadSpec, 'deadlineMs'>;
  /** How far ahead each refresh puts the warm keeper's deadline: renewDeadline - commandTimeout. */
  aheadMs: number;
  /** How often the deadline is refreshed (well under aheadMs). */
  refreshMs: number;
  maxAgeMs?: number;
  clock: Clock;
  log: Logger;
}

export interface WarmHead {
  handle: WarmHeadHandle;
  /** The latest deadline its keeper was given. */
  deadlineMs: number;
}

export class WarmStandby {
  private warm: (WarmHead & { bornMs: number }) | null = null;
  private spawning: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private failures = 0;
  private lastFailure: string | null = null;
  private retryAtMs = 0;

  constructor(private readonly o: WarmStandbyOptions) {}

  /** Keeps a warm head ready from now on; call whenever the candidate stands by. */
  ensure(): void {
    if (this.closed) return;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.o.refreshMs);
      this.timer.unref();
    }
    this.tick();
  }

  /**
   * The warm head for the term that begins now, or why there is none. Stops
   * the refreshing (ensure() starts it again); the caller owns the head.
   */
  take(): WarmHead | { reason: string } {
    this.pause();
    const w = this.warm;
    this.warm = null;
    if (!w) {
      if (this.spawning) return { reason: 'the warm head was still being started' };
      return { reason: this.lastFailure ? `no warm head: ${this.lastFailure}` : 'no warm head' };
    }
    if (w.deadlineMs - this.o.clock.nowMs() < MIN_DEADLINE_LEFT_MS) {
      void w.handle.stop('fenced');
      return { reason: "the warm head's deadline was about to pass (this process was slow to refresh it)" };
    }
    this.failures = 0;
    this.lastFailure = null;
    return { handle: w.handle, deadlineMs: w.deadlineMs };
  }

  /** Stops the warm head, if any, and waits until its tree is gone. */
  async close(): Promise<void> {
    this.closed = true;
    this.pause();
    await this.spawning;
    const w = this.warm;
    this.warm = null;
    if (w) await w.handle.stop('shutdown');
  }

  private pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    if (this.closed || !this.timer) return;
    const now = this.o.clock.nowMs();
    const w = this.warm;
    if (w && now - w.bornMs > (this.o.maxAgeMs ?? MAX_AGE_MS)) {
      this.o.log.info({ pid: w.handle.pid, ageMs: Math.round(now - w.bornMs) }, 'replacing the warm head: it is too old');
      this.warm = null;
      void w.handle.stop('shutdown');
    } else if (w) {
      w.deadlineMs = now + this.o.aheadMs;
      w.handle.setDeadline(w.deadlineMs);
      return;
    }
    if (this.spawning || now < this.retryAtMs) return;
    this.spawning = this.spawn().finally(() => {
      this.spawning = null;
    });
  }

  private async spawn(): Promise<void> {
    const deadlineMs = this.o.clock.nowMs() + this.o.aheadMs;
    let handle: WarmHeadHandle;
    try {
      handle = await this.o.startWarm({ ...this.o.spec, deadlineMs });
    } catch (err) {
      this.failed(`it could not start: ${(err as Error).message}`);
      return;
    }
    if (this.closed || !this.timer) {
      // A term began (or we are closing) while it started: not needed now.
      await handle.stop('shutdown');
      return;
    }
    const entry = { handle, deadlineMs, bornMs: this.o.clock.nowMs() };
    this.warm = entry;
    this.o.log.info({ pid: handle.pid }, 'warm head waiting');
    void handle.exited.then((exit) => {
      if (this.warm !== entry) return;
      this.warm = null;
      this.failed(`the last one ended while standing by (${exit.reason}, code ${exit.code}, signal ${exit.signal})`);
    });
  }

  private failed(why: string): void {
    this.failures++;
    this.lastFailure = why;
    const backoffMs = Math.min(60_000, 1_000 * 2 ** Math.min(this.failures - 1, 6));
    this.retryAtMs = this.o.clock.nowMs() + backoffMs;
    this.o.log.warn({ failures: this.failures, retryInMs: backoffMs }, `warm head: ${why}`);
  }
}
