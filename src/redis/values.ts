/**
 * Shape and size checks for what we read back from Redis. Anyone who can
 * write the namespace's keys chooses these values, so none is trusted: a
 * value that fails its check is dropped (and named, never echoed), not used.
 * The Lua scripts apply the same rules before replying (redis/lua-checks.ts),
 * so an oversized value never even crosses the wire; these are the second guard.
 */
import { isHostPort } from '../host-port.js';

/** Epochs are safe integers: above this, arithmetic in Lua and JavaScript stops being exact. */
export const MAX_EPOCH = Number.MAX_SAFE_INTEGER;

/** Free-text fields (host, dashboardUrl) longer than this are dropped. */
export const MAX_TEXT_BYTES = 300;

/** A candidate id or a namespace: it goes into Redis keys, tokens and logs (config.ts refuses others). */
const NAME_PATTERN = /^[A-Za-z0-9._:@-]{1,200}$/;

/** A candidate id or namespace as config.ts allows them. */
export function isName(v: unknown): v is string {
  return typeof v === 'string' && NAME_PATTERN.test(v);
}

/** An epoch as Redis stores it (decimal digits, a safe integer), or null. */
export function parseEpoch(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v)) return null;
  const n = Number(v);
  return n <= MAX_EPOCH ? n : null;
}

/** An epoch in its stored form. */
export function isEpochText(v: unknown): v is string {
  return typeof v === 'string' && parseEpoch(v) !== null;
}

/** A GCS address as a candidate may publish it (host-port.ts). */
export const isGcsAddress = isHostPort;

/** Text of at most MAX_TEXT_BYTES bytes (UTF-8); printing escapes it (printable.ts). */
export function isBoundedText(v: unknown): v is string {
  return typeof v === 'string' && Buffer.byteLength(v, 'utf8') <= MAX_TEXT_BYTES;
}

/** A dashboard URL: http(s):// and printable ASCII, bounded. */
export function isDashboardUrl(v: unknown): v is string {
  return isBoundedText(v) && /^https?:\/\/[\x21-\x7e]+$/.test(v);
}

/**
 * Keeps `value` when `ok(value)`, else records `field` in `dropped` and
 * returns null. An empty string is "not set", not malformed.
 */
export function checked<T>(value: unknown, ok: (v: unknown) => v is T, field: string, dropped: string[]): T | null {
  if (value === undefined || value === null || value === false || value === '') return null;
  if (ok(value)) return value;
  dropped.push(field);
  return null;
}
