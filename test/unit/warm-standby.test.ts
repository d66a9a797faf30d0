/**
 * The warm standby's side of decision 32's fencing proof: every deadline its
 * keeper is given, at spawn or on a refresh, is at most now + aheadMs (so it
 * is never later than the first deadline of a term acquired after it), and
 * once take() hands the head over nothing here moves its deadline again.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/log.js';
import type { HeadSpec, WarmHeadHandle } from '../../src/supervisor/types.js';
import { WarmStandby } from '../../src/supervisor/warm-standby.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('WarmStandby: the warm keeper deadline', () => {
  it('is never set later than now + aheadMs, and never moved after take()', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = new FakeClock();
    const set: { atMs: number; deadlineMs: number }[] = [];
    const exit = { code: null, signal: null, reason: 'shutdown' as const, durationMs: 0 };
    const handle: WarmHeadHandle = {
      pid: 4321,
      exited: new Promise(() => {}),
      setDeadline: (d) => set.push({ atMs: clock.nowMs(), deadlineMs: d }),
      stop: async () => exit,
      hurry: () => {},
      go: () => {},
      setTerm: () => {},
      ended: false,
    };
    const startWarm = async (spec: HeadSpec) => {
      set.push({ atMs: clock.nowMs(), deadlineMs: spec.deadlineMs });
      return handle;
    };
    const aheadMs = 500;
    const warm = new WarmStandby({ startWarm, spec: { command: ['warm'], env: {}, killGraceMs: 10 }, aheadMs, refreshMs: 100, clock, log: silentLogger });
    warm.ensure();
    await settle();
    for (let i = 0; i < 10; i++) {
      await clock.advance(100);
      vi.advanceTimersByTime(100);
    }
    expect(set.length).toBeGreaterThan(5); // the spawn and the refreshes
    for (const s of set) expect(s.deadlineMs).toBeLessThanOrEqual(s.atMs + aheadMs);
    const taken = warm.take();
    expect(taken).toMatchObject({ handle, deadlineMs: set.at(-1)!.deadlineMs });
    const before = set.length;
    await clock.advance(1_000);
    vi.advanceTimersByTime(1_000);
    expect(set.length).toBe(before);
  });
});
