#!/usr/bin/env node
// `npm run bench`: takeover times and the idle cost of a candidate, measured
// on real processes and a real redis-server. Timed here, never in tests.
//
// Takeover is measured by one subscriber on the events channel: from the
// `released` / `stepped-down` event (or the SIGKILL, for a hard crash) to the
// next `acquired` event, so both ends are read on the same clock.
//
//   node scripts/bench.mjs [--runs 30] [--ttl-ms 1500] [--out bench-results]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    'ttl-ms': { type: 'string', default: '1500' },
    out: { type: 'string', default: 'bench-results' },
    'idle-seconds': { type: 'string', default: '10' },
  },
});
const RUNS = Number(opts.runs);
const TTL = Number(opts['ttl-ms']);
const RETRY = Math.round(TTL / 6);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin/ray-head-ha.js');
const standIn = path.join(root, 'test/fixtures/stand-in-head.mjs');
const work = mkdtempSync(path.join(tmpdir(), 'rhha-bench-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const redisPort = await freePort();
const redisProc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });
await sleep(300);
const sub = new Redis({ port: redisPort });
const events = [];
const waiters = [];
let ns = 'bench-0';
sub.on('message', (_ch, msg) => {
  const e = { ...JSON.parse(msg), atMs: nowMs() };
  events.push(e);
  for (const w of waiters.splice(0)) w();
});

function candidate(id, gcsPort) {
  const proc = spawn(
    process.execPath,
    [cli, 'run', '--id', id, '--namespace', ns, '--ttl-ms', String(TTL), '--retry-ms', String(RETRY),
      '--gcs-address', `127.0.0.1:${gcsPort}`, '--', process.execPath, standIn, String(gcsPort)],
    { env: { ...process.env, RAY_REDIS_ADDRESS: `127.0.0.1:${redisPort}`, RAY_HA_LOG_LEVEL: 'warn' }, stdio: 'ignore' },
  );
  const exited = new Promise((r) => proc.once('exit', r));
  return { id, proc, exited };
}

async function nextEvent(match, timeoutMs) {
  const end = nowMs() + timeoutMs;
  for (;;) {
    const hit = events.find(match);
    if (hit) return hit;
    if (nowMs() > end) throw new Error(`no matching event within ${timeoutMs} ms`);
    await Promise.race([new Promise((r) => waiters.push(r)), sleep(50)]);
  }
}

/** The stand-in head of a candidate: found by its argv and the RAY_HA_CANDIDATE_ID it was given. */
function headPidOf(c) {
  for (const pid of readdirSync('/proc').filter((f) => /^\d+$/.test(f))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmd.includes('stand-in-head.mjs') && env.includes(`RAY_HA_CANDIDATE_ID=${c.id}\0`)) return Number(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  throw new Error(`no head found for ${c.id}`);
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { n: s.length, p50: +q(0.5).toFixed(1), p99: +q(0.99).toFixed(1), max: +s[s.length - 1].toFixed(1) };
};

async function scenario(name, fail) {
  ns = `bench-${name}`;
  await sub.subscribe(`ray-head-ha:{${ns}}:events`);
  events.length = 0;
  const gcsPort = await freePort();
  let serial = 0;
  const cs = [candidate(`${name}-${serial++}`, gcsPort), candidate(`${name}-${serial++}`, gcsPort)];
  const samples = [];
  let leaderEvent = await nextEvent((e) => e.type === 'acquired', 10_000);
  for (let run = 0; run < RUNS; run++) {
    const leader = cs.find((c) => c.id === leaderEvent.id);
    // Let the head come up before breaking it.
    await sleep(RETRY);
    const fromMs = await fail(leader);
    const acquired = await nextEvent((e) => e.type === 'acquired' && e.epoch > leaderEvent.epoch, TTL * 4);
    const start = fromMs ?? (await nextEvent((e) => (e.type === 'released' || e.type === 'stepped-down') && e.epoch === leaderEvent.epoch, TTL * 4)).atMs;
    samples.push(acquired.atMs - start);
    leaderEvent = acquired;
    await leader.exited;
    cs.splice(cs.indexOf(leader), 1, candidate(`${name}-${serial++}`, gcsPort));
    process.stdout.write('.');
  }
  for (const c of cs) c.proc.kill('SIGTERM');
  await Promise.all(cs.map((c) => c.exited));
  await sub.unsubscribe(`ray-head-ha:{${ns}}:events`);
  process.stdout.write('\n');
  return stats(samples);
}

function cpuAndRss(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  return { ticks, rssKb };
}

async function idle(role) {
  ns = `bench-idle-${role}`;
  const gcsPort = await freePort();
  const cs = [candidate(`idle-${role}-a`, gcsPort)];
  await sleep(1000);
  if (role === 'standby') cs.push(candidate(`idle-${role}-b`, gcsPort));
  await sleep(2000);
  const target = cs[cs.length - 1];
  const seconds = Number(opts['idle-seconds']);
  const a = cpuAndRss(target.proc.pid);
  await sleep(seconds * 1000);
  const b = cpuAndRss(target.proc.pid);
  for (const c of cs) c.proc.kill('SIGTERM');
  await Promise.all(cs.map((c) => c.exited));
  return { cpuPercent: +(((b.ticks - a.ticks) / 100 / seconds) * 100).toFixed(2), rssMiB: +(b.rssKb / 1024).toFixed(1) };
}

const results = { ttlMs: TTL, retryMs: RETRY, runs: RUNS, takeoverMs: {}, idle: {} };
try {
  console.log(`bench: ${RUNS} runs per scenario, ttl ${TTL} ms, retry ${RETRY} ms`);
  results.takeoverMs.graceful = await scenario('graceful', async (leader) => {
    leader.proc.kill('SIGTERM');
    return null;
  });
  results.takeoverMs.headCrash = await scenario('head-crash', async (leader) => {
    process.kill(headPidOf(leader), 'SIGKILL');
    return null;
  });
  results.takeoverMs.hardCrash = await scenario('hard-crash', async (leader) => {
    const t = nowMs();
    leader.proc.kill('SIGKILL');
    return t;
  });
  results.idle.standby = await idle('standby');
  results.idle.leader = await idle('leader');
} finally {
  sub.disconnect();
  redisProc.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}

const t = results.takeoverMs;
const md = [
  `# ray-head-ha bench (${new Date().toISOString()})`,
  '',
  `ttl ${TTL} ms, retry ${RETRY} ms, ${RUNS} runs per scenario, one redis-server on loopback.`,
  '',
  '| takeover | from | p50 ms | p99 ms | max ms | target |',
  '|---|---|---|---|---|---|',
  `| graceful stop | release event | ${t.graceful.p50} | ${t.graceful.p99} | ${t.graceful.max} | p99 < 100 |`,
  `| head crash | release event | ${t.headCrash.p50} | ${t.headCrash.p99} | ${t.headCrash.max} | p99 < 100 |`,
  `| hard crash (SIGKILL) | the kill | ${t.hardCrash.p50} | ${t.hardCrash.p99} | ${t.hardCrash.max} | p99 < ttl + 100 = ${TTL + 100} |`,
  '',
  '| idle candidate | CPU % | RSS MiB |',
  '|---|---|---|',
  `| standby | ${results.idle.standby.cpuPercent} | ${results.idle.standby.rssMiB} |`,
  `| leader (orchestrator only) | ${results.idle.leader.cpuPercent} | ${results.idle.leader.rssMiB} |`,
  '',
].join('\n');
mkdirSync(opts.out, { recursive: true });
writeFileSync(path.join(opts.out, 'bench.json'), JSON.stringify(results, null, 2));
writeFileSync(path.join(opts.out, 'bench.md'), md);
console.log(md);
