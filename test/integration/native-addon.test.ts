/**
 * Each export of ray_head_ha.node (and of its test build ray_head_ha_test.node,
 * which adds three wrappers the product never calls) against real processes: its Usage errors,
 * its errno errors, and that reapIfZombie / adoptedOrphans never take one of
 * libuv's own children (the ChildProcess 'exit' event must still fire).
 */
import { spawn, spawnSync } from 'node:child_process';
import { constants as os } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keeperExecutablePath, loadNative, loadTestNative, nativeDirs, NativeUnavailableError, type ReapedChild } from '../../src/native/binding.js';
import { Started, isDead, nowMs, procState, sleep, waitDead } from '../helpers/process-tree.js';

const native = loadNative();
const testNative = loadTestNative();
const started = new Started();
afterEach(() => started.killAll());

function errnoError(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('expected a throw');
}

/** An orphan re-parented to us: `sh -c 'CMD & echo $!'` exits at once, CMD is adopted by this subreaper. */
function spawnOrphan(cmd: string): number {
  const out = spawnSync('sh', ['-c', `${cmd} </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
  const pid = Number(out.stdout.trim());
  started.pid(pid);
  return pid;
}

async function reapWithin(pid: number, timeoutMs: number): Promise<ReapedChild> {
  const t0 = nowMs();
  for (;;) {
    const reaped = native.reapIfZombie(pid);
    if (reaped) return reaped;
    if (nowMs() - t0 > timeoutMs) throw new Error(`pid ${pid} not reaped after ${timeoutMs} ms`);
    await sleep(5);
  }
}

describe('loader', () => {
  it('the product addon exports only what the product calls; the test build adds the three test-only wrappers', () => {
    expect(Object.keys(native).sort()).toEqual(['adoptedOrphans', 'descendants', 'isChildSubreaper', 'reapIfZombie', 'setChildSubreaper']);
    expect(Object.keys(testNative).sort()).toEqual([
      'adoptedOrphans', 'descendants', 'getParentDeathSignal', 'isChildSubreaper', 'killGroup', 'reapIfZombie',
      'setChildSubreaper', 'setParentDeathSignal',
    ]);
  });

  it('lists every path it tried when it cannot load', () => {
    expect(nativeDirs({ RAY_HEAD_HA_NATIVE_DIR: '/nonexistent/dir' })).toEqual(['/nonexistent/dir']);
    expect(nativeDirs({}).length).toBe(2);
  });

  it('NativeUnavailableError carries the tried paths', () => {
    const err = errnoError(() => loadNative({ RAY_HEAD_HA_NATIVE_DIR: '/nonexistent/dir' }));
    expect(err).toBeInstanceOf(NativeUnavailableError);
    expect(err.message).toContain('/nonexistent/dir/ray_head_ha.node');
    expect((err as unknown as NativeUnavailableError).tried.length).toBe(1);
    const err2 = errnoError(() => keeperExecutablePath({ RAY_HEAD_HA_NATIVE_DIR: '/nonexistent/dir' }));
    expect(err2.message).toContain('/nonexistent/dir/ray-head-ha-keeper: ENOENT');
  });
});

describe('setChildSubreaper / isChildSubreaper', () => {
  it('sets and clears the flag', () => {
    native.setChildSubreaper();
    expect(native.isChildSubreaper()).toBe(true);
    native.setChildSubreaper(false);
    expect(native.isChildSubreaper()).toBe(false);
  });

  it('checks its arguments', () => {
    expect(() => (native.setChildSubreaper as (x: unknown) => void)('yes')).toThrow(/^Usage: setChildSubreaper/);
    expect(() => (native.isChildSubreaper as (x: unknown) => void)(1)).toThrow(TypeError);
  });
});

describe('setParentDeathSignal / getParentDeathSignal', () => {
  afterAll(() => testNative.setParentDeathSignal(0));

  it('sets and clears it', () => {
    testNative.setParentDeathSignal(os.signals.SIGUSR2);
    expect(testNative.getParentDeathSignal()).toBe(os.signals.SIGUSR2);
    testNative.setParentDeathSignal(0);
    expect(testNative.getParentDeathSignal()).toBe(0);
  });

  it('throws Usage and errno errors', () => {
    expect(() => testNative.setParentDeathSignal(-1)).toThrow(/^Usage: setParentDeathSignal/);
    expect(() => (testNative.setParentDeathSignal as (x: unknown) => void)('SIGTERM')).toThrow(TypeError);
    const err = errnoError(() => testNative.setParentDeathSignal(1000));
    expect(err).toMatchObject({ code: 'EINVAL', errno: -os.errno.EINVAL, syscall: 'prctl' });
  });
});

describe('killGroup', () => {
  it('signals a group; false once it is gone', async () => {
    const child = spawn('sh', ['-c', 'sleep 1000 & sleep 1000 & wait'], { detached: true, stdio: 'ignore' });
    started.group(child.pid);
    const pgid = child.pid!;
    await sleep(50);
    const members = native.descendants(pgid);
    expect(members.length).toBe(2);
    const exit = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    expect(testNative.killGroup(pgid, 0)).toBe(true);
    expect(testNative.killGroup(pgid, os.signals.SIGKILL)).toBe(true);
    expect(await exit).toBe('SIGKILL');
    await waitDead(members, 1000);
  });

  it('returns false for an empty group (ESRCH)', async () => {
    // A group of one libuv child: empty as soon as libuv reaped it. (Members
    // re-parented to init would stay in the group until init reaps them.)
    const child = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
    started.group(child.pid);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(testNative.killGroup(child.pid!, 0)).toBe(false);
  });

  it('throws Usage and errno errors', () => {
    expect(() => testNative.killGroup(1, 0)).toThrow(/^Usage: killGroup\(pgid: integer > 1/);
    expect(() => testNative.killGroup(0, 0)).toThrow(TypeError);
    expect(() => testNative.killGroup(-5, 9)).toThrow(TypeError);
    expect(() => testNative.killGroup(2.5, 0)).toThrow(TypeError);
    expect(() => (testNative.killGroup as (x: number) => boolean)(2)).toThrow(TypeError);
    const child = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
    started.group(child.pid);
    const err = errnoError(() => testNative.killGroup(child.pid!, 1000));
    expect(err).toMatchObject({ code: 'EINVAL', errno: -os.errno.EINVAL, syscall: 'kill' });
    expect(err.message).toMatch(/^kill EINVAL/);
  });
});

describe('descendants', () => {
  it('walks the tree through /proc, parents first', async () => {
    const child = spawn('sh', ['-c', 'sh -c "sleep 1000 & wait" & wait'], { detached: true, stdio: 'ignore' });
    started.group(child.pid);
    await sleep(100);
    const tree = native.descendants(child.pid!);
    expect(tree.length).toBe(2);
    expect(native.descendants(tree[0]!)).toEqual([tree[1]]);
    expect(native.descendants(process.pid)).toEqual([child.pid, ...tree]);
    expect(native.descendants(tree[1]!)).toEqual([]);
  });

  it('throws Usage and ESRCH', async () => {
    expect(() => native.descendants(0)).toThrow(/^Usage: descendants/);
    expect(() => (native.descendants as (x: unknown) => number[])('1')).toThrow(TypeError);
    const gone = spawnSync('true').pid!;
    await waitDead([gone], 1000);
    expect(errnoError(() => native.descendants(gone))).toMatchObject({ code: 'ESRCH', errno: -os.errno.ESRCH });
  });
});

describe('reapIfZombie / adoptedOrphans (this process a subreaper)', () => {
  beforeAll(() => native.setChildSubreaper(true));
  afterAll(() => native.setChildSubreaper(false));

  it("never takes libuv's child: the 'exit' event still fires", async () => {
    const child = spawn('sh', ['-c', 'exit 3'], { stdio: 'ignore' });
    const pid = child.pid!;
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Block the event loop so libuv cannot reap it first: it becomes our zombie.
    const t0 = nowMs();
    while (procState(pid) !== 'Z' && nowMs() - t0 < 2000) {
      // spin
    }
    expect(procState(pid)).toBe('Z');
    expect(native.reapIfZombie(pid)).toBeNull();
    expect(native.adoptedOrphans()).not.toContain(pid);
    expect(procState(pid)).toBe('Z');
    expect(await exit).toBe(3);
  });

  it('reaps an adopted orphan by pid, with its exit code', async () => {
    const pid = spawnOrphan('sh -c "sleep 0.3; exit 5"');
    await sleep(50);
    expect(native.adoptedOrphans()).toContain(pid);
    expect(native.adoptedOrphans([pid])).not.toContain(pid);
    expect(native.reapIfZombie(pid)).toBeNull(); // still running
    expect(await reapWithin(pid, 2000)).toEqual({ pid, code: 5, signal: null });
    expect(procState(pid)).toBeNull();
  });

  it('reports the signal of a killed orphan', async () => {
    const pid = spawnOrphan('sleep 1000');
    await sleep(50);
    process.kill(pid, 'SIGKILL');
    expect(await reapWithin(pid, 2000)).toEqual({ pid, code: null, signal: 'SIGKILL' });
  });

  it('does not list libuv children as orphans', async () => {
    const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
    started.pid(child.pid);
    await sleep(20);
    expect(native.adoptedOrphans()).not.toContain(child.pid);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(isDead(child.pid!)).toBe(true);
  });

  it('throws Usage and ECHILD', () => {
    expect(() => native.reapIfZombie(0)).toThrow(/^Usage: reapIfZombie/);
    expect(() => (native.reapIfZombie as (x: unknown) => unknown)('1')).toThrow(TypeError);
    expect(errnoError(() => native.reapIfZombie(1))).toMatchObject({ code: 'ECHILD', errno: -os.errno.ECHILD, syscall: 'waitid' });
    expect(() => (native.adoptedOrphans as (x: unknown) => number[])([0])).toThrow(/^Usage: adoptedOrphans/);
    expect(() => (native.adoptedOrphans as (x: unknown) => number[])(5)).toThrow(TypeError);
  });
});
