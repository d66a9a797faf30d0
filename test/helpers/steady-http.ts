/** Steady HTTP traffic: scripts/lib/steady-http.mjs (one implementation with the scripts), typed. */
import * as impl from '../../scripts/lib/steady-http.mjs';

export interface RequestResult {
  /** When the request ended, epoch ms. */
  at: number;
  ok: boolean;
  /** The HTTP status, `body` (refused by accept), or the error's code or name (ECONNREFUSED, TimeoutError, ...). */
  why?: string;
}

/** A GET every 1000/rps ms, each on time; onResult per request when it ends. Returns stop(). */
export const steadyGets = impl.steadyGets as (
  url: string,
  rps: number,
  onResult: (r: RequestResult) => void,
  opts?: { timeoutMs?: number; accept?: (body: string) => boolean },
) => () => void;

/** steadyGets on a thread of its own; a body is accepted when it starts with acceptPrefix. Returns stop(). */
export const steadyGetsOffThread = impl.steadyGetsOffThread as (
  url: string,
  rps: number,
  onResult: (r: RequestResult) => void,
  opts?: { timeoutMs?: number; acceptPrefix?: string },
) => () => void;

/** The results scripts/k8s-lab/serve-traffic.mjs wrote to `file` ([] before its first). */
export const readTrafficFile = impl.readTrafficFile as (file: string) => RequestResult[];

/** Answered and failed requests that ended in [from, to], why they failed (counted), and the longest time without an answer in it (ms). */
export const windowStats = impl.windowStats as (
  results: RequestResult[],
  from: number,
  to: number,
) => { ok: number; failed: number; failedWhy: Record<string, number>; longestGapMs: number };
