/**
 * The Prometheus metrics of one candidate (prom-client, its own Registry so
 * nothing global leaks between candidates in one process or between tests).
 * Gauges read the CandidateView at scrape time; counters and the histogram are
 * fed by the elector's events as they happen.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ElectorEvents, ElectorState } from '../election/elector.js';
import type { StopReason } from '../term.js';

/** What the gauges read at scrape time. */
export interface MetricsSource {
  isLeader(): boolean;
  epoch(): number;
  headUp(): boolean;
}

/** The part of the Elector the metrics listen to. */
export interface ElectorEventSource {
  on<K extends keyof ElectorEvents>(event: K, listener: (...args: ElectorEvents[K]) => void): unknown;
  off<K extends keyof ElectorEvents>(event: K, listener: (...args: ElectorEvents[K]) => void): unknown;
}

const STATES: readonly ElectorState[] = ['standby', 'leading', 'stepping-down', 'stopped'];
/** A term that ended for one of these ended because this candidate fenced itself. */
export const SELF_FENCE_REASONS: readonly StopReason[] = ['lost-lease', 'deadline', 'fenced', 'previous-gcs'];

export class HeadHaMetrics {
  readonly registry = new Registry();
  private readonly transitions: Counter<'to'>;
  private readonly renewDuration: Histogram;
  private readonly renewFailures: Counter;
  private readonly lastRenew: Gauge;
  private readonly selfFence: Counter<'reason'>;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'ray_head_ha_is_leader',
      help: '1 while this candidate holds the lease, else 0',
      registers,
      collect() {
        this.set(source.isLeader() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ray_head_ha_epoch',
      help: 'Highest fencing epoch this candidate has seen (its own term while leading)',
      registers,
      collect() {
        this.set(source.epoch());
      },
    });
    new Gauge({
      name: 'ray_head_ha_head_up',
      help: '1 while this candidate runs a head process, else 0',
      registers,
      collect() {
        this.set(source.headUp() ? 1 : 0);
      },
    });
    this.transitions = new Counter({
      name: 'ray_head_ha_transitions_total',
      help: 'Role changes of this candidate, by the state entered',
      labelNames: ['to'],
      registers,
    });
    this.renewDuration = new Histogram({
      name: 'ray_head_ha_renew_duration_seconds',
      help: 'Duration of lease renew attempts, successful or not',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.renewFailures = new Counter({
      name: 'ray_head_ha_renew_failures_total',
      help: 'Renew attempts that failed (error or no reply in time); a lost lease is a self-fence, not a failure',
      registers,
    });
    this.lastRenew = new Gauge({
      name: 'ray_head_ha_last_renew_timestamp_seconds',
      help: 'Wall-clock time of the last successful renew (0 before the first)',
      registers,
    });
    this.selfFence = new Counter({
      name: 'ray_head_ha_self_fence_total',
      help: 'Terms this candidate ended itself to stay safe, by reason',
      labelNames: ['reason'],
      registers,
    });
    // Zero every known series so rate() and alerts see them before the first event.
    for (const to of STATES) this.transitions.inc({ to }, 0);
    for (const reason of SELF_FENCE_REASONS) this.selfFence.inc({ reason }, 0);
    this.lastRenew.set(0);
  }

  /** Counts the elector's events from now on; returns the unsubscribe. */
  observe(elector: ElectorEventSource): () => void {
    const onState = (e: ElectorEvents['state'][0]) => {
      this.transitions.inc({ to: e.to });
      if (e.to === 'stepping-down' && (SELF_FENCE_REASONS as readonly string[]).includes(e.reason)) {
        this.selfFence.inc({ reason: e.reason });
      }
    };
    const onRenewed = (e: ElectorEvents['renewed'][0]) => {
      this.renewDuration.observe(e.durationMs / 1000);
      this.lastRenew.set(Date.now() / 1000);
    };
    const onRenewFailed = (e: ElectorEvents['renew-failed'][0]) => {
      this.renewDuration.observe(e.durationMs / 1000);
      this.renewFailures.inc();
    };
    elector.on('state', onState);
    elector.on('renewed', onRenewed);
    elector.on('renew-failed', onRenewFailed);
    return () => {
      elector.off('state', onState);
      elector.off('renewed', onRenewed);
      elector.off('renew-failed', onRenewFailed);
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
