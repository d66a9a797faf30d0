/**
 * The one "does this port answer" probe: a TCP connect to `host:port` within
 * a timeout. Used by a new leader waiting for the previous GCS to stop
 * (supervisor/previous-gcs.ts) and by /readyz (http/server.ts). Any failure
 * to connect (refused, unreachable, timed out) is "does not answer".
 */
import net from 'node:net';
import { splitHostPort } from './host-port.js';

/** True when `address` (`host:port`, `[v6]:port`) accepts a TCP connection within `timeoutMs`. */
export function portAnswers(address: string, timeoutMs: number): Promise<boolean> {
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
