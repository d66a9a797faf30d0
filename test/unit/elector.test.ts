/**
 * The elector as a state machine: a scripted lease, a fake clock, and for each
 * case the calls it must make and how the term must end.
 */
import { describe, expect, it } from 'vitest';
import { Elector } from '../../src/election/elector.js';
import { pino } from 'pino';
import { AttemptRefusedError, RedisAuthError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { HeadExit, StopReason, Term } from '../../src/term.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { FakeLease, taken, unknownState, won, type Reply } from '../helpers/fake-lease.js';
import type { AcquireRequest, AcquireResult } from '../../src/election/lease.js';

const RETRY = 1_000;
const DEADLINE = 4_000;
const TTL = 6_000;

function setup(acquire: Reply<ReturnType<typeof won>>[], renew: Reply<boolean>[] = [], maxFailures: number | null = null) {
  const clock = new FakeClock();
  const lease = new FakeLease(acquire, renew);
  const elector = new Elector({ lease, clock, retryMs: RETRY, renewDeadlineMs: DEADLINE, maxFailures, unknownStateHoldMs: TTL, log: silentLogger });
  return { clock, lease, elector };
}

/** A head that exits by itself after `exitAfterMs` (fake time), or is stopped when the term aborts. */
function fakeHead(clock: FakeClock, exitAfterMs: number | null, code = 0) {
  const seen: { term?: Term; stopReason?: StopReason; deadlines: number[] } = { deadlines: [] };
  const lead = async (term: Term): Promise<HeadExit> => {
    seen.term = term;
    term.onRenewed((d) => seen.deadlines.push(d));
    const startedMs = clock.nowMs();
    const stopped = new Promise<StopReason>((resolve) =>
      term.signal.addEventListener('abort', () => resolve(term.signal.reason as StopReason), { once: true }),
    );
    const exited = exitAfterMs === null ? new Promise<never>(() => {}) : clock.sleep(exitAfterMs).then(() => 'exit' as const);
    const first = await Promise.race([stopped, exited]);
    if (first === 'exit') return { code, signal: null, reason: 'head-exit', durationMs: clock.nowMs() - startedMs };
    seen.stopReason = first;
    return { code: null, signal: 'SIGTERM', reason: first, durationMs: clock.nowMs() - startedMs };
  };
  return { lead, seen };
}

/** Runs one term with a head that exits after 10 ms; returns when (fake ms from now) it began to lead, and how it ended. */
async function leadsAtMs(elector: Elector, clock: FakeClock, limitMs: number) {
  const { lead } = fakeHead(clock, 10);
  const t0 = clock.nowMs();
  let at: number | null = null;
  const run = elector.runTerm(new AbortController().signal, (term) => {
    at = clock.nowMs() - t0;
    return lead(term);
  });
  while (at === null && clock.nowMs() - t0 < limitMs) await clock.advance(100);
  await clock.advance(100);
  const result = await run;
  return { at: at as number | null, result };
}

interface Case {
  name: string;
  acquire: Reply<ReturnType<typeof won>>[];
  renew?: Reply<boolean>[];
  maxFailures?: number;
  headExitsAfterMs?: number | null;
  shutdownAtMs?: number;
  runForMs: number;
  expectReason: StopReason;
  expectCalls: string[];
  expectEndedByMs?: number;
}

const cases: Case[] = [
  {
    name: 'head exits by itself: release at once, end with head-exit',
    acquire: [won(1)],
    headExitsAfterMs: 2_500,
    runForMs: 3_000,
    expectReason: 'head-exit',
    expectCalls: ['acquire', 'renew me#1', 'renew me#1', 'release me#1 released'],
  },
  {
    name: 'renew finds the lease gone: stop the head, never release',
    acquire: [won(4)],
    renew: [true, false],
    runForMs: 5_000,
    expectReason: 'lost-lease',
    expectCalls: ['acquire', 'renew me#4', 'renew me#4'],
  },
  {
    name: 'renews hang: step down at the deadline and release if still ours',
    acquire: [won(2)],
    renew: ['hang'],
    runForMs: 10_000,
    expectReason: 'deadline',
    expectCalls: ['acquire', 'renew me#2', 'release me#2 stepped-down'],
    expectEndedByMs: DEADLINE,
  },
  {
    name: 'renews fail fast: keep trying each retry, step down at the deadline',
    acquire: [won(2)],
    renew: [new Error('Connection is closed.')],
    runForMs: 10_000,
    expectReason: 'deadline',
    expectCalls: ['acquire', 'renew me#2', 'renew me#2', 'renew me#2', 'release me#2 stepped-down'],
    expectEndedByMs: DEADLINE,
  },
  {
    // ant-ray's meaning of RAY_HA_CHECK_MAX_FAILURE_COUNT: more than N consecutive failures.
    name: 'more than max failures before the deadline: step down',
    acquire: [won(3)],
    renew: [new Error('Command timed out')],
    maxFailures: 2,
    runForMs: 10_000,
    expectReason: 'deadline',
    expectCalls: ['acquire', 'renew me#3', 'renew me#3', 'renew me#3', 'release me#3 stepped-down'],
    expectEndedByMs: 3 * RETRY,
  },
  {
    name: 'exactly max failures, then a good renew: keeps leading',
    acquire: [won(3)],
    renew: [new Error('Command timed out'), new Error('Command timed out'), true, false],
    maxFailures: 2,
    runForMs: 10_000,
    expectReason: 'lost-lease',
    expectCalls: ['acquire', 'renew me#3', 'renew me#3', 'renew me#3', 'renew me#3'],
  },
  {
    name: 'max failures 0: step down at the first failed renew',
    acquire: [won(3)],
    renew: [new Error('Command timed out')],
    maxFailures: 0,
    runForMs: 10_000,
    expectReason: 'deadline',
    expectCalls: ['acquire', 'renew me#3', 'release me#3 stepped-down'],
    expectEndedByMs: RETRY,
  },
  {
    name: 'shutdown while leading: stop the head, release',
    acquire: [won(9)],
    shutdownAtMs: 1_500,
    runForMs: 3_000,
    expectReason: 'shutdown',
    expectCalls: ['acquire', 'renew me#9', 'release me#9 released'],
  },
  {
    name: 'a failed renew followed by a good one keeps leading',
    acquire: [won(5)],
    renew: [new Error('Connection is closed.'), true, true, true, true, true, false],
    runForMs: 10_000,
    expectReason: 'lost-lease',
    expectCalls: ['acquire', ...Array(7).fill('renew me#5')],
  },
];

describe('Elector (table)', () => {
  it.each(cases)('$name', async (c) => {
    const { clock, lease, elector } = setup(c.acquire, c.renew ?? [true], c.maxFailures ?? null);
    const { lead, seen } = fakeHead(clock, c.headExitsAfterMs ?? null, 0);
    const shutdown = new AbortController();
    const startMs = clock.nowMs();
    let endedAtMs: number | null = null;
    const result = elector.runTerm(shutdown.signal, lead).then((r) => {
      endedAtMs = clock.nowMs();
      return r;
    });
    if (c.shutdownAtMs !== undefined) {
      await clock.advance(c.shutdownAtMs);
      shutdown.abort();
      await clock.advance(c.runForMs - c.shutdownAtMs);
    } else {
      await clock.advance(c.runForMs);
    }
    const r = await result;
    expect(r?.reason).toBe(c.expectReason);
    expect(lease.calls).toEqual(c.expectCalls);
    if (c.expectReason !== 'head-exit') expect(seen.stopReason).toBe(c.expectReason);
    if (c.expectEndedByMs !== undefined) expect(endedAtMs! - startMs).toBeLessThanOrEqual(c.expectEndedByMs);
    expect(elector.state).toBe('stopped');
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('Elector (standby)', () => {
  it('polls every retry while the lease is taken, and again just after the holder PTTL runs out', async () => {
    const { clock, lease, elector } = setup([taken(3, 5_000), taken(3, 4_000), taken(3, 250), won(4)]);
    const { lead } = fakeHead(clock, 100);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(0);
    expect(lease.calls).toEqual(['acquire']);
    await clock.advance(RETRY);
    expect(lease.calls).toEqual(['acquire', 'acquire']);
    await clock.advance(RETRY);
    expect(lease.calls).toEqual(['acquire', 'acquire', 'acquire']);
    // PTTL 250 < retry: the next try comes at 251 ms, not at 1000 ms.
    await clock.advance(251);
    expect(lease.calls.slice(0, 4)).toEqual(['acquire', 'acquire', 'acquire', 'acquire']);
    await clock.advance(200);
    expect((await run)?.epoch).toBe(4);
  });

  it('wakes at once on a release event', async () => {
    const { clock, lease, elector } = setup([taken(3, 10_000), won(4)]);
    const { lead } = fakeHead(clock, 10);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(10);
    expect(lease.calls).toEqual(['acquire']);
    lease.announceVacancy();
    await settle();
    expect(lease.calls).toEqual(['acquire', 'acquire']);
    await clock.advance(20);
    expect((await run)?.reason).toBe('head-exit');
  });

  it('remembers the highest epoch and the last GCS address it saw, and asks above them', async () => {
    const { clock, lease, elector } = setup([taken(7, 5_000), { ...taken(2, 5_000), storedEpoch: 2, gcsAddress: null }, won(8)]);
    const { lead } = fakeHead(clock, 10);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(2 * RETRY + 20);
    await run;
    expect(lease.acquireRequests.map((r) => r.minEpoch)).toEqual([0, 7, 7]);
    expect(lease.acquireRequests[2]!.knownGcsAddress).toBe('10.0.0.1:6379');
    expect(elector.highestEpoch).toBe(8);
  });

  it('keeps trying while Redis is unreachable', async () => {
    const down = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    const { clock, lease, elector } = setup([down, down, down, won(1)]);
    const { lead } = fakeHead(clock, 10);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(3 * RETRY + 20);
    expect((await run)?.epoch).toBe(1);
    expect(lease.calls.filter((c) => c === 'acquire')).toHaveLength(4);
  });

  it('gives up at once when Redis refuses the credentials', async () => {
    const { clock, elector } = setup([new RedisAuthError('WRONGPASS invalid username-password pair')]);
    const { lead } = fakeHead(clock, 10);
    await expect(elector.runTerm(new AbortController().signal, lead)).rejects.toBeInstanceOf(RedisAuthError);
  });

  it('says once per kind of trouble whether Redis was unreachable or refused the attempt, and when it works again', async () => {
    const clock = new FakeClock();
    const lease = new FakeLease([
      new Error('connect ECONNREFUSED 127.0.0.1:6379'),
      new Error('connect ECONNREFUSED 127.0.0.1:6379'),
      new AttemptRefusedError('acquired epoch 5 but only 0 of 1 replicas acknowledged it within 50 ms; gave it back'),
      new AttemptRefusedError('acquired epoch 6 but only 0 of 1 replicas acknowledged it within 50 ms; gave it back'),
      won(7),
    ]);
    const lines: { msg: string; err?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
    const elector = new Elector({ lease, clock, retryMs: RETRY, renewDeadlineMs: DEADLINE, maxFailures: null, unknownStateHoldMs: TTL, log });
    const { lead } = fakeHead(clock, 10);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(5 * RETRY);
    expect((await run)?.epoch).toBe(7);
    const said = lines.map((l) => l.msg).filter((m) => /Redis/.test(m));
    expect(said).toEqual([
      'cannot reach Redis; still trying as a standby',
      'Redis refused the acquire attempt; still trying as a standby',
      'Redis takes acquire attempts again',
    ]);
    expect(lines.find((l) => l.msg.startsWith('Redis refused'))?.err).toMatch(/only 0 of 1 replicas/);
  });

  it('returns null when shut down as a standby, without leading', async () => {
    const { clock, lease, elector } = setup([taken(1, 10_000)]);
    const { lead, seen } = fakeHead(clock, 10);
    const shutdown = new AbortController();
    const run = elector.runTerm(shutdown.signal, lead);
    await clock.advance(2_500);
    shutdown.abort();
    expect(await run).toBeNull();
    expect(seen.term).toBeUndefined();
    expect(lease.calls.every((c) => c === 'acquire')).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
  });
});

/**
 * A namespace without an epoch counter, as the acquire script answers it: each
 * attempt goes through the connection session `sessions[i]` (the last one
 * repeats; null: it changed during the attempt; 'taken': someone holds it), and
 * the lease is taken only when the request names the session it went through.
 */
class UnknownNamespace extends FakeLease {
  constructor(private readonly sessions: (number | null | 'taken')[]) {
    super([]);
  }
  override tryAcquire(req: AcquireRequest): Promise<AcquireResult> {
    this.calls.push('acquire');
    this.acquireRequests.push(req);
    const s = this.sessions.length > 1 ? this.sessions.shift()! : this.sessions[0]!;
    if (s === 'taken') return Promise.resolve(taken(5, 5_000));
    return Promise.resolve(s !== null && req.unknownSession === s ? won(9) : unknownState(s));
  }
}

describe('Elector (a namespace without an epoch counter: decision 28)', () => {
  async function wonAtMs(sessions: (number | null | 'taken')[]) {
    const clock = new FakeClock();
    const lease = new UnknownNamespace(sessions);
    const elector = new Elector({ lease, clock, retryMs: RETRY, renewDeadlineMs: DEADLINE, maxFailures: null, unknownStateHoldMs: TTL, log: silentLogger });
    const { at, result } = await leadsAtMs(elector, clock, 30_000);
    expect(result?.epoch).toBe(9);
    return { at, requests: lease.acquireRequests.map((r) => r.unknownSession) };
  }

  it('holds back one ttl through one connection, asking without permission, then takes it through that connection', async () => {
    const { at, requests } = await wonAtMs([1]);
    expect(at).toBe(TTL);
    expect(requests).toEqual([null, null, null, null, null, null, 1]);
  });

  it('a reconnect during the hold (another session: maybe another server) starts it again', async () => {
    const { at, requests } = await wonAtMs([1, 1, 1, 2]);
    expect(at).toBe(3 * RETRY + TTL);
    expect(requests.at(-1)).toBe(2);
    expect(requests.slice(0, -1).every((r) => r === null)).toBe(true);
  });

  it('an attempt whose connection changed while it ran does not count, and starts the hold again', async () => {
    const { at } = await wonAtMs([1, 1, null, 1]);
    expect(at).toBe(3 * RETRY + TTL);
  });

  it('a holder seen during the hold ends it: a later loss starts a new one', async () => {
    const { at } = await wonAtMs([1, 1, 1, 1, 'taken', 1]);
    expect(at).toBe(5 * RETRY + TTL);
  });
});

describe('Elector (lost writes and published ttls: decisions 34 and 35)', () => {
  it('a holder with a longer ttl: the hold after lost writes lasts that ttl, not ours, and the difference is said once', async () => {
    const clock = new FakeClock();
    const logs: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
    const longTtl = 2 * TTL;
    const lease = new FakeLease([taken(5, 5_000, 'other', { ttlMs: longTtl }), taken(5, 5_000, 'other', { ttlMs: longTtl }), unknownState(1, 'behind')]);
    // After the hold, the same session takes it.
    const tryAcquire = lease.tryAcquire.bind(lease);
    lease.tryAcquire = (req: AcquireRequest) => (req.unknownSession === 1 ? Promise.resolve(won(9, 'me', null, 3)) : tryAcquire(req));
    const elector = new Elector({ lease, clock, retryMs: RETRY, renewDeadlineMs: DEADLINE, maxFailures: null, unknownStateHoldMs: TTL, log });
    const { at } = await leadsAtMs(elector, clock, 60_000);
    // Two polls a retry apart, then the hold from the first 'behind' finding: the holder's ttl.
    expect(at).toBe(2 * RETRY + longTtl);
    expect(logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith("the leader's ttl differs"))).toHaveLength(1);
    expect(logs.find((l) => l.why === 'behind')).toMatchObject({ holdMs: longTtl });
  });

  it('asks with unseen until it has seen a term: a fresh candidate cannot tell a clean vacancy from lost writes', async () => {
    const { clock, lease, elector } = setup([unknownState(1, 'unseen'), taken(5, 5_000), won(6)]);
    const { lead } = fakeHead(clock, 10);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(3 * RETRY);
    await run;
    expect(lease.acquireRequests.map((r) => r.unseen)).toEqual([true, true, false]);
  });

  it('a won term whose replaced hash is older than the last holder seen (lost writes) waits on every GCS address it knew', async () => {
    const { clock, elector } = setup([
      taken(5, 5_000, 'x', { gcsAddress: '10.0.0.5:1' }),
      taken(6, 5_000, 'y', { gcsAddress: '10.0.0.6:1' }),
      won(9, 'me', '10.0.0.4:1', 4),
    ]);
    const { lead, seen } = fakeHead(clock, 10);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(3 * RETRY);
    await run;
    expect(seen.term?.previousGcsAddresses).toEqual(['10.0.0.4:1', '10.0.0.6:1', '10.0.0.5:1']);
  });

  it('a won term whose replaced hash is the last holder seen waits on the GCS that served only', async () => {
    const { clock, elector } = setup([taken(6, 5_000, 'y', { gcsAddress: '10.0.0.6:1' }), won(9, 'me', '10.0.0.6:1', 6)]);
    const { lead, seen } = fakeHead(clock, 10);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(2 * RETRY);
    await run;
    expect(seen.term?.previousGcsAddresses).toEqual(['10.0.0.6:1']);
  });

  it('serving: a lease no longer ours ends the term lost-lease; an error is retried until it is recorded', async () => {
    const lost = setup([won(1)]);
    lost.lease.servingReply = false;
    const run = lost.elector.runTerm(new AbortController().signal, async (term) => {
      expect(await term.serving()).toBe(false);
      expect(term.signal.aborted).toBe(true);
      return { code: null, signal: null, reason: term.signal.reason as StopReason, durationMs: 0 };
    });
    await lost.clock.advance(10);
    expect((await run)?.reason).toBe('lost-lease');

    const flaky = setup([won(1)]);
    let calls = 0;
    flaky.lease.servingReply = () => (++calls < 3 ? Promise.reject(new Error('ECONNRESET')) : Promise.resolve(true));
    let recorded: boolean | null = null;
    const run2 = flaky.elector.runTerm(new AbortController().signal, async (term) => {
      recorded = await term.serving();
      return { code: 0, signal: null, reason: 'head-exit', durationMs: 0 };
    });
    await flaky.clock.advance(500);
    await run2;
    expect(recorded).toBe(true);
    expect(calls).toBe(3);
  });
});

describe('Elector (deadlines)', () => {
  it('counts the deadline from the send time of the last successful renew', async () => {
    const { clock, elector } = setup([won(1)], [() => clock.sleep(300).then(() => true)]);
    const { lead, seen } = fakeHead(clock, null);
    const shutdown = new AbortController();
    const acquiredAt = clock.nowMs();
    const run = elector.runTerm(shutdown.signal, lead);
    await clock.advance(0);
    expect(seen.term!.deadlineMs()).toBe(acquiredAt + DEADLINE);
    await clock.advance(RETRY + 300);
    // Sent at +RETRY, answered 300 ms later: the deadline is sent + DEADLINE, not answered + DEADLINE.
    expect(seen.deadlines[0]).toBe(acquiredAt + RETRY + DEADLINE);
    expect(seen.term!.deadlineMs()).toBe(acquiredAt + RETRY + DEADLINE);
    shutdown.abort();
    await clock.advance(1_000);
    expect((await run)?.reason).toBe('shutdown');
  });

  it('a renew that answers only after the deadline does not extend the term', async () => {
    const { clock, lease, elector } = setup([won(1)], [() => clock.sleep(DEADLINE).then(() => true)]);
    const { lead } = fakeHead(clock, null);
    const run = elector.runTerm(new AbortController().signal, lead);
    await clock.advance(DEADLINE + 10);
    const r = await run;
    expect(r?.reason).toBe('deadline');
    expect(lease.calls.at(-1)).toBe('release me#1 stepped-down');
  });
});
