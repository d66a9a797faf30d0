/**
 * Before a new leader starts its head, the previous leader's GCS must stop
 * answering (docs/design.md; Ray's RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS). Any
 * failure to connect (refused, unreachable, timed out) counts as stopped: a
 * dead pod's address usually just stops answering.
 */
import type { Clock } from '../clock.js';
import { portAnswers } from '../port-probe.js';

const PROBE_TIMEOUT_MS = 500;
const PROBE_PAUSE_MS = 50;

/**
 * Waits until `address` stops answering. Resolves true when it has, false when
 * it still answered at `maxWaitMs`; rejects when `signal` aborts.
 */
export async function waitUntilGcsStops(
  address: string,
  maxWaitMs: number,
  clock: Clock,
  signal: AbortSignal,
  probe: (address: string) => Promise<boolean> = (a) => portAnswers(a, PROBE_TIMEOUT_MS),
): Promise<boolean> {
  const endMs = clock.nowMs() + maxWaitMs;
  for (;;) {
    signal.throwIfAborted();
    if (!(await probe(address))) return true;
    if (clock.nowMs() >= endMs) return false;
    await clock.sleep(Math.min(PROBE_PAUSE_MS, endMs - clock.nowMs()), signal);
  }
}
