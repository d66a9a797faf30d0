/**
 * The schema's names: one namespace's keys, which share the hash tag `{ns}` so
 * they live in one Redis Cluster slot, and the lease's value, the holder's
 * token `"<id>#<epoch>"` (docs/design.md, "Keys").
 */
import { isName, parseEpoch } from './values.js';

export interface LeaseKeys {
  /** string, PX ttl: the holder's token. */
  lease: string;
  /** integer as text: the highest epoch, never reset. */
  epoch: string;
  /** hash: the term's id, epoch, host, gcsAddress, dashboardUrl, since. */
  leader: string;
  /** pub/sub channel of the lease events (events.ts). */
  events: string;
}

export function leaseKeys(namespace: string): LeaseKeys {
  const p = `ray-head-ha:{${namespace}}`;
  return { lease: `${p}:lease`, epoch: `${p}:epoch`, leader: `${p}:leader`, events: `${p}:events` };
}

/** The token the acquire script builds (Lua), for code that needs one without Redis. */
export function formatToken(id: string, epoch: number): string {
  return `${id}#${epoch}`;
}

/** `"<id>#<epoch>"` → parts, or null unless the id is a valid name and the epoch a safe integer in digits. */
export function parseToken(token: string): { id: string; epoch: number } | null {
  const at = token.lastIndexOf('#');
  if (at <= 0) return null;
  const id = token.slice(0, at);
  const epoch = parseEpoch(token.slice(at + 1));
  if (epoch === null || !isName(id)) return null;
  return { id, epoch };
}
