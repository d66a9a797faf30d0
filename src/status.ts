/**
 * `ray-head-ha status`: who leads a namespace, read in one atomic script so
 * the lease, its ttl and the leader hash belong to the same instant.
 */
import type { Redis } from 'ioredis';
import { UnexpectedReplyError } from './errors.js';
import { BOUNDED_READS_LUA } from './election/lease-scripts.js';
import { leaseKeys } from './election/redis-lease.js';
import { parseToken } from './election/lease.js';
import { printable } from './printable.js';
import { checked, isBoundedText, isDashboardUrl, isEpochText, isGcsAddress, parseEpoch } from './redis-values.js';

export interface LeaderStatus {
  id: string;
  epoch: number;
  ttlMs: number;
  gcsAddress: string | null;
  dashboardUrl: string | null;
  host: string | null;
  /** ISO time at which this term began (Redis server time). */
  since: string | null;
}

export interface Status {
  namespace: string;
  epoch: number;
  leader: LeaderStatus | null;
  /** Stored values that failed their shape check and are not shown ('lease', 'epoch', 'host', ...); absent when none. */
  ignored?: string[];
}

/** Longest value the script reads of any field: above every valid one, never a megabyte read or echoed back. */
const MAX_FIELD_BYTES = 512;

/**
 * KEYS: lease, epoch, leader. ARGV: the longest value to return.
 * Reply: {lease, pttl, epoch, {id, epoch, since, host, gcsAddress, dashboardUrl}}: each value
 * false when absent, or its length instead of a value over ARGV[1] bytes (which then fails its check).
 */
const READ_STATUS = `${BOUNDED_READS_LUA}
local max = tonumber(ARGV[1])
local fields = {'id', 'epoch', 'since', 'host', 'gcsAddress', 'dashboardUrl'}
local hash = {}
for i, f in ipairs(fields) do hash[i] = hgetBounded(KEYS[3], f, max) end
return {getBounded(KEYS[1], max), redis.call('PTTL', KEYS[1]), getBounded(KEYS[2], max), hash}
`;

export async function readStatus(redis: Redis, namespace: string): Promise<Status> {
  const k = leaseKeys(namespace);
  const reply = (await redis.eval(READ_STATUS, 3, k.lease, k.epoch, k.leader, MAX_FIELD_BYTES)) as unknown;
  if (!Array.isArray(reply) || reply.length !== 4 || !Array.isArray(reply[3])) throw new UnexpectedReplyError('status', reply);
  const [token, pttl, epochText, fields] = reply as [unknown, unknown, unknown, unknown[]];
  const ignored: string[] = [];
  const withIgnored = (st: Omit<Status, 'ignored'>): Status => (ignored.length > 0 ? { ...st, ignored } : st);
  const epoch = parseEpoch(checked(epochText, isEpochText, 'epoch', ignored)) ?? 0;
  const holderToken = checked(token, (v): v is string => typeof v === 'string' && parseToken(v) !== null, 'lease', ignored);
  const holder = holderToken === null ? null : parseToken(holderToken);
  if (!holder || typeof pttl !== 'number') return withIgnored({ namespace, epoch, leader: null });
  const [id, termEpoch, since, host, gcsAddress, dashboardUrl] = fields;
  // The hash describes the holder only when it names the same term.
  const sameTerm = id === holder.id && isEpochText(termEpoch) && Number(termEpoch) === holder.epoch;
  const field = <T>(v: unknown, ok: (x: unknown) => x is T, name: string): T | null => (sameTerm ? checked(v, ok, name, ignored) : null);
  const sinceMs = parseEpoch(field(since, isEpochText, 'since'));
  return withIgnored({
    namespace,
    epoch,
    leader: {
      id: holder.id,
      epoch: holder.epoch,
      ttlMs: pttl,
      gcsAddress: field(gcsAddress, isGcsAddress, 'gcsAddress'),
      dashboardUrl: field(dashboardUrl, isDashboardUrl, 'dashboardUrl'),
      host: field(host, isBoundedText, 'host'),
      since: sinceMs === null || sinceMs > 8.64e15 ? null : new Date(sinceMs).toISOString(),
    },
  });
}

export function formatStatus(s: Status): string {
  const ignored = s.ignored ? `ignored      ${s.ignored.join(', ')} (not the shape a candidate writes)\n` : '';
  if (!s.leader) return printable(`namespace ${s.namespace}: no leader (last epoch ${s.epoch})`) + '\n' + ignored;
  const l = s.leader;
  const rows: [string, string][] = [
    ['namespace', s.namespace],
    ['leader', l.id],
    ['epoch', String(l.epoch)],
    ['ttl left', `${(l.ttlMs / 1000).toFixed(1)} s`],
    ['gcs address', l.gcsAddress ?? '-'],
    ['dashboard', l.dashboardUrl ?? '-'],
    ['host', l.host ?? '-'],
    ['since', l.since ?? '-'],
  ];
  // Every value is escaped: a control character stored in Redis must not reach the terminal or forge a row.
  return rows.map(([k, v]) => `${k.padEnd(12)} ${printable(v)}`).join('\n') + '\n' + ignored;
}
