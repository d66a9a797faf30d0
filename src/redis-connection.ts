/**
 * Redis connections, each with the options its job needs. The election's
 * connection fails fast: no offline queue, no per-request retries and a
 * command timeout of at most half the renew deadline, so a renew is never
 * applied long after it was sent (DESIGN.md).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './redis-address.js';

export interface ElectionConnectionOptions {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Longest pause between reconnect attempts. */
  reconnectMaxMs: number;
}

function baseOptions(t: RedisTarget): RedisOptions {
  return {
    host: t.host,
    port: t.port,
    db: t.db,
    username: t.username,
    password: t.password,
    tls: t.tls ? {} : undefined,
    lazyConnect: true,
    // Our own name in CLIENT LIST helps an operator see the candidates.
    connectionName: 'ray-head-ha',
  };
}

export function electionConnection(t: RedisTarget, o: ElectionConnectionOptions): Redis {
  return new Redis({
    ...baseOptions(t),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: o.connectTimeoutMs,
    enableReadyCheck: false,
    autoResubscribe: false,
    retryStrategy: (attempt) => Math.min(o.reconnectMaxMs, 50 * attempt),
  });
}

/** For pub/sub: reconnects on its own (RedisLease resubscribes on ready); events are a hint, never needed for safety. */
export function subscriberConnection(t: RedisTarget, o: ElectionConnectionOptions): Redis {
  return new Redis({
    ...baseOptions(t),
    connectTimeout: o.connectTimeoutMs,
    enableReadyCheck: false,
    autoResubscribe: false,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(o.reconnectMaxMs, 50 * attempt),
  });
}

/** For one-shot commands (`status`): one try, a bounded wait, no reconnect loop. */
export function oneShotConnection(t: RedisTarget, timeoutMs: number): Redis {
  return new Redis({
    ...baseOptions(t),
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
}

const AUTH_ERROR = /WRONGPASS|NOAUTH|NOPERM|invalid username-password|Client sent AUTH, but no password is set/i;

export function isAuthError(err: unknown): boolean {
  return err instanceof Error && AUTH_ERROR.test(err.message);
}
