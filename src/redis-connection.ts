/**
 * Redis connections, each with the options its job needs, for a plain server
 * or a Sentinel-managed primary, with or without TLS. The election's
 * connection fails fast: no offline queue, no per-request retries and a
 * command timeout of at most half the renew deadline, so a renew is never
 * applied long after it was sent (DESIGN.md). Also here: which Redis errors
 * are refusals that no retry can fix (refusalOf), and which are transient.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisAuthError, RedisRefusedError } from './errors.js';
import { silenceIoredisDebug } from './ioredis-debug.js';
import type { RedisTarget, RedisTlsOptions } from './redis-address.js';

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

const AUTH_ERROR = /WRONGPASS|NOAUTH|NOPERM|invalid username-password|Client sent AUTH, but no password is set/i;
const NO_PERMISSION = /NOPERM/;
const NO_SCRIPT_PERMISSION = /'(evalsha|eval)' command/i;
const READONLY = /READONLY/;
const NO_SCRIPTS = /unknown command .?(evalsha|eval)\b/i;
/** Node's TLS verification codes, and OpenSSL's handshake failures (ERR_SSL_*: wrong version, alert bad/required certificate). */
const TLS_REFUSAL = /^(ERR_SSL_|ERR_TLS_CERT_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_)/;

/** Our credentials refused (WRONGPASS, NOAUTH, ...), as the error to exit 2 with; else null. */
export function credentialRefusal(err: unknown): RedisAuthError | null {
  return isAuthError(err) ? new RedisAuthError(`Redis refused our credentials: ${(err as Error).message}`) : null;
}

function isAuthError(err: unknown): boolean {
  return err instanceof Error && AUTH_ERROR.test(err.message);
}

/**
 * The refusal in `err` that no retry can fix, as the error to exit 2 with, or
 * null for a transient error. READONLY is a refusal only without Sentinel:
 * with Sentinel it is the moment of a failover, and the next try finds the new primary.
 */
export function refusalOf(err: unknown, viaSentinel: boolean): RedisRefusedError | null {
  if (!(err instanceof Error)) return null;
  const text = err.message;
  const code = (err as NodeJS.ErrnoException).code;
  if (NO_PERMISSION.test(text) && NO_SCRIPT_PERMISSION.test(text)) {
    return new RedisAuthError(`the lease needs EVAL and EVALSHA (Lua scripts), and this ACL user may not run them: ${text}`);
  }
  if (NO_PERMISSION.test(text)) {
    return new RedisAuthError(`Redis refused a command the election needs (see README "Redis deployments" for the minimal ACL): ${text}`);
  }
  const credentials = credentialRefusal(err);
  if (credentials) return credentials;
  if (NO_SCRIPTS.test(text)) {
    return new RedisRefusedError(`the lease needs EVAL and EVALSHA (Lua scripts), and this server does not run them (disabled, renamed, or not a Redis data node: a sentinel needs redis+sentinel://): ${text}`);
  }
  if (READONLY.test(text) && !viaSentinel) {
    return new RedisRefusedError(`this Redis is a read-only replica: point the address at the primary, or use redis+sentinel://... to follow failovers (${text})`);
  }
  if (code && TLS_REFUSAL.test(code)) return new RedisRefusedError(`TLS handshake refused (${code}): ${text}`);
  return null;
}

/**
 * A TLS misconfiguration that a failed connect hides, as the refusal to exit
 * with, or null. Two cases look like an unreachable Redis otherwise:
 * - rediss:// at a plain Redis: the server reads the TLS hello as the start of
 *   a command and waits, so the handshake only times out. Asked a plain PING,
 *   the port answers (+PONG, or -NOAUTH and the like): no TLS there.
 * - rediss+sentinel:// with a certificate that does not verify: ioredis drops
 *   the sentinel connection's TLS error and reports "Connection is closed.".
 *   A handshake of our own with each sentinel names the reason.
 */
export async function explainTlsFailure(t: RedisTarget, timeoutMs: number): Promise<RedisRefusedError | null> {
  if (!t.tls) return null;
  if (t.sentinel) {
    for (const node of t.sentinel.nodes) {
      const code = await tlsHandshake(node.host, node.port, t.tlsOptions ?? {}, timeoutMs);
      if (code === null) return null; // one sentinel verifies: the trouble is elsewhere
      if (TLS_REFUSAL.test(code)) return new RedisRefusedError(`TLS handshake with sentinel ${node.host}:${node.port} refused (${code})`);
    }
    return null;
  }
  const reply = await plainPing(t.host, t.port, timeoutMs);
  if (reply === null || !/^[+-][A-Za-z]/.test(reply)) return null;
  const said = reply.split('\r\n')[0]!.slice(0, 80);
  return new RedisRefusedError(`no TLS on port ${t.port}: it answered a plain PING (${said}); use redis://, or point rediss:// at the server's tls-port`);
}

/** null when the handshake verified, else the error code ('TIMEOUT' when there was no answer in time). */
function tlsHandshake(host: string, port: number, o: RedisTlsOptions, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = tls.connect({ host, port, ca: o.ca, cert: o.cert, key: o.key, servername: o.servername ?? (net.isIP(host) ? undefined : host) });
    const timer = setTimeout(() => done('TIMEOUT'), timeoutMs);
    function done(code: string | null) {
      clearTimeout(timer);
      sock.destroy();
      resolve(code);
    }
    sock.once('secureConnect', () => done(null));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'ERROR'));
  });
}

/** The first bytes a port answers to a plain `PING`, or null. */
function plainPing(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => done(null), timeoutMs);
    function done(text: string | null) {
      clearTimeout(timer);
      sock.destroy();
      resolve(text);
    }
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d: Buffer) => done(d.toString('latin1')));
    sock.once('error', () => done(null));
    sock.once('close', () => done(null));
  });
}
