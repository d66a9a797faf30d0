/**
 * RAY_HA_WAIT_TIME_AFTER_BE_ACTIVE_MS as ant-ray reads it: the pause comes
 * only after a previous leader. A fake supervisor records when the head was
 * started, on a fake clock.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { monotonicClock } from '../../src/clock.js';
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
    previousGcsAddresses: [],
      serving: async () => true,
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

describe('leadTerm: a warm head (decision 32)', () => {
  function warmHead(deadlineMs: number, failGo?: string) {
    const calls: string[] = [];
    const exit = { code: 0, signal: null, reason: 'head-exit' as const, durationMs: 0 };
    const handle = {
      pid: 777,
      exited: new Promise<typeof exit>(() => {}),
      setDeadline: (d: number) => calls.push(`deadline ${d}`),
      setTerm: (token: string) => calls.push(`term ${token}`),
      go: (line: string) => {
        if (failGo) throw new Error(failGo);
        calls.push(`go ${line.trim()}`);
      },
      stop: async (reason: string) => {
        calls.push(`stop ${reason}`);
        return exit;
      },
      hurry: () => {},
      ended: false,
    };
    return { calls, warm: { take: () => ({ handle, deadlineMs }) } };
  }
  const termAt = (deadlineMs: number, signal: AbortSignal): Term => ({
    epoch: 5, token: 'me#5', previousId: null, previousGcsAddresses: [],
      serving: async () => true, signal, deadlineMs: () => deadlineMs, onRenewed: () => {},
  });

  it("moves the warm head's deadline to the term's, gives its keeper the term's token and then the go with the term's variables; nothing cold", async () => {
    const clock = new FakeClock();
    const { supervisor, startedAtMs } = recordingSupervisor(clock);
    const { calls, warm } = warmHead(900);
    const ac = new AbortController();
    const done = leadTerm(termAt(1_000, ac.signal), {
      supervisor, clock, log: silentLogger, candidateId: 'me', command: ['ray'], env: {}, killGraceMs: 100, waitAfterElectedMs: 0, waitPreviousMaxMs: 0,
      warm, onOrphaned: (t) => ({ command: ['release-it'], input: 'static\n', token: t.token }),
    });
    await clock.advance(1);
    ac.abort('shutdown');
    await done;
    expect(startedAtMs).toEqual([]);
    expect(calls.slice(0, 3)).toEqual(['deadline 1000', 'term me#5', expect.stringMatching(/^go \{"env":\{"RAY_HA_CANDIDATE_ID":"me","RAY_HA_EPOCH":"5",/)]);
    expect(calls.at(-1)).toBe('stop shutdown');
  });

  it('an error in the warm go starts the head cold, with one log line, after the warm head is stopped', async () => {
    const clock = new FakeClock();
    const order: string[] = [];
    const lines: string[] = [];
    const { supervisor } = recordingSupervisor(clock);
    const start = supervisor.start.bind(supervisor);
    supervisor.start = (spec) => {
      order.push('cold start');
      return start(spec);
    };
    const { calls, warm } = warmHead(900, 'EPIPE on the go pipe');
    const quiet = () => {};
    const log = { info: quiet, error: quiet, debug: quiet, warn: (_o: unknown, msg: string) => lines.push(msg) } as unknown as typeof silentLogger;
    const done = leadTerm(termAt(1_000, new AbortController().signal), {
      supervisor, clock, log, candidateId: 'me', command: ['ray'], env: {}, killGraceMs: 100, waitAfterElectedMs: 0, waitPreviousMaxMs: 0,
      warm: { take: () => { const w = warm.take(); const stop = w.handle.stop; w.handle.stop = async (r: string) => { order.push('warm stopped'); return stop(r); }; return w; } },
    });
    expect((await done).reason).toBe('head-exit');
    expect(order).toEqual(['warm stopped', 'cold start']);
    expect(calls).toEqual(['deadline 1000', 'stop shutdown']);
    expect(lines).toEqual(['starting the head cold: the warm go failed']);
  });

  it("starts cold, and stops the warm head without a go, when the warm keeper's deadline is later than the term's", async () => {
    const clock = new FakeClock();
    const { supervisor, startedAtMs } = recordingSupervisor(clock);
    const { calls, warm } = warmHead(2_000);
    const done = leadTerm(termAt(1_000, new AbortController().signal), {
      supervisor, clock, log: silentLogger, candidateId: 'me', command: ['ray'], env: {}, killGraceMs: 100, waitAfterElectedMs: 0, waitPreviousMaxMs: 0, warm,
    });
    expect((await done).reason).toBe('head-exit');
    expect(startedAtMs).toHaveLength(1);
    expect(calls).toEqual(['stop fenced']);
  });
});

describe('leadTerm: a warm head that ended before its go', () => {
  it('starts cold and gives the dead warm head nothing (no deadline, no term, no go)', async () => {
    const clock = new FakeClock();
    const { supervisor, startedAtMs } = recordingSupervisor(clock);
    const calls: string[] = [];
    const exit = { code: null, signal: 'SIGKILL' as const, reason: 'head-exit' as const, durationMs: 0 };
    const handle = {
      pid: 778, exited: Promise.resolve(exit), setDeadline: () => calls.push('deadline'), setTerm: () => calls.push('term'),
      go: () => calls.push('go'), stop: async () => exit, hurry: () => {}, ended: true,
    };
    const done = leadTerm(
      { epoch: 6, token: 'me#6', previousId: null, previousGcsAddresses: [],
      serving: async () => true, signal: new AbortController().signal, deadlineMs: () => 1_000, onRenewed: () => {} },
      {
        supervisor, clock, log: silentLogger, candidateId: 'me', command: ['ray'], env: {}, killGraceMs: 100, waitAfterElectedMs: 0, waitPreviousMaxMs: 0,
        warm: { take: () => ({ handle, deadlineMs: 900 }) }, onOrphaned: (t) => ({ command: ['release-it'], input: 'static\n', token: t.token }),
      },
    );
    expect((await done).reason).toBe('head-exit');
    expect(startedAtMs).toHaveLength(1);
    expect(calls).toEqual([]);
  });
});

describe('leadTerm: a stop cuts the drain once the GCS accepts no one (decision 21)', () => {
  it('hurries the stop (KILL now) when the GCS port stops accepting, not before', async () => {
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as net.AddressInfo).port;
    const calls: string[] = [];
    let finish!: () => void;
    const exit = { code: null, signal: 'SIGKILL' as const, reason: 'shutdown' as const, durationMs: 0 };
    const exited = new Promise<typeof exit>((resolve) => (finish = () => resolve(exit)));
    const supervisor: HeadSupervisor = {
      start: async () => ({
        pid: 4243, exited, setDeadline: () => {},
        stop: () => { calls.push('stop'); return exited; },
        hurry: () => { calls.push('hurry'); finish(); },
      }),
    };
    const ac = new AbortController();
    const t: Term = { epoch: 3, token: 'me#3', previousId: null, previousGcsAddresses: [],
      serving: async () => true, signal: ac.signal, deadlineMs: () => Number.MAX_SAFE_INTEGER, onRenewed: () => {} };
    const done = leadTerm(t, {
      supervisor, clock: monotonicClock, log: silentLogger, candidateId: 'me', command: ['head'], env: {}, killGraceMs: 60_000,
      waitAfterElectedMs: 0, waitPreviousMaxMs: 0, gcsAddress: `127.0.0.1:${port}`,
    });
    await new Promise((r) => setTimeout(r, 50));
    ac.abort('shutdown');
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toEqual(['stop']); // the GCS still accepts: the grace runs
    server.close();
    expect((await done).signal).toBe('SIGKILL');
    expect(calls).toEqual(['stop', 'hurry']);
  });
});

describe('leadTerm: the stop grace by reason', () => {
  it.each([
    ['lost-lease', 0],
    ['deadline', undefined],
    ['shutdown', undefined],
  ] as const)('%s: stop(reason, %s)', async (reason, grace) => {
    const stops: [string, number | undefined][] = [];
    let finish!: () => void;
    const exit = { code: null, signal: 'SIGKILL' as const, reason, durationMs: 0 };
    const exited = new Promise<typeof exit>((resolve) => (finish = () => resolve(exit)));
    const supervisor: HeadSupervisor = {
      start: async () => ({
        pid: 4244, exited, setDeadline: () => {}, hurry: () => {},
        stop: (r, g) => { stops.push([r, g]); finish(); return exited; },
      }),
    };
    const ac = new AbortController();
    const t: Term = { epoch: 4, token: 'me#4', previousId: null, previousGcsAddresses: [], serving: async () => true, signal: ac.signal, deadlineMs: () => Number.MAX_SAFE_INTEGER, onRenewed: () => {} };
    const done = leadTerm(t, {
      supervisor, clock: monotonicClock, log: silentLogger, candidateId: 'me', command: ['head'], env: {}, killGraceMs: 60_000, waitAfterElectedMs: 0, waitPreviousMaxMs: 0,
    });
    await new Promise((r) => setTimeout(r, 20));
    ac.abort(reason);
    await done;
    expect(stops).toEqual([[reason, grace]]);
  });
});
