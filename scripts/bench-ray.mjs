#!/usr/bin/env node
// `npm run bench:ray`: head failover on real Ray across hosts (the lab,
// scripts/lab/), timed, with stock Ray side by side in the same lab and run.
//
// The lab: Redis, a balancer (HAProxy on /readyz), two head candidates on
// hosts of their own, a worker host with a detached actor. Drivers run on
// the worker host and reach the head only through the balancer.
//
// HA fault kinds, against the leader:
//   pod-kill     SIGKILL every process on its host, link kept (a pod killed)
//   orchestrator-kill  SIGKILL of `ray-head-ha run` alone (an OOM kill): its keeper
//                reaps the head and releases the lease (docs/design.md, decision 29)
//   graceful     SIGTERM to its `ray start` (the kubelet's stop)
//   head-crash   SIGKILL of the head's gcs_server (the orchestrator sees its head die)
//   partition    iptables drops everything on its host; healed and restarted after
//   host-death   link cut, then every process killed; revived and restarted after
// Stock: one plain head (the same GCS fault tolerance in Redis) on c1, behind
// the same balancer with a TCP readiness check (what a Service gives a stock
// head); SIGKILL of every process on its host and the same `ray start --head`
// at once on the same host (a restart that takes no time).
//
// Clocks per run, from the fault: gcsUp (a candidate's GCS port accepts again,
// polled every 20 ms), oldHeadGone (from gcsUp, not the fault: until that
// GCS's node table holds no head that was ALIVE before the fault, read every
// 100 ms from the worker host; stock Ray marks it once the new head's raylet
// registers, an HA head at once: decision 38), workerBack (the worker's raylet logs it re-fetched the
// job table from the new GCS), actor (a fresh driver, Ray imported before the
// fault, gets the actor and calls it), and the longest gap and failed calls of
// a driver that stayed connected and calls the actor every 50 ms.
//
//   node scripts/bench-ray.mjs [--runs 5] [--ttl-ms 15000] [--retry-ms 2000]
//        [--kinds pod-kill,graceful,...,stock] [--warm-standby true|false]
//        [--ray-env NAME=value,...] [--out bench-results] [--keep]
//
// --warm-standby false: every HA head starts cold (RAY_HA_WARM_STANDBY=false),
// the state before decision 32, to measure what the warm standby moves.
// --ray-env: Ray's own settings (RAY_<setting>) for every Ray process in the
// lab, HA heads, stock heads, the worker and the drivers alike, to measure
// what they move (README, "Reconnecting sooner").
//
// Needs root, dist/ (npm run build:ts), .venv with ray (scripts/setup.sh --ray), haproxy, iptables.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PORTS, ROOT, startRayLab, VENV_BIN, waitFor } from './lab/ray-lab.mjs';
import { median } from './lib/harness.mjs';
import { spawnSync } from 'node:child_process';

const HA_KINDS = ['pod-kill', 'orchestrator-kill', 'graceful', 'head-crash', 'partition', 'host-death'];
const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'ttl-ms': { type: 'string', default: '15000' },
    'retry-ms': { type: 'string', default: '2000' },
    kinds: { type: 'string', default: [...HA_KINDS, 'stock'].join(',') },
    out: { type: 'string', default: 'bench-results' },
    keep: { type: 'boolean', default: false },
    'warm-standby': { type: 'string', default: 'true' },
    'ray-env': { type: 'string', default: '' },
  },
});
const RAY_ENV = Object.fromEntries(opts['ray-env'].split(',').filter(Boolean).map((kv) => {
  const m = /^(RAY_[A-Za-z0-9_]+)=(.*)$/.exec(kv);
  if (!m) throw new Error(`bench-ray: --ray-env takes RAY_<setting>=value,...; got ${kv}`);
  return [m[1], m[2]];
}));
const WARM = opts['warm-standby'];
if (!['true', 'false'].includes(WARM)) throw new Error('bench-ray: --warm-standby must be true or false');
const RUNS = Number(opts.runs);
const TTL_MS = Number(opts['ttl-ms']);
const RETRY_MS = Number(opts['retry-ms']);
const KINDS = opts.kinds.split(',');
const OUT = path.resolve(ROOT, opts.out);
for (const k of KINDS) if (![...HA_KINDS, 'stock'].includes(k)) throw new Error(`bench-ray: unknown kind ${k}`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => console.log(`[bench-ray ${new Date().toISOString().slice(11, 23)}] ${msg}`);
const sec = (ms) => (ms === null || ms === undefined ? null : Math.round(ms) / 1000);
const RESYNC = 'Finished fetching all job information from gcs server after gcs server or pub-sub server is restarted';
const RAY_TIME = /^\[?(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3})/;

/** Epoch-ms of the first line of a Ray log containing needle, at or after sinceMs (Ray logs local time). */
function rayLogTime(file, needle, sinceMs) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    if (!line.includes(needle)) continue;
    const m = RAY_TIME.exec(line);
    if (!m) continue;
    const at = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]).getTime();
    if (at >= sinceMs) return at;
  }
  return null;
}

const L = await startRayLab({ candidates: 2, ttlMs: TTL_MS, retryMs: RETRY_MS, keepWork: opts.keep, env: { RAY_HA_WARM_STANDBY: WARM }, rayEnv: RAY_ENV });
const cleanup = () => {
  for (const t of tables.values()) t.stop();
  L.close();
};
process.on('exit', cleanup);

/** First time any candidate's GCS port accepts after t0 (polled every 20 ms): {at, host}. */
function watchGcsUp(hosts) {
  let stopped = false;
  const up = (async () => {
    while (!stopped) {
      for (const h of hosts) if (await L.gcsListeningOn(h)) return { at: Date.now(), host: h };
      await sleep(20);
    }
    return null;
  })();
  return { up, stop: () => (stopped = true) };
}

async function workerBack(t0) {
  const file = path.join(L.pods.get('w1').tempDir, 'session_latest', 'logs', 'raylet.out');
  const end = Date.now() + 10_000;
  for (;;) {
    const at = rayLogTime(file, RESYNC, t0);
    if (at !== null || Date.now() > end) return at;
    await sleep(100);
  }
}

const holder = async () => (await L.leaseHolder())?.id ?? null;

/** One node-table watcher per candidate, on its own GCS address (node-table.py on the worker host). */
const tables = new Map();
async function watchTables(hosts) {
  for (const t of tables.values()) t.stop();
  tables.clear();
  for (const h of hosts) tables.set(h, await L.nodeTable({ address: `${L.host(h).address}:${PORTS.gcs}` }));
}
/** The ALIVE head node IDs in any candidate's table now. */
function aliveHeads() {
  const ids = new Set();
  for (const t of tables.values()) for (const n of t.latest() ?? []) if (n.head && n.state === 'ALIVE') ids.add(n.id);
  return ids;
}
/** When `host`'s GCS first held none of `ids` ALIVE, at or after sinceMs (waits up to 30 s; null when never). */
async function headsGoneAt(host, ids, sinceMs) {
  const gone = (c) => c.at >= sinceMs && c.nodes && !c.nodes.some((n) => ids.has(n.id) && n.state === 'ALIVE');
  const c = await waitFor(`${host}'s GCS to hold no head of before the fault ALIVE`, () => tables.get(host)?.changes.find(gone), 30_000, 100).catch(() => null);
  return c?.at ?? null;
}

/** The part every kind shares: a connected driver and a fresh one ready, the fault, the clocks. */
async function measure(kind, fault, candidates) {
  const watcher = await L.readyProbe('watch', { deadlineS: 3600 });
  const fresh = await L.readyProbe('incr', { deadlineS: 180 });
  await sleep(500);
  // (A table read can time out on a loaded machine: its latest entry is then an error.)
  const before = await waitFor('one ALIVE head in the node tables before the fault', () => {
    const ids = aliveHeads();
    return ids.size === 1 ? ids : null;
  }, 30_000, 100).catch((e) => {
    const seen = [...tables].map(([h, t]) => `${h}: ${JSON.stringify(t.changes.slice(-2))}`).join('\n');
    throw new Error(`bench-ray: ${e.message}; the tables' last changes:\n${seen}`);
  });
  const t0 = Date.now();
  await fault();
  // The fault is over when no candidate's GCS accepts: only then can "up again" be seen.
  await waitFor('the old GCS to stop answering', async () => {
    for (const h of candidates) if (await L.gcsListeningOn(h)) return false;
    return true;
  }, TTL_MS + 30_000, 10);
  const downAt = Date.now();
  const gcs = watchGcsUp(candidates);
  fresh.go();
  const r = await fresh.next();
  const up = await Promise.race([gcs.up, sleep(10_000).then(() => null)]);
  gcs.stop();
  const gcsUp = up?.at ?? null;
  // A table read that saw the new GCS may start up to 100 ms before the port check did.
  const gone = up && (await headsGoneAt(up.host, before, up.at - 100));
  await sleep(1000);
  watcher.stop();
  const w = await watcher.next();
  const back = await workerBack(t0);
  return {
    kind,
    ok: typeof r.value === 'number',
    error: r.error ?? (typeof r.value === 'number' ? undefined : r.lastError),
    value: r.value ?? null,
    gcsDown: sec(downAt - t0),
    gcsUp: sec(gcsUp && gcsUp - t0),
    oldHeadGone: sec(gone && Math.max(0, gone - gcsUp)),
    workerBack: sec(back && back - t0),
    actor: sec(r.answerAt && r.answerAt - t0),
    connectedGap: sec(w.longestGapMs),
    connectedFailed: w.failed ?? null,
    backwards: (w.backwards ?? []).length,
    connectedError: w.error,
  };
}

// ---------- HA ----------

async function haSetup() {
  const t0 = Date.now();
  await L.startCandidate('c1');
  await waitFor('c1 to lead', async () => (await holder()) === 'c1', 60_000, 50);
  await waitFor('the GCS of c1', () => L.gcsListeningOn('c1'), 90_000, 100);
  log(`HA: c1 leads, GCS up ${sec(Date.now() - t0)} s after start`);
  await L.startCandidate('c2');
  await L.waitStandby('c2');
  await L.startWorker();
  await L.createActor();
  await watchTables(L.candidates);
  log('HA: worker joined through the balancer, detached actor created');
}

async function haRun(kind) {
  const leader = await holder();
  const other = L.candidates.find((c) => c !== leader);
  const faults = {
    'pod-kill': () => L.podKill(leader),
    'orchestrator-kill': () => {
      if (!L.orchestratorKill(leader)) throw new Error(`no ray-head-ha run on ${leader}`);
    },
    graceful: () => L.gracefulStop(leader),
    'head-crash': () => {
      if (!L.headCrash(leader)) throw new Error(`no gcs_server on ${leader}`);
    },
    partition: () => L.partition(leader),
    'host-death': () => L.hostDeath(leader),
  };
  const row = await measure(kind, faults[kind], L.candidates);
  row.from = leader;
  row.to = await holder();
  // Back to two candidates: the old one restarted as the kubelet would, a standby again.
  if (kind === 'partition') L.heal(leader);
  if (kind === 'host-death') L.revive(leader);
  await L.restartCandidate(leader);
  await L.waitStandby(leader);
  await waitFor(`the balancer on ${other}`, async () => (await L.balancerUp()).join() === other, 30_000, 50);
  await sleep(RETRY_MS);
  return row;
}

// ---------- stock ----------

async function stockSetup() {
  for (const c of L.candidates) L.podKill(c);
  L.podKill('w1');
  await L.startTcpReadiness('c1');
  await L.startStockHead('c1');
  await waitFor('the stock GCS', () => L.gcsListeningOn('c1'), 90_000, 100);
  await L.startWorker();
  await L.createActor();
  await watchTables(['c1']);
  log('stock: plain head on c1, worker joined through the balancer, detached actor created');
}

async function stockRun() {
  const row = await measure('stock', async () => {
    L.podKill('c1');
    // "By hand", at once: the readiness stand-in and the same `ray start --head` on the same host.
    await L.startTcpReadiness('c1');
    await L.startStockHead('c1');
  }, ['c1']);
  await sleep(RETRY_MS);
  return row;
}

// ---------- report ----------

const CLOCKS = ['gcsUp', 'oldHeadGone', 'workerBack', 'actor', 'connectedGap'];

function markdown(result) {
  const lines = [
    '# bench-ray: head failover on real Ray across hosts (the lab)',
    '',
    `Ray ${result.ray}, ${result.runs} runs per kind, ttl ${TTL_MS} ms, retry ${RETRY_MS} ms, warm standby ${WARM}, ` +
      `Ray settings ${Object.keys(RAY_ENV).length ? Object.entries(RAY_ENV).map(([k, v]) => `${k}=${v}`).join(' ') : 'Ray\'s defaults'}, ${result.machine.cpus} CPUs ` +
      `(load ${result.machine.loadBefore.join(' ')} before), ${result.date}.`,
    'Seconds from the fault. Drivers on the worker host reach the head through HAProxy only.',
    '',
    '| kind | runs ok | gcsUp | oldHeadGone (from gcsUp) | workerBack | actor (new driver) | connected driver: longest gap / failed calls | actor vs stock | oldHeadGone vs stock |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const stock = result.rows.filter((r) => r.kind === 'stock');
  const stockActor = median(stock.map((r) => r.actor));
  const stockGone = median(stock.map((r) => r.oldHeadGone));
  const vs = (x, base) => (base && x !== null && x !== undefined ? `${(x / base).toFixed(2)}×` : '-');
  for (const kind of KINDS) {
    const rows = result.rows.filter((r) => r.kind === kind);
    if (!rows.length) continue;
    const m = Object.fromEntries(CLOCKS.map((c) => [c, median(rows.map((r) => r[c]))]));
    const failed = rows.reduce((a, r) => a + (r.connectedFailed ?? 0), 0);
    lines.push(`| ${kind} | ${rows.filter((r) => r.ok).length}/${rows.length} | ${m.gcsUp} | ${m.oldHeadGone} | ${m.workerBack} | ${m.actor} | ${m.connectedGap} / ${failed} | ${vs(m.actor, stockActor)} | ${vs(m.oldHeadGone, stockGone)} |`);
  }
  lines.push('', 'Medians. Every run:', '', '| kind | run | gcsDown | gcsUp | oldHeadGone | workerBack | actor | gap | failed | error |', '|---|---|---|---|---|---|---|---|---|---|');
  for (const r of result.rows) {
    lines.push(`| ${r.kind} | ${r.run} | ${r.gcsDown} | ${r.gcsUp} | ${r.oldHeadGone} | ${r.workerBack} | ${r.actor} | ${r.connectedGap} | ${r.connectedFailed} | ${[r.error, r.connectedError && `connected driver: ${r.connectedError}`].filter(Boolean).join('; ').slice(0, 300)} |`);
  }
  return lines.join('\n') + '\n';
}

const result = {
  date: new Date().toISOString(),
  ray: spawnSync(path.join(VENV_BIN, 'ray'), ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^ray, version /, ''),
  runs: RUNS,
  config: { ttlMs: TTL_MS, retryMs: RETRY_MS, warmStandby: WARM === 'true', rayEnv: RAY_ENV, kinds: KINDS, lab: L.lab.prefix },
  machine: { cpus: os.cpus().length, loadBefore: os.loadavg().map((x) => Math.round(x * 100) / 100) },
  rows: [],
};
let failed = false;
try {
  log(`Ray ${result.ray}, ${RUNS} runs per kind, ttl ${TTL_MS} ms, lab ${L.lab.prefix}.0/24, logs in ${L.lab.workDir}`);
  const haKinds = KINDS.filter((k) => k !== 'stock');
  if (haKinds.length) {
    await haSetup();
    for (let run = 1; run <= RUNS; run++) {
      for (const kind of haKinds) {
        const row = { run, ...(await haRun(kind)) };
        result.rows.push(row);
        log(`run ${run} ${kind}: ${JSON.stringify(row)}`);
      }
    }
  }
  if (KINDS.includes('stock')) {
    await stockSetup();
    for (let run = 1; run <= RUNS; run++) {
      const row = { run, ...(await stockRun()) };
      result.rows.push(row);
      log(`run ${run} stock: ${JSON.stringify(row)}`);
    }
  }
} catch (err) {
  failed = true;
  console.error(`bench-ray: ${err.stack ?? err}`);
}
mkdirSync(OUT, { recursive: true });
writeFileSync(path.join(OUT, 'bench-ray.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(path.join(OUT, 'bench-ray.md'), markdown(result));
log(`wrote ${path.relative(ROOT, OUT)}/bench-ray.json and bench-ray.md`);
process.stdout.write(markdown(result));
if (opts.keep) log(`logs kept in ${L.lab.workDir}`);
else if (failed) log('run again with --keep to keep the logs');
process.exit(failed ? 1 : 0);
