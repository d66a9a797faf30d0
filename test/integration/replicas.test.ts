/**
 * A real primary with a real replica. RAY_HA_MIN_REPLICAS: a lease counts only
 * once the replica acknowledged it (WAIT); with the replica frozen (SIGSTOP)
 * the leader's renews fail and it steps down at its deadline, and no one else
 * can take the lease until the replica is back. A read-only replica given as
 * the address is refused at start.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HeadSampler, STAND_IN, headStarted, isAlive, killAllCandidates, runCli, startCandidate, until, type Candidate } from '../helpers/candidates.js';
import { FAST_TIMING } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, waitForReplicas, type RedisServer } from '../helpers/redis.js';
import { readStatus } from '../../src/status.js';
import { RedisLease } from '../../src/election/redis-lease.js';
import { RedisRefusedError } from '../../src/errors.js';
import { parseRedisAddress } from '../../src/redis/address.js';
import { electionConnection } from '../../src/redis/connection.js';

// FAST_TIMING, ttl 1.5 s: renewDeadline 1 s, command timeout 500 ms, WAIT 250 ms.

let primary: RedisServer;
let replica: RedisServer;
let sampler: HeadSampler;
let gcsPort: number;
let ns: string;
let n = 0;

beforeAll(async () => {
  primary = await startRedis();
  replica = await startRedis({ replicaOf: primary.port });
  await waitForReplicas(primary, 1);
});
afterAll(async () => {
  replica?.resume();
  await replica?.close();
  await primary?.close();
});
beforeEach(async () => {
  ns = `replicas-${++n}`;
  gcsPort = await freePort();
  sampler = new HeadSampler();
  sampler.start(5);
});
afterEach(async () => {
  replica.resume();
  await killAllCandidates();
  sampler.close();
});

function candidate(id: string, extra: string[] = []): Candidate {
  return startCandidate({
    id,
    redis: primary.address,
    namespace: ns,
    args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${gcsPort}`, ...extra],
    command: ['node', STAND_IN, String(gcsPort), sampler.dir],
  });
}

describe('RAY_HA_MIN_REPLICAS', () => {
  it('leads while the replica acknowledges; steps down at the deadline when it stops; resumes after', async () => {
    const a = candidate('a', ['--min-replicas', '1']);
    await a.waitForLog(headStarted);
    await until('the head records itself', () => sampler.alive().length === 1);
    const head = sampler.alive()[0]!;
    // Renews keep succeeding (each one acknowledged by the replica).
    await a.waitForLog((l) => l.msg === 'candidate starting' && l.minReplicas === 1);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(a.logs.filter((l) => l.msg === 'renew failed')).toEqual([]);
    const epoch = (await readStatus(primary.client(), ns)).leader!.epoch;

    replica.pause();
    const failed = await a.waitForLog((l) => l.msg === 'renew failed');
    expect(String(failed.err)).toMatch(/only 0 of 1 replicas acknowledged it/);
    expect(await a.exited).toEqual({ code: 3, signal: null });
    expect(a.logs.find((l) => l.msg === 'stepping down')).toMatchObject({ reason: 'deadline' });
    expect(isAlive(head.pid)).toBe(false);

    // With the replica still frozen, a standby cannot get a lease that counts.
    const b = candidate('b', ['--min-replicas', '1']);
    const refused = await b.waitForLog((l) => l.msg === 'Redis refused the acquire attempt; still trying as a standby');
    expect(String(refused.err)).toMatch(/acquired epoch \d+ but only 0 of 1 replicas acknowledged it .*; gave it back/);
    // Each refused acquire gives the lease back at once (a new epoch needs a free lease),
    // so nobody waits out a ttl for a term that never started.
    const epochKey = `ray-head-ha:{${ns}}:epoch`;
    const before = Number(await primary.client().get(epochKey));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(Number(await primary.client().get(epochKey))).toBeGreaterThanOrEqual(before + 2);
    expect(b.logs.some(headStarted)).toBe(false);

    replica.resume();
    await b.waitForLog(headStarted);
    const s = await readStatus(primary.client(), ns);
    expect(s.leader).toMatchObject({ id: 'b' });
    expect(s.leader!.epoch).toBeGreaterThan(epoch);
    expect(sampler.overlaps).toEqual([]);
  });

  it('without it, a frozen replica does not matter', async () => {
    const a = candidate('a');
    await a.waitForLog(headStarted);
    replica.pause();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(a.logs.filter((l) => l.msg === 'renew failed')).toEqual([]);
    expect(a.proc.exitCode).toBeNull();
  });
});

describe('a read-only replica as the address', () => {
  it('is refused at start: one line, exit 2, no head', () => {
    const r = runCli(['run', ...FAST_TIMING, '--namespace', ns, '--redis', replica.address, '--', 'node', STAND_IN, '0', sampler.dir]);
    expect(r.code).toBe(2);
    const lines = r.errorLines;
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/redis:\/\/127\.0\.0\.1:\d+: this Redis is a read-only replica: point the address at the primary, or use redis\+sentinel:\/\//);
    expect(sampler.records()).toEqual([]);
  });
});

describe('READONLY from the lease scripts', () => {
  async function leaseOnReplica(viaSentinel: boolean): Promise<RedisLease> {
    const conn = { commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, reconnectMaxMs: 100 };
    const lease = new RedisLease(electionConnection(parseRedisAddress(replica.address, 'test'), conn), null, {
      namespace: ns, candidateId: 'r', ttlMs: 1_500, host: 'h', gcsAddress: null, dashboardUrl: null, viaSentinel,
    });
    await lease.connect();
    return lease;
  }

  // The namespace is fresh (no epoch counter), so this is the acquire script's unknown-state
  // branch: its no-op write is what makes the replica answer READONLY (docs/design.md, decision 28).
  it('is a refusal (exit 2) on a plain address, and a transient error through Sentinel (a failover in progress)', async () => {
    const plain = await leaseOnReplica(false);
    const viaSentinel = await leaseOnReplica(true);
    try {
      const refused = await plain.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(RedisRefusedError);
      const transient = await viaSentinel.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null }).catch((e: unknown) => e);
      expect(transient).toBeInstanceOf(Error);
      expect(transient).not.toBeInstanceOf(RedisRefusedError);
      expect((transient as Error).message).toMatch(/READONLY/);
    } finally {
      await plain.close();
      await viaSentinel.close();
    }
  });
});
