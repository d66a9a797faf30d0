// Loopback networking for the harness: free ports, "does this port answer",
// and TCP proxies that can cut, black-hole or slow one candidate's Redis
// connection. One implementation for the scripts and the tests
// (test/helpers/ports.ts types it).
import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * The lowest port the kernel hands out for outgoing connections. A port the
 * harness picks must lie below it: a head's GCS port is re-bound by each new
 * leader, and in the gap between two heads an ephemeral port of any client
 * connection (Redis replication, a sentinel, a test's own client) may land on
 * it and make the next bind fail with EADDRINUSE.
 */
function ephemeralLow() {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768;
  }
}

const handedOut = new Set();
const RAY_WORKER_PORTS_END = 19999;

function tryListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A port that was free a moment ago on 127.0.0.1, outside the kernel's
 * ephemeral range (so no outgoing connection takes it between two binds),
 * above Ray's worker ports, and never handed out twice by this process.
 */
export async function freePort() {
  const high = ephemeralLow();
  // Above Ray's default worker ports (10002-19999): a real-Ray test's GCS port
  // must not be one a worker of another head may take.
  const low = Math.max(1024, Math.min(RAY_WORKER_PORTS_END + 1, high - 4096));
  for (let tries = 0; tries < 200; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port)) continue;
    if (await tryListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`freePort: no free port in ${low}-${high - 1} after 200 tries`);
}

/** True when something accepts TCP connections on host:port within timeoutMs. */
export function isListening(port, host = '127.0.0.1', timeoutMs = 500) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(ok) {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    }
    sock.once('connect', () => finish(true));
    sock.once('error', () => finish(false));
  });
}

/**
 * A loopback TCP proxy to 127.0.0.1:targetPort. `delayMs` holds every reply
 * that long (a slow server). reset() destroys every open connection (a cut);
 * blackhole(true) keeps them open but drops every byte both ways (a
 * partition) and refuses nothing. Connects upstream per client, so it may
 * start before its target.
 */
export async function startProxy(targetPort, { delayMs = 0 } = {}) {
  const pairs = new Set();
  let holed = false;
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('data', (d) => !holed && upstream.write(d));
    upstream.on('data', (d) => {
      if (holed) return;
      if (delayMs > 0) setTimeout(() => client.writable && client.write(d), delayMs);
      else client.write(d);
    });
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    address: `127.0.0.1:${port}`,
    /** Connections accepted so far. */
    get accepted() {
      return accepted;
    },
    reset() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy?.() ?? client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    blackhole(on) {
      holed = on;
    },
    close() {
      this.reset();
      server.close();
    },
  };
}
