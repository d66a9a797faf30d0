#!/usr/bin/env node
// `npm run chaos -- --trials N --seed S`: a randomized fault campaign in the
// manner of Jepsen's nemesis. Redis and 3 candidates (each behind its own TCP
// proxy to Redis, each with a GCS port of its own, so nothing but the election
// keeps two heads apart) with stand-in heads; per trial one fault at random on the
// leader or on Redis. A checker samples every 5 ms which heads are alive and
// fails the trial on two heads at once, an epoch that repeats or goes
// backwards, an orphan or zombie left behind, or a takeover slower than its
// bound. Prints a table per fault and writes JSON; exits 1 on any failure.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import {
  HeadSampler, freePort, freezeTree, isListening, nowMs, percentiles, procState, seededRandom, sleep, startStandInCandidate, startProxy, startRedis,
} from './lib/harness.mjs';
import { leaseSnapshot, restoreLeaseSnapshot } from './lib/lease-snapshot.mjs';

const { values: opts } = parseArgs({
  options: {
    trials: { type: 'string', default: '30' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    'ttl-ms': { type: 'string', default: '1500' },
    faults: { type: 'string' },
    out: { type: 'string', default: 'bench-results' },
    quiet: { type: 'boolean', default: false },
  },
});
const TRIALS = Number(opts.trials);
const SEED = Number(opts.seed);
const TTL = Number(opts['ttl-ms']);
const RETRY = Math.round(TTL / 7);
const random = seededRandom(SEED);
const NS = 'chaos';

// Each fault: what it does to the leader (or Redis), and the bound on the
// takeover it may cause, measured from the moment the fault began.
const FAULTS = {
  'kill-leader': { boundMs: TTL + 500, run: ({ leader }) => leader.c.proc.kill('SIGKILL') },
  'stop-short': { boundMs: TTL + 500, run: async ({ leader }) => { leader.c.proc.kill('SIGSTOP'); await sleep(TTL * 0.5); leader.c.proc.kill('SIGCONT'); } },
  'stop-long': { boundMs: TTL + 500, run: async ({ leader }) => { leader.c.proc.kill('SIGSTOP'); await sleep(TTL * 1.5); leader.c.proc.kill('SIGCONT'); } },
  'conn-reset': { boundMs: TTL + 500, run: ({ leader }) => leader.proxy.reset() },
  'conn-blackhole': { boundMs: TTL + 500, run: async ({ leader }) => { leader.proxy.blackhole(true); await sleep(TTL * 1.5); leader.proxy.blackhole(false); leader.proxy.reset(); } },
  // Its data lost, the namespace has no epoch counter: a candidate takes it one ttl after it
  // first sees it so (docs/design.md, decision 28), after its reconnect.
  'redis-restart-empty': { boundMs: 2 * TTL + 500, run: ({ redis }) => redis.restartEmpty() },
  'redis-pause-short': { boundMs: TTL * 0.5 + TTL + 500, run: async ({ redis }) => { redis.pause(); await sleep(TTL * 0.5); redis.resume(); } },
  'redis-pause-long': { boundMs: TTL * 1.5 + TTL + 500, run: async ({ redis }) => { redis.pause(); await sleep(TTL * 1.5); redis.resume(); } },
  'head-kill': { boundMs: 500, run: ({ leader }) => process.kill(leader.head.pid, 'SIGKILL') },
  'loop-block': { boundMs: TTL + 500, run: ({ leader }) => leader.c.proc.kill('SIGUSR2') },
  // Redis goes back to the epoch counter and leader hash of before the last takeover (an RDB
  // snapshot, a lagging replica promoted) and loses the lease: the counter is below what the
  // standbys saw, so they hold back a ttl (decision 34).
  'redis-restore-older': {
    boundMs: 2 * TTL + 500,
    run: async () => restoreLeaseSnapshot(query, NS, olderSnapshot ?? (await leaseSnapshot(query, NS))),
  },
  // The whole leader frozen past the ttl (orchestrator, keeper, head: a cgroup freezer, docker
  // pause), then thawed: its keeper wakes past its deadline and KILLs at once. Its frozen head's
  // socket still accepts connections, so the new leader waits for it (decision 6).
  'freeze-leader': { boundMs: TTL + 500, run: async ({ leader }) => { const thaw = freezeTree(leader.c.proc.pid); await sleep(TTL * 1.5); thaw(); } },
  // The same for longer than the previous-GCS wait, twice over: each new leader steps down
  // while the frozen leader's GCS answers, and none starts a head until it is gone (decision 35).
  'previous-gcs-rounds': { boundMs: TTL + 500, run: async ({ leader }) => { const thaw = freezeTree(leader.c.proc.pid); await sleep(TTL * 3.5); thaw(); } },
};
const chosen = opts.faults ? opts.faults.split(',') : Object.keys(FAULTS);
for (const f of chosen) if (!FAULTS[f]) throw new Error(`unknown fault ${f}; known: ${Object.keys(FAULTS).join(', ')}`);

const redis = await startRedis();
const sampler = new HeadSampler();
sampler.start(5);
const gcsPorts = [await freePort(), await freePort(), await freePort()];
// Each candidate's role report (RAY_HA_STATE_FILE): a standby is ready for the next fault once it has seen the holder.
const roles = mkdtempSync(path.join(tmpdir(), 'rhha-chaos-roles-'));
const roleOf = (c) => {
  try {
    return JSON.parse(readFileSync(path.join(roles, `${c.id}.json`), 'utf8'));
  } catch {
    return null;
  }
};
const events = [];
const sub = new Redis({ port: redis.port, maxRetriesPerRequest: null, retryStrategy: () => 50 });
sub.on('error', () => {});
sub.on('message', (_ch, m) => events.push({ ...JSON.parse(m), atMs: nowMs() }));
await sub.subscribe(`ray-head-ha:{${NS}}:events`);
const query = new Redis({ port: redis.port, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
query.on('error', () => {});
/** Taken at the start of the trial before this one: before the last takeover, as an older RDB would be. */
let olderSnapshot = null;

const slots = [];
let serial = 0;
async function fill() {
  for (let i = 0; i < 3; i++) {
    if (slots[i] && slots[i].c.exit === null) continue;
    const proxy = slots[i]?.proxy ?? (await startProxy(redis.port));
    proxy.blackhole(false);
    const id = `c${i}-${serial++}`;
    const c = startStandInCandidate({
      id, redis: proxy.address, namespace: NS, ttlMs: TTL, retryMs: RETRY, gcsPort: gcsPorts[i], headsDir: sampler.dir,
      env: { RAY_HEAD_HA_TEST_FAULTS: '1', RAY_HEAD_HA_TEST_BLOCK_MS: String(Math.round(TTL * 1.5)), RAY_HA_STATE_FILE: path.join(roles, `${id}.json`) },
      // One ttl: a previous GCS that answers longer (a frozen leader) makes the new leader step down.
      args: ['--wait-previous-max-ms', String(TTL)],
    });
    slots[i] = { c, proxy, gcsPort: gcsPorts[i] };
  }
}

/**
 * One leader with a live, listening head that holds the lease, and every other
 * live candidate a standby that has seen it (a candidate that has seen no term
 * holds back on a vacancy: decision 34; the bounds are for standbys that have).
 */
async function stableLeader(timeoutMs) {
  const end = nowMs() + timeoutMs;
  while (nowMs() < end) {
    const alive = sampler.alive();
    if (alive.length === 1) {
      const token = await query.get(`ray-head-ha:{${NS}}:lease`).catch(() => null);
      const slot = slots.find((s) => s.c.id === alive[0].candidate);
      const standbysSawIt = slots.every((s) => s === slot || s.c.exit !== null || roleOf(s.c)?.leaderId === slot?.c.id);
      if (token && slot && token.startsWith(`${slot.c.id}#`) && standbysSawIt && (await isListening(slot.gcsPort))) {
        return { ...slot, head: alive[0], epoch: Number(token.split('#')[1]) };
      }
    }
    await sleep(10);
  }
  return null;
}

async function settleLeftovers(timeoutMs) {
  const end = nowMs() + timeoutMs;
  let left = sampler.orphans();
  while (left.length > 0 && nowMs() < end) {
    await sleep(20);
    left = sampler.orphans();
  }
  return left.map((pid) => ({ pid, state: procState(pid) }));
}

/** Stops the candidates (their keepers end the heads), the proxies, Redis and the sampler; once. */
let cleaned = null;
function cleanup() {
  cleaned ??= (async () => {
    for (const s of slots) {
      s.c.proc.kill('SIGCONT');
      s.c.proc.kill('SIGTERM');
    }
    await Promise.race([Promise.all(slots.map((s) => s.c.exited)), sleep(TTL * 2)]);
    for (const s of slots) {
      s.c.proc.kill('SIGKILL');
      s.proxy.close();
    }
    sub.disconnect();
    query.disconnect();
    sampler.close();
    await redis.close();
    rmSync(roles, { recursive: true, force: true });
  })();
  return cleaned;
}
// Interrupted (Ctrl-C, a timeout's SIGTERM): nothing it started may outlive it.
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => cleanup().finally(() => process.exit(130)));

const trials = [];
let lastEpoch = 0;
const t0 = nowMs();
try {
  for (let t = 0; t < TRIALS; t++) {
    await fill();
    const leader = await stableLeader(TTL * 8);
    if (!leader) {
      trials.push({ trial: t, fault: 'setup', failures: ['no stable leader before the fault'] });
      break;
    }
    const fault = chosen[Math.floor(random() * chosen.length)];
    const before = await leaseSnapshot(query, NS).catch(() => null);
    const overlapsBefore = sampler.overlaps.length;
    const eventsBefore = events.length;
    const startMs = nowMs();
    await FAULTS[fault].run({ leader, redis });
    // Give the fault time to act: a takeover, or the ttl twice over with the same leader.
    const quietEnd = nowMs() + TTL * 2;
    while (nowMs() < quietEnd && !events.slice(eventsBefore).some((e) => e.type === 'acquired' && e.epoch > leader.epoch)) await sleep(10);
    await fill();
    const after = await stableLeader(TTL * 8);
    const failures = [];
    if (!after) failures.push('no stable leader after the fault');
    const newEvents = events.slice(eventsBefore);
    const takeover = newEvents.find((e) => e.type === 'acquired' && e.epoch > leader.epoch);
    const takeoverMs = takeover ? takeover.atMs - startMs : null;
    if (takeoverMs !== null && takeoverMs > FAULTS[fault].boundMs) failures.push(`takeover ${Math.round(takeoverMs)} ms > bound ${FAULTS[fault].boundMs} ms`);
    for (const e of newEvents.filter((e) => e.type === 'acquired')) {
      if (e.epoch <= lastEpoch) failures.push(`epoch ${e.epoch} after ${lastEpoch}`);
      lastEpoch = Math.max(lastEpoch, e.epoch);
    }
    const overlaps = sampler.overlaps.slice(overlapsBefore);
    if (overlaps.length > 0) failures.push(`two heads alive in ${overlaps.length} samples: ${JSON.stringify(overlaps[0])}`);
    const leftovers = await settleLeftovers(3_000);
    if (leftovers.length > 0) failures.push(`orphans or zombies left: ${JSON.stringify(leftovers)}`);
    const result = { trial: t, fault, takeoverMs, kept: takeover === undefined, splitBrainSamples: overlaps.length, orphans: leftovers.length, failures };
    trials.push(result);
    olderSnapshot = before;
    if (!opts.quiet) {
      const what = takeoverMs === null ? 'leader kept' : `takeover ${Math.round(takeoverMs)} ms`;
      console.log(`trial ${String(t).padStart(3)} ${fault.padEnd(20)} ${what.padEnd(20)} ${failures.length ? `FAIL ${failures.join('; ')}` : 'ok'}`);
    }
  }
} finally {
  await cleanup();
}

const byFault = {};
for (const f of chosen) {
  const ts = trials.filter((t) => t.fault === f);
  if (ts.length === 0) continue;
  const takeovers = ts.map((t) => t.takeoverMs).filter((x) => x !== null);
  byFault[f] = {
    trials: ts.length,
    failed: ts.filter((t) => t.failures.length > 0).length,
    splitBrainSamples: ts.reduce((a, t) => a + t.splitBrainSamples, 0),
    kept: ts.filter((t) => t.kept).length,
    takeoverMs: percentiles(takeovers),
    orphans: ts.reduce((a, t) => a + t.orphans, 0),
    boundMs: FAULTS[f].boundMs,
  };
}
const failed = trials.filter((t) => t.failures.length > 0);
const summary = {
  seed: SEED, ttlMs: TTL, retryMs: RETRY, trials: trials.length, failed: failed.length,
  splitBrainMs: Math.round(sampler.overlapMs), samples: sampler.samples, durationS: Math.round((nowMs() - t0) / 1000), byFault, failures: failed,
};
const lines = [
  `fault campaign: seed ${SEED}, ${trials.length} trials, ttl ${TTL} ms, ${sampler.samples} samples at 5 ms, ${summary.durationS} s`,
  '',
  '| fault | trials | failed | split-brain samples | leader kept | takeover p50 ms | p99 ms | bound ms | orphans |',
  '|---|---|---|---|---|---|---|---|---|',
  ...Object.entries(byFault).map(([f, s]) => `| ${f} | ${s.trials} | ${s.failed} | ${s.splitBrainSamples} | ${s.kept} | ${s.takeoverMs.p50 ?? '-'} | ${s.takeoverMs.p99 ?? '-'} | ${s.boundMs} | ${s.orphans} |`),
  '',
  `split-brain total: ${summary.splitBrainMs} ms; failed trials: ${failed.length}`,
];
console.log(lines.join('\n'));
mkdirSync(opts.out, { recursive: true });
writeFileSync(path.join(opts.out, 'chaos.json'), JSON.stringify(summary, null, 2));
writeFileSync(path.join(opts.out, 'chaos.md'), lines.join('\n') + '\n');
for (const f of failed) console.error(`FAILED trial ${f.trial} (${f.fault}): ${f.failures.join('; ')}`);
process.exit(failed.length > 0 || trials.length < TRIALS ? 1 : 0);
