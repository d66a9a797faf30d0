/**
 * The one "does this port answer" probe: a TCP connect to `host:port` within
 * a timeout. Used by a new leader waiting for the previous GCS to stop
 * (supervisor/previous-gcs.ts) and by /readyz (http/server.ts). Any failure
 * to connect (refused, unreachable, timed out) is "does not answer"; probePort
 * also says whether the failure was immediate or a timeout.
 */
import net from 'node:net';
import { splitHostPort } from './host-port.js';

/** What a connect attempt found: accepted, failed at once (refused, unreachable, reset), or no answer in time. */
export type PortProbe = 'answered' | 'refused' | 'timeout';

/** One TCP connect to `address` (`host:port`, `[v6]:port`) within `timeoutMs`; an unparsable address is 'refused'. */
export function probePort(address: string, timeoutMs: number): Promise<PortProbe> {
  const hp = splitHostPort(address);
  if (!hp) return Promise.resolve('refused');
  return new Promise((resolve) => {
    const sock = net.connect(hp);
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    function done(result: PortProbe) {
      clearTimeout(timer);
      sock.destroy();
      resolve(result);
    }
    sock.once('connect', () => done('answered'));
    sock.once('error', () => done('refused'));
  });
}

/** True when `address` accepts a TCP connection within `timeoutMs`. */
export async function portAnswers(address: string, timeoutMs: number): Promise<boolean> {
  return (await probePort(address, timeoutMs)) === 'answered';
}
