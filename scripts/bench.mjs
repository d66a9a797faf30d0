#!/usr/bin/env node
// `npm run bench`: takeover-time distributions for ray-head-ha and, in the
// same run and with the same ttl, for a baseline elector that behaves like
// the polling selector in Ray's HA fork (scripts/lib/baseline-candidate.mjs);
// plus the idle CPU, RSS and Redis commands per second of one candidate.
// Timed here, never in tests. Writes bench.json, bench.md and bench.svg.
//
// Takeover = from the fault to the next SET of the lease key, both seen by
// one keyspace-notification subscriber on one clock. For ray-head-ha also
// from the release (the DEL of the lease) to that SET: the "within 100 ms of
// the release" target. Each candidate serves its stand-in GCS on its own
// port, so a baseline leader that keeps its head shows up as split-brain.
//
//   node scripts/bench.mjs [--runs 50] [--ttl-ms 1500] [--out bench-results]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { CLI, HeadSampler, ROOT, STAND_IN, freePort, nowMs, percentiles, sleep, startProxy, startRedis } from './lib/harness.mjs';
import { barChartSvg } from './lib/svg-chart.mjs';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '50' },
    'ttl-ms': { type: 'string', default: '1500' },
    out: { type: 'string', default: 'bench-results' },
    'idle-seconds': { type: 'string', default: '10' },
    scenarios: { type: 'string' },
  },
});
const RUNS = Number(opts.runs);
const TTL = Number(opts['ttl-ms']);
const RETRY = Math.round(TTL / 6);
const BASELINE = path.join(ROOT, 'scripts/lib/baseline-candidate.mjs');

const redis = await startRedis();
const admin = new Redis({ port: redis.port });
await admin.config('SET', 'notify-keyspace-events', 'KA');
const sampler = new HeadSampler();
sampler.start(5);
const keyEvents = [];
const sub = new Redis({ port: redis.port });
// Only takeovers (set) and releases (del) matter; renews (expire) would only grow the list.
sub.on('pmessage', (_p, channel, op) => {
  if (op === 'set' || op === 'del') keyEvents.push({ key: channel.slice(channel.indexOf(':') + 1), op, atMs: nowMs() });
});
await sub.psubscribe('__keyspace@0__:*');

let serial = 0;
/** Every candidate ever started, so a failed run leaves none behind. */
const everyCandidate = [];
async function candidate(kind, ns) {
  const id = `${kind}-${serial++}`;
  const proxy = await startProxy(redis.port);
  const gcsPort = await freePort();
  const head = [process.execPath, STAND_IN, String(gcsPort), sampler.dir];
  const env = { ...process.env, RAY_HA_LOG_LEVEL: 'warn' };
  const proc =
    kind === 'ours'
      ? spawn(process.execPath, [CLI, 'run', '--id', id, '--namespace', ns, '--ttl-ms', String(TTL), '--retry-ms', String(RETRY),
          '--gcs-address', `127.0.0.1:${gcsPort}`, '--redis', proxy.address, '--', ...head], { env, stdio: 'ignore' })
      : spawn(process.execPath, [BASELINE, id, String(proxy.port), leaseKey(ns), String(TTL), String(RETRY), '--', ...head], { env, stdio: 'ignore' });
  const c = { id, kind, proc, proxy, exited: new Promise((r) => proc.once('exit', r)) };
  everyCandidate.push(c);
  return c;
}
function killGroup(pgid) {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
const leaseKey = (ns) => `ray-head-ha:{${ns}}:lease`;

async function nextKeyEvent(key, ops, afterMs, timeoutMs) {
  const end = nowMs() + timeoutMs;
  for (;;) {
    const e = keyEvents.find((k) => k.key === key && ops.includes(k.op) && k.atMs >= afterMs);
    if (e) return e;
    if (nowMs() > end) return null;
    await sleep(2);
  }
}
async function holderOf(ns) {
  const v = await admin.get(leaseKey(ns));
  return v ? v.split('#')[0] : null;
}
async function liveHeadOf(id, timeoutMs) {
  const end = nowMs() + timeoutMs;
  while (nowMs() < end) {
    const h = sampler.alive().find((r) => r.candidate === id);
    if (h) return h;
    await sleep(5);
  }
  return null;
}

// Each fault returns the time it began; `heal` undoes it after the takeover.
const FAULTS = {
  graceful: { run: (l) => l.proc.kill('SIGTERM') },
  'head-crash': { run: (l) => process.kill(l.head.pid, 'SIGKILL') },
  // A pod dies: the candidate and everything in it.
  'hard-crash': {
    run: (l) => {
      l.proc.kill('SIGKILL');
      if (l.kind === 'baseline') killGroup(l.head.pid);
    },
  },
  partition: { run: (l) => l.proxy.blackhole(true), heal: (l) => { l.proxy.blackhole(false); l.proxy.reset(); } },
  frozen: { run: (l) => l.proc.kill('SIGSTOP'), heal: (l) => l.proc.kill('SIGCONT') },
};

async function scenario(kind, fault) {
  const ns = `bench-${kind}-${fault}`;
  const key = leaseKey(ns);
  const cs = [await candidate(kind, ns), await candidate(kind, ns)];
  const fromFault = [];
  const fromRelease = [];
  let splitBrainSamples = 0;
  for (let run = 0; run < RUNS; run++) {
    // A leader with a live head.
    let leader = null;
    const end = nowMs() + TTL * 6;
    while (!leader && nowMs() < end) {
      const id = await holderOf(ns);
      const c = cs.find((x) => x.id === id);
      const head = c && (await liveHeadOf(c.id, 50));
      if (head) leader = Object.assign(c, { head });
      else await sleep(10);
    }
    if (!leader) throw new Error(`${kind}/${fault}: no leader with a head`);
    await sleep(RETRY * 1.5);
    const overlapsBefore = sampler.overlaps.length;
    const t0 = nowMs();
    FAULTS[fault].run(leader);
    const acquired = await nextKeyEvent(key, ['set'], t0, TTL * 6);
    if (!acquired) throw new Error(`${kind}/${fault}: no takeover within ${TTL * 6} ms`);
    fromFault.push(acquired.atMs - t0);
    const released = keyEvents.find((k) => k.key === key && k.op === 'del' && k.atMs >= t0 && k.atMs <= acquired.atMs);
    if (released) fromRelease.push(acquired.atMs - released.atMs);
    // Let the old head's fate show (a baseline leader may keep it), then heal.
    await sleep(RETRY * 2);
    FAULTS[fault].heal?.(leader);
    splitBrainSamples += sampler.overlaps.length - overlapsBefore;
    // Replace the old leader by a fresh candidate: its pod goes away whole
    // (the baseline has no keeper to take its head along).
    leader.proc.kill('SIGKILL');
    await leader.exited;
    killGroup(leader.head.pid);
    leader.proxy.close();
    cs.splice(cs.indexOf(leader), 1, await candidate(kind, ns));
    await sleep(RETRY * 2);
    process.stdout.write('.');
  }
  for (const c of cs) {
    c.proc.kill('SIGTERM');
    await Promise.race([c.exited, sleep(TTL)]);
    c.proc.kill('SIGKILL');
    c.proxy.close();
  }
  process.stdout.write(` ${kind} ${fault}\n`);
  return { fromFault: percentiles(fromFault), fromRelease: percentiles(fromRelease), splitBrainSamples };
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** Commands our candidates send: each lease operation is one EVALSHA (or EVAL); the calls inside a script are not round trips. */
async function redisCommands() {
  const info = await admin.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)) total += Number(m[2]);
  return total;
}

async function idle() {
  const ns = 'bench-idle';
  const leader = await candidate('ours', ns);
  await sleep(1500);
  const standbys = [await candidate('ours', ns), await candidate('ours', ns)];
  await sleep(2000);
  const seconds = Number(opts['idle-seconds']);
  const pids = [leader.proc.pid, standbys[0].proc.pid];
  const before = pids.map(cpuTicks);
  const cmdsBefore = await redisCommands();
  await sleep(seconds * 1000);
  const cmds = (await redisCommands()) - cmdsBefore;
  const cpu = pids.map((p, i) => ((cpuTicks(p) - before[i]) / 100 / seconds) * 100);
  const result = {
    leader: { cpuPercent: +cpu[0].toFixed(2), rssMiB: +rssMiB(pids[0]).toFixed(1) },
    standby: { cpuPercent: +cpu[1].toFixed(2), rssMiB: +rssMiB(pids[1]).toFixed(1) },
    redisCommandsPerCandidatePerSecond: +(cmds / 3 / seconds).toFixed(2),
  };
  for (const c of [leader, ...standbys]) {
    c.proc.kill('SIGTERM');
    await c.exited;
    c.proxy.close();
  }
  return result;
}

const scenarios = opts.scenarios ? opts.scenarios.split(',') : Object.keys(FAULTS);
const results = { date: new Date().toISOString(), ttlMs: TTL, retryMs: RETRY, runs: RUNS, takeover: {}, idle: null };
try {
  console.log(`bench: ${RUNS} runs per scenario, ttl ${TTL} ms, retry ${RETRY} ms`);
  for (const fault of scenarios) {
    results.takeover[fault] = { ours: await scenario('ours', fault), baseline: await scenario('baseline', fault) };
  }
  results.idle = await idle();
} finally {
  for (const c of everyCandidate) {
    c.proc.kill('SIGCONT');
    c.proc.kill('SIGKILL');
    c.proxy.close();
  }
  sub.disconnect();
  admin.disconnect();
  sampler.close();
  await redis.close();
}

const md = [
  `# ray-head-ha bench (${results.date})`,
  '',
  `ttl ${TTL} ms, retry ${RETRY} ms, ${RUNS} runs per scenario, one redis-server on loopback, 2 candidates per scenario.`,
  'Takeover: from the fault to the next SET of the lease key (ms). Baseline: SET NX PX, GET then PEXPIRE, poll every retry, no release.',
  '',
  '| scenario | ours p50 | ours p99 | ours max | baseline p50 | baseline p99 | p50 ratio | ours from release p50/p99 | split-brain samples ours / baseline |',
  '|---|---|---|---|---|---|---|---|---|',
  ...Object.entries(results.takeover).map(([f, { ours, baseline }]) => {
    const ratio = ours.fromFault.p50 > 0 ? (baseline.fromFault.p50 / ours.fromFault.p50).toFixed(1) : '-';
    const rel = ours.fromRelease.n ? `${ours.fromRelease.p50} / ${ours.fromRelease.p99}` : '-';
    return `| ${f} | ${ours.fromFault.p50} | ${ours.fromFault.p99} | ${ours.fromFault.max} | ${baseline.fromFault.p50} | ${baseline.fromFault.p99} | ${ratio}x | ${rel} | ${ours.splitBrainSamples} / ${baseline.splitBrainSamples} |`;
  }),
  '',
  '| idle candidate | CPU % | RSS MiB |',
  '|---|---|---|',
  `| leader | ${results.idle.leader.cpuPercent} | ${results.idle.leader.rssMiB} |`,
  `| standby | ${results.idle.standby.cpuPercent} | ${results.idle.standby.rssMiB} |`,
  '',
  `Redis commands (script calls) per candidate per second, idle, 3 candidates: ${results.idle.redisCommandsPerCandidatePerSecond} (one per retry period: ${(1000 / RETRY).toFixed(1)}/s)`,
  '',
].join('\n');
mkdirSync(opts.out, { recursive: true });
writeFileSync(path.join(opts.out, 'bench.json'), JSON.stringify(results, null, 2));
writeFileSync(path.join(opts.out, 'bench.md'), md);
writeFileSync(
  path.join(opts.out, 'bench.svg'),
  barChartSvg({
    title: `Takeover p50 / p99 (ms), ttl ${TTL} ms`,
    groups: Object.entries(results.takeover).map(([f, r]) => ({
      label: f,
      bars: [
        { label: 'ours p50', value: r.ours.fromFault.p50, color: '#2b8a3e' },
        { label: 'ours p99', value: r.ours.fromFault.p99, color: '#69db7c' },
        { label: 'baseline p50', value: r.baseline.fromFault.p50, color: '#c92a2a' },
        { label: 'baseline p99', value: r.baseline.fromFault.p99, color: '#ff8787' },
      ],
    })),
  }),
);
console.log(md);
