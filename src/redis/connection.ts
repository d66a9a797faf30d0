/**
 * Redis connections, each with the options its job needs, for a plain server
 * or a Sentinel-managed primary, with or without TLS. The election's
 * connection fails fast: no offline queue, no per-request retries and a
 * command timeout of at most half the renew deadline, so a renew is never
 * applied long after it was sent (docs/design.md). Which errors are
 * refusals, and how a failure is explained, is in refusals.ts.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './address.js';
import { READONLY } from './refusals.js';
import { silenceIoredisDebug } from './silence-debug.js';

// Every connection of ours is made here: none may print AUTH under DEBUG=ioredis:*.
silenceIoredisDebug();

export interface ElectionConnectionOptions {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Longest pause between reconnect attempts. */
  reconnectMaxMs: number;
}

function baseOptions(t: RedisTarget, connectTimeoutMs: number): RedisOptions {
  const tls = t.tls ? { ...t.tlsOptions } : undefined;
  const common: RedisOptions = {
    db: t.db,
    username: t.username,
    password: t.password,
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    // Our own name in CLIENT LIST helps an operator see the candidates: the minimal ACL (README)
    // grants +client|setname for it. CLIENT SETINFO (library name and version) is not sent: it says
    // nothing an operator needs, Redis before 7.2 has no such subcommand to grant, and a refused
    // one lands in ACL LOG on every connect.
    connectionName: 'ray-head-ha',
    disableClientInfo: true,
  };
  if (!t.sentinel) return { ...common, host: t.host, port: t.port, tls };
  return {
    ...common,
    sentinels: t.sentinel.nodes,
    name: t.sentinel.name,
    sentinelUsername: t.sentinel.username,
    sentinelPassword: t.sentinel.password,
    // rediss+sentinel://: TLS to the sentinels and to the data nodes they name.
    tls,
    sentinelTLS: tls,
    enableTLSForSentinelMode: t.tls,
    sentinelCommandTimeout: connectTimeoutMs,
  };
}

/**
 * After a Sentinel failover a connection can still point at the old primary,
 * now a replica: READONLY then means "ask the sentinels again". Reconnect
 * (1), but never resend (2): the election fails fast and retries itself.
 */
function sentinelReconnectOnError(t: RedisTarget): RedisOptions['reconnectOnError'] {
  return t.sentinel ? (err: Error) => (READONLY.test(err.message) ? 1 : false) : null;
}

/**
 * A connection that does not stay ended unless we closed it. ioredis 6 can end
 * a Sentinel connection for good: when its failover detector hears
 * +switch-master while the connection is asking the sentinels where the
 * primary is (a reconnect after the old primary died), that reconnect is
 * aborted with "Connection is closed." and the client goes to 'end' and never
 * tries again. A standby would then never take over. Whatever ends it, this
 * connects again after `retryMs` until disconnect() is called.
 */
export class PersistentRedis extends Redis {
  private closing = false;

  constructor(options: RedisOptions, retryMs: number) {
    // We never set replyMapping: the default (legacy) replies are what our code reads.
    super(options as RedisOptions & { replyMapping?: 'legacy' });
    this.on('end', () => {
      if (this.closing) return;
      setTimeout(() => {
        if (!this.closing && this.status === 'end') this.connect().catch(() => {});
      }, retryMs).unref();
    });
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) this.closing = true;
    super.disconnect(reconnect);
  }
}

/** What both long-lived connections share: they reconnect on their own (backoff up to reconnectMaxMs), never ready-check or resubscribe by themselves. */
function reconnecting(t: RedisTarget, o: ElectionConnectionOptions): RedisOptions {
  const backoff = (attempt: number) => Math.min(o.reconnectMaxMs, 50 * attempt);
  return {
    ...baseOptions(t, o.connectTimeoutMs),
    enableReadyCheck: false,
    autoResubscribe: false,
    retryStrategy: backoff,
    ...(t.sentinel && { sentinelRetryStrategy: backoff }),
  };
}

export function electionConnection(t: RedisTarget, o: ElectionConnectionOptions): Redis {
  return new PersistentRedis({
    ...reconnecting(t, o),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs,
    reconnectOnError: sentinelReconnectOnError(t),
    // Sentinel only: hear +switch-master at once instead of at the next failed command.
    ...(t.sentinel && { failoverDetector: true }),
  }, o.reconnectMaxMs);
}

/** For pub/sub: reconnects on its own (RedisLease resubscribes on ready); events are a hint, never needed for safety. */
export function subscriberConnection(t: RedisTarget, o: ElectionConnectionOptions): Redis {
  return new PersistentRedis({ ...reconnecting(t, o), maxRetriesPerRequest: null }, o.reconnectMaxMs);
}

/** For one-shot commands (`status`): one try, a bounded wait, no reconnect loop. */
export function oneShotConnection(t: RedisTarget, timeoutMs: number): Redis {
  return new Redis({
    ...baseOptions(t, timeoutMs),
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    // No INFO ready check: the minimal ACL (README) has no +info.
    enableReadyCheck: false,
    retryStrategy: () => null,
    ...(t.sentinel && { sentinelRetryStrategy: () => null }),
  });
}
