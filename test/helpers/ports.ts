/** Loopback ports and proxies: scripts/lib/net.mjs (one implementation with the scripts), typed. */
import * as impl from '../../scripts/lib/net.mjs';

/** A port that was free a moment ago on 127.0.0.1, between Ray's worker ports and the kernel's ephemeral range, never handed out twice. */
export const freePort = impl.freePort as () => Promise<number>;

/** True when something accepts TCP connections on host:port. */
export const isListening = impl.isListening as (port: number, host?: string, timeoutMs?: number) => Promise<boolean>;

export interface Proxy {
  port: number;
  address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Destroys every open connection (a cut). */
  reset(): void;
  /** Keeps connections open but drops every byte both ways (a partition). */
  blackhole(on: boolean): void;
  close(): void;
}

/** A loopback TCP proxy to 127.0.0.1:targetPort; delayMs holds every reply that long. */
export const startProxy = impl.startProxy as (targetPort: number, o?: { delayMs?: number }) => Promise<Proxy>;

/** A loopback TCP proxy to `targetPort` that holds every reply for `delayMs`: a slow server. */
export const slowProxy = (targetPort: number, delayMs: number): Promise<Proxy> => startProxy(targetPort, { delayMs });
