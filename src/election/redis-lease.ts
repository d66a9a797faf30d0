/**
 * The lease in Redis. Every state change is one Lua script: atomic, and timed
 * by the server alone. Keys of one namespace share the hash tag `{ns}` so they
 * live in one cluster slot (DESIGN.md, "Redis keys").
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
import { refusalOf } from '../redis-connection.js';
import { ACQUIRE, RELEASE, RENEW } from './lease-scripts.js';
import { checked, isEpochText, isGcsAddress, isName, parseEpoch } from '../redis-values.js';
import { formatToken, parseToken, type AcquireRequest, type AcquireResult, type Lease, type LeaseEvent, type ReleaseKind } from './lease.js';

export function leaseKeys(namespace: string) {
  const p = `ray-head-ha:{${namespace}}`;
  return { lease: `${p}:lease`, epoch: `${p}:epoch`, leader: `${p}:leader`, events: `${p}:events` };
}

interface ScriptCommands {
  rhhaAcquire(...args: (string | number)[]): Promise<unknown>;
  rhhaRenew(...args: (string | number)[]): Promise<unknown>;
  rhhaRelease(...args: (string | number)[]): Promise<unknown>;
}

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
  readonly keys: ReturnType<typeof leaseKeys>;
  private readonly redis: Redis & ScriptCommands;
  private readonly waiters = new Set<() => void>();
  /** Set when a (re)connect was refused for good (credentials, TLS): retrying cannot help. */
  private refusal: RedisRefusedError | null = null;
  /** Highest epoch an acquire of ours produced, also one we gave back unreplicated. */
  private epochFloor = 0;
  /** The last transport error, so "not connected" can say why (ECONNREFUSED, ETIMEDOUT, ...). */
  private lastError: string | null = null;

  /**
   * @param redis the election's own connection (fail-fast options).
   * @param subscriber a separate connection for the events channel, or null to poll only.
   */
  constructor(redis: Redis, private readonly subscriber: Redis | null, private readonly opts: RedisLeaseOptions) {
    this.keys = leaseKeys(opts.namespace);
    // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT (after SCRIPT FLUSH or a restart).
    redis.defineCommand('rhhaAcquire', { numberOfKeys: 3, lua: ACQUIRE });
    redis.defineCommand('rhhaRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('rhhaRelease', { numberOfKeys: 1, lua: RELEASE });
    this.redis = redis as Redis & ScriptCommands;
    // Connection errors surface through the commands that fail; an 'error'
    // listener is still needed (an unlistened 'error' event would crash) and
    // is where a refused AUTH during a reconnect shows up.
    for (const conn of [redis, subscriber]) {
      conn?.on('error', (err: Error) => {
        const refusal = refusalOf(err, this.viaSentinel);
        if (refusal) this.refusal = refusal;
        else this.lastError = err.message;
      });
    }
    if (subscriber) {
      subscriber.on('message', (channel: string, message: string) => {
        if (channel !== this.keys.events) return;
        const event = parseEvent(message);
        if (event && event.type !== 'acquired') this.wakeWaiters();
      });
    }
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
    const reply = await this.redis
      .rhhaAcquire(
        keys.lease, keys.epoch, keys.leader,
        opts.candidateId, opts.ttlMs, Math.max(req.minEpoch, this.epochFloor), opts.host,
        opts.gcsAddress ?? '', opts.dashboardUrl ?? '', keys.events, req.knownGcsAddress ?? '',
      )
      .catch((err: unknown) => this.rethrow(err));
    if (!Array.isArray(reply) || reply.length !== 6 || !Array.isArray(reply[5])) throw new UnexpectedReplyError('acquire', reply);
    const [won, a, b, c, d, droppedByLua] = reply as [unknown, unknown, unknown, unknown, unknown, unknown[]];
    // The script already dropped what failed its checks; the same checks again here, in case a
    // script of another version answered (they are cheap, and the reply is bounded either way).
    const dropped = droppedByLua.map(String);
    const epoch = parseEpoch(b);
    if (won === 1 && typeof a === 'string' && epoch !== null && epoch > 0 && a === formatToken(opts.candidateId, epoch)) {
      const previousId = checked(c, isName, 'id', dropped);
      const previousGcsAddress = checked(d, isGcsAddress, 'gcsAddress', dropped);
      this.epochFloor = Math.max(this.epochFloor, epoch);
      const shortfall = await this.replicated().catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      if (shortfall) {
        // Not acquired: give it back at once (quietly: no head ran, no one needs waking),
        // so the others do not wait a ttl for a lease that never led.
        await this.redis.rhhaRelease(keys.lease, a, keys.events, '', opts.candidateId, epoch).catch(() => {});
        if (shortfall instanceof Error) throw shortfall;
        throw new AttemptRefusedError(`acquired epoch ${epoch} but ${shortfall}; gave it back`);
      }
      return { acquired: true, token: a, epoch, previousId, previousGcsAddress, ...(dropped.length > 0 && { dropped: unique(dropped) }) };
    }
    if (won === 0 && typeof a === 'string' && typeof b === 'number') {
      const holder = parseToken(a);
      if (!holder) {
        // Someone holds the lease under a value that is not "<id>#<epoch>": not ours to take; it has to expire.
        throw new AttemptRefusedError(`the lease key holds a value that is not "<id>#<epoch>" (ttl left ${b} ms); waiting for it to expire`);
      }
      return {
        acquired: false,
        holderId: holder.id,
        holderEpoch: holder.epoch,
        pttlMs: b,
        storedEpoch: parseEpoch(checked(c, isEpochText, 'epoch', dropped)) ?? 0,
        gcsAddress: checked(d, isGcsAddress, 'gcsAddress', dropped),
        ...(dropped.length > 0 && { dropped: unique(dropped) }),
      };
    }
    throw new UnexpectedReplyError('acquire', reply);
  }

  async renew(token: string): Promise<boolean> {
    this.assertConnected();
    const reply = await this.redis.rhhaRenew(this.keys.lease, token, this.opts.ttlMs).catch((err: unknown) => this.rethrow(err));
    if (reply !== 0 && reply !== 1) throw new UnexpectedReplyError('renew', reply);
    if (reply === 0) return false;
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

  async release(token: string, kind: ReleaseKind): Promise<boolean> {
    const parsed = parseToken(token);
    const reply = await this.redis
      .rhhaRelease(this.keys.lease, token, this.keys.events, kind, parsed?.id ?? '', parsed?.epoch ?? 0)
      .catch((err: unknown) => this.rethrow(err));
    if (reply !== 0 && reply !== 1) throw new UnexpectedReplyError('release', reply);
    return reply === 1;
  }

  /** Fails fast, with the reason, while the election connection is down (no offline queue). */
  private assertConnected(): void {
    if (this.refusal) throw this.refusal;
    if (this.redis.status !== 'ready') {
      throw new Error(`not connected to Redis (${this.redis.status}${this.lastError ? `: ${this.lastError}` : ''})`);
    }
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

function parseEvent(message: string): LeaseEvent | null {
  try {
    const v = JSON.parse(message) as Partial<LeaseEvent>;
    if (typeof v.type === 'string' && typeof v.id === 'string' && typeof v.epoch === 'number') return v as LeaseEvent;
  } catch {
    /* not ours: ignore */
  }
  return null;
}

function unique(fields: string[]): string[] {
  return [...new Set(fields)];
}
