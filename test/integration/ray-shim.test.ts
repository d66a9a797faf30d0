/**
 * The `ray` shim, run for real: installed by installShim() into a temp bin
 * dir, in front of a fake `ray` (test/fixtures/fake-ray.py) or the real one
 * from .venv. With HA on, the baked orchestrator command points at
 * test/fixtures/fake-orchestrator.mjs, so nothing here depends on the CLI.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { findRealRay, installShim, isShim, SHIM_MARKER } from '../../src/ray/install-shim.js';
import { freePort, isListening } from '../helpers/ports.js';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/candidates.js';
import { isDead } from '../helpers/process-tree.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const FAKE_RAY = path.join(ROOT, 'test', 'fixtures', 'fake-ray.py');
const FAKE_ORCH = path.join(ROOT, 'test', 'fixtures', 'fake-orchestrator.mjs');
const VENV_BIN = path.join(ROOT, '.venv', 'bin');
const SECRET = 'rhha-shim-argv-secret-7f3a';

let work: string;
let fakeRayDir: string; // holds `ray` = the fake
let shimDir: string; // holds the shim in front of the fake
let shim: string;
const detached: number[] = []; // process groups started by a test
const inits: ChildProcess[] = []; // `unshare` of each PID namespace a test started; its init dies with it (--kill-child)

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'rhha-shim-'));
  fakeRayDir = path.join(work, 'fake-bin');
  mkdirSync(fakeRayDir);
  copyFileSync(FAKE_RAY, path.join(fakeRayDir, 'ray'));
  chmodSync(path.join(fakeRayDir, 'ray'), 0o755);
  shimDir = path.join(work, 'shim-bin');
  shim = installShim({
    binDir: shimDir,
    orchestrator: [process.execPath, FAKE_ORCH],
    searchPath: [shimDir, fakeRayDir, '/usr/bin', '/bin'].join(path.delimiter),
  });
});

afterEach(async () => {
  for (const p of inits.splice(0)) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const gone = new Promise((resolve) => p.once('close', resolve));
    p.kill('SIGKILL');
    await gone;
  }
  for (const pgid of detached.splice(0)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs `ray ...` by name on a PATH that has the shim first. */
function runRay(args: string[], env: NodeJS.ProcessEnv = {}, pathDirs = [shimDir, fakeRayDir]): SpawnSyncReturns<string> {
  const baseEnv = { ...process.env };
  delete baseEnv['RAY_ENABLE_HEAD_HA'];
  return spawnSync('ray', args, {
    encoding: 'utf8',
    // The candidates' pidfiles of this file's tests only: `ray stop` must not stop anyone else's.
    env: { ...baseEnv, PATH: [...pathDirs, process.env['PATH']].join(path.delimiter), RAY_HA_RUN_DIR: path.join(work, 'run'), ...env },
    timeout: 60_000,
  });
}

function fakeOutput(r: SpawnSyncReturns<string>): { argv: string[]; pid: number; env: Record<string, string> } {
  return JSON.parse(r.stdout.trim().split('\n')[0]!);
}

describe('installShim', () => {
  it('writes an executable, marked shim that names the real ray and the orchestrator', () => {
    expect(shim).toBe(path.join(shimDir, 'ray'));
    expect(statSync(shim).mode & 0o777).toBe(0o755);
    const text = readFileSync(shim, 'utf8');
    expect(text).toContain(SHIM_MARKER);
    expect(text).toContain(JSON.stringify(path.join(fakeRayDir, 'ray')));
    expect(text).toContain(JSON.stringify([process.execPath, FAKE_ORCH]));
    expect(text).not.toContain('__RAY_HEAD_HA_');
    expect(isShim(shim)).toBe(true);
    expect(isShim(path.join(fakeRayDir, 'ray'))).toBe(false);
  });

  it('skips the bin dir and any other shim on PATH', () => {
    const other = path.join(work, 'other-shim');
    installShim({ binDir: other, rayPath: path.join(fakeRayDir, 'ray'), orchestrator: ['true'] });
    expect(findRealRay(shimDir, [shimDir, other, fakeRayDir].join(':'))).toBe(path.join(fakeRayDir, 'ray'));
  });

  it('fails with a ConfigError when only shims are found, or --ray is a shim', () => {
    expect(() => findRealRay(shimDir, [shimDir, '/nonexistent'].join(':'))).toThrow(ConfigError);
    expect(() => findRealRay(shimDir, shimDir)).toThrow(/no real `ray` found on PATH/);
    expect(() => installShim({ binDir: path.join(work, 'x'), rayPath: shim })).toThrow(/is a ray-head-ha shim/);
    expect(() => installShim({ binDir: path.join(work, 'x'), rayPath: path.join(work, 'nope') })).toThrow(ConfigError);
  });

  it('defaults the orchestrator to this node and bin/ray-head-ha.js', () => {
    const dir = path.join(work, 'default-orch');
    const file = installShim({ binDir: dir, rayPath: path.join(fakeRayDir, 'ray') });
    expect(readFileSync(file, 'utf8')).toContain(JSON.stringify([process.execPath, path.join(ROOT, 'bin', 'ray-head-ha.js')]));
  });
});

describe('HA off: the real ray, untouched', () => {
  it('passes argv, environment and exit code, in the same process (exec)', () => {
    const args = ['start', '--head', '--port=6380', 'with space', '', '--', '-x'];
    const r = runRay(args, { FAKE_RAY_EXIT: '7', SOME_VAR: 'kept' });
    expect(r.status).toBe(7);
    const out = fakeOutput(r);
    expect(out.argv).toEqual(args);
    expect(out.env['SOME_VAR']).toBe('kept');
    expect(out.env['RAY_HA_STATE_FILE']).toBeUndefined();
    expect(out.pid).toBe(r.pid);
  });

  it.each(['', 'false', '0', 'no', 'off'])('RAY_ENABLE_HEAD_HA=%j is off', (value) => {
    const r = runRay(['start', '--head', '--block'], { RAY_ENABLE_HEAD_HA: value, FAKE_RAY_EXIT: '3' });
    expect(r.status).toBe(3);
    expect(fakeOutput(r).argv).toEqual(['start', '--head', '--block']);
  });

  it('delivers signals to the real ray (it is the same process)', async () => {
    const child = spawn('ray', ['start', '--head'], {
      env: { ...process.env, PATH: [shimDir, fakeRayDir, process.env['PATH']].join(':'), FAKE_RAY_SLEEP: '30' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect(JSON.parse(out.split('\n')[0]!).pid).toBe(child.pid);
    child.kill('SIGTERM');
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    expect([code, signal]).toEqual([null, 'SIGTERM']);
  });
});

describe('HA on: everything but `ray start --head` is still the real ray', () => {
  it.each([
    [['start', '--address=10.0.0.1:6379', '--block']],
    [['start', '--address', '10.0.0.1:6379']],
    [['status']],
    [['stop', '--force']],
    [['--version']],
    [['start', '--head', '--help']],
    [['start', '--node-name', '--head']],
  ])('%j', (args) => {
    const r = runRay(args, { RAY_ENABLE_HEAD_HA: 'true', FAKE_RAY_EXIT: '4' });
    expect(r.status).toBe(4);
    expect(fakeOutput(r).argv).toEqual(args);
  });
});

describe('HA on: `ray start --head --block` execs the orchestrator', () => {
  it.each(['true', 'TRUE', 'True', '1', 'yes', 'YES'])('RAY_ENABLE_HEAD_HA=%s', (value) => {
    const record = path.join(work, `orch-${value}.json`);
    const args = ['--logging-level', 'info', 'start', '--head', '--port', '6380', '--block', '--temp-dir=/x y'];
    const r = runRay(args, { RAY_ENABLE_HEAD_HA: value, FAKE_ORCH_RECORD: record, FAKE_ORCH_MODE: 'exit:9' });
    expect(r.status).toBe(9);
    const rec = JSON.parse(readFileSync(record, 'utf8'));
    expect(rec.argv).toEqual(['run', '--', path.join(fakeRayDir, 'ray'), ...args]);
    expect(rec.pid).toBe(r.pid); // exec, not a child: KubeRay's signals reach the orchestrator
    expect(rec.env.RAY_ENABLE_HEAD_HA).toBe(value);
  });
});

/** The first child of `pid` (from /proc), or null. */
function childOf(pid: number): number | null {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0];
    return first ? Number(first) : null;
  } catch {
    return null;
  }
}

/** Whether the fake orchestrator reported standby in `state`: it handles SIGTERM by then (it writes its record before). */
const reportedStandby = (state: string): boolean => existsSync(state) && JSON.parse(readFileSync(state, 'utf8')).role === 'standby';

/** A process's argv, from /proc. */
const cmdlineOf = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);

/** `ray ...` through the shim as PID 1 of a new PID namespace (a container's init), with its output. */
function rayAsInit(args: string[], env: NodeJS.ProcessEnv, pathDirs: string[]) {
  const baseEnv = { ...process.env };
  delete baseEnv['RAY_ENABLE_HEAD_HA'];
  const p = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', 'ray', ...args], {
    env: { ...baseEnv, PATH: [...pathDirs, process.env['PATH']].join(path.delimiter), RAY_HA_RUN_DIR: path.join(work, 'run-init'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  inits.push(p);
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  return { p, exited, out: () => out };
}

describe('HA on, as PID 1 of a PID namespace: the shim stays as the init', () => {
  it('runs the orchestrator as its child, forwards SIGTERM to it, and exits with its code', async () => {
    const record = path.join(work, 'orch-init.json');
    const state = path.join(work, 'orch-init.state.json');
    const r = rayAsInit(['start', '--head', '--port', '6380', '--block'], {
      RAY_ENABLE_HEAD_HA: 'true', FAKE_ORCH_RECORD: record, FAKE_ORCH_MODE: 'standby', RAY_HA_STATE_FILE: state,
    }, [shimDir, fakeRayDir]);
    await until('the orchestrator runs', () => existsSync(record), 10_000, 20);
    const init = childOf(r.p.pid!)!;
    const rec = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[]; pid: number };
    expect(rec.argv.slice(0, 2)).toEqual(['run', '--']);
    expect(rec.pid).not.toBe(1); // its pid in the namespace: a child, not the init itself
    const orchestrator = childOf(init)!;
    expect(readFileSync(`/proc/${orchestrator}/cmdline`, 'utf8')).toContain('fake-orchestrator.mjs');
    await until('the orchestrator handles SIGTERM', () => reportedStandby(state), 5_000, 10);
    process.kill(init, 'SIGTERM'); // what the kubelet sends to a container's PID 1
    expect(await r.exited).toBe(0);
    expect(isDead(orchestrator)).toBe(true);
  });

  it.each([
    ['--redis-password=SECRET', [`--redis-password=${SECRET}`]],
    ['--redis-password SECRET', ['--redis-password', SECRET]],
  ])('%s: neither the init\'s own cmdline nor the orchestrator\'s holds the password; the orchestrator still gets it, signals and exit codes as before', async (_name, passwordArgs) => {
    const record = path.join(work, `orch-init-secret-${passwordArgs.length}.json`);
    const state = path.join(work, `orch-init-secret-${passwordArgs.length}.state.json`);
    const args = ['start', '--head', '--port', '6380', ...passwordArgs, '--block'];
    const r = rayAsInit(args, { RAY_ENABLE_HEAD_HA: 'true', FAKE_ORCH_RECORD: record, FAKE_ORCH_MODE: 'standby', RAY_HA_STATE_FILE: state }, [shimDir, fakeRayDir]);
    await until('the orchestrator runs', () => existsSync(record), 10_000, 20);
    const init = childOf(r.p.pid!)!;
    const orchestrator = childOf(init)!;
    // The init lives as long as the pod: its /proc/PID/cmdline is readable by every process of the container.
    expect(cmdlineOf(init).slice(-6)).toEqual([shim, 'start', '--head', '--port', '6380', '--block']);
    for (const pid of [init, orchestrator]) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(SECRET);
    // Handed over on a pipe, not in the init's own environment, and the pipe is closed again.
    expect(readFileSync(`/proc/${init}/environ`, 'utf8')).not.toContain(SECRET);
    expect(readdirSync(`/proc/${init}/fd`).sort()).toEqual(readdirSync(`/proc/${r.p.pid}/fd`).sort()); // what it inherited, no more
    const rec = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[]; env: Record<string, string> };
    expect(rec.argv).toEqual(['run', '--', path.join(fakeRayDir, 'ray'), 'start', '--head', '--port', '6380', '--block']);
    expect(rec.env['RAY_HA_HEAD_REDIS_PASSWORD']).toBe(SECRET); // as before: the orchestrator puts it back on the head's command line
    expect(Object.keys(rec.env).filter((k) => k.startsWith('RAY_HA_SHIM_'))).toEqual([]);
    await until('the orchestrator handles SIGTERM', () => reportedStandby(state), 5_000, 10);
    process.kill(init, 'SIGTERM'); // forwarded, as without a password
    expect(await r.exited).toBe(0);
    expect(isDead(orchestrator)).toBe(true);
    // The orchestrator's own exit code is still the init's.
    const failing = rayAsInit(args, { RAY_ENABLE_HEAD_HA: 'true', FAKE_ORCH_MODE: 'exit:9' }, [shimDir, fakeRayDir]);
    expect(await failing.exited).toBe(9);
    expect(failing.out()).not.toContain(SECRET);
  });

  it('RAY_HA_INSTANCE_DIR: the init takes the lock and says so to its orchestrator; a second init on the same directory does not, nor does a shim that is not PID 1', async () => {
    const instanceDir = mkdtempSync(path.join(work, 'instance-'));
    const recA = path.join(work, 'orch-lock-a.json');
    const recB = path.join(work, 'orch-lock-b.json');
    const env = { RAY_ENABLE_HEAD_HA: 'true', FAKE_ORCH_MODE: 'standby', RAY_HA_INSTANCE_DIR: instanceDir, RAY_HA_INSTANCE_LOCKED: '1' };
    const a = rayAsInit(['start', '--head', '--block'], { ...env, FAKE_ORCH_RECORD: recA }, [shimDir, fakeRayDir]);
    await until('the first orchestrator runs', () => existsSync(recA), 10_000, 20);
    expect(JSON.parse(readFileSync(recA, 'utf8')).env.RAY_HA_INSTANCE_LOCKED).toBe('1');
    const b = rayAsInit(['start', '--head', '--block'], { ...env, FAKE_ORCH_RECORD: recB }, [shimDir, fakeRayDir]);
    await until('the second orchestrator runs', () => existsSync(recB), 10_000, 20);
    expect(JSON.parse(readFileSync(recB, 'utf8')).env.RAY_HA_INSTANCE_LOCKED).toBeUndefined();
    expect(b.out()).toMatch(/another process holds the instance lock in RAY_HA_INSTANCE_DIR=/);
    // Not PID 1 (the shim execs the orchestrator): a RAY_HA_INSTANCE_LOCKED from outside is dropped.
    const recC = path.join(work, 'orch-lock-c.json');
    runRay(['start', '--head', '--block'], { ...env, FAKE_ORCH_MODE: 'exit:0', FAKE_ORCH_RECORD: recC });
    expect(JSON.parse(readFileSync(recC, 'utf8')).env.RAY_HA_INSTANCE_LOCKED).toBeUndefined();
    for (const r of [a, b]) process.kill(childOf(r.p.pid!)!, 'SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
  });

  it('real orchestrator and real Ray, restart in place: the container\'s PID 1 killed (all of it dies), the next incarnation releases its previous lease at once, not after the ttl', async () => {
    const redis = await startRedis();
    const haShimDir = path.join(work, 'restart-ha-shim');
    installShim({ binDir: haShimDir, searchPath: [haShimDir, VENV_BIN].join(':') });
    const instanceDir = mkdtempSync(path.join(work, 'restart-instance-'));
    const ns = 'shim-restart';
    const raw = redis.client();
    const leaseKey = `ray-head-ha:{${ns}}:lease`;
    const temps: string[] = [];
    const incarnation = async () => {
      const tempDir = mkdtempSync(path.join(tmpdir(), 'rhha-restart-'));
      temps.push(tempDir);
      const port = await freePort();
      const r = rayAsInit(
        ['start', '--head', '--block', `--port=${port}`, `--temp-dir=${tempDir}`, '--include-dashboard=false', '--num-cpus=1', '--disable-usage-stats'],
        {
          RAY_ENABLE_HEAD_HA: 'true', RAY_REDIS_ADDRESS: redis.address, RAY_external_storage_namespace: ns, RAY_HA_LOG_LEVEL: 'info',
          RAY_HA_CANDIDATE_ID: 'pod-0', RAY_HA_INSTANCE_DIR: instanceDir,
          // A minute: a takeover within the test can only come from the release.
          RAY_HA_KEY_EXPIRE_TIME_MS: '60000',
        },
        [haShimDir, VENV_BIN],
      );
      await until('the candidate leads with its GCS up', async () => ((await raw.get(leaseKey)) ?? '').startsWith('pod-0#') && (await isListening(port)), 120_000, 200);
      return { r, token: (await raw.get(leaseKey))! };
    };
    try {
      // A namespace that has had terms (an epoch counter): no first-term hold of a whole minute (decision 28).
      await raw.set(`ray-head-ha:{${ns}}:epoch`, '1');
      const first = await incarnation();
      expect(readFileSync(path.join(instanceDir, 'term'), 'utf8').trim()).toBe(first.token);
      process.kill(childOf(first.r.p.pid!)!, 'SIGKILL'); // the container's init: the kernel kills the rest
      expect(await first.r.exited).not.toBe(0);
      expect(await raw.get(leaseKey)).toBe(first.token); // nobody released it: the keeper died too
      const sub = redis.client();
      const events: { type: string; id: string; epoch: number }[] = [];
      await sub.subscribe(`ray-head-ha:{${ns}}:events`);
      sub.on('message', (_c, m: string) => events.push(JSON.parse(m)));
      const second = await incarnation();
      expect(second.token).not.toBe(first.token);
      expect(events.map((e) => `${e.type} ${e.id}#${e.epoch}`)).toEqual([`released ${first.token}`, `acquired ${second.token}`]);
      expect(second.r.out()).toMatch(/released the lease of this container's previous incarnation/);
      process.kill(childOf(second.r.p.pid!)!, 'SIGTERM');
      expect(await second.r.exited).toBe(0);
      expect(await raw.get(leaseKey)).toBeNull();
    } finally {
      await redis.close();
      for (const t of temps) rmSync(t, { recursive: true, force: true });
    }
  }, 200_000);

  it('real orchestrator and real Ray: the orchestrator SIGKILLed alone, its keeper reaps the head and releases the lease, and only then the init exits (137)', async () => {
    const redis = await startRedis();
    const haShimDir = path.join(work, 'init-ha-shim');
    installShim({ binDir: haShimDir, searchPath: [haShimDir, VENV_BIN].join(':') }); // default orchestrator: this checkout
    const tempDir = mkdtempSync(path.join(tmpdir(), 'rhha-shiminit-'));
    const port = await freePort();
    const ns = 'shim-init';
    const raw = redis.client();
    try {
      const r = rayAsInit(
        ['start', '--head', '--block', `--port=${port}`, `--temp-dir=${tempDir}`, '--include-dashboard=false', '--num-cpus=1', '--disable-usage-stats'],
        { RAY_ENABLE_HEAD_HA: 'true', RAY_REDIS_ADDRESS: redis.address, RAY_external_storage_namespace: ns, RAY_HA_LOG_LEVEL: 'info' },
        [haShimDir, VENV_BIN],
      );
      const leaseKey = `ray-head-ha:{${ns}}:lease`;
      await until('the candidate leads with its GCS up', async () => (await raw.get(leaseKey)) !== null && (await isListening(port)), 120_000, 200);
      const token = (await raw.get(leaseKey))!;
      const init = childOf(r.p.pid!)!;
      const orchestrator = childOf(init)!;
      expect(readFileSync(`/proc/${orchestrator}/cmdline`, 'utf8')).toContain('ray-head-ha.js\0run\0');
      const sub = redis.client();
      const events: string[] = [];
      await sub.subscribe(`ray-head-ha:{${ns}}:events`);
      sub.on('message', (_c, m: string) => events.push(m));
      process.kill(orchestrator, 'SIGKILL');
      expect(await r.exited).toBe(137);
      // The lease was released by the keeper (an event), not left to expire, before the namespace ended.
      expect(await raw.get(leaseKey)).toBeNull();
      await until('the released event', () => events.some((e) => JSON.parse(e).type === 'released'), 2_000, 20);
      const released = JSON.parse(events.find((e) => JSON.parse(e).type === 'released')!);
      expect(`${released.id}#${released.epoch}`).toBe(token);
      expect(r.out()).toMatch(/released the lease: the orchestrator died and its keeper reaped the whole head tree/);
    } finally {
      await redis.close();
      rmSync(tempDir, { recursive: true, force: true });
    }
  }, 150_000);
});

describe('HA on: `ray start --head` without --block starts the orchestrator detached', () => {
  function runDetached(mode: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
    const tempDir = mkdtempSync(path.join(work, 'tmp-'));
    const record = path.join(tempDir, 'orch.json');
    const args = ['start', '--head', ...extra, `--temp-dir=${tempDir}`];
    const r = runRay(args, { RAY_ENABLE_HEAD_HA: 'yes', FAKE_ORCH_RECORD: record, FAKE_ORCH_MODE: mode, ...env });
    const rec = existsSync(record) ? JSON.parse(readFileSync(record, 'utf8')) : null;
    if (rec) detached.push(rec.pid);
    return { r, rec, tempDir, args };
  }

  it('leader: waits for the GCS port, prints it, returns 0; the orchestrator runs on in its own session', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const { r, rec, tempDir, args } = runDetached('leader', [`--port=${port}`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800); // the fake GCS listens after 800 ms
    expect(r.stdout).toMatch(new RegExp(`leads \\(epoch 3\\); Ray head GCS at 127.0.0.1:${port}`));
    expect(rec.argv).toEqual(['run', '--', path.join(fakeRayDir, 'ray'), ...args, '--block']);
    expect(rec.env.RAY_HA_STATE_FILE).toBe(path.join(tempDir, 'ray-head-ha.state.json'));
    expect(existsSync(path.join(tempDir, 'ray-head-ha.log'))).toBe(true);
    // alive, and the leader of its own session (setsid), so the terminal's hangup does not reach it
    process.kill(rec.pid, 0);
    const sid = readFileSync(`/proc/${rec.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3];
    expect(Number(sid)).toBe(rec.pid);
  });

  it('standby: prints so and returns 0 at once', () => {
    const { r, rec } = runDetached('standby');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/is a standby; the leader is other-candidate/);
    process.kill(rec.pid, 0);
  });

  it('ignores a stale state file from an earlier run', () => {
    const tempDir = mkdtempSync(path.join(work, 'stale-'));
    writeFileSync(path.join(tempDir, 'ray-head-ha.state.json'), JSON.stringify({ pid: 1, role: 'standby' }));
    const record = path.join(tempDir, 'orch.json');
    const r = runRay(['start', '--head', `--temp-dir=${tempDir}`], {
      RAY_ENABLE_HEAD_HA: '1', FAKE_ORCH_RECORD: record, FAKE_ORCH_MODE: 'silent', RAY_HA_SHIM_START_TIMEOUT_S: '1.5',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no leader\/standby report within 2 s/);
    const pid = JSON.parse(readFileSync(record, 'utf8')).pid as number;
    detached.push(pid);
  });

  it('`ray stop` (HA off too) ends the candidates first, as SIGTERM does, then runs Ray\'s stop with its argv and exit code', async () => {
    const { rec, tempDir } = runDetached('standby');
    const stubborn = runDetached('stubborn').rec;
    // Not a candidate: the same program, but not `run`.
    const bystander = spawn(process.execPath, [FAKE_ORCH, 'status'], { env: { ...process.env, FAKE_ORCH_MODE: 'silent' }, stdio: 'ignore', detached: true });
    detached.push(bystander.pid!);

    const r = runRay(['stop', '--force'], { FAKE_RAY_EXIT: '5', RAY_HA_SHIM_STOP_TIMEOUT_S: '1' });
    expect(r.status).toBe(5);
    expect(fakeOutput(r).argv).toEqual(['stop', '--force']);
    expect(r.stderr).toMatch(new RegExp(`stopped 2 head candidate\\(s\\) \\(pid (${rec.pid}, ${stubborn.pid}|${stubborn.pid}, ${rec.pid})\\); SIGKILLed ${stubborn.pid} after 1 s`));
    await until('both candidates gone', () => isDead(rec.pid) && isDead(stubborn.pid));
    // The polite one ended through its SIGTERM path (the real orchestrator releases the lease there).
    expect(JSON.parse(readFileSync(path.join(tempDir, 'ray-head-ha.state.json'), 'utf8'))).toMatchObject({ pid: rec.pid, role: 'stopped' });
    expect(isDead(bystander.pid!)).toBe(false);

    // Nothing left to stop: `ray stop` is Ray's alone, and quiet.
    const again = runRay(['stop'], { FAKE_RAY_EXIT: '0' });
    expect(again.status).toBe(0);
    expect(again.stderr).toBe('');
  });

  it('the shim that waits for the report holds no password in its own cmdline either; the orchestrator gets it as before', async () => {
    const tempDir = mkdtempSync(path.join(work, 'tmp-'));
    const record = path.join(tempDir, 'orch.json');
    const baseEnv = { ...process.env };
    delete baseEnv['RAY_HA_HEAD_REDIS_PASSWORD'];
    const waiting = spawn('ray', ['start', '--head', '--redis-password', SECRET, `--temp-dir=${tempDir}`, `--redis-password=${SECRET}`], {
      env: {
        ...baseEnv, PATH: [shimDir, fakeRayDir, process.env['PATH']].join(path.delimiter), RAY_HA_RUN_DIR: path.join(work, 'run'),
        RAY_ENABLE_HEAD_HA: 'true', FAKE_ORCH_RECORD: record, FAKE_ORCH_MODE: 'silent', RAY_HA_SHIM_START_TIMEOUT_S: '30',
      },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => waiting.once('exit', resolve));
    try {
      await until('the orchestrator runs', () => existsSync(record), 10_000, 20);
      const rec = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[]; pid: number; env: Record<string, string> };
      detached.push(rec.pid);
      expect(cmdlineOf(waiting.pid!).slice(-4)).toEqual([shim, 'start', '--head', `--temp-dir=${tempDir}`]);
      expect(readFileSync(`/proc/${waiting.pid}/cmdline`, 'utf8')).not.toContain(SECRET);
      expect(rec.argv).toEqual(['run', '--', path.join(fakeRayDir, 'ray'), 'start', '--head', `--temp-dir=${tempDir}`, '--block']);
      expect(rec.env['RAY_HA_HEAD_REDIS_PASSWORD']).toBe(SECRET);
    } finally {
      waiting.kill('SIGKILL');
      await exited;
    }
  });

  it('an orchestrator that exits early: its code, and the log tail on stderr', () => {
    const { r } = runDetached('exit:2');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the orchestrator exited with code 2 before it was ready; log .*ray-head-ha\.log/);
  });
});

describe('with the real ray from .venv, HA off', () => {
  let realShimDir: string;
  beforeAll(() => {
    realShimDir = path.join(work, 'real-shim');
    installShim({ binDir: realShimDir, searchPath: [realShimDir, VENV_BIN].join(':'), orchestrator: [process.execPath, FAKE_ORCH] });
  });
  const viaShim = (args: string[]) => runRay(args, {}, [realShimDir, VENV_BIN]);
  const stock = (args: string[]) => runRay(args, {}, [VENV_BIN]);

  it('the shim bakes the venv ray and its interpreter', () => {
    const text = readFileSync(path.join(realShimDir, 'ray'), 'utf8');
    expect(text.split('\n')[0]).toBe(readFileSync(path.join(VENV_BIN, 'ray'), 'utf8').split('\n')[0]);
    expect(text).toContain(JSON.stringify(path.join(VENV_BIN, 'ray')));
  });

  it('`ray --version` and usage errors are stock, exit codes included', () => {
    for (const args of [['--version'], ['start', '--port=abc'], ['start']]) {
      const a = viaShim(args);
      const b = stock(args);
      expect({ args, status: a.status }).toEqual({ args, status: b.status });
      if (args[0] === '--version') expect(a.stdout).toBe(b.stdout);
    }
  });

  it('HA on, real orchestrator and real Ray: `ray start --head` returns once it leads, `ray stop` hands the lease back and leaves nothing running', async () => {
    const redis = await startRedis();
    const haShimDir = path.join(work, 'real-ha-shim');
    installShim({ binDir: haShimDir, searchPath: [haShimDir, VENV_BIN].join(':') }); // default orchestrator: this checkout
    const tempDir = mkdtempSync(path.join(tmpdir(), 'rhha-shimha-'));
    const port = await freePort();
    const status = `${process.execPath} ${path.join(ROOT, 'bin', 'ray-head-ha.js')} status --json`;
    const script = [
      `ray start --head --port=${port} --temp-dir=${tempDir} --include-dashboard=false --num-cpus=1 --disable-usage-stats; echo "start=$?"`,
      `${status}; echo "status=$?"`,
      'ray stop; echo "stop=$?"',
      `${status}`,
      'ps -eo args= | grep -E "ray-head-ha|gcs_server|raylet" | grep -v grep; echo "left=$?"',
    ].join('\n');
    try {
      const r = await new Promise<{ out: string; code: number | null }>((resolve) => {
        // Its own PID namespace: `ray stop` sees only this test's Ray and candidate.
        const p = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', 'sh', '-c', script], {
          env: {
            ...process.env,
            PATH: [haShimDir, VENV_BIN, process.env['PATH']].join(':'),
            RAY_ENABLE_HEAD_HA: 'true',
            RAY_REDIS_ADDRESS: redis.address,
            RAY_external_storage_namespace: 'shim-ha',
            RAY_HA_LOG_LEVEL: 'warn',
            RAY_HA_RUN_DIR: path.join(work, 'run-real-ha'),
          },
        });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr.on('data', (d: Buffer) => (out += d.toString()));
        p.on('close', (code) => resolve({ out, code }));
      });
      const out = r.out;
      expect(out).toMatch(/^start=0$/m);
      expect(out).toMatch(new RegExp(`this candidate \\(\\S+\\) leads \\(epoch \\d+\\); Ray head GCS at \\S+:${port}`));
      const [before, after] = [...out.matchAll(/^\{"namespace".*$/gm)].map((m) => JSON.parse(m[0]) as { leader: { gcsAddress: string } | null });
      expect(before!.leader?.gcsAddress).toMatch(new RegExp(`:${port}$`));
      expect(out).toMatch(/^status=0$/m);
      expect(out).toMatch(/ray-head-ha shim: stopped 1 head candidate\(s\)/);
      expect(out).toMatch(/^stop=0$/m);
      expect(after!.leader).toBeNull(); // released, not left to expire
      expect(out).toMatch(/^left=1$/m); // grep found nothing
    } finally {
      await redis.close();
      rmSync(tempDir, { recursive: true, force: true });
    }
  }, 150_000);

  it('`ray start --head`, again, then `ray stop` behave as stock', async () => {
    const tempDir = mkdtempSync(path.join(tmpdir(), 'rhha-shimray-'));
    const [port, dash] = [await freePort(), await freePort()];
    const head = `--port=${port} --dashboard-port=${dash} --temp-dir=${tempDir} --disable-usage-stats`;
    // In its own PID namespace: `ray stop` kills every Ray process it can see,
    // and other test files may run Ray at the same time.
    const script = [
      `ray start --head ${head} --include-dashboard=false --num-cpus=1; echo "start=$?"`,
      `ray start --head ${head}; echo "again=$?"`,
      'ray stop; echo "stop=$?"',
    ].join('\n');
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', 'sh', '-c', script], {
      encoding: 'utf8',
      env: { ...process.env, PATH: [realShimDir, VENV_BIN, process.env['PATH']].join(':'), RAY_ENABLE_HEAD_HA: undefined } as NodeJS.ProcessEnv,
      timeout: 90_000,
    });
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/Ray runtime started/);
    expect(out).toMatch(/^start=0$/m);
    expect(out).toMatch(/^again=1$/m); // stock: "already running" is a ConnectionError, exit 1
    expect(out).toMatch(/^stop=0$/m);
    expect(out).toMatch(/Stopped all \d+ Ray processes/);
    expect(existsSync(path.join(tempDir, 'ray-head-ha.log'))).toBe(false);
    rmSync(tempDir, { recursive: true, force: true });
  }, 120_000);
});
