/**
 * Before a new leader starts its head, the previous leader's GCS must stop
 * answering (DESIGN.md; Ray's RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS). Any
 * failure to connect (refused, unreachable, timed out) counts as stopped: a
 * dead pod's address usually just stops answering.
 */
import net from 'node:net';
import type { Clock } from '../election/clock.js';
import { splitHostPort } from '../host-port.js';

const PROBE_TIMEOUT_MS = 500;
const PROBE_PAUSE_MS = 50;

/** True when `host:port` accepts a TCP connection right now. */
export function gcsAnswers(address: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  const hp = splitHostPort(address);
  if (!hp) return Promise.resolve(false);
  return new Promise((resolve) => {
    const sock = net.connect(hp);
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(answered: boolean) {
      clearTimeout(timer);
      sock.destroy();
      resolve(answered);
    }
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Waits until `address` stops answering. Resolves true when it has, false when
 * it still answered at `maxWaitMs`; rejects when `signal` aborts.
 */
export async function waitUntilGcsStops(
  address: string,
  maxWaitMs: number,
  clock: Clock,
  signal: AbortSignal,
  probe: (address: string) => Promise<boolean> = gcsAnswers,
): Promise<boolean> {
  const endMs = clock.nowMs() + maxWaitMs;
  for (;;) {
    signal.throwIfAborted();
    if (!(await probe(address))) return true;
    if (clock.nowMs() >= endMs) return false;
    await clock.sleep(Math.min(PROBE_PAUSE_MS, endMs - clock.nowMs()), signal);
  }
}
