/**
 * Hostile inputs for the keeper (issue 14, item 12) and for secrets (item 8),
 * on real processes: the real keeper binaries, a real redis-server with a
 * password, the real orchestrator and shim in front of a stand-in `ray`.
 *
 * Keeper: numbers are decimal integers in range or a usage error (exit 2,
 * nothing started); a pid reused between the keeper's /proc scan and its
 * signal is never hit; the production binary has no test hooks.
 * Secrets: Ray's --redis-password is in no argv of ours (orchestrator,
 * keeper), only in the head's, where Ray wants it; our secret-bearing
 * variables are not in the head's environment; DEBUG=ioredis:* prints no AUTH.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { installShim } from '../../src/ray/install-shim.js';
import { readStatus } from '../../src/status.js';
import { CLI, ROOT, until } from '../helpers/candidates.js';
import { keeperPath, testKeeperPath } from '../helpers/keeper.js';
import { Started, fixtures, isDead, nowMs, readPids, sleep, waitDead } from '../helpers/process-tree.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const started = new Started();
let dir: string;
let n = 0;
const file = (name: string) => path.join(dir, `${name}-${++n}`);

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rhha-hostile-keeper-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => started.killAll());

/** A keeper with its status fd (3) and control pipe; status lines as they come. */
function keeperWithStatus(binary: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const proc = spawn(binary, args, { stdio: ['pipe', 'inherit', 'pipe', 'pipe'], detached: true, env });
  started.group(proc.pid);
  const lines: string[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdio[3] as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const waitLine = async (prefix: string, timeoutMs = 5000): Promise<string> => {
    const t0 = nowMs();
    for (;;) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found !== undefined) return found.slice(prefix.length);
      if (nowMs() - t0 > timeoutMs) throw new Error(`no status line "${prefix}"; got ${JSON.stringify(lines)}; stderr ${stderr}`);
      await sleep(5);
    }
  };
  return { proc, lines, exited, waitLine, stderr: () => stderr };
}

describe('keeper: numbers are decimal integers in range, or a usage error', () => {
  const parent = String(process.pid);
  const cases: Array<[string, string[]]> = [
    ['--parent 0x10 (was read as 16)', ['--parent', '0x10']],
    ['--parent 1.9 (was read as 1)', ['--parent', '1.9']],
    ['--parent 1e3 (was read as 1000)', ['--parent', '1e3']],
    ['--parent -5', ['--parent', '-5']],
    ['--parent +5', ['--parent', '+5']],
    ['--parent " 5"', ['--parent', ' 5']],
    ['--parent 0', ['--parent', '0']],
    ['--parent 4194305 (over PID_MAX_LIMIT)', ['--parent', '4194305']],
    ['--parent 99999999999999999999 (overflow)', ['--parent', '99999999999999999999']],
    ['--parent "" (empty)', ['--parent', '']],
    ['--status-fd 1e12 (turned status off)', ['--parent', parent, '--status-fd', '1e12']],
    ['--status-fd -1', ['--parent', parent, '--status-fd', '-1']],
    ['--grace-ms 1.5', ['--parent', parent, '--grace-ms', '1.5']],
    ['--grace-ms 2147483648 (over poll\'s int)', ['--parent', parent, '--grace-ms', '2147483648']],
    ['--deadline-ms 1e300', ['--parent', parent, '--deadline-ms', '1e300']],
    ['--deadline-ms 9007199254740992 (2^53)', ['--parent', parent, '--deadline-ms', '9007199254740992']],
    ['--deadline-ms 12.5', ['--parent', parent, '--deadline-ms', '12.5']],
    ['--command-fd 0 (stdin is the control pipe)', ['--parent', parent, '--command-fd', '0']],
    ['--orphan-grace-ms 0.5', ['--parent', parent, '--orphan-grace-ms', '0.5']],
    ['--orphan-grace-ms -1', ['--parent', parent, '--orphan-grace-ms', '-1']],
    ['--release-fd 2 (an fd of ours)', ['--parent', parent, '--release-fd', '2']],
  ];
  it.each(cases)('%s: exit 2, the usage line, nothing started', (_name, args) => {
    const marker = file('parse');
    const r = spawnSync(keeperPath, [...args, '--', 'sh', '-c', 'touch "$0"', marker], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(2);
    const [problem, usage, ...rest] = r.stderr.trim().split('\n');
    expect(problem).toMatch(/^ray-head-ha-keeper: (bad option --[a-z-]+ |missing value)/);
    expect(usage).toMatch(/^usage: ray-head-ha-keeper --parent PID /);
    expect(rest).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('the largest values in range are taken (control for the cases above)', async () => {
    const marker = file('in-range');
    const k = keeperWithStatus(keeperPath, [
      '--parent', parent, '--grace-ms', '2147483647', '--orphan-grace-ms', '2147483647', '--deadline-ms', '9007199254740991', '--status-fd', '3',
      '--', 'sh', '-c', 'touch "$0"; exec sleep 1000', marker,
    ]);
    await k.waitLine('started ');
    // `started` means the head exec'd sh, not that sh ran `touch` yet: under load a
    // `stop 0` sent now KILLed it first and the marker never came. Wait for the marker.
    await until('the head ran', () => existsSync(marker), 10_000, 5);
    k.proc.stdin!.write('stop 0\n');
    expect(await k.exited).toBe(0);
  });

  it('control lines too: `deadline 1e300` and `stop 0x10` are refused and change nothing', async () => {
    const deadlineMs = Math.floor(nowMs() + 800);
    const k = keeperWithStatus(keeperPath, ['--parent', parent, '--grace-ms', '100', '--deadline-ms', String(deadlineMs), '--', 'sleep', '1000']);
    await k.waitLine('started ');
    // Read as floats before: 1e300 moved the deadline out of reach, 0x10 stopped the head.
    for (const line of ['deadline 1e300', 'deadline 1.5e12', 'deadline -1', 'stop 0x10', 'stop 1e3', 'stop -1']) k.proc.stdin!.write(`${line}\n`);
    expect(await k.exited).toBe(3); // fenced at the deadline given at start: nothing above moved or stopped it
    expect(nowMs()).toBeGreaterThanOrEqual(deadlineMs);
    expect(k.lines.filter((l) => l.startsWith('error '))).toEqual([
      'error unknown command: deadline 1e300',
      'error unknown command: deadline 1.5e12',
      'error unknown command: deadline -1',
      'error unknown command: stop 0x10',
      'error unknown command: stop 1e3',
      'error unknown command: stop -1',
    ]);
    expect(k.lines.at(-1)).toMatch(/^exit fenced /);
  });
});

describe('keeper: the production binary has no test hooks', () => {
  const hooks = ['RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS', 'RAY_HEAD_HA_KEEPER_TEST_DELAY_CHILD_MS', 'RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS'];

  it('names none of the delay variables; the test build names all of them', () => {
    const production = readFileSync(keeperPath, 'latin1');
    const test = readFileSync(testKeeperPath, 'latin1');
    for (const name of hooks) {
      expect(production.includes(name), `${name} in ${keeperPath}`).toBe(false);
      expect(test.includes(name), `${name} in ${testKeeperPath}`).toBe(true);
    }
  });

  it('ignores the delay variables: the head starts at once (the test build waits them out)', async () => {
    const env = { ...process.env, RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS: '1500', RAY_HEAD_HA_KEEPER_TEST_DELAY_CHILD_MS: '1500' };
    const timeToStart = async (binary: string): Promise<number> => {
      const t0 = nowMs();
      const k = keeperWithStatus(binary, ['--parent', String(process.pid), '--', 'sleep', '1000'], env);
      await k.waitLine('started ', 10_000);
      const tookMs = nowMs() - t0;
      k.proc.stdin!.end(); // EOF: the keeper ends the head
      await k.exited;
      return tookMs;
    };
    expect(await timeToStart(keeperPath)).toBeLessThan(1000);
    expect(await timeToStart(testKeeperPath)).toBeGreaterThanOrEqual(1500);
  });
});

describe('keeper: a pid reused between the /proc scan and the KILL is not signalled', () => {
  it('the stranger that got a dead descendant\'s pid survives the keeper\'s last KILL round', async () => {
    const pidFile = file('victim');
    // The test build pauses 1.5 s between its scan and the signals of the KILL round.
    const k = keeperWithStatus(
      testKeeperPath,
      ['--parent', String(process.pid), '--grace-ms', '0', '--', path.join(fixtures, 'spawn-reaped-victim.sh'), pidFile],
      { ...process.env, RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS: '1500' },
    );
    await k.waitLine('started ');
    const [daemon, victim] = await readPids(pidFile);
    started.pid(daemon, victim);
    k.proc.stdin!.write('stop 0\n');
    // The scan saw the victim (it ignores TERM, so it is alive and in the KILL round).
    const scanned = (await k.waitLine('test kill-scan')).trim().split(' ').map(Number);
    expect(scanned).toContain(victim);
    // Now, inside the pause: the victim dies, its parent reaps it, and a stranger takes its pid.
    process.kill(victim!, 'SIGKILL');
    await waitDead([victim!], 1000);
    const t0 = nowMs();
    while (existsSync(`/proc/${victim}`) && nowMs() - t0 < 1000) await sleep(2); // reaped, the pid is free
    const taken = spawnSync('python3', [path.join(fixtures, 'take-pid.py'), String(victim)], { encoding: 'utf8', timeout: 10_000 });
    expect(taken.stderr).toBe('');
    expect(taken.status).toBe(0);
    const stranger = Number(taken.stdout.trim());
    started.pid(stranger);
    expect(stranger).toBe(victim);
    expect(k.lines.some((l) => l.startsWith('exit '))).toBe(false); // still inside the pause
    expect(await k.exited).toBe(0);
    expect(isDead(stranger)).toBe(false);
  });
});

const SECRET = 'pw-9f3c1e-do-not-leak';
const SENTINEL_SECRET = 'sentinel-pw-77ab-do-not-leak';

/** /proc/PID/cmdline and environ as lists of strings ('' when the process is gone). */
const procArgv = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
const procEnviron = (pid: number): Record<string, string> =>
  Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter((e) => e.includes('='))
      .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
  );
const ppidOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);

describe('secrets: Ray\'s --redis-password through the shim, and our variables', () => {
  let redis: RedisServer;
  let work: string;
  let shimDir: string;
  let fakeRay: string;
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis({ args: ['--requirepass', SECRET], clientOptions: { password: SECRET } });
    work = mkdtempSync(path.join(tmpdir(), 'rhha-hostile-secrets-'));
    const fakeDir = path.join(work, 'fake-bin');
    mkdirSync(fakeDir);
    fakeRay = path.join(fakeDir, 'ray');
    copyFileSync(path.join(ROOT, 'test/fixtures/fake-ray.py'), fakeRay);
    chmodSync(fakeRay, 0o755);
    shimDir = path.join(work, 'shim-bin');
    installShim({ binDir: shimDir, rayPath: fakeRay }); // the orchestrator: this checkout's bin/ray-head-ha.js
  });
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, sleep(5000)]);
      p.kill('SIGKILL');
    }
  });
  afterAll(async () => {
    await redis.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** `ray start --head --block ...` by name, the shim first on PATH, HA on; stderr collected. */
  function rayStartHead(ns: string, passwordArgs: string[], env: NodeJS.ProcessEnv = {}) {
    const record = path.join(work, `${ns}.json`);
    const base = { ...process.env };
    for (const k of Object.keys(base)) if (k.startsWith('RAY_HA_') || k === 'REDIS_PASSWORD') delete base[k];
    const proc = spawn('ray', ['start', '--head', '--block', '--port=6399', '--node-ip-address=10.9.8.7', ...passwordArgs], {
      env: {
        ...base,
        PATH: [shimDir, process.env['PATH']].join(path.delimiter),
        RAY_ENABLE_HEAD_HA: 'true',
        RAY_REDIS_ADDRESS: redis.address,
        RAY_external_storage_namespace: ns,
        RAY_HA_KEY_EXPIRE_TIME_MS: '3000',
        RAY_HA_CHECK_INTERVAL_MS: '300',
        DEBUG: 'ioredis:*',
        FAKE_RAY_SLEEP: '60',
        FAKE_RAY_RECORD: record,
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    procs.push(proc);
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return { proc, record, stderr: () => stderr };
  }

  it.each([
    ['--redis-password=X', [`--redis-password=${SECRET}`]],
    ['--redis-password X', ['--redis-password', SECRET]],
    ['a wrong one first, the right one last (click: last wins)', ['--redis-password=wrong', '--redis-password', SECRET]],
  ])('%s: not in the orchestrator\'s nor the keeper\'s cmdline; in the head\'s argv only as Ray\'s flag; the election uses it', async (_name, passwordArgs) => {
    const ns = `secrets-${++n}`;
    const r = rayStartHead(ns, passwordArgs);
    await until('the head runs', () => existsSync(r.record), 20_000);
    const head = JSON.parse(readFileSync(r.record, 'utf8')) as { pid: number; argv: string[] };
    const keeper = ppidOf(head.pid);
    const orchestrator = r.proc.pid!;
    expect(ppidOf(keeper)).toBe(orchestrator); // the shim exec'd the orchestrator: same pid

    const orchArgv = procArgv(orchestrator);
    const keeperArgv = procArgv(keeper);
    expect(orchArgv).toContain('run');
    expect(keeperArgv[0]).toMatch(/ray-head-ha-keeper$/);
    // The release command and its input (the Redis credentials) came on fd 5, not argv.
    expect(keeperArgv.slice(keeperArgv.indexOf('--release-fd'), keeperArgv.indexOf('--release-fd') + 2)).toEqual(['--release-fd', '5']);
    // Once the orchestrator is dead, the head gets no drain (lead-term.ts, ORPHAN_GRACE_MS).
    expect(keeperArgv.slice(keeperArgv.indexOf('--orphan-grace-ms'), keeperArgv.indexOf('--orphan-grace-ms') + 2)).toEqual(['--orphan-grace-ms', '0']);
    for (const argv of [orchArgv, keeperArgv]) {
      expect(argv.join(' ')).not.toContain(SECRET);
      expect(argv.join(' ')).not.toContain('--redis-password');
    }
    // The head: Ray's own flag, once, last (Ray passes it on; see the README).
    expect(procArgv(head.pid).filter((a) => a.includes(SECRET))).toEqual([`--redis-password=${SECRET}`]);
    expect(head.argv.slice(0, 5)).toEqual(['start', '--head', '--block', '--port=6399', '--node-ip-address=10.9.8.7']);
    expect(head.argv.at(-1)).toBe(`--redis-password=${SECRET}`);
    // The hand-over variable is in the orchestrator's environment only (mode 0400: its user and root).
    expect(procEnviron(orchestrator)['RAY_HA_HEAD_REDIS_PASSWORD']).toBe(SECRET);
    expect(statSync(`/proc/${orchestrator}/environ`).mode & 0o077).toBe(0);
    for (const pid of [keeper, head.pid]) expect(procEnviron(pid)['RAY_HA_HEAD_REDIS_PASSWORD']).toBeUndefined();
    expect(procEnviron(head.pid)['DEBUG']).toBe('ioredis:*'); // silencing ioredis changed nothing the head sees
    // The election authenticated with it (this Redis requires it): this candidate leads.
    const status = await readStatus(redis.client(), ns);
    expect(status.leader?.gcsAddress).toBe('10.9.8.7:6399');
    // DEBUG=ioredis:* was set: our connections printed no AUTH and no password.
    expect(r.stderr()).not.toContain(SECRET);
    expect(r.stderr()).not.toMatch(/ioredis:/);
  });

  it('the head\'s environment: none of our secret-bearing variables; Ray\'s own kept', async () => {
    const ns = `secrets-env-${++n}`;
    const pwFile = path.join(work, 'pw');
    writeFileSync(pwFile, `${SECRET}\n`, { mode: 0o600 });
    const r = rayStartHead(ns, [`--redis-password=${SECRET}`], {
      RAY_HA_REDIS_ADDRESS: `redis://:${SECRET}@${redis.address}`,
      RAY_HA_REDIS_PASSWORD_FILE: pwFile,
      RAY_HA_REDIS_SENTINEL_PASSWORD: SENTINEL_SECRET,
      RAY_HA_REDIS_SENTINEL_PASSWORD_FILE: pwFile,
      REDIS_PASSWORD: SECRET,
    });
    await until('the head runs', () => existsSync(r.record), 20_000);
    const head = JSON.parse(readFileSync(r.record, 'utf8')) as { pid: number; env: Record<string, string> };
    for (const env of [head.env, procEnviron(head.pid), procEnviron(ppidOf(head.pid))]) {
      for (const name of ['RAY_HA_REDIS_ADDRESS', 'RAY_HA_REDIS_PASSWORD_FILE', 'RAY_HA_REDIS_SENTINEL_PASSWORD', 'RAY_HA_REDIS_SENTINEL_PASSWORD_FILE', 'RAY_HA_HEAD_REDIS_PASSWORD']) {
        expect(env[name], name).toBeUndefined();
      }
      expect(Object.values(env).join('\n')).not.toContain(SENTINEL_SECRET);
      // Ray's GCS reads these itself.
      expect(env['RAY_REDIS_ADDRESS']).toBe(redis.address);
      expect(env['REDIS_PASSWORD']).toBe(SECRET);
      expect(env['RAY_HA_CANDIDATE_ID']).toBeDefined();
    }
  });

  it('RAY_HA_REDIS_ADDRESS without a password stays in the head\'s environment', async () => {
    const ns = `secrets-plain-${++n}`;
    const r = rayStartHead(ns, [`--redis-password=${SECRET}`], { RAY_HA_REDIS_ADDRESS: redis.address });
    await until('the head runs', () => existsSync(r.record), 20_000);
    const head = JSON.parse(readFileSync(r.record, 'utf8')) as { env: Record<string, string> };
    expect(head.env['RAY_HA_REDIS_ADDRESS']).toBe(redis.address);
  });

  it('DEBUG=ioredis:* (and DEBUG=*) print no AUTH from `status`', () => {
    for (const debug of ['ioredis:*', '*', 'ioredis:redis,ioredis:connection']) {
      const r = spawnSync(process.execPath, [CLI, 'status', '--redis', `redis://:${SECRET}@${redis.address}`, '--namespace', 'nobody'], {
        encoding: 'utf8',
        env: { ...process.env, DEBUG: debug },
        timeout: 20_000,
      });
      expect({ debug, status: r.status }).toEqual({ debug, status: 0 });
      expect(r.stderr).not.toContain(SECRET);
      expect(r.stderr).not.toMatch(/ioredis:/);
    }
  });

  it('without --block (the detached start) the orchestrator\'s argv has no password either; HA off, Ray\'s argv is untouched', () => {
    const fakeOrchShim = path.join(work, 'fake-orch-shim');
    installShim({ binDir: fakeOrchShim, rayPath: fakeRay, orchestrator: [process.execPath, path.join(fixtures, 'fake-orchestrator.mjs')] });
    const tempDir = mkdtempSync(path.join(work, 'tmp-'));
    const record = path.join(tempDir, 'orch.json');
    const run = (args: string[], env: NodeJS.ProcessEnv) =>
      spawnSync('ray', args, {
        encoding: 'utf8',
        env: { ...process.env, PATH: [fakeOrchShim, process.env['PATH']].join(path.delimiter), FAKE_ORCH_RECORD: record, ...env },
        timeout: 30_000,
      });
    const args = ['start', '--head', `--temp-dir=${tempDir}`, '--redis-password', SECRET, '--port=6398'];
    const r = run(args, { RAY_ENABLE_HEAD_HA: 'true', FAKE_ORCH_MODE: 'standby' });
    const rec = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[]; pid: number; env: Record<string, string> };
    started.group(rec.pid);
    expect(r.status).toBe(0);
    expect(rec.argv).toEqual(['run', '--', fakeRay, 'start', '--head', `--temp-dir=${tempDir}`, '--port=6398', '--block']);
    expect(procArgv(rec.pid).join(' ')).not.toContain(SECRET);
    expect(rec.env['RAY_HA_HEAD_REDIS_PASSWORD']).toBe(SECRET);

    const off = run(args, { RAY_ENABLE_HEAD_HA: 'false', RAY_HA_HEAD_REDIS_PASSWORD: 'stale' });
    const ray = JSON.parse(off.stdout.trim().split('\n')[0]!) as { argv: string[]; env: Record<string, string> };
    expect(ray.argv).toEqual(args);
    expect(ray.env['RAY_HA_HEAD_REDIS_PASSWORD']).toBe('stale'); // HA off: the environment is Ray's, untouched
  });

  it('a head command that is not `ray start --head` with the hand-over variable set: exit 2, one line, nothing run', () => {
    const marker = path.join(work, 'not-ray');
    const r = spawnSync(process.execPath, [CLI, 'run', '--redis', redis.address, '--', 'sh', '-c', 'touch "$0"', marker], {
      encoding: 'utf8',
      env: { ...process.env, REDIS_PASSWORD: SECRET, RAY_HA_HEAD_REDIS_PASSWORD: SECRET },
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      'ray-head-ha: RAY_HA_HEAD_REDIS_PASSWORD is set, but the head command is not `ray start --head` (the shim sets it only for that)',
    ]);
    expect(existsSync(marker)).toBe(false);
  });
});
