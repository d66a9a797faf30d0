/** The Redis lease against a real redis-server: raw GET / PTTL / HGETALL after each script. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisLease } from '../../src/election/redis-lease.js';
import { leaseKeys } from '../../src/redis/keys.js';
import { electionConnection, subscriberConnection } from '../../src/redis/connection.js';
import { parseRedisAddress } from '../../src/redis/address.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { until } from '../helpers/candidates.js';

let server: RedisServer;
let raw: Redis;
const open: RedisLease[] = [];

beforeAll(async () => {
  server = await startRedis();
  raw = server.client();
});
afterAll(async () => {
  for (const l of open) await l.close();
  await server.close();
});

let nsCounter = 0;
async function lease(id: string, ns: string, ttlMs = 5_000, withEvents = false) {
  const target = parseRedisAddress(server.address, 'test');
  const opts = { commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, reconnectMaxMs: 100 };
  const l = new RedisLease(electionConnection(target, opts), withEvents ? subscriberConnection(target, opts) : null, {
    namespace: ns,
    candidateId: id,
    ttlMs,
    host: 'host-' + id,
    gcsAddress: `10.0.0.${id.length}:6379`,
    dashboardUrl: null,
  });
  open.push(l);
  await l.connect();
  // Small epochs to assert on: an existing counter counts on from where it is
  // (a missing one starts at the server's time, tested on its own below).
  await raw.setnx(leaseKeys(ns).epoch, '0');
  return l;
}
const freshNs = () => `lease-test-${++nsCounter}`;

describe('RedisLease', () => {
  it('acquire sets the lease with PX ttl, increments the epoch and writes the leader hash', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns, 5_000);
    const r = await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    expect(r).toMatchObject({ acquired: true, token: 'alpha#1', epoch: 1, previousGcsAddress: null });
    expect(await raw.get(k.lease)).toBe('alpha#1');
    const pttl = await raw.pttl(k.lease);
    expect(pttl).toBeGreaterThan(4_500);
    expect(pttl).toBeLessThanOrEqual(5_000);
    expect(await raw.get(k.epoch)).toBe('1');
    const hash = await raw.hgetall(k.leader);
    expect(hash).toMatchObject({ id: 'alpha', epoch: '1', host: 'host-alpha', gcsAddress: '10.0.0.5:6379' });
    expect(Math.abs(Number(hash.since) - Date.now())).toBeLessThan(5_000);
    expect(k.lease).toContain(`{${ns}}`);
  });

  it('a second candidate sees the holder, its PTTL and the stored epoch, and changes nothing', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns);
    const b = await lease('b', ns);
    await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    const r = await b.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    expect(r).toMatchObject({ acquired: false, holderId: 'alpha', holderEpoch: 1, storedEpoch: 1, gcsAddress: '10.0.0.5:6379' });
    if (!r.acquired && !r.unknownState) expect(r.pttlMs).toBeGreaterThan(4_000);
    expect(await raw.get(k.lease)).toBe('alpha#1');
    expect(await raw.get(k.epoch)).toBe('1');
  });

  it('renew resets the ttl only for the holder; a wrong token is refused and changes nothing', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns, 5_000);
    await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    await raw.pexpire(k.lease, 1_000);
    expect(await a.renew('alpha#1')).toBe(true);
    expect(await raw.pttl(k.lease)).toBeGreaterThan(4_500);
    await raw.pexpire(k.lease, 1_000);
    expect(await a.renew('alpha#2')).toBe(false);
    expect(await a.renew('beta#1')).toBe(false);
    expect(await raw.pttl(k.lease)).toBeLessThanOrEqual(1_000);
    expect(await raw.get(k.lease)).toBe('alpha#1');
  });

  it('release deletes only our own lease and keeps the leader hash for the next leader', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns);
    await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    expect(await a.serving('alpha#1')).toBe(true);
    expect(await a.release('alpha#2', 'released')).toBe(false);
    expect(await raw.get(k.lease)).toBe('alpha#1');
    expect(await a.release('alpha#1', 'released')).toBe(true);
    expect(await raw.exists(k.lease)).toBe(0);
    expect(await raw.hget(k.leader, 'id')).toBe('alpha');
    // The next term learns the previous GCS from the hash, and the epoch goes on.
    const b = await lease('b', ns);
    expect(await b.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null })).toMatchObject({
      acquired: true,
      epoch: 2,
      previousId: 'alpha',
      previousGcsAddress: '10.0.0.5:6379',
      previousEpoch: 1,
      previousTtlMs: 5_000,
    });
  });

  it('the previous GCS moves only once a head came up (serving, token-checked): a chain of step-downs keeps the last one that served (decision 35)', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns);
    await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    expect(await a.serving('alpha#1')).toBe(true);
    expect(await a.release('alpha#1', 'released')).toBe(true);
    // b and c each win and step down without a head: the hash keeps alpha's GCS.
    for (const [id, epoch] of [['bb', 2], ['ccc', 3]] as const) {
      const l = await lease(id, ns);
      const won = await l.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
      expect(won).toMatchObject({ acquired: true, epoch, previousGcsAddress: '10.0.0.5:6379' });
      expect(await raw.hget(k.leader, 'gcsAddress')).toBe(`10.0.0.${id.length}:6379`);
      expect(await raw.hget(k.leader, 'servedGcs')).toBe('10.0.0.5:6379');
      // Only the holder moves it.
      expect(await a.serving('alpha#1')).toBe(false);
      expect(await l.release(`${id}#${epoch}`, 'stepped-down')).toBe(true);
    }
    const d = await lease('dddd', ns);
    const won = await d.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    expect(won).toMatchObject({ acquired: true, epoch: 4, previousGcsAddress: '10.0.0.5:6379' });
    expect(await d.serving('dddd#4')).toBe(true);
    expect(await raw.hget(k.leader, 'servedGcs')).toBe('10.0.0.4:6379');
  });

  it('twenty candidates racing for a free lease: exactly one wins each round, each round one epoch higher', async () => {
    const ns = freshNs();
    const racers = await Promise.all(Array.from({ length: 20 }, (_, i) => lease(`r${i}`, ns)));
    for (const round of [1, 2, 3]) {
      const results = await Promise.all(racers.map((l) => l.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null })));
      const winners = results.filter((r) => r.acquired);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.epoch).toBe(round);
      expect(results.filter((r) => !r.acquired).every((r) => !r.unknownState && r.holderEpoch === round)).toBe(true);
      expect(await raw.get(leaseKeys(ns).epoch)).toBe(String(round));
      const winner = racers[results.indexOf(winners[0]!)]!;
      expect(await winner.release(winners[0]!.token, 'released')).toBe(true);
    }
  });

  it('renew of an expired lease is refused', async () => {
    const ns = freshNs();
    const a = await lease('alpha', ns, 100);
    await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    await new Promise((r) => setTimeout(r, 200));
    expect(await a.renew('alpha#1')).toBe(false);
  });

  it('epochs never go backwards when Redis lost its latest writes: a counter below minEpoch is held back on (decision 34), then the acquire goes above minEpoch', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns);
    const seen = await a.tryAcquire({ minEpoch: 41, knownGcsAddress: '10.9.9.9:6379', unknownSession: null });
    expect(seen).toMatchObject({ acquired: false, unknownState: true, why: 'behind' });
    expect(await raw.exists(k.lease)).toBe(0);
    if (seen.acquired || !seen.unknownState) throw new Error('not held back');
    const before = Date.now();
    const r = await a.tryAcquire({ minEpoch: 41, knownGcsAddress: '10.9.9.9:6379', unknownSession: seen.session });
    if (!r.acquired) throw new Error('not acquired after the hold');
    expect(r).toMatchObject({ acquired: true, previousGcsAddress: '10.9.9.9:6379' });
    // Taken after a hold, the epoch starts at the server's time: above any term Redis forgot.
    expect(r.epoch).toBeGreaterThanOrEqual(before - 5_000);
    expect(await raw.get(k.epoch)).toBe(String(r.epoch));
    expect(await raw.get(k.lease)).toBe(`alpha#${r.epoch}`);
  });

  it('a candidate that has seen no term holds back on a vacancy (unseen, decision 34); taken after the hold, the epoch starts at the server time, above any term Redis forgot', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns);
    await raw.set(k.epoch, '7');
    const seen = await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null, unseen: true });
    expect(seen).toMatchObject({ acquired: false, unknownState: true, why: 'unseen' });
    expect(await raw.exists(k.lease)).toBe(0);
    if (seen.acquired || !seen.unknownState) throw new Error('not held back');
    const before = Date.now();
    const r = await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: seen.session, unseen: true });
    if (!r.acquired) throw new Error('not acquired after the hold');
    expect(r.epoch).toBeGreaterThanOrEqual(before - 5_000);
    // A candidate that has seen a term (or asks without the flag) takes a vacancy at once, one epoch up.
    expect(await a.release(r.token, 'released')).toBe(true);
    const b = await lease('bb', ns);
    expect(await b.tryAcquire({ minEpoch: r.epoch, knownGcsAddress: null, unknownSession: null })).toMatchObject({ acquired: true, epoch: r.epoch + 1 });
  });

  it('a counter that does not exist starts at the server time in ms, so a forgetful candidate still goes up', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns);
    await raw.del(k.epoch);
    const [sec = 0, usec = 0] = (await raw.time()).map(Number);
    const serverMs = sec * 1000 + Math.floor(usec / 1000);
    const seen = await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    if (seen.acquired || !seen.unknownState || seen.session === null) throw new Error(`not the unknown state: ${JSON.stringify(seen)}`);
    const r = await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: seen.session });
    if (!r.acquired) throw new Error('not acquired');
    expect(r.epoch).toBeGreaterThan(serverMs);
    expect(r.epoch).toBeLessThan(serverMs + 5_000);
    // Then it counts on by one per term.
    await a.release(r.token, 'released');
    expect(await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null })).toMatchObject({ acquired: true, epoch: r.epoch + 1 });
  });

  it('a namespace without an epoch counter is taken only through the connection session the candidate held back on (decision 28), and the refusal writes nothing', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns);
    await raw.del(k.epoch);
    const first = await a.tryAcquire({ minEpoch: 7, knownGcsAddress: '10.9.9.9:6379', unknownSession: null });
    expect(first).toMatchObject({ acquired: false, unknownState: true, session: expect.any(Number) });
    if (first.acquired || !first.unknownState || first.session === null) throw new Error('unreachable');
    expect(await raw.exists(k.lease, k.epoch, k.leader)).toBe(0);
    // Another session's permission does not count.
    expect(await a.tryAcquire({ minEpoch: 7, knownGcsAddress: null, unknownSession: first.session + 1 })).toMatchObject({ acquired: false, unknownState: true, session: first.session });
    // After a reconnect (Redis could be another server now), the old session's hold does not count either.
    const before = first.session;
    await raw.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await until('the lease reconnected', async () => {
      const r = await a.tryAcquire({ minEpoch: 7, knownGcsAddress: null, unknownSession: before }).catch(() => null);
      if (r && !r.acquired && r.unknownState && r.session !== before) return true;
      if (r?.acquired) throw new Error('taken through a session the hold was not on');
      return false;
    });
    expect(await raw.exists(k.lease, k.epoch, k.leader)).toBe(0);
    // Through the current session it is taken.
    const now = await a.tryAcquire({ minEpoch: 7, knownGcsAddress: null, unknownSession: null });
    if (now.acquired || !now.unknownState) throw new Error('unreachable');
    expect(await a.tryAcquire({ minEpoch: 7, knownGcsAddress: null, unknownSession: now.session })).toMatchObject({ acquired: true });
    // A namespace with a counter is taken at once, whatever the session says.
    const b = await lease('b', freshNs());
    expect(await b.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null })).toMatchObject({ acquired: true, epoch: 1 });
  });

  it('scripts still run after SCRIPT FLUSH (NOSCRIPT falls back to EVAL)', async () => {
    const ns = freshNs();
    const a = await lease('alpha', ns);
    await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    await raw.script('FLUSH');
    expect(await a.renew('alpha#1')).toBe(true);
    await raw.script('FLUSH');
    expect(await a.release('alpha#1', 'released')).toBe(true);
    await raw.script('FLUSH');
    expect(await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null })).toMatchObject({ acquired: true, epoch: 2 });
  });

  it('publishes acquired / released / stepped-down and wakes a waiting standby', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const sub = server.client();
    const seen: unknown[] = [];
    await sub.subscribe(k.events);
    sub.on('message', (_ch, m) => seen.push(JSON.parse(m)));
    const a = await lease('alpha', ns);
    const b = await lease('b', ns, 5_000, true);
    const ctl = new AbortController();
    const woke = b.waitForVacancy(ctl.signal);
    await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    await a.release('alpha#1', 'released');
    await woke;
    await a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
    await a.release('alpha#2', 'stepped-down');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([
      { type: 'acquired', id: 'alpha', epoch: 1 },
      { type: 'released', id: 'alpha', epoch: 1 },
      { type: 'acquired', id: 'alpha', epoch: 2 },
      { type: 'stepped-down', id: 'alpha', epoch: 2 },
    ]);
  });

  it('a lease held under a value that is not "<id>#<epoch>" is not taken: the attempt is refused, saying so', async () => {
    const ns = freshNs();
    const k = leaseKeys(ns);
    const a = await lease('alpha', ns);
    await raw.set(k.lease, 'garbage-without-epoch');
    await expect(a.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null })).rejects.toThrow(/the lease key holds a value that is not "<id>#<epoch>"/);
    expect(await raw.get(k.lease)).toBe('garbage-without-epoch');
  });
});
