// Loopback networking for the harness: free ports, "does this port answer",
// and TCP proxies that can cut, black-hole or slow one candidate's Redis
// connection. One implementation for the scripts and the tests
// (test/helpers/ports.ts types it).
import net from 'node:net';

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
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
  const server = net.createServer((client) => {
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
