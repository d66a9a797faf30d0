/**
 * The election state machine (after client-go's leaderelection.go).
 *
 * Guarantees, given a Redis that keeps its data and the timing rule of
 * config.ts (renewDeadline + killGrace + ttl·drift < ttl):
 * - a term ends, from this side, no later than renewDeadlineMs after the SEND
 *   time of the last renew that succeeded, measured on the monotonic clock; the
 *   lease it renewed cannot expire in Redis before that instant plus the ttl
 *   minus the renew deadline, which leaves room to kill the head;
 * - epochs only grow: the candidate remembers the highest epoch it has seen and
 *   the acquire script goes above it;
 * - a lease found taken by someone else is never released.
 * Not guaranteed here: that the head is really dead when the term ends. That
 * is the `lead` callback's job (the keeper holds the same deadline natively).
 */
import { EventEmitter } from 'node:events';
import { AttemptRefusedError, RedisRefusedError, errorText } from '../errors.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import type { HeadExit, StopReason, Term } from '../term.js';
import type { Lease, ReleaseKind, UnknownWhy } from './lease.js';

export type ElectorState = 'standby' | 'leading' | 'stepping-down' | 'stopped';

export interface TermResult {
  epoch: number;
  reason: StopReason;
  exit: HeadExit;
  /** Whether we deleted the lease ourselves (a standby can take over at once). */
  released: boolean;
}

/** What the leader does with its term: start the head, return when it is gone. */
export type LeadFn = (term: Term) => Promise<HeadExit>;

export interface ElectorOptions {
  lease: Lease;
  clock: Clock;
  retryMs: number;
  renewDeadlineMs: number;
  maxFailures: number | null;
  /**
   * How long a candidate must have found the namespace without an epoch counter
   * (or with one below an epoch it has seen) before it takes the lease: its own
   * ttl, or the longest a leader published if that is longer (docs/design.md
   * decisions 28 and 34).
   */
  unknownStateHoldMs: number;
  log: Logger;
}

export interface HolderView {
  id: string;
  epoch: number;
  gcsAddress: string | null;
}

export interface ElectorEvents {
  state: [{ from: ElectorState; to: ElectorState; reason: string; epoch: number }];
  renewed: [{ durationMs: number; deadlineMs: number }];
  'renew-failed': [{ durationMs: number; error: string }];
  holder: [HolderView];
  /** Each turn of the standby or renew loop: proof that the election makes progress (/healthz). */
  tick: [];
}

export class Elector extends EventEmitter<ElectorEvents> {
  state: ElectorState = 'stopped';
  private stateSinceMs: number;
  /** Highest epoch seen anywhere: our terms, holders' tokens, the stored counter. */
  highestEpoch = 0;
  /** The last GCS address a leader published, for when Redis has lost the leader hash. */
  knownGcsAddress: string | null = null;
  /** The GCS addresses this candidate has seen published, newest first (at most MAX_KNOWN_GCS). */
  knownGcsAddresses: string[] = [];
  /** The longest ttl a leader published that this candidate has seen (decision 34). */
  longestTtlSeenMs = 0;
  /** The holder ttls already reported as differing from ours, so each is logged once. */
  private ttlReported = '';
  /**
   * Since when (monotonic ms) every attempt, all through one connection, found the
   * namespace vacant with no epoch counter, or one below an epoch seen (decisions 28
   * and 34); null when not.
   */
  private unknown: { sinceMs: number; session: number } | null = null;
  /** The malformed fields last reported (reportDropped), so each finding is logged once. */
  private droppedReported = '';

  constructor(private readonly options: ElectorOptions) {
    super();
    this.stateSinceMs = options.clock.nowMs();
  }

  /**
   * One term: wait as a standby until elected (or `signal` aborts: then null),
   * lead, and step down. Call again to re-enter as a standby.
   */
  async runTerm(signal: AbortSignal, lead: LeadFn): Promise<TermResult | null> {
    // 1. Standby until we hold the lease.
    const won = await this.acquire(signal);
    if (!won) return null;
    const { token, epoch } = won;
    let deadlineMs = won.sentAtMs + this.options.renewDeadlineMs;
    const listeners: ((d: number) => void)[] = [];
    const termCtl = new AbortController();
    const onShutdown = () => termCtl.abort('shutdown' satisfies StopReason);
    signal.addEventListener('abort', onShutdown, { once: true });
    this.setState('leading', 'acquired', epoch);
    // Stepping down starts the moment the term is aborted, while the head is still being stopped,
    // so readiness and metrics drop at once rather than after the kill grace.
    termCtl.signal.addEventListener('abort', () => this.setState('stepping-down', String(termCtl.signal.reason), epoch), { once: true });
    if (signal.aborted) onShutdown();

    // 2. Renew in the background while the head runs.
    const renewing = this.keepRenewing(token, termCtl, () => deadlineMs, (d) => {
      deadlineMs = d;
      for (const l of listeners) l(d);
    });
    const term: Term = {
      epoch,
      token,
      previousId: won.previousId,
      previousGcsAddresses: won.previousGcsAddresses,
      serving: () => this.serving(token, termCtl),
      signal: termCtl.signal,
      deadlineMs: () => deadlineMs,
      onRenewed: (l) => listeners.push(l),
    };

    // 3. Lead until the head is gone (it exited, or lead() stopped it after the abort).
    let exit: HeadExit | undefined;
    try {
      exit = await lead(term);
    } finally {
      signal.removeEventListener('abort', onShutdown);
      // The head ended by itself (or the keeper fenced it): that is why the term ends.
      if (!termCtl.signal.aborted) termCtl.abort(exit?.reason ?? ('head-exit' satisfies StopReason));
      await renewing;
    }
    const reason = termCtl.signal.reason as StopReason;

    // 4. Release unless the lease is no longer ours; a failed release only costs the ttl.
    const released = reason === 'lost-lease' ? false : await this.release(token, releaseKind(reason));
    this.setState('stopped', reason, epoch);
    return { epoch, reason, exit, released };
  }

  private async acquire(signal: AbortSignal) {
    const { lease, clock, log, retryMs } = this.options;
    // Since when attempts fail, and how: Redis not reached, or reached and refusing (AttemptRefusedError).
    let troubleSinceMs: number | null = null;
    let troubleRefused = false;
    this.setState('standby', 'waiting for the lease', this.highestEpoch);
    while (!signal.aborted) {
      this.emit('tick');
      // Listen for a release before asking, so one that lands in between still wakes us.
      const iteration = new AbortController();
      const stopIteration = () => iteration.abort();
      signal.addEventListener('abort', stopIteration, { once: true });
      const vacancy = lease.waitForVacancy(iteration.signal);
      vacancy.catch(() => {});
      try {
        const sentAtMs = clock.nowMs();
        let waitMs = retryMs;
        try {
          const { unknown } = this;
          const unknownSession = unknown !== null && sentAtMs - unknown.sinceMs >= this.holdMs() ? unknown.session : null;
          const seenEpoch = this.highestEpoch;
          const res = await lease.tryAcquire({ minEpoch: seenEpoch, knownGcsAddress: this.knownGcsAddress, unknownSession, unseen: seenEpoch === 0 });
          if (troubleSinceMs !== null) {
            log.info({ downMs: Math.round(clock.nowMs() - troubleSinceMs) }, troubleRefused ? 'Redis takes acquire attempts again' : 'Redis is reachable again');
            troubleSinceMs = null;
          }
          this.reportDropped(res.dropped);
          if (res.acquired) {
            this.unknown = null;
            this.highestEpoch = Math.max(this.highestEpoch, res.epoch);
            this.seenTtl(res.previousTtlMs, res.previousId);
            const previousGcsAddresses = this.previousToWaitOn(res, seenEpoch);
            this.remember(res.previousGcsAddress);
            return { ...res, sentAtMs, previousGcsAddresses };
          }
          if (res.unknownState) {
            waitMs = this.holdBack(sentAtMs, res.session, res.why);
          } else {
            this.unknown = null;
            this.highestEpoch = Math.max(this.highestEpoch, res.holderEpoch, res.storedEpoch);
            this.knownGcsAddress = res.gcsAddress ?? this.knownGcsAddress;
            this.remember(res.gcsAddress);
            if (res.hashEpoch === res.holderEpoch) this.seenTtl(res.hashTtlMs, res.holderId);
            this.emit('holder', { id: res.holderId, epoch: res.holderEpoch, gcsAddress: res.gcsAddress });
            // Once more just after the holder's lease runs out, if that comes before the next poll.
            if (res.pttlMs >= 0 && res.pttlMs < retryMs) waitMs = res.pttlMs + 1;
          }
        } catch (err) {
          if (err instanceof RedisRefusedError) throw err;
          const refused = err instanceof AttemptRefusedError;
          // Once per kind of trouble, not once per attempt.
          if (troubleSinceMs === null || troubleRefused !== refused) {
            troubleSinceMs ??= clock.nowMs();
            troubleRefused = refused;
            log.warn({ err: errorText(err) }, refused ? 'Redis refused the acquire attempt; still trying as a standby' : 'cannot reach Redis; still trying as a standby');
          }
        }
        await Promise.race([clock.sleep(waitMs, iteration.signal), vacancy]).catch(() => {});
      } finally {
        signal.removeEventListener('abort', stopIteration);
        iteration.abort();
      }
    }
    return null;
  }

  /**
   * The GCS addresses the new term waits on: the last one that served, and,
   * when the replaced leader hash is older than a term this candidate has seen
   * (Redis lost writes: it is not the current leader's), every address it knows
   * (decision 34). An address that refuses costs one connect.
   */
  private previousToWaitOn(res: { previousGcsAddress: string | null; previousEpoch: number | null }, seenEpoch: number): string[] {
    const lostWrites = seenEpoch > 0 && (res.previousEpoch === null || res.previousEpoch < seenEpoch);
    const all = [res.previousGcsAddress, ...(lostWrites ? this.knownGcsAddresses : [])].filter((a): a is string => a !== null);
    return [...new Set(all)];
  }

  /** Remembers a published GCS address (newest first, at most MAX_KNOWN_GCS). */
  private remember(address: string | null): void {
    if (address === null) return;
    this.knownGcsAddresses = [address, ...this.knownGcsAddresses.filter((a) => a !== address)].slice(0, MAX_KNOWN_GCS);
  }

  /**
   * A ttl a leader published: the hold of decisions 28 and 34 uses the longest
   * seen; one that differs from ours (a rolling change of the timing) is said once.
   */
  private seenTtl(ttlMs: number | null, holderId: string | null): void {
    if (ttlMs === null) return;
    this.longestTtlSeenMs = Math.max(this.longestTtlSeenMs, ttlMs);
    const ours = this.options.unknownStateHoldMs;
    const key = `${holderId ?? ''}@${ttlMs}`;
    if (ttlMs === ours || key === this.ttlReported) return;
    this.ttlReported = key;
    this.options.log.warn(
      { leader: holderId, leaderTtlMs: ttlMs, ttlMs: ours, holdMs: this.holdMs() },
      "the leader's ttl differs from this candidate's (RAY_HA_KEY_EXPIRE_TIME_MS): give every candidate the same timing; a hold after lost writes uses the longest ttl seen",
    );
  }

  /** How long to hold back after lost writes: the longest ttl seen, ours included. */
  holdMs(): number {
    return Math.max(this.options.unknownStateHoldMs, this.longestTtlSeenMs);
  }

  /**
   * Records that this term's head is coming up (Lease.serving), retrying until it
   * is recorded or the term ends; a lease found no longer ours ends the term.
   */
  private async serving(token: string, termCtl: AbortController): Promise<boolean> {
    const { lease, clock, log, retryMs } = this.options;
    let warned = false;
    while (!termCtl.signal.aborted) {
      try {
        if (await lease.serving(token)) return !termCtl.signal.aborted;
        log.warn({}, 'stepping down: the lease was no longer ours when the head was about to start');
        termCtl.abort('lost-lease' satisfies StopReason);
        return false;
      } catch (err) {
        if (err instanceof RedisRefusedError) throw err;
        if (!warned) log.warn({ err: errorText(err) }, 'cannot record that the head is starting; retrying until the renew deadline');
        warned = true;
      }
      await clock.sleep(Math.min(100, retryMs), termCtl.signal).catch(() => {});
    }
    return false;
  }

  /**
   * The namespace is vacant and has no epoch counter, or one below an epoch
   * this candidate has seen: a new cluster, or a Redis that lost its data or
   * only its latest writes (restarted empty or from an older snapshot, a
   * promoted replica that missed the writes, AOF everysec and a host crash)
   * while a leader this candidate may never have seen still runs its head.
   * That leader's renews now fail, so its head is gone within its renew
   * deadline and kill grace, less than its ttl. The clock starts at this
   * candidate's first such finding (after the loss); the lease is taken once
   * the longest ttl seen has passed since. Returns how long to wait before the
   * next attempt.
   */
  private holdBack(sentAtMs: number, session: number | null, why: UnknownWhy): number {
    const { retryMs, clock, log } = this.options;
    const holdMs = this.holdMs();
    // Through another connection (Redis may have restarted or failed over since): the hold starts again.
    if (this.unknown?.session !== session) {
      if (this.unknown === null) {
        log.info(
          { holdMs, why },
          HOLD_REASONS[why],
        );
      }
      this.unknown = session === null ? null : { sinceMs: sentAtMs, session };
    }
    if (this.unknown === null) return retryMs;
    const leftMs = this.unknown.sinceMs + holdMs - clock.nowMs();
    return Math.max(1, Math.min(retryMs, leftMs + 1));
  }

  /**
   * Values in Redis that failed their shape check were ignored (a previous GCS
   * address that is not host:port is never probed): said once, not on every
   * attempt, and again only when what is wrong changes. Names, never values.
   */
  private reportDropped(dropped: string[] | undefined): void {
    const key = dropped?.length ? [...dropped].sort().join(',') : '';
    if (key === this.droppedReported) return;
    this.droppedReported = key;
    if (key) {
      this.options.log.warn(
        { ignored: dropped, rules: 'gcsAddress: host:port of at most 300 bytes; epoch: a safe integer; id: a candidate name; lease: "<id>#<epoch>"' },
        'ignored values in Redis that do not have the shape a candidate writes (someone else wrote them)',
      );
    }
  }

  /** Renews every retryMs until the term is aborted; aborts it on a lost lease or a passed deadline. */
  private async keepRenewing(
    token: string,
    termCtl: AbortController,
    deadline: () => number,
    renewed: (deadlineMs: number) => void,
  ): Promise<void> {
    const { clock, log, retryMs, renewDeadlineMs, maxFailures } = this.options;
    let failures = 0;
    const stepDown = (reason: StopReason, detail: Record<string, unknown>) => {
      log.warn({ ...detail, reason }, 'stepping down');
      termCtl.abort(reason);
    };
    while (!termCtl.signal.aborted) {
      this.emit('tick');
      const pause = Math.min(retryMs, deadline() - clock.nowMs());
      if (pause > 0) {
        try {
          await clock.sleep(pause, termCtl.signal);
        } catch {
          return;
        }
      }
      if (clock.nowMs() >= deadline()) return stepDown('deadline', { renewDeadlineMs, failures });

      // The deadline counts from the time the renew was SENT (read before sending).
      const sentAtMs = clock.nowMs();
      const outcome = await this.renewBefore(token, deadline() - sentAtMs, termCtl.signal);
      if (termCtl.signal.aborted) return;
      const durationMs = clock.nowMs() - sentAtMs;
      if (outcome === 'ok') {
        failures = 0;
        const next = sentAtMs + renewDeadlineMs;
        this.emit('renewed', { durationMs, deadlineMs: next });
        renewed(next);
      } else if (outcome === 'lost') {
        return stepDown('lost-lease', {});
      } else {
        failures++;
        this.emit('renew-failed', { durationMs, error: outcome.error });
        log.warn({ err: outcome.error, failures }, 'renew failed');
        // ant-ray's RAY_HA_CHECK_MAX_FAILURE_COUNT: step down after MORE than N failures in a row.
        if (maxFailures !== null && failures > maxFailures) return stepDown('deadline', { failures, maxFailures });
      }
    }
  }

  private async renewBefore(token: string, budgetMs: number, signal: AbortSignal): Promise<RenewOutcome> {
    const timer = new AbortController();
    const stop = () => timer.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      return await Promise.race([
        this.options.lease.renew(token).then(
          (ok): RenewOutcome => (ok ? 'ok' : 'lost'),
          (err: unknown): RenewOutcome => ({ error: errorText(err) }),
        ),
        this.options.clock.sleep(budgetMs, timer.signal).then(
          (): RenewOutcome => ({ error: 'no reply before the renew deadline' }),
          (): RenewOutcome => ({ error: 'aborted' }),
        ),
      ]);
    } finally {
      signal.removeEventListener('abort', stop);
      timer.abort();
    }
  }

  private async release(token: string, kind: ReleaseKind): Promise<boolean> {
    try {
      return await this.options.lease.release(token, kind);
    } catch (err) {
      this.options.log.warn({ err: errorText(err) }, 'release failed; the lease will expire by its ttl');
      return false;
    }
  }

  private setState(to: ElectorState, reason: string, epoch: number): void {
    const from = this.state;
    if (from === to) return;
    const nowMs = this.options.clock.nowMs();
    const inStateMs = Math.round(nowMs - this.stateSinceMs);
    this.state = to;
    this.stateSinceMs = nowMs;
    this.options.log.info({ from, to, reason, epoch, inStateMs }, `${from} -> ${to}`);
    this.emit('state', { from, to, reason, epoch });
  }
}

type RenewOutcome = 'ok' | 'lost' | { error: string };

const HOLD_REASONS: Readonly<Record<UnknownWhy, string>> = {
  missing:
    'Redis has no epoch counter for this namespace (a new cluster, or Redis lost its data): waiting one ttl before taking the lease, so that a leader this candidate did not see has stopped its head',
  behind:
    'Redis has an epoch counter below a term this candidate has seen (Redis lost its latest writes): waiting one ttl before taking the lease, so that the current leader has stopped its head',
  unseen:
    'the namespace is vacant and this candidate has seen no term since it started (it cannot tell whether Redis lost its latest writes): waiting one ttl before taking the lease, so that a leader it did not see has stopped its head',
};

/** How many published GCS addresses a candidate remembers, to wait on after lost writes. */
const MAX_KNOWN_GCS = 4;

function releaseKind(reason: StopReason): ReleaseKind {
  return reason === 'shutdown' || reason === 'head-exit' || reason === 'gcs-exit' ? 'released' : 'stepped-down';
}
