/**
 * `ray-head-ha status`: who leads a namespace, read in one atomic script so
 * the lease, its ttl and the leader hash belong to the same instant.
 */
import type { Redis } from 'ioredis';
import { UnexpectedReplyError } from './errors.js';
import { leaseKeys } from './election/redis-lease.js';
import { parseToken } from './election/lease.js';

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
}

/** KEYS: lease, epoch, leader. Reply: {lease or false, pttl, epoch or false, leader hash as a flat list}. */
const READ_STATUS = `
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[3])}
`;

export async function readStatus(redis: Redis, namespace: string): Promise<Status> {
  const k = leaseKeys(namespace);
  const reply = (await redis.eval(READ_STATUS, 3, k.lease, k.epoch, k.leader)) as unknown;
  if (!Array.isArray(reply) || reply.length !== 4) throw new UnexpectedReplyError('status', reply);
  const [token, pttl, epochText, flat] = reply as [unknown, unknown, unknown, unknown];
  const epoch = typeof epochText === 'string' ? Number(epochText) : 0;
  const holder = typeof token === 'string' ? parseToken(token) : null;
  if (!holder || typeof pttl !== 'number') return { namespace, epoch, leader: null };
  const hash: Record<string, string> = {};
  if (Array.isArray(flat)) for (let i = 0; i + 1 < flat.length; i += 2) hash[String(flat[i])] = String(flat[i + 1]);
  // The hash describes the holder only when it names the same term.
  const sameTerm = hash.id === holder.id && Number(hash.epoch) === holder.epoch;
  const sinceMs = sameTerm ? Number(hash.since) : NaN;
  return {
    namespace,
    epoch,
    leader: {
      id: holder.id,
      epoch: holder.epoch,
      ttlMs: pttl,
      gcsAddress: (sameTerm && hash.gcsAddress) || null,
      dashboardUrl: (sameTerm && hash.dashboardUrl) || null,
      host: (sameTerm && hash.host) || null,
      since: Number.isFinite(sinceMs) ? new Date(sinceMs).toISOString() : null,
    },
  };
}

export function formatStatus(s: Status): string {
  if (!s.leader) return `namespace ${s.namespace}: no leader (last epoch ${s.epoch})\n`;
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
  return rows.map(([k, v]) => `${k.padEnd(12)} ${v}`).join('\n') + '\n';
}
