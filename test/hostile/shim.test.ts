/**
 * Hostile input to the `ray` shim, `install-shim` and `ray-head-ha run`
 * (issue 14, items 1-5), each case the way an operator's typo or another
 * local user would bring it: a bad enable switch, a candidate started inside a
 * head, strangers and reused pids that look like candidates, planted links in
 * shared directories, and paths or PATH entries that mean something else.
 * Real processes throughout: the shim in front of a stand-in `ray`
 * (test/fixtures/fake-ray.py), the real orchestrator with the stand-in head and
 * a real redis-server.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import {
  chmodSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pidfilePath } from '../../src/ray/candidate-registry.js';
import { findRealRay, installShim } from '../../src/ray/install-shim.js';
import { writeRoleReport } from '../../src/ray/state-file.js';
import { CLI, ROOT, STAND_IN, runCli, until } from '../helpers/candidates.js';
import { freePort } from '../helpers/ports.js';
import { isDead, processesWithEnv } from '../helpers/process-tree.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const FAKE_RAY = path.join(ROOT, 'test', 'fixtures', 'fake-ray.py');
const FAKE_ORCH = path.join(ROOT, 'test', 'fixtures', 'fake-orchestrator.mjs');
const FAST = ['--ttl-ms', '1500', '--retry-ms', '200', '--wait-previous-max-ms', '5000'];

let work: string;
let fakeRayDir: string;
let fakeRay: string;
let shimDir: string; // the shim in front of the fake ray, with the default orchestrator (this checkout's CLI)
let shim: string;
let runDir: string; // RAY_HA_RUN_DIR of every candidate and `ray stop` here
const children: ChildProcess[] = [];

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'rhha-hostile-shim-'));
  fakeRayDir = path.join(work, 'fake-bin');
  mkdirSync(fakeRayDir);
  fakeRay = path.join(fakeRayDir, 'ray');
  copyFileSync(FAKE_RAY, fakeRay);
  chmodSync(fakeRay, 0o755);
  shimDir = path.join(work, 'shim-bin');
  shim = installShim({ binDir: shimDir, rayPath: fakeRay });
  runDir = path.join(work, 'run');
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await new Promise((resolve) => c.once('exit', resolve));
    }
  }
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RAY_HA_RUN_DIR: runDir, RAY_HA_LOG_LEVEL: 'warn' };
  delete env['RAY_ENABLE_HEAD_HA'];
  delete env['RAY_HA_TERM'];
  return env;
}

/** `ray ARGS` by name, the shim first on PATH. */
function ray(args: string[], env: NodeJS.ProcessEnv = {}, o: { pathDirs?: string[]; cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync('ray', args, {
    encoding: 'utf8',
    cwd: o.cwd ?? work,
    env: { ...baseEnv(), PATH: [...(o.pathDirs ?? [shimDir, fakeRayDir]), process.env['PATH']].join(path.delimiter), ...env },
    timeout: 60_000,
  });
}

/** The stand-in ray's report, when it ran. */
function fakeRan(r: SpawnSyncReturns<string>): { argv: string[]; pid: number } | null {
  const first = r.stdout.trim().split('\n')[0];
  return first ? (JSON.parse(first) as { argv: string[]; pid: number }) : null;
}

function track(c: ChildProcess): ChildProcess {
  children.push(c);
  return c;
}

/** A process that is not a candidate but whose argv holds this checkout's CLI path followed by `run`. */
function stranger(opts: { uid?: number } = {}): ChildProcess {
  return track(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', CLI, 'run', '--', 'ray', 'start', '--head'], {
    stdio: 'ignore',
    cwd: '/',
    ...(opts.uid !== undefined && { uid: opts.uid, gid: opts.uid }),
  }));
}

/** A fake candidate (test/fixtures/fake-orchestrator.mjs `run`, a standby), registered in runDir as the real one does. */
async function fakeCandidate(): Promise<ChildProcess> {
  const c = track(spawn(process.execPath, [FAKE_ORCH, 'run', '--', 'ray', 'start', '--head'], {
    stdio: 'ignore',
    env: { ...baseEnv(), FAKE_ORCH_MODE: 'standby' },
  }));
  await until('the fake candidate registered', () => existsSync(pidfilePath(runDir, c.pid!)));
  return c;
}

const oneLine = (text: string) => text.trim().split('\n');

describe('1. RAY_ENABLE_HEAD_HA is on/off, nothing else', () => {
  it.each(['on', 'ON', 'y', 'enabled', '"true"', "'1'", 'true ', ' yes', 'tru', '2', 'true\nfalse'])(
    '%j: `ray start --head` (with and without --block) exits 2 with one line naming it, and starts nothing',
    (value) => {
      for (const extra of [['--block'], []]) {
        const tempDir = mkdtempSync(path.join(work, 'switch-'));
        const r = ray(['start', '--head', `--temp-dir=${tempDir}`, ...extra], { RAY_ENABLE_HEAD_HA: value });
        expect(r.status).toBe(2);
        expect(fakeRan(r)).toBeNull(); // no plain head
        const lines = oneLine(r.stderr);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain('RAY_ENABLE_HEAD_HA=');
        expect(lines[0]).toContain(JSON.stringify(value).slice(1, -1).replace(/\\"/g, '"'));
        expect(readdirSync(tempDir)).toEqual([]); // no orchestrator log, no state file
      }
    },
  );

  it('the off spellings in any case still run the plain head; a bad value does not matter where the switch decides nothing', () => {
    for (const value of ['Off', 'NO', 'FaLsE', '0', '']) {
      const r = ray(['start', '--head', '--block'], { RAY_ENABLE_HEAD_HA: value, FAKE_RAY_EXIT: '6' });
      expect({ value, status: r.status }).toEqual({ value, status: 6 });
      expect(fakeRan(r)?.argv).toEqual(['start', '--head', '--block']);
    }
    const r = ray(['status'], { RAY_ENABLE_HEAD_HA: 'on', FAKE_RAY_EXIT: '4' });
    expect(r.status).toBe(4);
    expect(r.stderr).toBe('');
  });
});

describe('1b. the shim\'s private hand-over variable (RAY_HA_SHIM_PASSWORD_FD) set from outside', () => {
  it.each(['0', '2', '99', 'abc', '3x', '-1', ''])('%j: `ray start --head` exits 2 with one line naming it, and starts nothing; HA off, Ray gets it untouched', (value) => {
    for (const extra of [['--block'], []]) {
      const tempDir = mkdtempSync(path.join(work, 'handover-'));
      const r = ray(['start', '--head', `--temp-dir=${tempDir}`, ...extra], { RAY_ENABLE_HEAD_HA: 'true', RAY_HA_SHIM_PASSWORD_FD: value });
      expect(r.status).toBe(2);
      expect(fakeRan(r)).toBeNull();
      expect(oneLine(r.stderr)).toEqual([expect.stringMatching(/^ray-head-ha shim: RAY_HA_SHIM_PASSWORD_FD=.*set only by the shim for itself\); nothing started$/)]);
      expect(readdirSync(tempDir)).toEqual([]);
    }
    const off = ray(['start', '--head', '--block'], { RAY_ENABLE_HEAD_HA: 'false', RAY_HA_SHIM_PASSWORD_FD: value, FAKE_RAY_EXIT: '0' });
    expect(off.status).toBe(0);
    expect(fakeRan(off)?.argv).toEqual(['start', '--head', '--block']);
    expect((JSON.parse(off.stdout.trim().split('\n')[0]!) as { env: Record<string, string> }).env['RAY_HA_SHIM_PASSWORD_FD']).toBe(value);
  });
});

describe('2. one orchestrator per candidate', () => {
  it('inside a term (RAY_HA_TERM) the shim is Ray\'s own `ray`: start --head with HA on, a bad switch, and stop', async () => {
    const term = { RAY_HA_TERM: 'cand-a#17' };
    for (const value of ['true', 'on']) {
      const r = ray(['start', '--head', '--block', '--port=6390'], { ...term, RAY_ENABLE_HEAD_HA: value, FAKE_RAY_EXIT: '5' });
      expect(r.status).toBe(5);
      expect(fakeRan(r)).toEqual(expect.objectContaining({ argv: ['start', '--head', '--block', '--port=6390'], pid: r.pid }));
    }
    // `ray stop` run by a job on the head leaves the candidates alone (Ray's stop ends the head, the candidate follows).
    const candidate = await fakeCandidate();
    const stop = ray(['stop'], { ...term, FAKE_RAY_EXIT: '0' });
    expect(stop.status).toBe(0);
    expect(stop.stderr).toBe('');
    expect(isDead(candidate.pid!)).toBe(false);
  });

  it('`ray-head-ha run` inside a term refuses: exit 2, one line, no head, no pidfile', () => {
    const marker = path.join(work, 'nested-head-ran');
    const r = runCli(['run', '--redis', '127.0.0.1:1', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], {
      ...baseEnv(),
      RAY_HA_TERM: 'outer#3',
    });
    expect(r.code).toBe(2);
    expect(r.errorLines).toHaveLength(1);
    expect(r.errorLines[0]).toMatch(/run: started inside the term of candidate "outer#3" \(RAY_HA_TERM is set/);
    expect(existsSync(marker)).toBe(false);
  });

  describe('with a real Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis.close();
    });

    it('`ray-head-ha run -- ray start --head --block` with the shim first on PATH and HA on: the head is Ray\'s `ray`, under one orchestrator', async () => {
      const token = `rhha-nested-${process.pid}-${Date.now()}`;
      const record = path.join(work, 'nested-ray.json');
      const port = await freePort();
      const c = track(spawn(process.execPath, [CLI, 'run', '--id', 'nest', '--redis', redis.address, '--namespace', 'hostile-nest', ...FAST,
        '--', 'ray', 'start', '--head', '--block', `--port=${port}`, '--node-ip-address=192.0.2.1'], {
        stdio: 'ignore',
        env: {
          ...baseEnv(),
          PATH: [shimDir, fakeRayDir, process.env['PATH']].join(path.delimiter),
          RAY_ENABLE_HEAD_HA: 'true',
          RAY_REDIS_ADDRESS: redis.address,
          FAKE_RAY_RECORD: record,
          FAKE_RAY_SLEEP: '60',
          NESTED_TOKEN: token,
        },
      }));
      await until('the head ran', () => existsSync(record), 20_000);
      const head = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[]; pid: number; env: Record<string, string> };
      expect(head.argv).toEqual(['start', '--head', '--block', `--port=${port}`, '--node-ip-address=192.0.2.1']);
      expect(head.env['RAY_HA_TERM']).toMatch(/^nest#\d+$/);
      // Exactly one orchestrator in the tree: the one we started.
      const orchestrators = processesWithEnv(token).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(CLI));
      expect(orchestrators).toEqual([c.pid]);
      c.kill('SIGTERM');
      const code = await new Promise((resolve) => c.once('exit', (n) => resolve(n)));
      expect(code).toBe(0);
      expect(isDead(head.pid)).toBe(true);
    });

    it('`ray stop` signals exactly the candidates: one started with a relative path is stopped; strangers whose argv holds the CLI path and `run` are not', async () => {
      const strangerSame = stranger();
      const strangerNobody = stranger({ uid: 65534 });
      const port = await freePort();
      let stderr = '';
      const c = track(spawn(process.execPath, ['bin/ray-head-ha.js', 'run', '--id', 'rel', '--redis', redis.address, '--namespace', 'hostile-rel', ...FAST,
        '--', process.execPath, path.relative(ROOT, STAND_IN), String(port)], { cwd: ROOT, env: baseEnv(), stdio: ['ignore', 'ignore', 'pipe'] }));
      c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => c.once('exit', (n) => resolve(n)));
      const lease = redis.client();
      await until('the relative candidate leads', async () => (await lease.get('ray-head-ha:{hostile-rel}:lease')) !== null, 15_000, 20, () => stderr);
      expect(existsSync(pidfilePath(runDir, c.pid!))).toBe(true);

      const r = ray(['stop'], { FAKE_RAY_EXIT: '0', RAY_HA_SHIM_STOP_TIMEOUT_S: '10' });
      expect(r.status).toBe(0);
      expect(oneLine(r.stderr)).toEqual([`ray-head-ha shim: stopped 1 head candidate(s) (pid ${c.pid})`]);
      expect(await exited).toBe(0); // the SIGTERM path: head stopped, lease released
      expect(await lease.get('ray-head-ha:{hostile-rel}:lease')).toBeNull();
      expect(existsSync(pidfilePath(runDir, c.pid!))).toBe(false); // it removed its pidfile
      expect(isDead(strangerSame.pid!)).toBe(false);
      expect(isDead(strangerNobody.pid!)).toBe(false);
    });

    it('a pidfile whose pid now belongs to another process (same user, same executable and script) is not signalled, and is removed; another PID namespace\'s is left alone', async () => {
      const watcher = track(spawn(process.execPath, ['bin/ray-head-ha.js', 'watch', '--redis', redis.address, '--namespace', 'hostile-reuse'], {
        cwd: ROOT, stdio: 'ignore', env: baseEnv(),
      }));
      await until('the watcher runs', () => readFileSync(`/proc/${watcher.pid}/cmdline`, 'utf8').includes('watch'));
      mkdirSync(runDir, { recursive: true, mode: 0o700 });
      // What the SIGKILLed candidate that had this pid wrote: all but the start time match the new process.
      const pidfile = pidfilePath(runDir, watcher.pid!);
      writeFileSync(pidfile, JSON.stringify({
        pid: watcher.pid, startTime: '1', exe: process.execPath, argv1: 'bin/ray-head-ha.js', pidNamespace: readlinkSync('/proc/self/ns/pid'),
      }), { mode: 0o600 });
      // The same pid in another PID namespace (a container sharing /tmp), recorded exactly as the watcher runs here.
      const live = readFileSync(`/proc/${watcher.pid}/stat`, 'utf8');
      const elsewhere = 'pid:[1]';
      const foreign = pidfilePath(runDir, watcher.pid!, elsewhere);
      writeFileSync(foreign, JSON.stringify({
        pid: watcher.pid, startTime: live.slice(live.lastIndexOf(')') + 2).split(' ')[19], exe: process.execPath, argv1: 'bin/ray-head-ha.js', pidNamespace: elsewhere,
      }), { mode: 0o600 });
      const r = ray(['stop'], { FAKE_RAY_EXIT: '0' });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(isDead(watcher.pid!)).toBe(false);
      expect(existsSync(pidfile)).toBe(false);
      expect(existsSync(foreign)).toBe(true); // not ours to judge: left alone
    });
  });

  it('without pidfds (older Python or kernel) the candidate is still found and stopped, the stranger still not', async () => {
    const candidate = await fakeCandidate();
    const other = stranger();
    const exited = new Promise((resolve) => candidate.once('exit', resolve));
    // The shim as written, under a Python without os.pidfd_open.
    const r = spawnSync('python3', ['-c', `import os, runpy, sys; del os.pidfd_open; sys.argv = ['ray', 'stop']; runpy.run_path(${JSON.stringify(shim)}, run_name='__main__')`], {
      encoding: 'utf8',
      env: { ...baseEnv(), FAKE_RAY_EXIT: '0' },
      timeout: 30_000,
    });
    expect(r.stderr).toBe(`ray-head-ha shim: stopped 1 head candidate(s) (pid ${candidate.pid})\n`);
    expect(r.status).toBe(0);
    await exited;
    expect(isDead(other.pid!)).toBe(false);
  });

  it('junk in the candidates\' directory (pid 0, a huge pid, not JSON, a link, a directory) is skipped: `ray stop` signals no one and runs Ray\'s stop', () => {
    const other = stranger();
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    const ns = readlinkSync('/proc/self/ns/pid');
    const record = (pid: number) => JSON.stringify({ pid, startTime: '1', exe: process.execPath, argv1: CLI, pidNamespace: ns });
    writeFileSync(pidfilePath(runDir, 0), record(0));
    writeFileSync(pidfilePath(runDir, 99999999999), record(99999999999));
    writeFileSync(pidfilePath(runDir, 4194303), '{not json');
    const target = path.join(work, 'stranger-record.json');
    writeFileSync(target, record(other.pid!));
    symlinkSync(target, pidfilePath(runDir, other.pid!));
    mkdirSync(pidfilePath(runDir, 4194302));
    const r = ray(['stop'], { FAKE_RAY_EXIT: '0' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(fakeRan(r)?.argv).toEqual(['stop']);
    expect(isDead(other.pid!)).toBe(false);
  });

  it('`run` prunes its namespace\'s stale pidfiles (gone, or the pid reused) as it registers, keeps live and foreign ones, and removes its own on exit', async () => {
    const live = await fakeCandidate();
    const reused = stranger();
    const gone = spawnSync('true').pid;
    const plant = (pid: number, pidNamespace?: string) => {
      const file = pidfilePath(runDir, pid, pidNamespace);
      writeFileSync(file, JSON.stringify({ pid, startTime: '1', exe: process.execPath, argv1: CLI, pidNamespace: pidNamespace ?? readlinkSync('/proc/self/ns/pid') }), { mode: 0o600 });
      return file;
    };
    const [goneFile, reusedFile, foreignFile] = [plant(gone), plant(reused.pid!), plant(reused.pid!, 'pid:[1]')];
    const c = track(spawn(process.execPath, [CLI, 'run', '--redis', `127.0.0.1:${await freePort()}`, '--', 'true'], { env: baseEnv(), stdio: 'ignore' }));
    await until('the candidate registered', () => existsSync(pidfilePath(runDir, c.pid!)));
    expect([existsSync(goneFile), existsSync(reusedFile), existsSync(foreignFile), existsSync(pidfilePath(runDir, live.pid!))]).toEqual([false, false, true, true]);
    expect(isDead(reused.pid!)).toBe(false);
    c.kill('SIGTERM');
    expect(await new Promise((resolve) => c.once('exit', resolve))).toBe(0);
    expect(existsSync(pidfilePath(runDir, c.pid!))).toBe(false);
  });

  it('a candidates\' directory others can write to, or a link, is refused by `ray stop` and by `run` (exit 2, one line)', () => {
    const open = path.join(work, 'open-run');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const link = path.join(work, 'link-run');
    symlinkSync(mkdtempSync(path.join(work, 'private-')), link); // a private directory, but reached through a link
    for (const dir of [open, link]) {
      const stop = ray(['stop'], { RAY_HA_RUN_DIR: dir });
      expect(stop.status).toBe(2);
      expect(fakeRan(stop)).toBeNull();
      expect(oneLine(stop.stderr)).toEqual([expect.stringContaining(`the candidates' directory ${dir} is not private`)]);
      const run = runCli(['run', '--redis', '127.0.0.1:1', '--', 'true'], { ...baseEnv(), RAY_HA_RUN_DIR: dir });
      expect(run.code).toBe(2);
      expect(run.errorLines).toEqual([expect.stringMatching(new RegExp(`candidates' directory .*${dir} (is writable by others \\(mode 777\\)|is a symbolic link); refusing to use it$`))]);
    }
    const relative = runCli(['run', '--redis', '127.0.0.1:1', '--', 'true'], { ...baseEnv(), RAY_HA_RUN_DIR: 'run' });
    expect(relative.code).toBe(2);
    expect(relative.errorLines).toEqual(['ray-head-ha: RAY_HA_RUN_DIR="run": must be an absolute path']);
  });
});

describe('4. no writes through links in shared directories', () => {
  function victim(name: string): { file: string; check: () => void } {
    const file = path.join(work, name);
    writeFileSync(file, 'precious\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    return {
      file,
      check: () => {
        expect(readFileSync(file, 'utf8')).toBe('precious\n');
        expect(statSync(file).mode & 0o777).toBe(0o600);
      },
    };
  }

  it('the state file: links planted at its old temp name and at its own name are replaced, not written through', () => {
    const dir = mkdtempSync(path.join(work, 'state-'));
    const file = path.join(dir, 'ray-head-ha.state.json');
    const a = victim('victim-state-tmp');
    const b = victim('victim-state');
    symlinkSync(a.file, `${file}.${process.pid}.tmp`);
    symlinkSync(b.file, file);
    writeRoleReport(file, { pid: process.pid, id: 'me', role: 'standby', epoch: 1, leaderId: 'x' });
    a.check();
    b.check();
    expect(lstatSync(file).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ id: 'me', role: 'standby' });
  });

  it('install-shim: links planted at its old temp name and at DIR/ray are neither written nor chmodded through', () => {
    const binDir = mkdtempSync(path.join(work, 'bin-'));
    const a = victim('victim-shim-tmp');
    const b = victim('victim-shim');
    symlinkSync(a.file, path.join(binDir, `ray.${process.pid}.tmp`));
    symlinkSync(b.file, path.join(binDir, 'ray'));
    const target = installShim({ binDir, rayPath: fakeRay, orchestrator: ['true'] });
    a.check();
    b.check();
    expect(lstatSync(target).isFile()).toBe(true);
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(readFileSync(target, 'utf8')).toContain(JSON.stringify(fakeRay));
  });

  it.each([
    ['a symbolic link to a file', (log: string, target: string) => symlinkSync(target, log)],
    ['a hard link to a file', (log: string, target: string) => linkSync(target, log)],
  ])('the detached log in Ray\'s temp dir is %s: refused (exit 2, one line), the file untouched, nothing started', (_what, plant) => {
    const tempDir = mkdtempSync(path.join(work, 'logdir-'));
    const v = victim(`victim-log-${path.basename(tempDir)}`);
    plant(path.join(tempDir, 'ray-head-ha.log'), v.file);
    const r = ray(['start', '--head', `--temp-dir=${tempDir}`], { RAY_ENABLE_HEAD_HA: 'yes' });
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toEqual([expect.stringMatching(/ray-head-ha shim: .*ray-head-ha\.log.*; nothing started$/)]);
    v.check();
    expect(readdirSync(tempDir)).toEqual(['ray-head-ha.log']); // no state file: no orchestrator ran
  });

  it('the detached log is a dangling link: the file it names is not created', () => {
    const tempDir = mkdtempSync(path.join(work, 'logdir-'));
    const target = path.join(work, 'created-through-a-link');
    symlinkSync(target, path.join(tempDir, 'ray-head-ha.log'));
    const r = ray(['start', '--head', `--temp-dir=${tempDir}`], { RAY_ENABLE_HEAD_HA: 'yes' });
    expect(r.status).toBe(2);
    expect(existsSync(target)).toBe(false);
  });
});

describe('5. paths are taken literally, and only absolute PATH entries', () => {
  it('install-shim --ray with `$&`, `$\'` and `$$` in the path bakes it as given, and the shim runs it', () => {
    const odd = path.join(work, "odd $& $' $$ $` dir");
    mkdirSync(odd);
    copyFileSync(FAKE_RAY, path.join(odd, 'ray'));
    chmodSync(path.join(odd, 'ray'), 0o755);
    const binDir = path.join(work, 'odd-shim');
    const r = runCli(['install-shim', '--bin-dir', binDir, '--ray', path.join(odd, 'ray')]);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(binDir, 'ray'), 'utf8')).toContain(`REAL_RAY = ${JSON.stringify(path.join(odd, 'ray'))}\n`);
    const run = ray(['status'], { FAKE_RAY_EXIT: '3' }, { pathDirs: [binDir] }); // no other `ray` to fall back on
    expect(run.status).toBe(3);
    expect(fakeRan(run)?.argv).toEqual(['status']);
  });

  it('the shim\'s PATH fallback skips empty and relative entries (a `ray` in the working directory does not run)', () => {
    const gone = path.join(work, 'gone-bin');
    mkdirSync(gone);
    copyFileSync(FAKE_RAY, path.join(gone, 'ray'));
    chmodSync(path.join(gone, 'ray'), 0o755);
    const binDir = path.join(work, 'fallback-shim');
    installShim({ binDir, rayPath: path.join(gone, 'ray'), orchestrator: ['true'] });
    rmSync(gone, { recursive: true }); // the baked ray is gone: the shim searches PATH
    const cwd = mkdtempSync(path.join(work, 'cwd-'));
    const marker = path.join(work, 'trap-ran');
    for (const dir of [cwd, path.join(cwd, 'rel')]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'ray'), `#!/bin/sh\ntouch ${JSON.stringify(marker)}\nexit 42\n`, { mode: 0o755 });
    }
    const r = ray(['status'], { FAKE_RAY_EXIT: '8' }, { cwd, pathDirs: [binDir, '', '.', 'rel', fakeRayDir] });
    expect(r.status).toBe(8);
    expect(fakeRan(r)?.argv).toEqual(['status']);
    expect(existsSync(marker)).toBe(false);
  });

  it('install-shim\'s search skips relative PATH entries too', () => {
    const trapDir = mkdtempSync(path.join(work, 'trap-'));
    writeFileSync(path.join(trapDir, 'ray'), '#!/bin/sh\nexit 42\n', { mode: 0o755 });
    const relative = path.relative(process.cwd(), trapDir);
    expect(path.isAbsolute(relative)).toBe(false);
    expect(findRealRay(shimDir, [relative, '', fakeRayDir].join(path.delimiter))).toBe(fakeRay);
  });
});
