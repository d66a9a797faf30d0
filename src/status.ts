/**
 * `ray-head-ha status`: who leads a namespace, read in one atomic script
 * (redis/scripts.ts, STATUS) so the lease, its ttl and the leader hash belong
 * to the same instant, and every value checked before it is shown.
 */
import type { Redis } from 'ioredis';
import { leaseKeys, parseToken } from './redis/keys.js';
import { registerScripts } from './redis/scripts.js';
import { checked, isBoundedText, isDashboardUrl, isEpochText, isGcsAddress, parseEpoch } from './redis/values.js';
import { printable } from './printable.js';

export interface LeaderStatus {
  id: string;
  epoch: number;
  ttlMs: number;
  gcsAddress: string | null;
  dashboardUrl: string | null;
  host: string | null;
  /** ISO time at which this term began (Redis server time). */
  since: string | null;
  /** The lease ttl the leader runs with (RAY_HA_KEY_EXPIRE_TIME_MS), as it published it. */
  leaseTtlMs: number | null;
  /** The GCS the next leader waits on: the last one where a head came up (decision 35). */
  servedGcs: string | null;
}

export interface Status {
  namespace: string;
  epoch: number;
  leader: LeaderStatus | null;
  /** Stored values that failed their shape check and are not shown ('lease', 'epoch', 'host', ...); absent when none. */
  ignored?: string[];
}

export async function readStatus(redis: Redis, namespace: string): Promise<Status> {
  const { token, pttlMs: pttl, storedEpoch: epochText, leader: hash } = await registerScripts(redis).status(leaseKeys(namespace));
  const ignored: string[] = [];
  const withIgnored = (st: Omit<Status, 'ignored'>): Status => (ignored.length > 0 ? { ...st, ignored } : st);
  const epoch = parseEpoch(checked(epochText, isEpochText, 'epoch', ignored)) ?? 0;
  const holderToken = checked(token, (v): v is string => typeof v === 'string' && parseToken(v) !== null, 'lease', ignored);
  const holder = holderToken === null ? null : parseToken(holderToken);
  if (!holder || typeof pttl !== 'number') return withIgnored({ namespace, epoch, leader: null });
  const { id, epoch: termEpoch, since, host, gcsAddress, dashboardUrl, ttlMs: leaseTtl, servedGcs } = hash;
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
      leaseTtlMs: parseEpoch(field(leaseTtl, isEpochText, 'ttlMs')),
      servedGcs: field(servedGcs, isGcsAddress, 'servedGcs'),
    },
  });
}

/**
 * The table. With `ttlMs` (this configuration's lease ttl), a leader that
 * published another ttl is flagged: every candidate should run the same timing.
 */
export function formatStatus(s: Status, ttlMs?: number): string {
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
    ['lease ttl', l.leaseTtlMs === null ? '-' : `${l.leaseTtlMs} ms${ttlMs !== undefined && l.leaseTtlMs !== ttlMs ? ` (differs from this configuration's ${ttlMs} ms)` : ''}`],
    ['served gcs', l.servedGcs ?? '-'],
  ];
  // Every value is escaped: a control character stored in Redis must not reach the terminal or forge a row.
  return rows.map(([k, v]) => `${k.padEnd(12)} ${printable(v)}`).join('\n') + '\n' + ignored;
}
