/**
 * The lease in Redis. Every state change is one Lua script: atomic, and timed
 * by the server alone. Keys of one namespace share the hash tag `{ns}` so they
 * live in one cluster slot (docs/design.md, "Redis keys").
 *
 * What this does NOT guarantee on its own: a Redis that loses its data
 * (restart without persistence, failover to a replica that had not seen the
 * write) can hand the lease to a second candidate while the first still
 * believes it holds it. The elector bounds that window (the old leader learns
 * it at its next renew and kills its head), and a new leader waits until the
 * previous GCS stops answering before it starts its own head. With
 * `minReplicas` > 0 an acquire or renew counts only once that many replicas
 * acknowledged it (WAIT), which narrows the failover case to a replica that
 * acknowledged and still was not promoted.
 */
import { ReplyError, type Redis } from 'ioredis';
import { AttemptRefusedError, RedisRefusedError, UnexpectedReplyError } from '../errors.js';
import { isVacancy, parseEvent } from '../redis/events.js';
import { formatToken, leaseKeys, parseToken, type LeaseKeys } from '../redis/keys.js';
import { FailureTracker, refusalOf } from '../redis/refusals.js';
import { MAX_PUBLISHED_TTL_MS, registerScripts, type LeaseScripts } from '../redis/scripts.js';
import { checked, isEpochText, isGcsAddress, isName, parseEpoch } from '../redis/values.js';
import type { AcquireRequest, AcquireResult, Lease, ReleaseKind } from './lease.js';

export interface RedisLeaseOptions {
  namespace: string;
  candidateId: string;
  ttlMs: number;
  host: string;
  gcsAddress: string | null;
  dashboardUrl: string | null;
  /** Replicas that must acknowledge (WAIT) an acquire or renew for it to count; 0 or absent = none. */
  minReplicas?: number;
  /** WAIT's own timeout (ms); keep it below the connection's command timeout. */
  replicaWaitMs?: number;
  /** Redis is reached through Sentinel: READONLY is a failover in progress, not a misconfiguration. */
  viaSentinel?: boolean;
  /** After a first connect that failed without a refusal: a refusal the failure hides (explainTlsFailure), or null. */
  explainConnectFailure?: () => Promise<RedisRefusedError | null>;
}

export class RedisLease implements Lease {
  readonly keys: LeaseKeys;
  private readonly scripts: LeaseScripts;
  private readonly waiters = new Set<() => void>();
  /** What the connections met: a refusal for good (credentials, TLS), or the last transport error. */
  private readonly failures: FailureTracker;
  /** Highest epoch an acquire of ours produced, also one we gave back unreplicated. */
  private epochFloor = 0;
  /** Counts the election connection's (re)connects: after one, Redis may be another server (AcquireResult.session). */
  private session = 0;

  /**
   * @param redis the election's own connection (fail-fast options).
   * @param subscriber a separate connection for the events channel, or null to poll only.
   */
  constructor(private readonly redis: Redis, private readonly subscriber: Redis | null, private readonly opts: RedisLeaseOptions) {
    this.keys = leaseKeys(opts.namespace);
    this.scripts = registerScripts(redis);
    // Connection errors surface through the commands that fail; the tracker
    // is where a refused AUTH during a reconnect shows up.
    this.failures = new FailureTracker(this.viaSentinel).watch(redis, subscriber);
    redis.on('ready', () => this.session++);
    subscriber?.on('message', (channel: string, message: string) => {
      if (channel === this.keys.events && isVacancy(parseEvent(message))) this.wakeWaiters();
    });
  }

  /**
   * Starts both connections. Refusals (credentials, TLS) throw RedisRefusedError; a Redis
   * that is not there yet is left to the reconnect loop (the standby says so and keeps trying).
   */
  async connect(): Promise<void> {
    const sub = this.subscriber;
    // (Re)subscribe on every ready: a subscription does not survive a reconnect to a restarted Redis.
    sub?.on('ready', () => {
      sub.subscribe(this.keys.events).catch(() => {});
    });
    await Promise.all([this.connectQuietly(this.redis), sub ? this.connectQuietly(sub) : undefined]);
  }

  async tryAcquire(req: AcquireRequest): Promise<AcquireResult> {
    const { keys, opts } = this;
    this.assertConnected();
    const session = this.session;
    const reply = await this.scripts
      .acquire(keys, {
        candidateId: opts.candidateId,
        ttlMs: opts.ttlMs,
        minEpoch: Math.max(req.minEpoch, this.epochFloor),
        host: opts.host,
        gcsAddress: opts.gcsAddress,
        dashboardUrl: opts.dashboardUrl,
        knownGcsAddress: req.knownGcsAddress,
        takeUnknown: req.unknownSession !== null && req.unknownSession === session,
        unseen: req.unseen === true && this.epochFloor === 0,
      })
      .catch((err: unknown) => this.rethrow(err));
    // The script already dropped what failed its checks; the same checks again here, in case a
    // script of another version answered (they are cheap, and the reply is bounded either way).
    const dropped = [...reply.dropped];
    if (reply.won === 'unknown-state') {
      return {
        acquired: false,
        unknownState: true,
        why: reply.why === 'behind' || reply.why === 'unseen' ? reply.why : 'missing',
        session: this.session === session ? session : null,
        ...(dropped.length > 0 && { dropped: unique(dropped) }),
      };
    }
    if (reply.won) {
      const { token } = reply;
      const epoch = parseEpoch(reply.epoch);
      if (typeof token === 'string' && epoch !== null && epoch > 0 && token === formatToken(opts.candidateId, epoch)) {
        const previousId = checked(reply.previousId, isName, 'id', dropped);
        const previousGcsAddress = checked(reply.previousGcsAddress, isGcsAddress, 'gcsAddress', dropped);
        this.epochFloor = Math.max(this.epochFloor, epoch);
        const shortfall = await this.replicated().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
        if (shortfall) {
          // Not acquired: give it back at once (quietly: no head ran, no one needs waking),
          // so the others do not wait a ttl for a lease that never led.
          await this.scripts.release(keys, token, '', { id: opts.candidateId, epoch }).catch(() => {});
          if (shortfall instanceof Error) throw shortfall;
          throw new AttemptRefusedError(`acquired epoch ${epoch} but ${shortfall}; gave it back`);
        }
        return {
          acquired: true,
          token,
          epoch,
          previousId,
          previousGcsAddress,
          previousEpoch: parseEpoch(checked(reply.previousEpoch, isEpochText, 'epoch', dropped)),
          previousTtlMs: publishedTtl(reply.previousTtlMs, dropped),
          ...(dropped.length > 0 && { dropped: unique(dropped) }),
        };
      }
    } else if (typeof reply.holderToken === 'string' && typeof reply.pttlMs === 'number') {
      const holder = parseToken(reply.holderToken);
      if (!holder) {
        // Someone holds the lease under a value that is not "<id>#<epoch>": not ours to take; it has to expire.
        throw new AttemptRefusedError(`the lease key holds a value that is not "<id>#<epoch>" (ttl left ${reply.pttlMs} ms); waiting for it to expire`);
      }
      return {
        acquired: false,
        holderId: holder.id,
        holderEpoch: holder.epoch,
        pttlMs: reply.pttlMs,
        storedEpoch: parseEpoch(checked(reply.storedEpoch, isEpochText, 'epoch', dropped)) ?? 0,
        gcsAddress: checked(reply.gcsAddress, isGcsAddress, 'gcsAddress', dropped),
        hashEpoch: parseEpoch(checked(reply.hashEpoch, isEpochText, 'epoch', dropped)),
        hashTtlMs: publishedTtl(reply.hashTtlMs, dropped),
        ...(dropped.length > 0 && { dropped: unique(dropped) }),
      };
    }
    throw new UnexpectedReplyError('acquire', reply);
  }

  async renew(token: string): Promise<boolean> {
    this.assertConnected();
    const renewed = await this.scripts.renew(this.keys, token, this.opts.ttlMs).catch((err: unknown) => this.rethrow(err));
    if (renewed === 0) return false;
    // Renewed on the primary but not on enough replicas: a failed renew, not a lost
    // lease, so the leader keeps trying and steps down at its deadline.
    const shortfall = await this.replicated();
    if (shortfall) throw new AttemptRefusedError(`renewed, but ${shortfall}`);
    return true;
  }

  /** null when minReplicas replicas acknowledged our writes so far (WAIT), else what fell short. */
  private async replicated(): Promise<string | null> {
    const want = this.opts.minReplicas ?? 0;
    if (want <= 0) return null;
    // WAIT 0 would block forever: the timeout is at least 1 ms.
    const waitMs = Math.max(1, this.opts.replicaWaitMs ?? 100);
    const got = await this.redis.wait(want, waitMs).catch((err: unknown) => this.rethrow(err));
    if (typeof got !== 'number') throw new UnexpectedReplyError('wait', got);
    return got >= want ? null : `only ${got} of ${want} replicas acknowledged it within ${waitMs} ms (RAY_HA_MIN_REPLICAS)`;
  }

  async serving(token: string): Promise<boolean> {
    const address = this.opts.gcsAddress;
    // A candidate that does not know its own GCS address cannot say where its head serves:
    // the last address that served stays the one the next leader waits on.
    if (address === null) return true;
    this.assertConnected();
    const recorded = await this.scripts.serving(this.keys, token, address).catch((err: unknown) => this.rethrow(err));
    return recorded === 1;
  }

  async release(token: string, kind: ReleaseKind): Promise<boolean> {
    const released = await this.scripts.release(this.keys, token, kind, parseToken(token)).catch((err: unknown) => this.rethrow(err));
    return released === 1;
  }

  /** Fails fast, with the reason, while the election connection is down (no offline queue). */
  private assertConnected(): void {
    if (this.failures.refusal) throw this.failures.refusal;
    if (this.redis.status !== 'ready') throw new Error(`not connected to Redis (${this.failures.notReady(this.redis)})`);
  }

  waitForVacancy(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters.delete(wake);
        reject(signal.reason);
      };
      this.waiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private get viaSentinel(): boolean {
    return this.opts.viaSentinel === true;
  }

  /**
   * A refusal no retry can fix becomes a RedisRefusedError (exit 2); any other error reply an
   * AttemptRefusedError (Redis is there, the next try may work); transport errors stay as they are.
   */
  private rethrow(err: unknown): never {
    if (err instanceof UnexpectedReplyError) throw err;
    throw refusalOf(err, this.viaSentinel) ?? (err instanceof ReplyError ? new AttemptRefusedError((err as Error).message) : err);
  }

  /**
   * connect() that leaves transport errors to the reconnect loop, but not refusals. Returns at
   * the first error too: through Sentinel, connect() does not settle while no sentinel answers,
   * and the standby should say so (and a refusal end it) rather than wait here in silence.
   */
  private async connectQuietly(redis: Redis): Promise<void> {
    const firstError = new Promise<unknown>((resolve) => redis.once('error', resolve));
    const err = await Promise.race([redis.connect().then(() => null, (e: unknown) => e), firstError]);
    if (err === null) return;
    const refusal = refusalOf(err, this.viaSentinel) ?? (await this.opts.explainConnectFailure?.());
    if (refusal) throw refusal;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
    this.subscriber?.disconnect();
  }

  private wakeWaiters(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

/** A ttl a leader published (ms, 1 .. MAX_PUBLISHED_TTL_MS), or null. */
function publishedTtl(v: unknown, dropped: string[]): number | null {
  const n = parseEpoch(checked(v, isEpochText, 'ttlMs', dropped));
  if (n === null) return null;
  if (n < 1 || n > MAX_PUBLISHED_TTL_MS) {
    dropped.push('ttlMs');
    return null;
  }
  return n;
}

function unique(fields: string[]): string[] {
  return [...new Set(fields)];
}
