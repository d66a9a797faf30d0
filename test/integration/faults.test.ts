/**
 * A leader that cannot act: SIGKILLed, frozen (SIGSTOP), or with its event
 * loop blocked. Its keeper must kill the whole head tree by itself, before
 * the lease can expire in Redis, so the sampler never sees two heads.
 */
import { describe, expect, it } from 'vitest';
import { STAND_IN, headStarted, isAlive, killAllCandidates, leaderWithLiveHead, procState, startCandidate, until, type Candidate } from '../helpers/candidates.js';
import { FAST_TIMING, useStandInCluster } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';

/** The ttl of FAST_TIMING. */
const TTL_MS = 1_500;
const cluster = useStandInCluster('faults');
const { leaderAmong } = cluster;
const candidate = (id: string, env: NodeJS.ProcessEnv = {}): Candidate => cluster.candidate(id, { env });

/** Polls every 2 ms until every pid is gone (not even a zombie); returns the ms it took. */
async function msUntilGone(pids: number[], timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  await until(`pids ${pids.join(',')} gone`, () => pids.every((p) => procState(p) === null), timeoutMs, 2);
  return performance.now() - t0;
}

function headOf(c: Candidate) {
  const r = cluster.sampler.alive().find((h) => h.candidate === c.id);
  if (!r) throw new Error(`${c.id} has no live head`);
  return r;
}

describe('a leader that cannot act', () => {
  it('SIGKILL of the leading orchestrator: head, child and setsid daemon dead within 1 s; a standby takes over', async () => {
    const cs = [candidate('a'), candidate('b')];
    const leader = await leaderAmong(cs);
    const head = headOf(leader);
    leader.proc.kill('SIGKILL');
    const killMs = await msUntilGone([head.pid, head.grandchild, head.daemon], 1_000);
    expect(killMs).toBeLessThan(1_000);
    const next = await leaderAmong(cs.filter((c) => c !== leader));
    expect(next).not.toBe(leader);
    expect(cluster.sampler.overlaps).toEqual([]);
  });

  it('a lease taken over behind its back (renew finds another token): its whole head tree is dead and reaped when it exits 3, and it does not release the lease', async () => {
    const leader = candidate('a');
    await leaderAmong([leader]);
    const head = headOf(leader);
    const lease = `ray-head-ha:{${cluster.ns}}:lease`;
    await cluster.redis.client().set(lease, 'thief#999999', 'PX', 30_000);
    expect((await leader.exited).code).toBe(3);
    expect(leader.logs.find((l) => l.msg === 'stepping down')).toMatchObject({ reason: 'lost-lease' });
    // run exits only once the keeper has ended and reaped the head, its child and its setsid daemon.
    expect([head.pid, head.grandchild, head.daemon].filter((p) => procState(p) !== null)).toEqual([]);
    expect(await cluster.redis.client().get(lease)).toBe('thief#999999');
    expect(cluster.sampler.overlaps).toEqual([]);
  });

  it('a lease taken over behind its back: the head is stopped with no grace (the lease is someone else\'s), even one that ignores TERM', async () => {
    // A 5 s kill grace (the safety rule allows it with this ttl): a stop with the grace would leave the head 5 s beside the thief's.
    const leader = cluster.candidate('a', {
      args: ['--ttl-ms', '10000', '--renew-deadline-ms', '2000', '--kill-grace-ms', '5000'],
      env: { STAND_IN_IGNORE_TERM: '1' },
    });
    await leaderAmong([leader]);
    const head = headOf(leader);
    await cluster.redis.client().set(`ray-head-ha:{${cluster.ns}}:lease`, 'thief#999999', 'PX', 30_000);
    const t0 = performance.now();
    const goneMs = await msUntilGone([head.pid, head.grandchild, head.daemon], 8_000);
    console.log(`[lost-lease] lease taken -> head (ignoring TERM) gone: ${goneMs.toFixed(0)} ms (renews every 200 ms)`);
    expect(leader.logs.find((l) => l.msg === 'stepping down')).toMatchObject({ reason: 'lost-lease' });
    // The next renew (200 ms) finds the thief's token; then KILL at once, not after 5 s.
    expect(performance.now() - t0).toBeLessThan(1_500);
    expect((await leader.exited).code).toBe(3);
  });

  it('SIGSTOP of the leader: its head dies before the lease can expire, a standby takes over, and after SIGCONT it exits 3', async () => {
    const cs = [candidate('a'), candidate('b')];
    const leader = await leaderAmong(cs);
    const head = headOf(leader);
    const stoppedAt = performance.now();
    leader.proc.kill('SIGSTOP');
    await until('frozen leader head dead', () => !isAlive(head.pid), TTL_MS * 2, 2);
    const deadAfterMs = performance.now() - stoppedAt;
    // Fenced by the keeper at renewDeadline (+ grace) after the last renew, before the ttl can run out.
    expect(deadAfterMs).toBeLessThan(TTL_MS);
    await leaderAmong(cs.filter((c) => c !== leader));
    leader.proc.kill('SIGCONT');
    expect((await leader.exited).code).toBe(3);
    // It never started a second head.
    expect(leader.logs.filter(headStarted)).toHaveLength(1);
    expect(cluster.sampler.records().filter((r) => r.candidate === leader.id)).toHaveLength(1);
    expect(cluster.sampler.overlaps).toEqual([]);
  });

  it('Redis lost the namespace under a frozen leader, and a candidate that never saw it arrives: it holds back a ttl, so the old head is dead before the new one starts', async () => {
    const a = candidate('a');
    await leaderAmong([a]);
    const head = headOf(a);
    // Frozen: it learns nothing; its keeper alone ends its head, at the renew deadline.
    a.proc.kill('SIGSTOP');
    const keys = ['lease', 'epoch', 'leader'].map((k) => `ray-head-ha:{${cluster.ns}}:${k}`);
    expect(await cluster.redis.client().del(...keys)).toBe(3);
    // A newcomer with its own GCS port, so nothing but the election keeps the two heads apart.
    const port = await freePort();
    const b = startCandidate({
      id: 'b',
      redis: cluster.redis.address,
      namespace: cluster.ns,
      args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${port}`],
      command: ['node', STAND_IN, String(port), cluster.sampler.dir],
    });
    await leaderWithLiveHead(cluster.sampler, port, [b], 15_000);
    expect(cluster.sampler.overlaps).toEqual([]);
    expect(isAlive(head.pid)).toBe(false);
    const hold = b.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('Redis has no epoch counter for this namespace'));
    expect(hold).toMatchObject({ holdMs: TTL_MS });
    expect(b.logs.filter(headStarted)).toHaveLength(1);
    a.proc.kill('SIGCONT');
    expect((await a.exited).code).toBe(3);
  });

  it('a blocked event loop: the keeper fences the head, a standby takes over, the old leader exits 3', async () => {
    const faults = { RAY_HEAD_HA_TEST_FAULTS: '1', RAY_HEAD_HA_TEST_BLOCK_MS: String(TTL_MS * 2) };
    const cs = [candidate('a', faults), candidate('b', faults)];
    const leader = await leaderAmong(cs);
    const head = headOf(leader);
    const blockedAt = performance.now();
    leader.proc.kill('SIGUSR2');
    await until('blocked leader head dead', () => !isAlive(head.pid), TTL_MS * 2, 2);
    expect(performance.now() - blockedAt).toBeLessThan(TTL_MS);
    await leaderAmong(cs.filter((c) => c !== leader));
    expect((await leader.exited).code).toBe(3);
    expect(leader.logs.filter(headStarted)).toHaveLength(1);
    expect(cluster.sampler.overlaps).toEqual([]);
  });

  it('every exit path leaves no orphan and no zombie of any head', async () => {
    const cs = [candidate('a'), candidate('b'), candidate('c')];
    let leader = await leaderAmong(cs);
    leader.proc.kill('SIGTERM');
    leader = await leaderAmong(cs.filter((c) => c !== leader));
    const crashed = headOf(leader).pid;
    process.kill(crashed, 'SIGKILL');
    // Signal delivery is not instant: let the old head be gone before asking who leads.
    await until('crashed head gone', () => !isAlive(crashed), 3_000, 2);
    leader = await leaderAmong(cs.filter((c) => c.proc.exitCode === null));
    cs.push(candidate('d'));
    leader.proc.kill('SIGKILL');
    await leaderAmong(cs.filter((c) => c.proc.exitCode === null && c !== leader));
    await killAllCandidates();
    // SIGKILLed candidates: their keepers clean up on their own.
    await until('no head process left', () => cluster.sampler.leftovers().length === 0, 3_000);
    expect(cluster.sampler.records().length).toBe(4);
    expect(cluster.sampler.overlaps).toEqual([]);
  });
});
