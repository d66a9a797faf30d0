/**
 * Restart in place (docs/design.md, decision 30), the orchestrator's side
 * against a real Redis: the previous incarnation's recorded term is released
 * only with the proof and only when it is this candidate's; a leading
 * candidate records its term and removes it when the term ends. The shim's
 * side (the lock, PID 1, real Ray) is in ray-shim.test.ts.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Elector } from '../../src/election/elector.js';
import { RedisLease } from '../../src/election/redis-lease.js';
import { silentLogger } from '../../src/log.js';
import { parseRedisAddress } from '../../src/redis/address.js';
import { electionConnection } from '../../src/redis/connection.js';
import { leaseKeys } from '../../src/redis/keys.js';
import { TERM_FILE, recordTerms, releasePreviousIncarnation } from '../../src/ray/instance.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let server: RedisServer;
let dir: string;
const leases: RedisLease[] = [];
let n = 0;

beforeAll(async () => {
  server = await startRedis();
  dir = mkdtempSync(path.join(tmpdir(), 'rhha-instance-'));
});
afterAll(async () => {
  for (const l of leases) await l.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A lease of a fresh namespace held by `id` (a long ttl: only a release ends it here). */
async function heldBy(id: string) {
  const ns = `instance-${++n}`;
  const lease = new RedisLease(electionConnection(parseRedisAddress(server.address, 'test'), { commandTimeoutMs: 1_000, connectTimeoutMs: 1_000, reconnectMaxMs: 100 }), null, {
    namespace: ns, candidateId: id, ttlMs: 60_000, host: 'h', gcsAddress: null, dashboardUrl: null,
  });
  leases.push(lease);
  await lease.connect();
  await server.client().set(leaseKeys(ns).epoch, '0');
  const won = await lease.tryAcquire({ minEpoch: 0, knownGcsAddress: null, unknownSession: null });
  if (!won.acquired) throw new Error('not acquired');
  const instanceDir = mkdtempSync(path.join(dir, 'i-'));
  writeFileSync(path.join(instanceDir, TERM_FILE), `${won.token}\n`);
  return { lease, token: won.token, key: leaseKeys(ns).lease, instanceDir, termFile: path.join(instanceDir, TERM_FILE) };
}

describe('restart in place: the previous incarnation\'s lease', () => {
  it('is released with the proof, when the recorded term is this candidate\'s; the record is removed', async () => {
    const h = await heldBy('pod-0');
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: true }, 'pod-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBeNull();
    expect(existsSync(h.termFile)).toBe(false);
  });

  it('is left to expire without the proof (not the child of the shim as PID 1 holding the lock)', async () => {
    const h = await heldBy('pod-0');
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: false }, 'pod-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBe(h.token);
    expect(existsSync(h.termFile)).toBe(true);
  });

  it('is left alone when the recorded term is another candidate\'s, even with the proof', async () => {
    const h = await heldBy('pod-1');
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: true }, 'pod-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBe(h.token);
  });

  it('a term that already ended (another holder now) is not touched: the release is token-checked', async () => {
    const h = await heldBy('pod-0');
    await server.client().set(h.key, 'pod-9#12345', 'PX', 60_000);
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: true }, 'pod-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBe('pod-9#12345');
    expect(existsSync(h.termFile)).toBe(false);
  });

  it('a leading candidate records its token, and removes it when its term ends', () => {
    const instanceDir = mkdtempSync(path.join(dir, 'rec-'));
    const elector = new EventEmitter() as unknown as Elector;
    const stop = recordTerms({ dir: instanceDir, proven: true }, elector, 'pod-0', silentLogger);
    const file = path.join(instanceDir, TERM_FILE);
    elector.emit('state', { from: 'standby', to: 'leading', reason: 'acquired', epoch: 42 });
    expect(readFileSync(file, 'utf8')).toBe('pod-0#42\n');
    elector.emit('state', { from: 'leading', to: 'stepping-down', reason: 'shutdown', epoch: 42 });
    expect(existsSync(file)).toBe(true);
    elector.emit('state', { from: 'stepping-down', to: 'stopped', reason: 'shutdown', epoch: 42 });
    expect(existsSync(file)).toBe(false);
    stop();
    elector.emit('state', { from: 'standby', to: 'leading', reason: 'acquired', epoch: 43 });
    expect(existsSync(file)).toBe(false);
  });
});
