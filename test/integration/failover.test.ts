/**
 * Several real `ray-head-ha run` processes on one real Redis, with the
 * stand-in head. A sampler at 5 ms runs through every test and fails it on two
 * heads alive at once.
 */
import { describe, expect, it } from 'vitest';
import { startRedis } from '../helpers/redis.js';
import { freePort } from '../helpers/ports.js';
import { STAND_IN, headStarted, isAlive, killAllCandidates, startCandidate, until } from '../helpers/candidates.js';
import { FAST_TIMING, useStandInCluster } from '../helpers/cluster.js';
import { readStatus } from '../../src/status.js';

const cluster = useStandInCluster('failover');
const { candidate, leaderAmong } = cluster;
const status = () => readStatus(cluster.redis.client(), cluster.ns);

function assertNoOverlap() {
  expect(cluster.sampler.samples).toBeGreaterThan(10);
  expect(cluster.sampler.overlaps).toEqual([]);
}

describe('failover between real candidates', () => {
  it('graceful stop (SIGTERM): the leader exits 0 and exactly one standby takes over', async () => {
    const cs = ['a', 'b', 'c'].map((id) => candidate(id));
    const first = await leaderAmong(cs);
    const epoch1 = (await status()).leader!.epoch;
    first.proc.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    const rest = cs.filter((c) => c !== first);
    const second = await leaderAmong(rest);
    const s = await status();
    expect(s.leader!.id).toBe(second.id);
    expect(s.leader!.epoch).toBe(epoch1 + 1);
    expect(s.leader!.gcsAddress).toBe(`127.0.0.1:${cluster.gcsPort}`);
    // The other standby is still a standby.
    expect(rest.filter((c) => c.logs.some(headStarted))).toEqual([second]);
    assertNoOverlap();
  });

  it('head crash: the leader releases, exits with the head code, one standby takes over', async () => {
    const cs = ['a', 'b'].map((id) => candidate(id));
    const first = await leaderAmong(cs);
    const head = cluster.sampler.alive()[0]!;
    process.kill(head.pid, 'SIGKILL');
    expect(await first.exited).toEqual({ code: 128 + 9, signal: null });
    const second = await leaderAmong(cs.filter((c) => c !== first));
    expect((await status()).leader!.id).toBe(second.id);
    // The crashed head's grandchild went with it.
    await until('crashed head tree gone', () => !isAlive(head.grandchild), 3_000);
    assertNoOverlap();
  });

  it('a head that exits by itself with code 7 makes the candidate exit 7', async () => {
    const c = candidate('solo', { env: { STAND_IN_EXIT_AFTER_MS: '300', STAND_IN_EXIT_CODE: '7' } });
    expect(await c.exited).toEqual({ code: 7, signal: null });
    expect((await status()).leader).toBeNull();
    expect(cluster.sampler.leftovers()).toEqual([]);
  });

  it('20 failovers in a row have strictly increasing epochs and never two heads', async () => {
    const cs = ['a', 'b'].map((id) => candidate(id));
    const epochs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const leader = await leaderAmong(cs);
      epochs.push((await status()).leader!.epoch);
      leader.proc.kill('SIGTERM');
      expect((await leader.exited).code).toBe(0);
      cs.splice(cs.indexOf(leader), 1, candidate(`${leader.id.split('-')[0]}-${i}`));
    }
    for (let i = 1; i < epochs.length; i++) expect(epochs[i]).toBeGreaterThan(epochs[i - 1]!);
    assertNoOverlap();
  }, 120_000);

  it('Redis restarted empty under a leader: it is fenced (exit 3), the epoch still goes up', async () => {
    const cs = ['a', 'b'].map((id) => candidate(id));
    const first = await leaderAmong(cs);
    const epochBefore = (await status()).leader!.epoch;
    await cluster.redis.restartEmpty();
    expect((await first.exited).code).toBe(3);
    const second = await leaderAmong(cs.filter((c) => c !== first));
    const s = await status();
    expect(s.leader!.id).toBe(second.id);
    expect(s.leader!.epoch).toBeGreaterThan(epochBefore);
    assertNoOverlap();
  });
});

describe('--on-loss standby', () => {
  it('a fenced leader re-enters as a standby in place instead of exiting', async () => {
    const cs = ['a', 'b'].map((id) => candidate(id, { args: ['--on-loss', 'standby'] }));
    const first = await leaderAmong(cs);
    const epochBefore = (await status()).leader!.epoch;
    await cluster.redis.restartEmpty();
    await first.waitForLog((l) => l.msg === 're-entering as a standby (--on-loss standby)');
    // Either candidate may win the new term (the old leader is a standby like any other now).
    const second = await leaderAmong(cs);
    expect((await status()).leader!.epoch).toBeGreaterThan(epochBefore);
    expect(first.proc.exitCode).toBeNull();
    // Hand over once more: the other one takes over, both still running as candidates.
    second.proc.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const third = await leaderAmong(cs.filter((c) => c !== second));
    expect(third).not.toBe(second);
    assertNoOverlap();
  });
});

describe('Redis not there yet', () => {
  it('candidates started before Redis say so once and elect a leader once it is up', async () => {
    const port = await freePort();
    const cs = ['a', 'b'].map((id) =>
      startCandidate({
        id,
        redis: `127.0.0.1:${port}`,
        namespace: cluster.ns,
        args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${cluster.gcsPort}`],
        command: ['node', STAND_IN, String(cluster.gcsPort), cluster.sampler.dir],
      }),
    );
    await cs[0]!.waitForLog((l) => l.msg === 'cannot reach Redis; still trying as a standby');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(cluster.sampler.alive()).toEqual([]);
    const late = await startRedis({ port });
    try {
      await leaderAmong(cs);
      for (const c of cs) {
        expect(c.logs.filter((l) => l.msg === 'cannot reach Redis; still trying as a standby')).toHaveLength(1);
      }
    } finally {
      await killAllCandidates();
      await late.close();
    }
    assertNoOverlap();
  });
});
