/**
 * The lease events on `ray-head-ha:{ns}:events`, as the scripts publish them:
 * `{"type": "acquired" | "released" | "stepped-down", "id": ..., "epoch": ...}`.
 * One decoder for everyone who listens (the standby's wake-up, `watch`).
 * Anyone who can publish on the channel chooses the message, so nothing in
 * it is trusted: what does not have the published shape is marked unknown,
 * cut short, and never wakes a standby.
 */
import { isName, parseEpoch } from './values.js';

const EVENT_TYPES = ['acquired', 'released', 'stepped-down'] as const;

export interface ParsedEvent {
  /** One of EVENT_TYPES, or `unknown:<type>` / `unparsed` for a message the scripts did not publish. */
  type: string;
  id: string;
  epoch: number | null;
  /** True only for an event of the published shape: a known type, a candidate name, an epoch. */
  valid: boolean;
}

export function parseEvent(message: string): ParsedEvent {
  let v: { type?: unknown; id?: unknown; epoch?: unknown } | null;
  try {
    v = JSON.parse(message) as typeof v;
  } catch {
    v = null;
  }
  if (v === null) return { type: 'unparsed', id: message.slice(0, 80), epoch: null, valid: false };
  const known = typeof v.type === 'string' && (EVENT_TYPES as readonly string[]).includes(v.type);
  const type = known ? (v.type as string) : `unknown:${String(v.type).slice(0, 20)}`;
  const id = isName(v.id) ? v.id : String(v.id ?? '?').slice(0, 80);
  const epoch = parseEpoch(v.epoch);
  return { type, id, epoch, valid: known && isName(v.id) && epoch !== null };
}

/** An event that frees the lease: a standby should try at once. */
export function isVacancy(e: ParsedEvent): boolean {
  return e.valid && (e.type === 'released' || e.type === 'stepped-down');
}
