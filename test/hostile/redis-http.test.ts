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
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { parseToken } from '../../src/redis/keys.js';
import { CHECKS_LUA } from '../../src/redis/lua-checks.js';
import { RedisLease } from '../../src/election/redis-lease.js';
import type { AcquireResult } from '../../src/election/lease.js';
import { leaseKeys } from '../../src/redis/keys.js';
import { MAX_CONNECTIONS } from '../../src/http/server.js';
import { parseRedisAddress } from '../../src/redis/address.js';
import { electionConnection } from '../../src/redis/connection.js';
import { isEpochText, isGcsAddress, isName } from '../../src/redis/values.js';
import { watch } from '../../src/watch.js';
import { headStarted, runCli, until, type Candidate } from '../helpers/candidates.js';
import { useStandInCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';

const cluster = useStandInCluster('hostile');
const keys = () => leaseKeys(cluster.ns);
const raw = (): Redis => cluster.redis.client();

/** RedisLease objects a test made: closed after it. */
const leases: RedisLease[] = [];
/** Servers and sockets a test opened: closed after it. */
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const l of leases.splice(0)) await l.close();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A RedisLease of this test's namespace, on the real scripts. */
async function lease(id: string): Promise<RedisLease> {
  const target = parseRedisAddress(cluster.redis.address, 'test');
  const l = new RedisLease(electionConnection(target, { commandTimeoutMs: 2_000, connectTimeoutMs: 1_000, reconnectMaxMs: 100 }), null, {
    namespace: cluster.ns,
    candidateId: id,
    ttlMs: 60_000,
    host: `host-${id}`,
    gcsAddress: '127.0.0.1:1',
    dashboardUrl: null,
  });
  leases.push(l);
  await l.connect();
  return l;
}

/**
 * One acquire attempt as the elector makes it once its hold is over: a
 * namespace without a valid epoch counter (decision 28) is taken through the
 * connection session that showed it so.
 */
async function attempt(l: RedisLease, knownGcsAddress: string | null = null): Promise<AcquireResult> {
  const r = await l.tryAcquire({ minEpoch: 0, knownGcsAddress, unknownSession: null });
  if (r.acquired || !r.unknownState) return r;
  return l.tryAcquire({ minEpoch: 0, knownGcsAddress, unknownSession: r.session });
}

/** A TCP server that counts who connects: a decoy at an address a writer planted. */
async function decoy(): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

const ignoredLines = (c: Candidate) => c.logs.filter((l) => String(l.msg).startsWith('ignored values in Redis'));
const leadingEpoch = async (c: Candidate) => Number((await c.waitForLog((l) => l.to === 'leading')).epoch);

/** Redis's own count of bytes it has sent to clients. */
async function bytesSent(): Promise<number> {
  const info = await raw().info('stats');
  return Number(/total_net_output_bytes:(\d+)/.exec(info)![1]);
}

/** Everything a terminal would act on: C0 controls but \n, DEL, C1 controls, bidi and other format characters. */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]/;

describe('values read from Redis are checked for shape and size (item 6)', () => {
  it.each(['1e300', '-5', '9007199254740993', '12abc', ' 7', ''])('an epoch counter of %j is treated as lost: the epoch goes up, a safe integer', async (bad) => {
    const a = await lease('a');
    const first = await attempt(a);
    if (!first.acquired) throw new Error('first acquire failed');
    await a.release(first.token, 'released');
    await raw().set(keys().epoch, bad);
    const second = await attempt(a);
    if (!second.acquired) throw new Error('second acquire failed');
    expect(Number.isSafeInteger(second.epoch)).toBe(true);
    expect(second.epoch).toBeGreaterThan(first.epoch);
    expect(await raw().get(keys().epoch)).toBe(String(second.epoch));
    expect(second.dropped).toEqual(['epoch']);
  });

  it('the Lua checks and their TypeScript twins agree, value by value', async () => {
    const hostPorts = [
      '127.0.0.1:6379', 'head-0.ray.svc:6379', 'a_b:1', '[::1]:6379', '[fe80::1%eth0]:6379', '[::ffff:10.0.0.1]:65535',
      '[127.0.0.1]:6379', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:000006379', 'h:', ':1', 'h:1 ', ' h:1', 'h:1\n',
      'http://h:1/', 'h\x1b:1', 'hé:1', '[::1]6379', '[::1%]:1', `${'a'.repeat(294)}:65535`, `${'a'.repeat(295)}:65535`,
    ];
    const epochs = ['0', '1', '1796100936776', '9007199254740991', '9007199254740992', '1e300', '-1', '1.5', ' 1', '0x10', '', '12345678901234567'];
    const names = ['a', 'host-1.x:y@z', 'a#1', 'a b', 'é', 'a\n', 'x'.repeat(200), 'x'.repeat(201)];
    const lua = (fn: string, v: string) => raw().eval(`${CHECKS_LUA}\nif ${fn}(ARGV[1]) then return 1 end return 0`, 0, v);
    for (const v of hostPorts) expect({ v, ok: await lua('hostPortOf', v) }).toEqual({ v, ok: isGcsAddress(v) ? 1 : 0 });
    for (const v of epochs) expect({ v, ok: await lua('epochOf', v) }).toEqual({ v, ok: isEpochText(v) ? 1 : 0 });
    for (const v of names) expect({ v, ok: await lua('nameOf', v) }).toEqual({ v, ok: isName(v) ? 1 : 0 });
    for (const v of ['a#1', 'a#01', 'a#1e3', '#1', 'a#', 'a#b#1', 'a b#1', `a#${Number.MAX_SAFE_INTEGER + 2}`]) {
      expect({ v, ok: await lua('tokenOf', v) }).toEqual({ v, ok: parseToken(v) ? 1 : 0 });
    }
  });

  it('an epoch counter at 2^53-1 refuses a new term instead of going past safe integers; nothing is written', async () => {
    const a = await lease('a');
    await raw().set(keys().epoch, String(Number.MAX_SAFE_INTEGER));
    await expect(attempt(a)).rejects.toThrow(/epoch counter is at 2\^53-1/);
    expect(await raw().get(keys().lease)).toBeNull();
    expect(await raw().get(keys().epoch)).toBe(String(Number.MAX_SAFE_INTEGER));
  });

  it.each([
    ['[127.0.0.1]:PORT', 'an IPv4 address in brackets'],
    ['127.0.0.1:00000PORT', 'a port of more than 5 digits'],
    ['127.0.0.1:PORT\n', 'a trailing newline'],
    ['http://127.0.0.1:PORT/', 'a URL'],
    ['127.0.0.1:PORT\x1b[2J', 'an ANSI escape'],
    [`${'a'.repeat(296)}:PORT`, 'a host:port over 300 bytes'],
  ])('a previous GCS address %j (%s) is neither returned nor probed', async (planted) => {
    const d = await decoy();
    const value = planted.replace('PORT', String(d.port));
    const a = await lease('a');
    const b = await lease('b');
    const held = await attempt(a);
    if (!held.acquired) throw new Error('a did not acquire');
    // Planted as the leader's address and as the last GCS that served.
    await raw().hset(keys().leader, 'gcsAddress', value, 'servedGcs', value);
    // A standby does not get it back ...
    const seen = await attempt(b);
    expect(seen).toMatchObject({ acquired: false, holderId: 'a', gcsAddress: null, dropped: ['gcsAddress'] });
    // ... nor the next leader, which falls back to the last valid address it saw.
    await a.release(held.token, 'released');
    const won = await attempt(b, '127.0.0.1:7');
    expect(won).toMatchObject({ acquired: true, previousGcsAddress: '127.0.0.1:7', dropped: ['servedGcs'] });
    expect(d.connections()).toBe(0);
  });

  it('a lease that is not "<id>#<epoch>" is left to expire, and said so; a malformed previous id is dropped', async () => {
    const a = await lease('a');
    await raw().set(keys().lease, `x#1e300`, 'PX', 60_000);
    await expect(attempt(a)).rejects.toThrow(/not "<id>#<epoch>"/);
    expect(await raw().get(keys().lease)).toBe('x#1e300');
    await raw().del(keys().lease);
    await raw().hset(keys().leader, 'id', 'evil\nid', 'gcsAddress', '127.0.0.1:9');
    const won = await attempt(a);
    expect(won).toMatchObject({ acquired: true, previousId: null, previousGcsAddress: '127.0.0.1:9', dropped: ['id'] });
  });

  it('real candidates: 1e300 in the epoch counter, at a standby and at a new leader; epochs never go backwards, said once', async () => {
    const a = cluster.candidate('a');
    const e1 = await leadingEpoch(a);
    await raw().set(keys().epoch, '1e300');
    const b = cluster.candidate('b');
    await b.waitForLog((l) => l.to === 'standby');
    await new Promise((r) => setTimeout(r, 1_000)); // about five attempts
    a.proc.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    const e2 = await leadingEpoch(b);
    expect(Number.isSafeInteger(e2)).toBe(true);
    expect(e2).toBeGreaterThan(e1);
    expect(await raw().get(keys().epoch)).toBe(String(e2));
    // Once for the standby's many attempts and the acquire that followed: the same finding.
    expect(ignoredLines(b).map((l) => l.ignored)).toEqual([['epoch']]);
    await b.waitForLog(headStarted);

    // And again with a leader in place: the next term is still above it.
    await raw().set(keys().epoch, '1e300');
    const c = cluster.candidate('c');
    await c.waitForLog((l) => l.to === 'standby');
    b.proc.kill('SIGTERM');
    const e3 = await leadingEpoch(c);
    expect(Number.isSafeInteger(e3)).toBe(true);
    expect(e3).toBeGreaterThan(e2);
    expect(cluster.sampler.overlaps).toEqual([]);
  });

  it('real candidates: a 30 MB GCS address is not sent back on every attempt, not logged, not shown, not waited on', async () => {
    const a = cluster.candidate('a');
    await a.waitForLog(headStarted);
    await raw().hset(keys().leader, 'gcsAddress', `${'a'.repeat(30 * 1024 * 1024)}:6379`);
    const before = await bytesSent();
    const b = cluster.candidate('b');
    await b.waitForLog((l) => l.to === 'standby');
    await new Promise((r) => setTimeout(r, 2_000)); // about ten attempts
    // Each attempt would have carried 30 MB back; all of them together, the renews and the standby's connect stay small.
    expect((await bytesSent()) - before).toBeLessThan(1024 * 1024);
    expect(ignoredLines(b).map((l) => l.ignored)).toEqual([['gcsAddress']]);
    // Not read into Lua either: handing it to a script stalled Redis for about half a second per attempt,
    // and the leader's renews timed out.
    expect(a.logs.filter((l) => l.msg === 'renew failed' || l.msg === 'stepping down')).toEqual([]);

    for (const args of [['status'], ['status', '--json'], ['watch', '--once'], ['watch', '--once', '--json']]) {
      const r = runCli([...args, '--redis', cluster.redis.address, '--namespace', cluster.ns]);
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBeLessThan(4_096);
      expect(r.stdout).toMatch(/ignored.*gcsAddress/);
    }
    const status = JSON.parse(runCli(['status', '--json', '--redis', cluster.redis.address, '--namespace', cluster.ns]).stdout);
    expect(status).toMatchObject({ leader: { id: 'a', gcsAddress: null }, ignored: ['gcsAddress'] });

    a.proc.kill('SIGTERM');
    await b.waitForLog(headStarted);
    for (const c of [a, b]) for (const line of c.stderr) expect(line.length).toBeLessThan(4_096);
    expect(cluster.sampler.overlaps).toEqual([]);
  });

  it('real candidates: a GCS address of the writer\'s choosing that is not host:port is never probed; the new leader does not wait on it', async () => {
    const d = await decoy();
    const a = cluster.candidate('a');
    await a.waitForLog(headStarted);
    // Old code read "[127.0.0.1]:PORT" as 127.0.0.1:PORT, probed it, and waited while it answered.
    await raw().hset(keys().leader, 'gcsAddress', `[127.0.0.1]:${d.port}`);
    const b = cluster.candidate('b');
    await b.waitForLog((l) => l.to === 'standby');
    a.proc.kill('SIGTERM');
    const started = await b.waitForLog(headStarted, 4_000); // below --wait-previous-max-ms 5000
    expect(started).toBeDefined();
    expect(b.logs.filter((l) => l.previousGcsAddress !== undefined)).toEqual([]);
    expect(ignoredLines(b).map((l) => l.ignored)).toEqual([['gcsAddress']]);
    expect(d.connections()).toBe(0);
  });

  it('a GCS address that the next leader would refuse is refused at start (exit 2, one line)', () => {
    for (const [env, source] of [
      [{ RAY_HA_GCS_ADDRESS: '[127.0.0.1]:6379' }, 'RAY_HA_GCS_ADDRESS'],
      [{ RAY_HA_GCS_ADDRESS: `${'a'.repeat(300)}:6379` }, 'RAY_HA_GCS_ADDRESS'],
    ] as const) {
      const r = runCli(['run', '--redis', cluster.redis.address, '--namespace', cluster.ns, '--', 'true'], env);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.errorLines[0]).toMatch(new RegExp(`^ray-head-ha: ${source}=.*expected host:port`));
    }
    // The address derived from `ray start --head --node-ip-address=...` too.
    const r = runCli(['run', '--redis', cluster.redis.address, '--namespace', cluster.ns, '--', 'ray', 'start', '--head', '--node-ip-address=evil/x', '--port=6379'], {
      RAY_REDIS_ADDRESS: cluster.redis.address,
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.errorLines[0]).toMatch(/^ray-head-ha: ray start --node-ip-address="evil\/x": the GCS address "evil\/x:6379" is not host:port/);
  });
});

describe('status and watch escape what they print (item 7)', () => {
  const forged = 'h\nleader       mallory\r\x1b[2J\x1b[31m\x1b]0;pwned\x07\u009b32m\u202eevil\\x41';

  /** No raw control character; rows as expected; the forged text is there, escaped. */
  function expectEscaped(out: string) {
    expect(out).not.toMatch(RAW_CONTROL);
    expect(out).toContain('h\\x0aleader       mallory\\x0d\\x1b[2J\\x1b[31m\\x1b]0;pwned\\x07\\x9b32m\\u202eevil\\\\x41');
  }

  it('status (table and JSON) and watch --once (lines and JSON): one row per field, valid JSON that round-trips', async () => {
    const a = cluster.candidate('a');
    await a.waitForLog(headStarted);
    await raw().hset(keys().leader, 'host', forged, 'dashboardUrl', 'http://x/\x1b[2J');
    const cli = (args: string[]) => runCli([...args, '--redis', cluster.redis.address, '--namespace', cluster.ns]);

    const table = cli(['status']);
    expect(table.code).toBe(0);
    expectEscaped(table.stdout);
    const rows = table.stdout.trimEnd().split('\n');
    expect(rows.map((r) => r.split(' ')[0])).toEqual(['namespace', 'leader', 'epoch', 'ttl', 'gcs', 'dashboard', 'host', 'since', 'lease', 'served', 'ignored']);
    expect(rows.at(-1)).toMatch(/^ignored +dashboardUrl /);
    expect(rows.filter((r) => r.startsWith('leader '))).toEqual(['leader       a']);

    for (const args of [['status', '--json'], ['watch', '--once', '--json']]) {
      const r = cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(RAW_CONTROL);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      const parsed = JSON.parse(lines[0]!);
      expect(parsed.leader).toMatchObject({ id: 'a', host: forged, dashboardUrl: null });
    }

    const line = cli(['watch', '--once']);
    expect(line.code).toBe(0);
    expect(line.stdout).not.toMatch(RAW_CONTROL);
    expect(line.stdout.trimEnd().split('\n')).toHaveLength(1);
  });

  it('watch on a terminal: the only escapes are its own; events with forged ids are escaped too', async () => {
    const a = cluster.candidate('a');
    await a.waitForLog(headStarted);
    await raw().hset(keys().leader, 'host', forged);
    const out = Object.assign(new PassThrough(), { isTTY: true });
    let text = '';
    out.setEncoding('utf8').on('data', (d: string) => (text += d));
    const stop = new AbortController();
    const watching = watch({
      redis: parseRedisAddress(cluster.redis.address, 'test'),
      namespace: cluster.ns,
      out,
      connectTimeoutMs: 1_000,
      intervalMs: 50,
      signal: stop.signal,
    });
    await until('watch drew the host', () => text.includes('host '), 5_000);
    await new Promise((r) => setTimeout(r, 300)); // the subscriber is in place
    await raw().publish(keys().events, JSON.stringify({ type: 'released', id: `x\n\x1b[2Jforged`, epoch: 1 }));
    await raw().publish(keys().events, `not json \x1b[2J\n`);
    await until('watch drew the events', () => text.includes('forged') && text.includes('not json'), 5_000);
    stop.abort();
    await watching;
    // Strip the sequences watch itself writes; nothing else may remain.
    const own = /\x1b\[(?:\?25[lh]|2J|H|K|J)/g;
    expect(text.replace(own, '')).not.toMatch(RAW_CONTROL);
    expect(text.match(/\x1b\[2J/g)).toHaveLength(1); // its own clear, once
    expect(text).toContain('x\\x0a\\x1b[2Jforged');
  });
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
