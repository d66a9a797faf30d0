/**
 * One real redis-server per test file and, per test, a fresh namespace, a GCS
 * port shared by every candidate (as Ray heads on one machine would share it)
 * and a sampler of the stand-in heads. Registers its own vitest hooks; every
 * candidate a test started is SIGKILLed after it.
 */
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { HeadSampler, STAND_IN, killAllCandidates, leaderWithLiveHead, startCandidate, type Candidate } from './candidates.js';
import { freePort } from './ports.js';
import { startRedis, type RedisServer } from './redis.js';

/** ttl 1.5 s: renew deadline 1 s, kill grace 150 ms, retry 200 ms. */
export const FAST_TIMING = ['--ttl-ms', '1500', '--retry-ms', '200', '--wait-previous-max-ms', '5000'];

export interface StandInCluster {
  readonly redis: RedisServer;
  readonly sampler: HeadSampler;
  readonly gcsPort: number;
  readonly ns: string;
  /** A candidate with FAST_TIMING and the stand-in head on the shared GCS port. */
  candidate(id: string, o?: { args?: string[]; env?: NodeJS.ProcessEnv; redis?: string }): Candidate;
  /** Waits for exactly one live, listening head among `cs`, and returns its candidate. */
  leaderAmong(cs: Candidate[], timeoutMs?: number): Promise<Candidate>;
}

export function useStandInCluster(prefix: string, o: { sample?: boolean; redisArgs?: string[] } = {}): StandInCluster {
  let redis: RedisServer;
  let sampler: HeadSampler;
  let gcsPort = 0;
  let ns = '';
  let n = 0;
  beforeAll(async () => {
    redis = await startRedis(o.redisArgs ? { args: o.redisArgs } : {});
  });
  afterAll(async () => {
    await redis.close();
  });
  beforeEach(async () => {
    ns = `${prefix}-${++n}`;
    gcsPort = await freePort();
    sampler = new HeadSampler();
    if (o.sample !== false) sampler.start(5);
  });
  afterEach(async () => {
    await killAllCandidates();
    sampler.close();
  });
  return {
    get redis() {
      return redis;
    },
    get sampler() {
      return sampler;
    },
    get gcsPort() {
      return gcsPort;
    },
    get ns() {
      return ns;
    },
    candidate(id, c = {}) {
      return startCandidate({
        id,
        redis: c.redis ?? redis.address,
        namespace: ns,
        args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${gcsPort}`, ...(c.args ?? [])],
        env: c.env,
        command: ['node', STAND_IN, String(gcsPort), sampler.dir],
      });
    },
    leaderAmong(cs, timeoutMs = 15_000) {
      return leaderWithLiveHead(sampler, gcsPort, cs, timeoutMs);
    },
  };
}
