/**
 * Which Redis errors are refusals that no retry can fix (exit 2), and the one
 * place that explains a failed Redis call: a refusal in the error itself, one
 * a connection met while reconnecting (FailureTracker), or a TLS
 * misconfiguration that only looks like an unreachable Redis
 * (explainTlsFailure). Everything else is transient and worded with the last
 * transport error the connection saw.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Redis } from 'ioredis';
import { RedisAuthError, RedisRefusedError } from '../errors.js';
import { describeRedis, type RedisTarget, type RedisTlsOptions } from './address.js';

const AUTH_ERROR = /WRONGPASS|NOAUTH|NOPERM|invalid username-password|Client sent AUTH, but no password is set/i;
const NO_PERMISSION = /NOPERM/;
const NO_SCRIPT_PERMISSION = /'(evalsha|eval)' command/i;
export const READONLY = /READONLY/;
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

/**
 * What the connections of one job met: the last error any of them reported
 * (a failed command only says "Connection is closed."; this says why:
 * ECONNREFUSED, a TLS code, WRONGPASS on a reconnect), and the first refusal
 * among them, which stays (retrying cannot help). Listening is also what
 * keeps an 'error' event from crashing the process.
 */
export class FailureTracker {
  last: Error | null = null;
  refusal: RedisRefusedError | null = null;

  constructor(private readonly viaSentinel: boolean) {}

  watch(...connections: (Redis | null | undefined)[]): this {
    for (const c of connections) c?.on('error', (err: Error) => this.record(err));
    return this;
  }

  record(err: Error): void {
    this.last = err;
    this.refusal ??= refusalOf(err, this.viaSentinel);
  }

  /** Why `redis` cannot take a command now: its status and the last error (`connecting: connect ECONNREFUSED ...`). */
  notReady(redis: Redis): string {
    return `${redis.status}${this.last ? `: ${this.last.message}` : ''}`;
  }

  /** Our credentials refused, by the failed call or on the connection behind it; else null. */
  credentialRefusal(err: unknown): RedisAuthError | null {
    return credentialRefusal(err) ?? (this.last ? credentialRefusal(this.last) : null);
  }
}

/**
 * The one explanation of a failed Redis call for a command that ends on it
 * (`status`, `watch`, `run`): the refusal behind it, named with the address
 * (never the password), or null when the failure is transient. A refusal is
 * one in the error itself, our credentials refused on the connection, or a TLS
 * misconfiguration that looks like an unreachable Redis.
 */
export async function explainFailure(err: unknown, t: RedisTarget, timeoutMs: number, tracker?: FailureTracker): Promise<RedisRefusedError | null> {
  const refused =
    err instanceof RedisRefusedError ? err : ((tracker ? tracker.credentialRefusal(err) : credentialRefusal(err)) ?? (await explainTlsFailure(t, timeoutMs)));
  return refused ? withAddress(refused, t) : null;
}

/** A refusal with the address it came from, without the password; other errors as they are. */
export function withAddress<E>(err: E, t: RedisTarget): E | RedisRefusedError {
  if (!(err instanceof RedisRefusedError)) return err;
  const Refusal = err.constructor as new (message: string) => RedisRefusedError;
  return new Refusal(`${describeRedis(t)}: ${err.message}`);
}
