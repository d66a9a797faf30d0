/**
 * Restart in place (docs/design.md, decision 30), the orchestrator's side
 * against a real Redis: the previous incarnation's recorded term is released
 * only with the proof and only when it is this candidate's; a leading
 * candidate records its term and removes it when the term ends. The shim's
 * side (the lock, PID 1, real Ray) is in ray-shim.test.ts.
 *
 * The directory must be private to the pod on this node: the term records
 * the pod's UID, and only the same pod releases it (a namesake pod on
 * another node sharing the directory does not); a directory on a real FUSE
 * mount (a filesystem other machines may share) is refused at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Elector } from '../../src/election/elector.js';
import { RedisLease } from '../../src/election/redis-lease.js';
import { silentLogger } from '../../src/log.js';
import { parseRedisAddress } from '../../src/redis/address.js';
import { electionConnection } from '../../src/redis/connection.js';
import { leaseKeys } from '../../src/redis/keys.js';
import { ConfigError } from '../../src/errors.js';
import { TERM_FILE, instanceFrom, recordTerms, releasePreviousIncarnation } from '../../src/ray/instance.js';
import { ROOT, STAND_IN, runCli } from '../helpers/candidates.js';
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
async function heldBy(id: string, recordedUid: string | null = null) {
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
  writeFileSync(path.join(instanceDir, TERM_FILE), recordedUid === null ? `${won.token}\n` : `${won.token}\npod-uid ${recordedUid}\n`);
  return { lease, token: won.token, key: leaseKeys(ns).lease, instanceDir, termFile: path.join(instanceDir, TERM_FILE) };
}

describe('restart in place: the previous incarnation\'s lease', () => {
  it('is released with the proof, when the recorded term is this candidate\'s; the record is removed', async () => {
    const h = await heldBy('pod-0');
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: true, podUid: null }, 'pod-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBeNull();
    expect(existsSync(h.termFile)).toBe(false);
  });

  it('is left to expire without the proof (not the child of the shim as PID 1 holding the lock)', async () => {
    const h = await heldBy('pod-0');
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: false, podUid: null }, 'pod-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBe(h.token);
    expect(existsSync(h.termFile)).toBe(true);
  });

  it('is left alone when the recorded term is another candidate\'s, even with the proof', async () => {
    const h = await heldBy('pod-1');
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: true, podUid: null }, 'pod-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBe(h.token);
  });

  it('a term that already ended (another holder now) is not touched: the release is token-checked', async () => {
    const h = await heldBy('pod-0');
    await server.client().set(h.key, 'pod-9#12345', 'PX', 60_000);
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: true, podUid: null }, 'pod-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBe('pod-9#12345');
    expect(existsSync(h.termFile)).toBe(false);
  });

  it('on Kubernetes, is released only by the same pod: the recorded pod UID is this pod\'s', async () => {
    const h = await heldBy('ray-head-0', 'uid-aaaa');
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: true, podUid: 'uid-aaaa' }, 'ray-head-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBeNull();
    expect(existsSync(h.termFile)).toBe(false);
  });

  it.each([
    ['a namesake pod (same name, another UID: a shared directory on another node)', 'uid-old', 'uid-new'],
    ['a record without a UID, read by a pod that has one', null, 'uid-new'],
    ['a record with a UID, read by a process without one', 'uid-old', null],
  ])('is left alone, record and lease, for %s, even with the lock\'s proof', async (_name, recordedUid, podUid) => {
    const h = await heldBy('ray-head-0', recordedUid);
    await releasePreviousIncarnation({ dir: h.instanceDir, proven: true, podUid }, 'ray-head-0', h.lease, silentLogger);
    expect(await server.client().get(h.key)).toBe(h.token);
    expect(existsSync(h.termFile)).toBe(true);
  });

  it('a leading candidate records its token, and removes it when its term ends', () => {
    const instanceDir = mkdtempSync(path.join(dir, 'rec-'));
    const elector = new EventEmitter() as unknown as Elector;
    const stop = recordTerms({ dir: instanceDir, proven: true, podUid: null }, elector, 'pod-0', silentLogger);
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

describe('restart in place: where the instance directory may be', () => {
  let mount: string;
  let fuse: ChildProcess | null = null;

  beforeAll(async () => {
    mount = mkdtempSync(path.join(tmpdir(), 'rhha-fuse-'));
    // A real FUSE mount (test/fixtures/fuse-mount.py, over /dev/fuse): what a network or FUSE-backed PVC looks like to statfs.
    fuse = spawn('python3', [path.join(ROOT, 'test', 'fixtures', 'fuse-mount.py'), mount], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      fuse!.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      fuse!.stdout!.on('data', (c: Buffer) => c.toString().includes('mounted') && resolve());
      fuse!.on('exit', (code) => reject(new Error(`fuse-mount.py exited ${code}: ${err}`)));
    });
  });
  afterAll(async () => {
    if (fuse && fuse.exitCode === null) {
      const exited = new Promise((r) => fuse!.once('exit', r));
      fuse.kill('SIGTERM');
      await exited;
    }
    // The fixture detached its mount: the directory is an empty local one again.
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(mount);
    rmSync(mount, { recursive: true, force: true });
  });

  it('a local directory is taken, with the pod UID from RAY_HA_POD_UID', () => {
    const local = mkdtempSync(path.join(dir, 'local-'));
    expect(instanceFrom({ RAY_HA_POD_UID: '0f8e-11aa' }, local)).toMatchObject({ dir: local, podUid: '0f8e-11aa', proven: false });
    expect(instanceFrom({}, local)?.podUid).toBeNull();
    expect(() => instanceFrom({ RAY_HA_POD_UID: 'not a uid' }, local)).toThrow(/RAY_HA_POD_UID="not a uid": not a pod UID/);
  });

  it('a directory on a FUSE mount is refused with one line', () => {
    expect(() => instanceFrom({}, mount)).toThrow(ConfigError);
    expect(() => instanceFrom({}, mount)).toThrow(/is on fuse, a filesystem other machines share/);
  });

  it('run refuses it at start: exit 2, one line, no head started', () => {
    const records = mkdtempSync(path.join(dir, 'heads-'));
    const r = runCli(['run', '--redis', server.address, '--namespace', 'instance-fuse', '--', STAND_IN, '0', records], {
      RAY_HA_INSTANCE_DIR: mount,
    });
    expect(r.code).toBe(2);
    expect(r.errorLines).toHaveLength(1);
    expect(r.errorLines[0]).toMatch(/^ray-head-ha: RAY_HA_INSTANCE_DIR=".*" is on fuse, a filesystem other machines share/);
    expect(readdirSync(records)).toEqual([]);
  });
});
