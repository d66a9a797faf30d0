/**
 * The keeper and KeeperSupervisor with real processes and real signals:
 * grace, escaped daemons, the fencing deadline with a frozen or killed
 * orchestrator, pipe EOF, exec failure, both parent-death races, and leaks
 * over 100 cycles. Kill times are printed for the closing note.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FencedBeforeStartError, HeadStartError } from '../../src/errors.js';
import { monotonicClock } from '../../src/clock.js';
import type { Term } from '../../src/term.js';
import { silentLogger } from '../../src/log.js';
import { exitCodeOf } from '../../src/run.js';
import { leadTerm } from '../../src/supervisor/lead-term.js';
import { loadNative } from '../../src/native/binding.js';
import { KeeperSupervisor, type KeeperHandle } from '../../src/supervisor/keeper.js';
import type { HeadSpec } from '../../src/supervisor/types.js';
import {
  Started,
  fixtures,
  isDead,
  nowMs,
  openFdCount,
  processesWithEnv,
  procState,
  readPids,
  sleep,
  waitDead,
  zombieChildren,
} from '../helpers/process-tree.js';
import { keeperPath, testKeeperPath } from '../helpers/keeper.js';

const started = new Started();
let dir: string;
let n = 0;
const file = (name: string) => path.join(dir, `${name}-${++n}`);

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rhha-keeper-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => started.killAll());

function spec(command: string[], over: Partial<HeadSpec> = {}): HeadSpec {
  return { command, env: process.env, killGraceMs: 1000, deadlineMs: nowMs() + 60_000, ...over };
}

async function startHead(sup: KeeperSupervisor, s: HeadSpec): Promise<KeeperHandle> {
  const h = await sup.start(s);
  started.group(h.keeperPid);
  started.group(h.pid);
  return h;
}

/** The stand-in orchestrator (fixtures/spawn-keeper.mjs) and its output, line by line. */
function standIn(args: string[], env: NodeJS.ProcessEnv = process.env, keeper = keeperPath) {
  const proc = spawn(process.execPath, [path.join(fixtures, 'spawn-keeper.mjs'), keeper, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true,
    env,
  });
  started.group(proc.pid);
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    lines.push(line);
    if (line.startsWith('keeper ')) started.group(Number(line.slice(7)));
    for (const w of waiters.splice(0)) w();
  });
  const waitLine = async (prefix: string, timeoutMs = 5000): Promise<string> => {
    const t0 = nowMs();
    for (;;) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found) return found.slice(prefix.length);
      if (nowMs() - t0 > timeoutMs) throw new Error(`no "${prefix}" line; got ${JSON.stringify(lines)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  return { proc, waitLine };
}

/**
 * Freezes a whole process tree at once, as a cgroup freezer or `docker pause`
 * does: a cgroup v2 child of /sys/fs/cgroup/unified (or /sys/fs/cgroup) when
 * it can be made here, else SIGSTOP to each process (then SIGCONT to each).
 * joinCommand, run by sh as the tree's first process, puts it in the cgroup
 * before it execs, so every descendant is born there. cleanup() thaws, kills
 * what is left in the cgroup and removes it, even after a failure.
 */
function wholeTreeFreezer() {
  const cgroup = ((): string | null => {
    for (const root of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
      const dir = path.join(root, `rhha-keeper-test-${process.pid}-${++n}`);
      try {
        mkdirSync(dir);
      } catch {
        continue;
      }
      if (existsSync(path.join(dir, 'cgroup.freeze'))) return dir;
      rmdirSync(dir);
    }
    return null;
  })();
  let stopped: number[] = [];
  const procsIn = (dir: string) => readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  return {
    how: cgroup ? 'cgroup v2 freezer' : 'SIGSTOP to each process',
    joinCommand: cgroup ? `echo $$ > ${cgroup}/cgroup.procs` : 'true',
    async freeze(pids: number[]) {
      if (cgroup) {
        writeFileSync(path.join(cgroup, 'cgroup.freeze'), '1');
        const t0 = nowMs();
        while (!readFileSync(path.join(cgroup, 'cgroup.events'), 'utf8').includes('frozen 1')) {
          if (nowMs() - t0 > 2000) throw new Error('the cgroup did not freeze');
          await sleep(2);
        }
      } else {
        stopped = pids;
        for (const p of pids) process.kill(p, 'SIGSTOP');
      }
    },
    /** Thaws the tree; returns when (nowMs()) it did. */
    thaw(): number {
      if (cgroup) writeFileSync(path.join(cgroup, 'cgroup.freeze'), '0');
      for (const p of stopped) {
        try {
          process.kill(p, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
      return nowMs();
    },
    async cleanup() {
      for (const p of stopped) {
        try {
          process.kill(p, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
      if (!cgroup) return;
      writeFileSync(path.join(cgroup, 'cgroup.freeze'), '0');
      for (const p of procsIn(cgroup)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      const t0 = nowMs();
      while (procsIn(cgroup).length > 0 && nowMs() - t0 < 5000) await sleep(10);
      // A process that just left cgroup.procs can still be exiting (EBUSY for a moment).
      for (;;) {
        try {
          rmdirSync(cgroup);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || nowMs() - t0 > 10_000) throw err;
          await sleep(20);
        }
      }
    },
  };
}

describe('KeeperSupervisor', () => {
  const sup = new KeeperSupervisor();

  it('stops a head: TERM to its group, then reports the reason and the signal', async () => {
    const pidFile = file('forever');
    const h = await startHead(sup, spec([path.join(fixtures, 'forever.sh'), pidFile]));
    const [pid] = await readPids(pidFile);
    expect(pid).toBe(h.pid);
    const exit = await h.stop('shutdown');
    expect(exit).toMatchObject({ reason: 'shutdown', code: null, signal: 'SIGTERM' });
    expect(isDead(h.pid)).toBe(true);
    expect(isDead(h.keeperPid)).toBe(true);
  });

  it('KILLs a head that ignores SIGTERM after the grace', async () => {
    const h = await startHead(sup, spec([path.join(fixtures, 'ignore-term.sh')], { killGraceMs: 300 }));
    await sleep(50);
    const t0 = nowMs();
    const exit = await h.stop('lost-lease');
    const tookMs = nowMs() - t0;
    expect(exit).toMatchObject({ reason: 'lost-lease', signal: 'SIGKILL' });
    expect(tookMs).toBeGreaterThanOrEqual(290);
    expect(tookMs).toBeLessThan(300 + 250);
  });

  it('hurry() during a stop KILLs a head that ignores SIGTERM now, not at the end of the grace; before a stop it does nothing', async () => {
    const h = await startHead(sup, spec([path.join(fixtures, 'ignore-term.sh')], { killGraceMs: 20_000 }));
    await sleep(50);
    h.hurry(); // not stopping: ignored
    await sleep(200);
    expect(isDead(h.pid)).toBe(false);
    const t0 = nowMs();
    const stopped = h.stop('shutdown');
    await sleep(100);
    h.hurry();
    const exit = await stopped;
    expect(exit).toMatchObject({ reason: 'shutdown', signal: 'SIGKILL' });
    expect(nowMs() - t0).toBeLessThan(10_000); // far inside the 20 s grace
  });

  it('kills the setsid daemon and the child when the head is stopped', async () => {
    const pidFile = file('family');
    const h = await startHead(
      sup,
      spec([path.join(fixtures, 'spawn-setsid-grandchild.sh'), pidFile], {
        env: { ...process.env, GRANDCHILD_IGNORES_TERM: '1' },
        killGraceMs: 200,
      }),
    );
    const pids = await readPids(pidFile);
    started.pid(...pids);
    expect(pids[0]).toBe(h.pid);
    const exit = await h.stop('shutdown');
    expect(exit.reason).toBe('shutdown');
    for (const p of pids) expect(isDead(p), `pid ${p}`).toBe(true);
  });

  it('kills what the head left behind when the head exits by itself', async () => {
    const pidFile = file('family-exit');
    const h = await startHead(sup, spec([path.join(fixtures, 'spawn-setsid-grandchild.sh'), pidFile, '7'], { killGraceMs: 300 }));
    const exit = await h.exited;
    const pids = await readPids(pidFile);
    expect(exit).toMatchObject({ reason: 'head-exit', code: 7, signal: null });
    for (const p of pids) expect(isDead(p), `pid ${p}`).toBe(true);
  });

  it('fences at the deadline: TERM at the deadline, the tree dead right after', async () => {
    const deadlineMs = nowMs() + 300;
    const pidFile = file('fenced');
    const h = await startHead(sup, spec([path.join(fixtures, 'spawn-setsid-grandchild.sh'), pidFile], { deadlineMs, killGraceMs: 1000 }));
    const pids = await readPids(pidFile);
    const exit = await h.exited;
    const lateMs = nowMs() - deadlineMs;
    console.log(`[kill-time] deadline -> tree dead and reaped: ${lateMs.toFixed(1)} ms after the deadline`);
    expect(exit).toMatchObject({ reason: 'fenced', signal: 'SIGTERM' });
    expect(lateMs).toBeGreaterThanOrEqual(0);
    expect(lateMs).toBeLessThan(100);
    for (const p of pids) expect(isDead(p)).toBe(true);
  });

  it('fences a head that ignores TERM at deadline + grace', async () => {
    const deadlineMs = nowMs() + 200;
    const h = await startHead(sup, spec([path.join(fixtures, 'ignore-term.sh')], { deadlineMs, killGraceMs: 300 }));
    const exit = await h.exited;
    const lateMs = nowMs() - deadlineMs;
    console.log(`[kill-time] deadline, head ignores TERM, grace 300: dead ${lateMs.toFixed(1)} ms after the deadline`);
    expect(exit).toMatchObject({ reason: 'fenced', signal: 'SIGKILL' });
    expect(lateMs).toBeGreaterThanOrEqual(300);
    expect(lateMs).toBeLessThan(300 + 100);
  });

  it('moves the deadline forward with setDeadline, never backwards', async () => {
    const h = await startHead(sup, spec([path.join(fixtures, 'forever.sh')], { deadlineMs: nowMs() + 200 }));
    h.setDeadline(nowMs() + 700);
    h.setDeadline(nowMs() + 100); // ignored: earlier than the current one
    await sleep(400);
    expect(isDead(h.pid)).toBe(false);
    const exit = await h.exited;
    expect(exit.reason).toBe('fenced');
  });

  it('rejects with HeadStartError when the command cannot be executed', async () => {
    const err = await sup.start(spec(['/nonexistent/ray-head'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeadStartError);
    expect((err as HeadStartError).exitCode).toBe(127);
    expect((err as Error).message).toMatch(/cannot start \/nonexistent\/ray-head: No such file or directory/);
    const err2 = await sup.start(spec(['rhha-no-such-command-on-path'])).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(HeadStartError);
  });

  it('rejects with HeadStartError when the keeper itself cannot be spawned', async () => {
    const broken = new KeeperSupervisor({ keeperPath: '/nonexistent/ray-head-ha-keeper', native: null });
    const err = await broken.start(spec(['sleep', '1'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeadStartError);
    expect((err as Error).message).toMatch(/cannot run the keeper/);
  });

  it('refuses to start a head whose deadline has already passed; the term ends as fenced (exit 3), not as a start failure', async () => {
    const marker = file('marker');
    const headSpec = spec(['sh', '-c', 'touch "$0"; exec sleep 100', marker], { deadlineMs: nowMs() - 1 });
    const err = await sup.start(headSpec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedBeforeStartError);
    expect((err as FencedBeforeStartError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/deadline passed before the head could start/);
    expect(existsSync(marker)).toBe(false);

    // The same through leadTerm, as `run` drives it: the term ends 'fenced', which exits 3.
    const term: Term = {
      epoch: 7,
      token: 't',
      previousId: null,
      previousGcsAddresses: [],
      serving: async () => true,
      signal: new AbortController().signal,
      deadlineMs: () => nowMs() - 1,
      onRenewed: () => {},
    };
    const opts = { supervisor: sup, clock: monotonicClock, log: silentLogger, candidateId: 'c', command: headSpec.command, env: process.env };
    const exit = await leadTerm(term, { ...opts, killGraceMs: 1000, waitAfterElectedMs: 0, waitPreviousMaxMs: 0 });
    expect(exit.reason).toBe('fenced');
    expect(exitCodeOf({ epoch: 7, reason: exit.reason, exit, released: false })).toBe(3);
    expect(existsSync(marker)).toBe(false);
  });

  it('100 start/stop cycles leave no zombie, no open fd and no process behind', async () => {
    const warm = await startHead(sup, spec(['sleep', '1000']));
    await warm.stop('shutdown');
    const fdsBefore = openFdCount();
    const pids: number[] = [];
    const t0 = nowMs();
    for (let i = 0; i < 100; i++) {
      const h = await startHead(sup, spec([path.join(fixtures, 'forever.sh')], { killGraceMs: 500 }));
      pids.push(h.pid, h.keeperPid);
      const exit = await h.stop('shutdown');
      expect(exit.reason).toBe('shutdown');
    }
    console.log(`[cycles] 100 start/stop cycles in ${(nowMs() - t0).toFixed(0)} ms`);
    await sleep(50);
    expect(openFdCount()).toBe(fdsBefore);
    expect(zombieChildren(process.pid)).toEqual([]);
    expect(pids.filter((p) => !isDead(p))).toEqual([]);
    expect(loadNative().descendants(process.pid)).toEqual([]);
  }, 60_000);
});

describe('KeeperSupervisor when the keeper itself is SIGKILLed', () => {
  const native = loadNative();
  beforeAll(() => native.setChildSubreaper(true));
  afterAll(() => native.setChildSubreaper(false));

  it('kills the head group and reaps the daemons re-parented to us (second line of defence)', async () => {
    const sup = new KeeperSupervisor();
    const pidFile = file('second-line');
    const h = await startHead(sup, spec([path.join(fixtures, 'spawn-setsid-grandchild.sh'), pidFile]));
    const pids = await readPids(pidFile);
    started.pid(...pids);
    process.kill(h.keeperPid, 'SIGKILL');
    const exit = await h.exited;
    expect(exit.reason).toBe('head-exit');
    expect(exit.error).toMatch(/keeper ended by SIGKILL/);
    for (const p of pids) expect(procState(p), `pid ${p}`).toBeNull();
    expect(zombieChildren(process.pid)).toEqual([]);
    expect(native.adoptedOrphans()).toEqual([]);
  });
});

describe('keeper process', () => {
  it('kills the whole tree within 1 s when its orchestrator is SIGKILLed', async () => {
    const pidFile = file('sigkill');
    const { proc, waitLine } = standIn(['1000', '60000', '--', path.join(fixtures, 'spawn-setsid-grandchild.sh'), pidFile]);
    const keeperPid = Number(await waitLine('keeper '));
    await waitLine('status started ');
    const pids = await readPids(pidFile);
    started.pid(...pids);
    const t0 = nowMs();
    proc.kill('SIGKILL');
    const tookMs = await waitDead([...pids, keeperPid], 1000);
    console.log(`[kill-time] orchestrator SIGKILL -> head, child, setsid daemon and keeper dead: ${(nowMs() - t0).toFixed(1)} ms (${tookMs.toFixed(1)})`);
  });

  it('kills the tree at the deadline while its orchestrator is SIGSTOPped', async () => {
    const pidFile = file('sigstop');
    const { proc, waitLine } = standIn(['300', '500', '--', path.join(fixtures, 'spawn-setsid-grandchild.sh'), pidFile]);
    const deadlineMs = Number(await waitLine('deadline '));
    await waitLine('status started ');
    const pids = await readPids(pidFile);
    started.pid(...pids);
    proc.kill('SIGSTOP');
    try {
      expect(nowMs()).toBeLessThan(deadlineMs);
      await waitDead(pids, 2000);
      const lateMs = nowMs() - deadlineMs;
      console.log(`[kill-time] frozen orchestrator: tree dead ${lateMs.toFixed(1)} ms after the deadline`);
      expect(lateMs).toBeLessThan(300 + 100);
    } finally {
      proc.kill('SIGCONT');
    }
    expect(await waitLine('status exit ')).toMatch(/^fenced /);
  });

  it('a whole leader frozen past its deadline (orchestrator, keeper, head): the head is KILLed at once on thaw, not after the grace', async () => {
    // Grace 3 s, deadline 300 ms; the head ignores TERM, so only the KILL ends it.
    const freezer = wholeTreeFreezer();
    try {
      const pidFile = file('frozen-tree');
      const proc = spawn('sh', ['-c', `${freezer.joinCommand}; exec "$@"`, 'sh', process.execPath, path.join(fixtures, 'spawn-keeper.mjs'), keeperPath, '3000', '300', '--',
        path.join(fixtures, 'ignore-term.sh'), pidFile], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
      started.group(proc.pid);
      const lines: string[] = [];
      createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
      const line = async (prefix: string) => {
        const t0 = nowMs();
        while (!lines.some((l) => l.startsWith(prefix))) {
          if (nowMs() - t0 > 5000) throw new Error(`no "${prefix}" line; got ${JSON.stringify(lines)}`);
          await sleep(10);
        }
        return lines.find((l) => l.startsWith(prefix))!.slice(prefix.length);
      };
      const keeperPid = Number(await line('keeper '));
      started.group(keeperPid);
      const deadlineMs = Number(await line('deadline '));
      await line('status started ');
      const [head] = await readPids(pidFile);
      started.pid(head);
      expect(nowMs()).toBeLessThan(deadlineMs);
      await freezer.freeze([proc.pid!, keeperPid, head!]);
      await sleep(Math.max(0, deadlineMs - nowMs()) + 500); // well past the deadline, frozen all along
      expect(procState(head!)).not.toBeNull();
      const thawedAt = freezer.thaw();
      // A tight poll of /proc: the head runs no code once it is a zombie or gone.
      while (!isDead(head!) && nowMs() - thawedAt < 5000) {
        /* spin */
      }
      const deadMs = nowMs() - thawedAt;
      console.log(`[kill-time] whole tree frozen past the deadline (${freezer.how}): head dead ${deadMs.toFixed(1)} ms after the thaw (grace 3000)`);
      expect(deadMs).toBeLessThan(50);
      expect(await line('status exit ')).toMatch(/^fenced - 9$/);
    } finally {
      await freezer.cleanup();
    }
  });

  it('kills the tree when the control pipe closes (EOF), exit code 4', async () => {
    const pidFile = file('eof');
    const keeper = spawn(
      keeperPath,
      ['--parent', String(process.pid), '--grace-ms', '1000', '--', path.join(fixtures, 'spawn-setsid-grandchild.sh'), pidFile],
      { stdio: ['pipe', 'inherit', 'inherit', 'pipe'], detached: true },
    );
    started.group(keeper.pid);
    const pids = await readPids(pidFile);
    started.pid(...pids);
    const exited = new Promise<number | null>((resolve) => keeper.once('exit', (code) => resolve(code)));
    const t0 = nowMs();
    keeper.stdin!.end();
    expect(await exited).toBe(4);
    console.log(`[kill-time] pipe EOF -> keeper exited (tree reaped): ${(nowMs() - t0).toFixed(1)} ms`);
    for (const p of pids) expect(isDead(p)).toBe(true);
  });

  it('starts nothing when its parent dies before the prctl (getppid check)', async () => {
    const marker = file('race-parent');
    const head = ['sh', '-c', 'touch "$0"; exec sleep 1000', marker];
    // Control: without the kill, the same stand-in does start the head.
    const control = standIn(['500', '60000', '--', ...head], { ...process.env, RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS: '300' }, testKeeperPath);
    await control.waitLine('status started ');
    const t0 = nowMs();
    while (!existsSync(marker) && nowMs() - t0 < 2000) await sleep(5);
    expect(existsSync(marker)).toBe(true);
    control.proc.kill('SIGKILL');
    await sleep(100);
    rmSync(marker, { force: true });

    const { proc, waitLine } = standIn(['500', '60000', '--', ...head], { ...process.env, RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS: '300' }, testKeeperPath);
    const keeperPid = Number(await waitLine('keeper '));
    proc.kill('SIGKILL'); // within the 300 ms before the keeper's prctl
    await waitDead([keeperPid], 2000);
    await sleep(200);
    expect(existsSync(marker)).toBe(false);
  });

  it('the head never execs when the keeper dies between fork and the child prctl', async () => {
    const marker = file('race-child');
    const token = `RHHA_RACE_${process.pid}_${n}`;
    const keeper = spawn(
      testKeeperPath,
      ['--parent', String(process.pid), '--', 'sh', '-c', 'touch "$0"; exec sleep 1000', marker],
      { stdio: ['pipe', 'inherit', 'inherit', 'pipe'], detached: true, env: { ...process.env, [token]: '1', RAY_HEAD_HA_KEEPER_TEST_DELAY_CHILD_MS: '400' } },
    );
    started.group(keeper.pid);
    await sleep(150); // the child sleeps before its prctl now
    const pending = processesWithEnv(token).filter((p) => p !== keeper.pid);
    expect(pending.length).toBe(1);
    started.pid(...pending);
    keeper.kill('SIGKILL');
    await waitDead(pending, 2000);
    await sleep(100);
    expect(existsSync(marker)).toBe(false);
  });
});
