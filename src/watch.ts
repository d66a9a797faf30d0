/**
 * `ray-head-ha watch`: a live view of one namespace. Polls the same atomic
 * status script as `status` (leader, epoch, ttl) every intervalMs and prints
 * the lease events of `ray-head-ha:{ns}:events` as they arrive.
 *   on a terminal: one frame, redrawn in place, the ttl counting down;
 *   otherwise:     one line per event, and a status line on every change and each second;
 *   --json:        the same, as JSON lines ({"type":"status",...} / {"type":"event",...}).
 * Events published while the subscriber is disconnected are lost (pub/sub);
 * the status lines still show where the leadership went.
 */
import type { Redis } from 'ioredis';
import { HeadHaError } from './errors.js';
import { monotonicClock } from './clock.js';
import { describeRedis, type RedisTarget } from './redis/address.js';
import { electionConnection, subscriberConnection } from './redis/connection.js';
import { parseEvent } from './redis/events.js';
import { leaseKeys } from './redis/keys.js';
import { FailureTracker, credentialRefusal } from './redis/refusals.js';
import { jsonLine, printable } from './printable.js';
import { readStatus, type Status } from './status.js';

export interface WatchOptions {
  redis: RedisTarget;
  namespace: string;
  out: NodeJS.WritableStream & { isTTY?: boolean };
  connectTimeoutMs: number;
  json?: boolean;
  /** Print one status and return. */
  once?: boolean;
  /** Stop after this long (tests, scripts); null or undefined: until the signal aborts. */
  durationMs?: number | null;
  intervalMs?: number;
  signal?: AbortSignal;
}

interface Seen {
  status: Status | null;
  error: string | null;
  /** performance.now() of the read, to count the ttl down between polls. */
  readAtMs: number;
}

const STATUS_EVERY_MS = 1_000;
const MAX_EVENTS_SHOWN = 10;

export async function watch(options: WatchOptions): Promise<void> {
  const keys = leaseKeys(options.namespace);
  const intervalMs = options.intervalMs ?? 100;
  const conn = { commandTimeoutMs: options.connectTimeoutMs, connectTimeoutMs: options.connectTimeoutMs, reconnectMaxMs: 1_000 };
  const reader = electionConnection(options.redis, conn);
  const sub = options.once ? null : subscriberConnection(options.redis, conn);
  const where = describeRedis(options.redis);
  const tty = !options.json && options.out.isTTY === true;
  const events: string[] = [];
  let seen: Seen = { status: null, error: null, readAtMs: 0 };
  let lastKey = '';
  let lastPrintMs = -Infinity;

  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const timer = options.durationMs != null ? setTimeout(onAbort, options.durationMs) : null;
  options.out.on('error', onAbort); // EPIPE: the reader went away

  // Errors surface through the reads; the last transport error says why a read failed.
  const failures = new FailureTracker(options.redis.sentinel !== undefined).watch(reader, sub);
  sub?.on('ready', () => void sub.subscribe(keys.events).catch(() => {}));
  sub?.on('message', (channel: string, message: string) => {
    if (channel !== keys.events) return;
    const e = parseEvent(message);
    const at = new Date();
    if (options.json) write({ type: 'event', at: at.toISOString(), event: e.type, id: e.id, epoch: e.epoch });
    else if (tty) {
      events.push(`${clock(at)}  ${e.type.padEnd(13)} ${e.id}  epoch ${e.epoch}`);
      events.splice(0, events.length - MAX_EVENTS_SHOWN);
    } else options.out.write(`${printable(`${clock(at)} event ${e.type} ${e.id} epoch ${e.epoch}`)}\n`);
  });

  try {
    await Promise.all([connect(reader), sub && connect(sub)]);
    if (tty) options.out.write('\x1b[?25l\x1b[2J'); // hide the cursor, clear once
    while (!stop.signal.aborted) {
      seen = await poll(reader, options.namespace, seen, failures);
      if (options.once && seen.error) throw new HeadHaError(`cannot read status from ${where}: ${seen.error}`);
      render();
      if (options.once) break;
      await monotonicClock.sleep(intervalMs, stop.signal).catch(() => {}); // an abort ends the wait, then the loop
    }
  } finally {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (tty) options.out.write('\x1b[?25h'); // show the cursor again
    reader.disconnect();
    sub?.disconnect();
  }

  function render(): void {
    const nowMs = performance.now();
    if (tty) {
      // Each line escaped before our own escapes are added: a stored control character must not move the cursor.
      options.out.write(`\x1b[H${frame(seen, where, options.namespace, nowMs, events).map((l) => `${printable(l)}\x1b[K\n`).join('')}\x1b[J`);
      return;
    }
    const s = seen.status;
    const key = seen.error ?? (s?.leader ? `${s.leader.id}#${s.leader.epoch}` : `none#${s?.epoch ?? 0}`);
    if (key === lastKey && nowMs - lastPrintMs < STATUS_EVERY_MS && !options.once) return;
    lastKey = key;
    lastPrintMs = nowMs;
    if (options.json) write({ type: 'status', at: new Date().toISOString(), ...(seen.error ? { error: seen.error } : s) });
    else options.out.write(`${printable(`${clock(new Date())} ${statusLine(seen)}`)}\n`);
  }

  function write(value: unknown): void {
    options.out.write(`${jsonLine(value)}\n`);
  }
}

async function poll(redis: Redis, namespace: string, prev: Seen, failures: FailureTracker): Promise<Seen> {
  try {
    return { status: await readStatus(redis, namespace), error: null, readAtMs: performance.now() };
  } catch (err) {
    // A refused AUTH shows up on the connection's 'error' event, the read then only fails to send.
    const refused = failures.credentialRefusal(err);
    if (refused) throw refused;
    // "Stream isn't writeable" says less than the transport error behind it.
    const why = redis.status === 'ready' ? (err as Error).message : failures.notReady(redis);
    return { ...prev, error: `Redis unreachable (${why})` };
  }
}

function statusLine(seen: Seen): string {
  if (seen.error) return seen.error;
  const s = seen.status!;
  if (!s.leader) return `no leader (last epoch ${s.epoch})${s.ignored ? ` ignored ${s.ignored.join(',')}` : ''}`;
  const l = s.leader;
  const ignored = s.ignored ? ` ignored ${s.ignored.join(',')}` : '';
  return `leader ${l.id} epoch ${l.epoch} ttl ${(l.ttlMs / 1000).toFixed(1)} s gcs ${l.gcsAddress ?? '-'} since ${l.since ?? '-'}${ignored}`;
}

function frame(seen: Seen, where: string, namespace: string, nowMs: number, events: string[]): string[] {
  const lines = [`ray-head-ha watch  ${where}  namespace ${namespace}  ${clock(new Date())}`, ''];
  const s = seen.status;
  if (seen.error) lines.push(`! ${seen.error}`);
  if (!s) lines.push('waiting for Redis...');
  else if (!s.leader) lines.push(`leader       none (last epoch ${s.epoch})`);
  else {
    const l = s.leader;
    const ttlMs = Math.max(0, l.ttlMs - (nowMs - seen.readAtMs));
    lines.push(
      `leader       ${l.id}`,
      `epoch        ${l.epoch}`,
      `ttl left     ${(ttlMs / 1000).toFixed(1).padStart(5)} s`,
      `gcs address  ${l.gcsAddress ?? '-'}`,
      `dashboard    ${l.dashboardUrl ?? '-'}`,
      `host         ${l.host ?? '-'}`,
      `since        ${l.since ?? '-'}${l.since ? `  (${age(Date.now() - Date.parse(l.since))} ago)` : ''}`,
    );
  }
  if (s?.ignored) lines.push(`ignored      ${s.ignored.join(', ')} (not the shape a candidate writes)`);
  lines.push('', 'events', ...(events.length ? events : ['(none yet)']));
  return lines;
}

/** connect() that leaves an unreachable Redis to the reconnect loop but fails on refused credentials. */
async function connect(redis: Redis): Promise<void> {
  try {
    await redis.connect();
  } catch (err) {
    const refused = credentialRefusal(err);
    if (refused) throw refused;
  }
}

function clock(d: Date): string {
  return d.toISOString().slice(11, 23);
}

function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
