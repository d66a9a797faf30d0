/**
 * Redis that lost only its latest writes, and a previous GCS that keeps
 * answering across rounds (issue 20, items 1 and 3). Each candidate has a GCS
 * port of its own, so nothing but the election keeps two heads apart; the 5 ms
 * sampler must never see two.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { STAND_IN, headStarted, isLeading, runCli, startCandidate, until, type Candidate } from '../helpers/candidates.js';
import { FAST_TIMING, useStandInCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';

const cluster = useStandInCluster('lost-writes');

/** A candidate with FAST_TIMING, its own GCS port, and the stand-in head listening there. */
async function ownPortCandidate(id: string, args: string[] = []): Promise<Candidate & { port: number }> {
  const port = await freePort();
  const c = startCandidate({
    id,
    redis: cluster.redis.address,
    namespace: cluster.ns,
    args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${port}`, ...args],
    command: ['node', STAND_IN, String(port), cluster.sampler.dir],
  });
  return Object.assign(c, { port });
}

const keys = () => {
  const p = `ray-head-ha:{${cluster.ns}}`;
  return { lease: `${p}:lease`, epoch: `${p}:epoch`, leader: `${p}:leader` };
};

/** A plain listener: "a GCS" that answers whatever happens to the candidates. */
async function listener(port: number): Promise<net.Server> {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return server;
}

describe('Redis that lost only its latest writes', () => {
  it('a counter and leader hash restored from before the last failover: the standby holds back, so the current head is dead before it starts one', async () => {
    const k = keys();
    const redis = cluster.redis.client();
    // 1. z leads; what Redis holds now is the "snapshot" it will go back to.
    const z = await ownPortCandidate('z');
    await z.waitForLog(headStarted);
    const snapshot = { epoch: await redis.get(k.epoch), leader: await redis.hgetall(k.leader) };
    // 2. a takes over from z, b stands by. a runs a longer ttl (a rolling change of the timing) and
    //    renews slowly, so it learns of the loss up to 1.5 s after it: b must hold back a's ttl, not its own.
    const a = await ownPortCandidate('a', ['--ttl-ms', '3000', '--retry-ms', '1500']);
    await until('a standing by', () => a.logs.some((l) => l.to === 'standby'));
    z.proc.kill('SIGTERM');
    expect((await z.exited).code).toBe(0);
    await a.waitForLog(headStarted);
    const b = await ownPortCandidate('b');
    await until('b has seen a as the holder', () => b.logs.some((l) => l.to === 'standby'));
    await new Promise((r) => setTimeout(r, 500));
    // 3. Redis goes back to the z era: the older counter and hash, and no lease.
    await redis.multi().set(k.epoch, snapshot.epoch!).del(k.leader).hset(k.leader, snapshot.leader).del(k.lease).exec();
    // 4. b leads in the end, and its head started only after a's was gone.
    await b.waitForLog(headStarted, 15_000);
    await until('a exited', () => a.proc.exitCode !== null, 5_000);
    expect(a.proc.exitCode).toBe(3);
    expect(cluster.sampler.overlaps).toEqual([]);
    // b said once that a runs another ttl, and held back a's (the longest seen), not its own.
    expect(b.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith("the leader's ttl differs"))).toHaveLength(1);
    const hold = b.logs.find((l) => typeof l.msg === 'string' && l.msg.includes('waiting one ttl before taking the lease'));
    expect(hold).toMatchObject({ why: 'behind', holdMs: 3_000 });
    // It waited on every GCS it knew, a's included, not only on the z-era hash's.
    const waited = b.logs.find((l) => l.msg === 'previous GCS is down');
    expect(waited?.previousGcsAddresses).toEqual(expect.arrayContaining([`127.0.0.1:${a.port}`, `127.0.0.1:${z.port}`]));
  });
});

describe('a previous GCS that keeps answering', () => {
  it('across several rounds of step-downs: no candidate starts a head while the first GCS still answers', async () => {
    // a leads with a GCS address where "its GCS" is a listener that outlives it.
    const gcsPort = await freePort();
    const gcs = await listener(gcsPort);
    try {
      const a = startCandidate({
        id: 'a',
        redis: cluster.redis.address,
        namespace: cluster.ns,
        args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${gcsPort}`],
        command: ['node', STAND_IN, '0', cluster.sampler.dir],
      });
      await a.waitForLog(headStarted);
      a.proc.kill('SIGTERM');
      expect((await a.exited).code).toBe(0);
      // Two rounds: each new leader waits on a's GCS, which still answers, and steps down.
      const short = ['--wait-previous-max-ms', '600'];
      for (const id of ['b', 'c', 'd']) {
        const c = await ownPortCandidate(id, short);
        await until(`${id} exited or started a head`, () => c.proc.exitCode !== null || c.logs.some(headStarted), 10_000);
        expect(c.logs.filter(headStarted)).toEqual([]);
        expect((await c.exited).code).toBe(3);
        expect(c.logs.some(isLeading)).toBe(true);
        const gaveUp = c.logs.find((l) => l.msg === 'the previous GCS still answers; stepping down rather than risk two heads');
        expect(gaveUp?.previousGcsAddresses).toEqual([`127.0.0.1:${gcsPort}`]);
      }
    } finally {
      await new Promise((r) => gcs.close(r));
    }
    // Once it stops answering, the next one starts at once.
    const e = await ownPortCandidate('e');
    await e.waitForLog(headStarted);
    expect(cluster.sampler.overlaps).toEqual([]);
  });
});

describe('status', () => {
  it("shows the leader's published ttl and the GCS the next leader waits on, and flags a ttl that differs from this environment's", async () => {
    const a = await ownPortCandidate('a', ['--ttl-ms', '3000', '--retry-ms', '1500']);
    await a.waitForLog(headStarted);
    const args = ['status', '--redis', cluster.redis.address, '--namespace', cluster.ns];
    const json = JSON.parse(runCli([...args, '--json']).stdout);
    expect(json.leader).toMatchObject({ id: 'a', leaseTtlMs: 3_000, servedGcs: `127.0.0.1:${a.port}` });
    const same = runCli(args, { RAY_HA_KEY_EXPIRE_TIME_MS: '3000', RAY_HA_CHECK_INTERVAL_MS: '200' });
    expect(same.stdout).toMatch(/^lease ttl +3000 ms$/m);
    const differs = runCli(args, { RAY_HA_KEY_EXPIRE_TIME_MS: '1500', RAY_HA_CHECK_INTERVAL_MS: '200' });
    expect(differs.stdout).toMatch(/^lease ttl +3000 ms \(differs from this configuration's 1500 ms\)$/m);
  });
});
