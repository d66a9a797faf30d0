#!/usr/bin/env node
// `npm run scale`: many electors on one Redis. N namespaces with 3 candidates
// each, spread over a few processes; over a measurement window it counts
// spurious failovers (any term lost or won while nothing failed: must be 0),
// renew latency percentiles and Redis CPU.
//
//   node scripts/scale.mjs [--electors 10000] [--processes 4] [--seconds 60] [--ttl-ms 15000] [--retry-ms 2000]
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ROOT, percentiles, sleep, startRedis } from './lib/harness.mjs';

const { values: opts } = parseArgs({
  options: {
    electors: { type: 'string', default: '10000' },
    processes: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '60' },
    'ttl-ms': { type: 'string', default: '15000' },
    'retry-ms': { type: 'string', default: '2000' },
    out: { type: 'string', default: 'bench-results' },
  },
});
const ELECTORS = Number(opts.electors);
const PROCS = Number(opts.processes);
const SECONDS = Number(opts.seconds);
const TTL = Number(opts['ttl-ms']);
const RETRY = Number(opts['retry-ms']);
const nsCount = Math.ceil(ELECTORS / 3);

const redis = await startRedis();
const admin = new Redis({ port: redis.port });
const cpu = async () => {
  const info = await admin.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)[1]);
};

console.log(`scale: ${ELECTORS} electors (${nsCount} namespaces x 3) in ${PROCS} processes, ttl ${TTL} ms, retry ${RETRY} ms, ${SECONDS} s window`);
const workers = [];
for (let p = 0; p < PROCS; p++) {
  // Namespaces are dealt round-robin, so the 3 candidates of a namespace live in one process:
  // the worst case for spurious failovers is a slow process, not a slow network.
  const mine = [];
  for (let n = p; n < nsCount; n += PROCS) mine.push(`scale-${n}`);
  const w = fork(path.join(ROOT, 'scripts/lib/scale-worker.mjs'), [], {
    env: { ...process.env, SCALE_REDIS: redis.address, SCALE_NAMESPACES: mine.join(','), SCALE_PER_NS: '3', SCALE_TTL_MS: String(TTL), SCALE_RETRY_MS: String(RETRY), SCALE_PREFIX: `p${p}` },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  workers.push(w);
  await new Promise((r) => w.once('message', r));
}
// Let every namespace elect its first leader.
const warmupMs = RETRY * 3 + 2_000;
await sleep(warmupMs);
const leaders = (await admin.keys('ray-head-ha:{scale-*}:lease')).length;
console.log(`after ${warmupMs} ms: ${leaders} of ${nsCount} namespaces have a leader`);

for (const w of workers) w.send('measure');
const cpuBefore = await cpu();
await sleep(SECONDS * 1000);
const redisCpuPercent = ((await cpu()) - cpuBefore) / SECONDS * 100;
const opsPerSec = Number(/instantaneous_ops_per_sec:(\d+)/.exec(await admin.info('stats'))[1]);
const reports = await Promise.all(workers.map((w) => new Promise((r) => { w.once('message', r); w.send('report'); })));
for (const w of workers) w.send('stop');
await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
admin.disconnect();
await redis.close();

const renewMs = reports.flatMap((r) => r.renewMs);
const result = {
  electors: reports.reduce((a, r) => a + r.electors, 0),
  namespaces: nsCount,
  processes: PROCS,
  ttlMs: TTL,
  retryMs: RETRY,
  windowSeconds: SECONDS,
  leadersAfterWarmup: leaders,
  spuriousFailovers: reports.reduce((a, r) => a + r.lost.length + r.acquired.length, 0),
  lost: reports.flatMap((r) => r.lost).slice(0, 20),
  renewMs: percentiles(renewMs),
  redisCpuPercent: +redisCpuPercent.toFixed(1),
  redisOpsPerSec: opsPerSec,
};
const md = [
  `# ray-head-ha scale (${new Date().toISOString()})`,
  '',
  `| electors | namespaces | processes | ttl / retry ms | leaders after warm-up | spurious failovers in ${SECONDS} s | renew p50 / p99 / max ms | Redis CPU % | Redis ops/s (incl. calls inside scripts) |`,
  '|---|---|---|---|---|---|---|---|---|',
  `| ${result.electors} | ${nsCount} | ${PROCS} | ${TTL} / ${RETRY} | ${leaders} | ${result.spuriousFailovers} | ${result.renewMs.p50} / ${result.renewMs.p99} / ${result.renewMs.max} | ${result.redisCpuPercent} | ${opsPerSec} |`,
  '',
].join('\n');
mkdirSync(opts.out, { recursive: true });
writeFileSync(path.join(opts.out, 'scale.json'), JSON.stringify(result, null, 2));
writeFileSync(path.join(opts.out, 'scale.md'), md);
console.log(md);
process.exit(result.spuriousFailovers === 0 && leaders === nsCount ? 0 : 1);
