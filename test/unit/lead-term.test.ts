/**
 * RAY_HA_WAIT_TIME_AFTER_BE_ACTIVE_MS as ant-ray reads it: the pause comes
 * only after a previous leader. A fake supervisor records when the head was
 * started, on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import type { Term } from '../../src/term.js';
import { silentLogger } from '../../src/log.js';
import { leadTerm } from '../../src/supervisor/lead-term.js';
import type { HeadHandle, HeadSpec, HeadSupervisor } from '../../src/supervisor/types.js';
import { FakeClock } from '../helpers/fake-clock.js';

const WAIT_MS = 2_000;

function recordingSupervisor(clock: FakeClock) {
  const startedAtMs: number[] = [];
  const supervisor: HeadSupervisor = {
    async start(_spec: HeadSpec): Promise<HeadHandle> {
      startedAtMs.push(clock.nowMs());
      const exit = { code: 0, signal: null, reason: 'head-exit' as const, durationMs: 0 };
      return { pid: 4242, exited: Promise.resolve(exit), setDeadline: () => {}, stop: async () => exit, hurry: () => {} };
    },
  };
  return { supervisor, startedAtMs };
}

function term(previousId: string | null): Term {
  return {
    epoch: 2,
    token: 'me#2',
    previousId,
    previousGcsAddress: null,
    signal: new AbortController().signal,
    deadlineMs: () => Number.MAX_SAFE_INTEGER,
    onRenewed: () => {},
  };
}

async function startTime(previousId: string | null): Promise<number> {
  const clock = new FakeClock();
  const { supervisor, startedAtMs } = recordingSupervisor(clock);
  const t0 = clock.nowMs();
  const opts = { supervisor, clock, log: silentLogger, candidateId: 'me', command: ['head'], env: {}, killGraceMs: 100, waitPreviousMaxMs: 0 };
  const done = leadTerm(term(previousId), { ...opts, waitAfterElectedMs: WAIT_MS });
  await clock.advance(WAIT_MS + 10);
  expect((await done).reason).toBe('head-exit');
  expect(startedAtMs).toHaveLength(1);
  return startedAtMs[0]! - t0;
}

describe('leadTerm: the wait after being elected', () => {
  it('pauses waitAfterElectedMs when a previous leader is known', async () => {
    expect(await startTime('old-leader')).toBe(WAIT_MS);
  });

  it('starts at once in the first term of a namespace (no previous leader)', async () => {
    expect(await startTime(null)).toBe(0);
  });
});
