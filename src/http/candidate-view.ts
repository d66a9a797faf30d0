/**
 * What one candidate knows about itself and its leader, kept up to date from
 * the elector's events: the single source the HTTP endpoints and the metrics
 * read. It never talks to Redis: "the leader" here is the leader as this
 * candidate last saw it (its own term, or the holder its last acquire found).
 */
import type { Config } from '../config.js';
import { monotonicClock, type Clock } from '../clock.js';
import type { ElectorEvents, ElectorState, HolderView } from '../election/elector.js';
import { HeadHaMetrics, type ElectorEventSource } from './metrics.js';

/** The part of the Elector the view reads: its events and two fields. */
export interface ElectorLike extends ElectorEventSource {
  readonly state: ElectorState;
  readonly highestEpoch: number;
}

export interface LeaderSeen {
  id: string;
  epoch: number;
  gcsAddress: string | null;
  /**
   * ISO time this term began as far as this candidate knows: the moment it
   * acquired the lease itself, or first saw this holder's term.
   */
  since: string;
  /** ISO time this candidate last confirmed the holder (its own renew, or a standby's acquire attempt). */
  observedAt: string;
}

export interface Transition {
  from: ElectorState;
  to: ElectorState;
  reason: string;
  epoch: number;
  at: string;
}

export type ViewConfig = Pick<Config, 'candidateId' | 'namespace' | 'ttlMs' | 'gcsAddress'>;

export class CandidateView {
  readonly metrics: HeadHaMetrics;
  private elector: ElectorLike | null = null;
  private unsubscribe: (() => void)[] = [];
  private leader: LeaderSeen | null = null;
  private headPid: number | null = null;
  private lastTransition: Transition | null = null;
  private lastRenewAt: string | null = null;
  private lastTickMs: number;
  private readonly ticker: NodeJS.Timeout;

  constructor(
    readonly config: ViewConfig,
    elector?: ElectorLike,
    private readonly clock: Clock = monotonicClock,
  ) {
    this.metrics = new HeadHaMetrics({
      isLeader: () => this.isLeader(),
      epoch: () => this.epoch(),
      headUp: () => this.headPid !== null,
    });
    // Progress is the elector's own loop ticking (every retry, < ttl); before the
    // elector exists, a timer stands in, which a stuck event loop stops as well.
    this.lastTickMs = clock.nowMs();
    this.ticker = setInterval(() => {
      if (!this.elector) this.lastTickMs = clock.nowMs();
    }, tickPeriodMs(config.ttlMs));
    this.ticker.unref();
    if (elector) this.attach(elector);
  }

  /** Starts following an elector (runCandidate hands it over before the first term). */
  attach(elector: ElectorLike): void {
    this.detach();
    this.elector = elector;
    const onState = (e: ElectorEvents['state'][0]) => this.onState(e);
    const onHolder = (h: HolderView) => this.onHolder(h);
    const onRenewed = () => {
      this.lastRenewAt = new Date().toISOString();
      if (this.leader) this.leader.observedAt = this.lastRenewAt;
    };
    const onTick = () => (this.lastTickMs = this.clock.nowMs());
    elector.on('state', onState);
    elector.on('holder', onHolder);
    elector.on('renewed', onRenewed);
    elector.on('tick', onTick);
    this.unsubscribe.push(
      () => elector.off('tick', onTick),
      () => elector.off('state', onState),
      () => elector.off('holder', onHolder),
      () => elector.off('renewed', onRenewed),
      this.metrics.observe(elector),
    );
  }

  /** The head's pid while it runs, null once it is gone (runCandidate's onHead hook). */
  setHead(pid: number | null): void {
    this.headPid = pid;
  }

  close(): void {
    clearInterval(this.ticker);
    this.detach();
  }

  state(): ElectorState {
    return this.elector?.state ?? 'stopped';
  }

  isLeader(): boolean {
    return this.state() === 'leading';
  }

  /**
   * Our own term's epoch while leading, else the highest epoch seen. The elector's highestEpoch is
   * both: it is set to the epoch it won, and no acquire (the only other writer) runs while leading.
   */
  epoch(): number {
    return Math.max(this.elector?.highestEpoch ?? 0, this.leader?.epoch ?? 0);
  }

  head(): number | null {
    return this.headPid;
  }

  leaderSeen(): LeaderSeen | null {
    return this.leader ? { ...this.leader } : null;
  }

  /** Milliseconds since the election loop last made a turn. */
  sinceLastTickMs(): number {
    return this.clock.nowMs() - this.lastTickMs;
  }

  /** Alive and making progress: the election loop turned within the ttl. */
  healthy(): boolean {
    return this.sinceLastTickMs() < this.config.ttlMs;
  }

  /** The body of /leader. */
  snapshot() {
    const state = this.state();
    return {
      namespace: this.config.namespace,
      leader: this.leaderSeen(),
      self: {
        id: this.config.candidateId,
        role: state === 'leading' ? 'leader' : state === 'standby' ? 'standby' : state,
        state,
        epoch: this.epoch(),
        gcsAddress: this.config.gcsAddress,
        headPid: this.headPid,
        lastRenewAt: this.lastRenewAt,
        lastTransition: this.lastTransition,
      },
    };
  }

  private onState(e: ElectorEvents['state'][0]): void {
    const now = new Date().toISOString();
    this.lastTransition = { ...e, at: now };
    if (e.to === 'leading') {
      this.leader = { id: this.config.candidateId, epoch: e.epoch, gcsAddress: this.config.gcsAddress, since: now, observedAt: now };
    } else if (e.from === 'leading') {
      // Our term is over; who leads next is unknown until an acquire attempt says.
      this.leader = null;
    }
  }

  private onHolder(h: HolderView): void {
    const now = new Date().toISOString();
    const same = this.leader && this.leader.id === h.id && this.leader.epoch === h.epoch;
    this.leader = { id: h.id, epoch: h.epoch, gcsAddress: h.gcsAddress, since: same ? this.leader!.since : now, observedAt: now };
  }

  private detach(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.elector = null;
  }
}

/** Often enough that a ttl-long stall is seen, rarely enough to cost nothing. */
function tickPeriodMs(ttlMs: number): number {
  return Math.max(10, Math.min(1_000, Math.floor(ttlMs / 5)));
}
