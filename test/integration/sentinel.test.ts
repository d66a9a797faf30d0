/**
 * Redis Sentinel with real processes: a primary, a replica and three
 * redis-sentinel on loopback with fast failover, and real candidates on
 * `redis+sentinel://`. The primary is SIGKILLed; Sentinel promotes the
 * replica; the candidates follow it. Checked: never two heads (5 ms sampler),
 * exactly one leader afterwards, epochs never go backwards, also when the
 * promoted replica had lost the lease, the epoch and the leader hash. And
 * with slow sentinels, our connections come back after ioredis ends them
 * (docs/design.md, decision 14).
 */
import { readFileSync, rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { HeadSampler, STAND_IN, describeCandidates, headStarted, isAlive, killAllCandidates, leaderWithLiveHead, startCandidate, until, type Candidate } from '../helpers/candidates.js';
import { freePort } from '../helpers/ports.js';
import { makeTlsFiles, sentinelView, startRedis, startSentinel, waitForReplicas, type RedisServer, type SentinelServer, type TlsFiles } from '../helpers/redis.js';
import { readStatus } from '../../src/status.js';
import { parseRedisAddress } from '../../src/redis/address.js';
import { electionConnection } from '../../src/redis/connection.js';

const NAME = 'rhha-primary';
// ttl 6 s: renewDeadline 4 s, longer than a Sentinel failover here (~1-3 s), so a
// leader can live through one when its lease survived.
const TIMING = ['--ttl-ms', '6000', '--retry-ms', '200', '--wait-previous-max-ms', '10000'];

let primary: RedisServer;
let replica: RedisServer;
let sentinels: SentinelServer[] = [];
let sampler: HeadSampler;
let gcsPort: number;
let ns: string;
let n = 0;
const clients: Redis[] = [];

/** Primary + replica + 3 sentinels that all know each other and the replica. */
async function startTopology(replicaArgs: string[] = [], sentinelSlowMs?: number, tls?: TlsFiles): Promise<void> {
  primary = await startRedis({ tls });
  replica = await startRedis({ replicaOf: primary.port, args: replicaArgs, tls });
  await waitForReplicas(primary, 1);
  for (let i = 0; i < 3; i++) sentinels.push(await startSentinel({ primaryPort: primary.port, name: NAME, slowMs: sentinelSlowMs, tls }));
  await until('sentinels see each other and the replica', async () => {
    const views = await Promise.all(sentinels.map((s) => sentinelView(s, NAME).catch(() => null)));
    return views.every((v) => v !== null && v['num-other-sentinels'] === '2' && v['num-slaves'] === '1');
  }, 20_000, 100);
}

let scheme = 'redis+sentinel';
let clientTls: { ca: string } | undefined;
const address = () => `${scheme}://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${NAME}`;

/** A client that follows the primary through the sentinels, as the candidates do. */
function primaryClient(): Redis {
  const c = new Redis({
    sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    name: NAME,
    maxRetriesPerRequest: 1,
    ...(clientTls && { tls: clientTls, sentinelTLS: clientTls, enableTLSForSentinelMode: true }),
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

beforeEach(async () => {
  ns = `sentinel-${++n}`;
  gcsPort = await freePort();
  sampler = new HeadSampler();
});
afterEach(async () => {
  scheme = 'redis+sentinel';
  clientTls = undefined;
  await killAllCandidates();
  sampler.close();
  for (const c of clients.splice(0)) c.disconnect();
  for (const s of sentinels.splice(0)) await s.close();
  await replica?.close();
  await primary?.close();
});

function candidate(id: string, env: NodeJS.ProcessEnv = {}): Candidate {
  return startCandidate({
    id,
    redis: address(),
    namespace: ns,
    env,
    args: [...TIMING, '--gcs-address', `127.0.0.1:${gcsPort}`],
    command: ['node', STAND_IN, String(gcsPort), sampler.dir],
  });
}

function leaderAmong(cs: Candidate[], timeoutMs = 20_000): Promise<Candidate> {
  return leaderWithLiveHead(sampler, gcsPort, cs, timeoutMs);
}

/** Kills the primary and waits until the sentinels name the replica as the primary. */
async function failOver(): Promise<number> {
  const t0 = Date.now();
  await primary.stop();
  await until('Sentinel promoted the replica', async () => {
    const addr = (await sentinels[0]!.client().call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[] | null;
    return addr?.[1] === String(replica.port);
  }, 30_000, 50);
  return Date.now() - t0;
}

describe('Redis Sentinel failover', () => {
  it('the lease survives the failover: afterwards exactly one leader, the epoch never goes back', async () => {
    await startTopology();
    sampler.start(5);
    const cs = ['a', 'b', 'c'].map((id) => candidate(id));
    const first = await leaderAmong(cs);
    const before = await readStatus(primaryClient(), ns);
    const promotedAfterMs = await failOver();

    // Let the candidates reconnect to the new primary and settle.
    await until('the new primary holds a lease', async () => (await readStatus(primaryClient(), ns)).leader !== null, 20_000, 100);
    await new Promise((r) => setTimeout(r, 2_000));
    const leader = await leaderAmong(cs);
    const after = await readStatus(primaryClient(), ns);
    expect(after.leader!.id).toBe(leader.id);
    expect(after.leader!.epoch).toBeGreaterThanOrEqual(before.leader!.epoch);
    // Kept its term (same epoch), or stepped down (exit 3) and a later term began.
    if (leader === first) expect(after.leader!.epoch).toBe(before.leader!.epoch);
    else {
      expect((await first.exited).code).toBe(3);
      expect(after.leader!.epoch).toBeGreaterThan(before.leader!.epoch);
    }
    console.log(`sentinel failover (lease kept): promoted after ${promotedAfterMs} ms; leader ${first.id}#${before.leader!.epoch} -> ${leader.id}#${after.leader!.epoch}`);
    expect(sampler.overlaps).toEqual([]);
  }, 90_000);

  it('the promoted replica lost the lease and the epoch: the old leader steps down (exit 3, head dead), one new leader, a higher epoch', async () => {
    // A writable replica lets the test make it diverge: as if it had missed every write of this namespace.
    await startTopology(['--replica-read-only', 'no']);
    sampler.start(5);
    const cs = ['a', 'b', 'c'].map((id) => candidate(id));
    const first = await leaderAmong(cs);
    const oldHead = sampler.alive()[0]!;
    const before = await readStatus(primaryClient(), ns);
    const keys = ['lease', 'epoch', 'leader'].map((k) => `ray-head-ha:{${ns}}:${k}`);
    const onReplica = replica.client();
    await until('the replica has the lease', async () => (await onReplica.exists(...keys)) === 3);
    await onReplica.del(...keys);
    expect(await onReplica.exists(...keys)).toBe(0);

    const t0 = Date.now();
    const promotedAfterMs = await failOver();
    expect((await first.exited).code).toBe(3);
    const stepDown = first.logs.find((l) => l.msg === 'stepping down');
    expect(['lost-lease', 'deadline']).toContain(stepDown?.reason);
    expect(isAlive(oldHead.pid)).toBe(false);

    const rest = cs.filter((c) => c !== first);
    const second = await leaderAmong(rest);
    const newLeaderAfterMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(sampler.alive().map((h) => h.candidate)).toEqual([second.id]);
    const after = await readStatus(primaryClient(), ns);
    expect(after.leader!.id).toBe(second.id);
    // The epoch key was gone; the candidates' memory of the highest epoch kept it going up.
    expect(after.leader!.epoch).toBeGreaterThan(before.leader!.epoch);
    expect(rest.filter((c) => c.logs.some(headStarted))).toEqual([second]);
    console.log(
      `sentinel failover (lease lost): promoted after ${promotedAfterMs} ms, ${first.id} stepped down (${String(stepDown?.reason)}), ` +
        `new leader ${second.id} serving ${newLeaderAfterMs} ms after the kill; epoch ${before.leader!.epoch} -> ${after.leader!.epoch}`,
    );
    expect(sampler.overlaps).toEqual([]);
  }, 90_000);

  it('election connections survive a +switch-master heard while they ask the sentinels for the primary (ioredis alone ends them for good)', async () => {
    // Slow sentinels: each reconnect spends most of its time asking them, so the failover
    // detector's +switch-master lands mid-question for many of the connections.
    await startTopology([], 150);
    {
      const target = parseRedisAddress(`redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.announcedPort}`).join(',')}/${NAME}`, 'test');
      const conns = Array.from({ length: 20 }, () => electionConnection(target, { commandTimeoutMs: 1_000, connectTimeoutMs: 2_000, reconnectMaxMs: 200 }));
      const ended = new Set<Redis>();
      for (const c of conns) {
        c.on('error', () => {});
        c.on('end', () => ended.add(c));
      }
      await Promise.all(conns.map((c) => c.connect()));
      await failOver();
      const answering = async () => (await Promise.all(conns.map((c) => c.ping().then(() => true, () => false)))).filter(Boolean).length;
      await until('every connection answers from the new primary', async () => (await answering()) === conns.length, 20_000, 200);
      const roles = await Promise.all(conns.map(async (c) => ((await c.role()) as unknown[])[0]));
      expect(new Set(roles)).toEqual(new Set(['master']));
      console.log(`sentinel +switch-master race: ${ended.size} of ${conns.length} connections ended and were connected again`);

      // Closed on purpose, a connection stays closed.
      const closed = conns[0]!;
      closed.disconnect();
      await new Promise((r) => setTimeout(r, 600));
      expect(closed.status).toBe('end');
      for (const c of conns) c.disconnect();
    }
  }, 90_000);

  it('rediss+sentinel://: TLS to the sentinels and the data nodes; the candidates follow a failover, one leader after, the epoch never goes back', async () => {
    const tls = makeTlsFiles();
    try {
      await startTopology([], undefined, tls);
      scheme = 'rediss+sentinel';
      clientTls = { ca: readFileSync(tls.caCert, 'utf8') };
      sampler.start(5);
      const cs = ['a', 'b'].map((id) => candidate(id, { RAY_REDIS_CA_CERT: tls.caCert }));
      await leaderAmong(cs);
      const before = await readStatus(primaryClient(), ns);
      await failOver();
      await until('the new primary holds a lease', async () => (await readStatus(primaryClient(), ns)).leader !== null, 20_000, 100);
      const leader = await leaderAmong(cs);
      const after = await readStatus(primaryClient(), ns);
      expect(after.leader!.id).toBe(leader.id);
      expect(after.leader!.epoch).toBeGreaterThanOrEqual(before.leader!.epoch);
      // The servers have no plain port (port 0): all of this went over TLS.
      expect(cs.flatMap((c) => c.stderr).filter((l) => l.startsWith('ray-head-ha: ')), describeCandidates(cs, 12)).toEqual([]);
      expect(sampler.overlaps).toEqual([]);
      // Without the CA, the handshake is refused: exit 2, one line, nothing started.
      const refused = candidate('c');
      expect(await Promise.race([refused.exited.then((e) => e.code), new Promise((r) => setTimeout(() => r('still running after 15 s'), 15_000))])).toBe(2);
      expect(refused.stderr.filter((l) => l.startsWith('ray-head-ha: '))).toEqual([
        expect.stringMatching(/^ray-head-ha: rediss\+sentinel:\/\/\S+: TLS handshake with sentinel 127\.0\.0\.1:\d+ refused \(SELF_SIGNED_CERT_IN_CHAIN\)$/),
      ]);
      expect(sampler.records().filter((r) => r.candidate === 'c')).toEqual([]);
    } finally {
      rmSync(tls.dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('a switchover (SENTINEL FAILOVER) with the old primary alive: the candidates follow it, no one exits 2, one leader after', async () => {
    await startTopology();
    sampler.start(5);
    const cs = ['a', 'b'].map((id) => candidate(id));
    await leaderAmong(cs);
    const before = await readStatus(primaryClient(), ns);
    await sentinels[0]!.client().call('SENTINEL', 'FAILOVER', NAME);
    await until('Sentinel switched to the replica', async () => {
      const addr = (await sentinels[0]!.client().call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[] | null;
      return addr?.[1] === String(replica.port);
    }, 30_000, 50);
    await until('the old primary is a replica now', async () => (await primary.client().role())[0] === 'slave', 20_000, 100);
    await new Promise((r) => setTimeout(r, 3_000));
    const leader = await leaderAmong(cs);
    const after = await readStatus(primaryClient(), ns);
    expect(after.leader!.id).toBe(leader.id);
    expect(after.leader!.epoch).toBeGreaterThanOrEqual(before.leader!.epoch);
    for (const c of cs) expect(c.proc.exitCode === null || c.proc.exitCode === 3).toBe(true);
    const seen = cs.flatMap((c) => c.logs.filter((l) => l.err || l.msg === 'stepping down').map((l) => `${c.id}: ${String(l.msg)} ${String(l.err ?? l.reason)}`));
    console.log(`switchover: ${before.leader!.id}#${before.leader!.epoch} -> ${after.leader!.id}#${after.leader!.epoch}\n  ${seen.join('\n  ')}`);
    expect(cs.flatMap((c) => c.stderr).filter((l) => l.startsWith('ray-head-ha: ')), describeCandidates(cs, 12)).toEqual([]);
    expect(sampler.overlaps).toEqual([]);
  }, 90_000);
});
