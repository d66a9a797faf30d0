/**
 * The orchestrator with a head command that is `ray start --head` (a fake
 * `ray` that records its argv): --block is added, the GCS address and
 * dashboard URL are derived and published, RAY_REDIS_ADDRESS is required,
 * and the role report for the shim's non-blocking start is written.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, killAllCandidates, startCandidate, until } from '../helpers/candidates.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { readStatus } from '../../src/status.js';

let redis: RedisServer;
const tempDirs: string[] = [];
/** A temp dir removed after the file's tests. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
const binDir = tempDir('rhha-fake-ray-');
const fakeRay = path.join(binDir, 'ray');
symlinkSync(path.join(ROOT, 'test/fixtures/fake-ray.py'), fakeRay);

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await killAllCandidates();
});

const fast = ['--ttl-ms', '1500', '--retry-ms', '200'];

/**
 * A candidate whose head is the fake `ray start --head ARGS...`; resolves once
 * the head started and recorded what it ran with. The fake ray records it
 * itself: /proc/PID/cmdline is empty for a moment while the head execs.
 */
async function recordedHead(id: string, namespace: string, env: NodeJS.ProcessEnv, args: string[]) {
  const record = path.join(tempDir('rhha-argv-'), 'ray.json');
  const c = startCandidate({
    id,
    redis: redis.address,
    namespace,
    args: fast,
    env: { RAY_REDIS_ADDRESS: redis.address, FAKE_RAY_SLEEP: '30', FAKE_RAY_RECORD: record, ...env },
    command: [fakeRay, 'start', '--head', ...args],
  });
  const started = await c.waitForLog((l) => l.msg === 'head started');
  await until('the fake ray recorded what it ran with', () => existsSync(record));
  const ran = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[]; pid: number; env: Record<string, string> };
  return { c, started, ran };
}

describe('ray start --head as the head command', () => {
  it('refuses to start without RAY_REDIS_ADDRESS: exit 2, one line, nothing run', () => {
    const env = { ...process.env };
    delete env.RAY_REDIS_ADDRESS;
    const r = spawnSync(process.execPath, [CLI, 'run', '--redis', redis.address, ...fast, '--', fakeRay, 'start', '--head'], { env, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ray-head-ha: RAY_REDIS_ADDRESS is not set: head HA needs Ray GCS fault tolerance/);
    expect(r.stdout).toBe('');
  });

  it('an installation without its scripts/ helpers: exit 2, one line naming what is missing, nothing run', () => {
    // A copy of the installation (dist, bin, scripts) that lost scripts/previous-heads.py, as an image that left it out.
    const install = tempDir('rhha-install-');
    for (const d of ['dist', 'bin', 'scripts']) cpSync(path.join(ROOT, d), path.join(install, d), { recursive: true });
    cpSync(path.join(ROOT, 'package.json'), path.join(install, 'package.json'));
    for (const d of ['node_modules', 'build']) symlinkSync(path.join(ROOT, d), path.join(install, d));
    rmSync(path.join(install, 'scripts', 'previous-heads.py'));
    // Ray's console script as the head: the helpers run with its interpreter.
    const ray = path.join(tempDir('rhha-ray-script-'), 'ray');
    writeFileSync(ray, '#!/usr/bin/python3\n# -*- coding: utf-8 -*-\nimport sys\nfrom ray.scripts.scripts import main\nsys.exit(main())\n');
    chmodSync(ray, 0o755);
    const r = spawnSync(process.execPath, [path.join(install, 'bin', 'ray-head-ha.js'), 'run', '--redis', redis.address, ...fast, '--', ray, 'start', '--head'],
      { env: { ...process.env, RAY_REDIS_ADDRESS: redis.address }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`ray-head-ha: this installation of ray-head-ha is incomplete: ${path.join(install, 'scripts', 'previous-heads.py')} missing (a package or image must ship the project's scripts/ directory)`);
    expect(r.stdout).toBe('');
  });

  it('runs the head with --block, publishes the derived GCS address and dashboard URL', async () => {
    const { started, ran } = await recordedHead('ray-a', 'ray-head-1', {}, ['--port=6390', '--node-ip-address=10.11.12.13', '--dashboard-host=0.0.0.0', '--dashboard-port=8299']);
    expect(ran.pid).toBe(started.pid);
    // Ray Jobs are not pinned to the head, where they would die with the leader (decision 39),
    // and those without resources are kept off it (decision 41): scripts/head-site first on PYTHONPATH.
    expect(ran.env['RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES']).toBe('1');
    expect(ran.env['RAY_HA_HEAD_SITE']).toBe('1');
    expect(ran.env['PYTHONPATH']?.split(':')[0]).toBe(path.join(ROOT, 'scripts', 'head-site'));
    expect(ran.argv).toEqual(['start', '--head', '--port=6390', '--node-ip-address=10.11.12.13', '--dashboard-host=0.0.0.0', '--dashboard-port=8299', '--block']);
    const s = await readStatus(redis.client(), 'ray-head-1');
    expect(s.leader).toMatchObject({ id: 'ray-a', gcsAddress: '10.11.12.13:6390', dashboardUrl: 'http://10.11.12.13:8299' });
  });

  it("keeps the candidate's own RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES and warns that jobs then die with the leader", async () => {
    const { c, ran } = await recordedHead('ray-j', 'ray-head-jobs', { RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES: '0' }, ['--port=6391', '--node-ip-address=10.11.12.14']);
    expect(ran.env['RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES']).toBe('0');
    expect(ran.env['RAY_HA_HEAD_SITE']).toBeUndefined();
    expect(ran.env['PYTHONPATH'] ?? '').not.toContain('head-site');
    await c.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Ray Jobs submitted without resources will run their driver on the head'));
  });

  it('RAY_HA_JOBS_OFF_HEAD=false: the head runs with Ray\'s random placement, its PYTHONPATH as given, and a warning', async () => {
    const { c, ran } = await recordedHead('ray-k', 'ray-head-jobs-k', { RAY_HA_JOBS_OFF_HEAD: 'false', RAY_HA_HEAD_SITE: '1', PYTHONPATH: '/opt/user-lib' }, ['--port=6392', '--node-ip-address=10.11.12.15']);
    expect(ran.env['RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES']).toBe('1');
    expect(ran.env['RAY_HA_HEAD_SITE']).toBeUndefined();
    expect(ran.env['PYTHONPATH']).toBe('/opt/user-lib');
    await c.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Ray Jobs submitted without resources may run their driver on the head (Ray places them at random)'));
  });

  it("a user's PYTHONPATH stays, after scripts/head-site", async () => {
    const { ran } = await recordedHead('ray-l', 'ray-head-jobs-l', { PYTHONPATH: '/opt/user-lib:/opt/more' }, ['--port=6393', '--node-ip-address=10.11.12.16']);
    expect(ran.env['PYTHONPATH']).toBe([path.join(ROOT, 'scripts', 'head-site'), '/opt/user-lib', '/opt/more'].join(':'));
  });

  it('RAY_HA_JOBS_OFF_HEAD other than true or false: exit 2, one line, nothing run', () => {
    const r = spawnSync(process.execPath, [CLI, 'run', '--redis', redis.address, ...fast, '--', fakeRay, 'start', '--head'],
      { env: { ...process.env, RAY_REDIS_ADDRESS: redis.address, RAY_HA_JOBS_OFF_HEAD: 'yes' }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toMatch(/^ray-head-ha: .*RAY_HA_JOBS_OFF_HEAD.*yes/);
    expect(r.stdout).toBe('');
  });

  it('writes the role report for the shim: leader with its GCS address, standby with the leader id, stopped', async () => {
    const dir = tempDir('rhha-state-');
    const fileA = path.join(dir, 'a.json');
    const fileB = path.join(dir, 'b.json');
    const command = [fakeRay, 'start', '--head', '--port=6391', '--node-ip-address=10.1.1.1'];
    const env = { RAY_REDIS_ADDRESS: redis.address, FAKE_RAY_SLEEP: '30' };
    const a = startCandidate({ id: 'ray-a', redis: redis.address, namespace: 'ray-head-2', args: fast, env: { ...env, RAY_HA_STATE_FILE: fileA }, command });
    await until('a reports', () => existsSync(fileA));
    const reportA = JSON.parse(readFileSync(fileA, 'utf8')) as { epoch: number };
    expect(reportA).toEqual({ pid: a.proc.pid, id: 'ray-a', role: 'leader', epoch: expect.any(Number), gcsAddress: '10.1.1.1:6391' });
    const b = startCandidate({ id: 'ray-b', redis: redis.address, namespace: 'ray-head-2', args: fast, env: { ...env, RAY_HA_STATE_FILE: fileB }, command });
    await until('b reports', () => existsSync(fileB));
    expect(JSON.parse(readFileSync(fileB, 'utf8'))).toEqual({ pid: b.proc.pid, id: 'ray-b', role: 'standby', epoch: reportA.epoch, leaderId: 'ray-a' });
    a.proc.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect(JSON.parse(readFileSync(fileA, 'utf8'))).toMatchObject({ pid: a.proc.pid, role: 'stopped' });
    await until('b leads', () => JSON.parse(readFileSync(fileB, 'utf8')).role === 'leader');
  });
});

describe('install-shim', () => {
  it('writes an executable shim that hands `ray start --head` to the orchestrator when HA is on', () => {
    const dir = tempDir('rhha-shim-');
    const r = spawnSync(process.execPath, [CLI, 'install-shim', '--bin-dir', dir, '--ray', fakeRay], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(path.join(dir, 'ray'));
    // HA off: the shim is the real (fake) ray, argv untouched.
    const off = spawnSync(path.join(dir, 'ray'), ['status', '--x'], { encoding: 'utf8', env: { ...process.env, RAY_ENABLE_HEAD_HA: '' } });
    expect(JSON.parse(off.stdout).argv).toEqual(['status', '--x']);
  });

  it('without --bin-dir: exit 2 with the usage line', () => {
    const r = spawnSync(process.execPath, [CLI, 'install-shim'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/install-shim needs --bin-dir DIR/);
  });
});
