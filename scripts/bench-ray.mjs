#!/usr/bin/env node
// `npm run bench:ray`: head failover on real Ray (the .venv's `ray`), timed.
//
// One Redis; "pods" in their own PID namespaces (scripts/lib/ray-pods.mjs,
// shared with the e2e test). A detached actor lives on a worker pod;
// a Ray driver (scripts/lib/ray-bench-probe.py, Ray already imported) starts
// calling it at the fault and retries until it answers. Per run:
//   ha-kill   two HA heads through the shim (RAY_ENABLE_HEAD_HA=true): SIGKILL
//             every process of the leader's pod; the standby takes over;
//   ha-term   SIGTERM to the leader's orchestrator: graceful handover;
//   stock     one plain head (no HA, same GCS fault tolerance in Redis):
//             SIGKILL its pod, run the same `ray start --head` again at once
//             (a person or a pod restart that takes 0 s), as the stock way.
// The HA runs come first (one HA cluster for all of them), then the stock
// runs (one plain cluster): the two never run at once on this machine.
//
// Where the seconds go, from the orchestrators' JSON logs (ISO times), the
// pods' logs (Ray's "Ray runtime started"), the GCS port (polled every 20 ms)
// and the probe's own timestamps, all on the epoch-ms clock of one machine.
//
//   node scripts/bench-ray.mjs [--runs 3] [--ttl-ms 15000] [--retry-ms 2000] [--out bench-results] [--keep]
//
// Needs dist/ (npm run build:ts), .venv with ray (scripts/setup.sh --ray),
// redis-server, unshare (util-linux) and root (PID namespaces).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { fileSize, freePort, isListening, orchestratorEvents, rayLogTime, sleep, startPod, startRedis, waitFor, watchText } from './lib/ray-pods.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const VENV_BIN = path.join(ROOT, '.venv', 'bin');
const PYTHON = path.join(VENV_BIN, 'python');
const PROBE = path.join(ROOT, 'scripts', 'lib', 'ray-bench-probe.py');

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'ttl-ms': { type: 'string', default: '15000' },
    'retry-ms': { type: 'string', default: '2000' },
    out: { type: 'string', default: 'bench-results' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const TTL_MS = Number(opts['ttl-ms']);
const RETRY_MS = Number(opts['retry-ms']);
const OUT = path.resolve(ROOT, opts.out);
// Ray's default; what a worker raylet waits for a GCS before it exits. Every recovery here must fit in it.
const RECONNECT_S = 60;
const PROBE_DEADLINE_S = 120;

for (const [what, ok] of [
  ['dist/cli.js (npm run build:ts)', existsSync(path.join(ROOT, 'dist', 'cli.js'))],
  ['.venv/bin/ray (bash scripts/setup.sh --ray)', existsSync(path.join(VENV_BIN, 'ray'))],
  ['root (PID namespaces)', process.getuid?.() === 0],
]) {
  if (!ok) {
    console.error(`bench-ray: needs ${what}`);
    process.exit(2);
  }
}
const { installShim } = await import('../dist/ray/install-shim.js');
const { nodeIpRayWouldPick } = await import('../dist/ray/node-ip.js');

const log = (msg) => console.log(`[bench-ray ${new Date().toISOString().slice(11, 23)}] ${msg}`);
const work = mkdtempSync(path.join(tmpdir(), 'rhha-bench-ray-'));
const shimDir = path.join(work, 'bin');
installShim({ binDir: shimDir, searchPath: [shimDir, VENV_BIN].join(path.delimiter) });
const redis = await startRedis();
const rc = new Redis({ port: redis.port, maxRetriesPerRequest: 1 });
const nodeIp = nodeIpRayWouldPick();
const pods = new Set();
let serial = 0;

function baseEnv(extra = {}) {
  const env = { ...process.env };
  delete env.RAY_ENABLE_HEAD_HA;
  delete env.RAY_ADDRESS;
  Object.assign(env, { PATH: [shimDir, VENV_BIN, process.env.PATH].join(path.delimiter), RAY_USAGE_STATS_ENABLED: '0' }, extra);
  return env;
}

/** A head's ports, fixed per cluster: every head of one cluster serves the same ones (a pod IP each in k8s). */
async function headPorts() {
  return { gcs: await freePort(), dashboard: await freePort(), agent: await freePort(), client: await freePort() };
}

function headArgs(ports, tempDir) {
  return [
    'ray', 'start', '--head', '--block', `--port=${ports.gcs}`, `--dashboard-port=${ports.dashboard}`,
    `--dashboard-agent-listen-port=${ports.agent}`, `--ray-client-server-port=${ports.client}`,
    '--num-cpus=0', `--temp-dir=${tempDir}`, '--disable-usage-stats',
  ];
}

/** A fresh temp dir per pod incarnation, as a restarted pod has. */
function podTemp(name) {
  const dir = path.join(work, `temp-${name}-${serial++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function startHaCandidate(cluster, id) {
  const env = baseEnv({
    RAY_ENABLE_HEAD_HA: 'true',
    RAY_REDIS_ADDRESS: redis.address,
    RAY_external_storage_namespace: cluster.ns,
    RAY_HA_CANDIDATE_ID: id,
    RAY_HA_KEY_EXPIRE_TIME_MS: String(TTL_MS),
    RAY_HA_CHECK_INTERVAL_MS: String(RETRY_MS),
    // `ray start` prints "Ray runtime started" through a block-buffered stdout otherwise: seconds late in the log.
    PYTHONUNBUFFERED: '1',
  });
  const logFile = path.join(work, `${id}-${serial}.log`);
  const pod = await startPod(id, headArgs(cluster.ports, podTemp(id)), env, logFile);
  pods.add(pod);
  cluster.candidates.set(id, pod);
  return pod;
}

async function startStockHead(cluster) {
  const env = baseEnv({ RAY_REDIS_ADDRESS: redis.address, RAY_external_storage_namespace: cluster.ns, PYTHONUNBUFFERED: '1' });
  const args = headArgs(cluster.ports, podTemp('stock-head'));
  args[0] = path.join(VENV_BIN, 'ray');
  const pod = await startPod('stock-head', args, env, path.join(work, `stock-head-${serial}.log`));
  pods.add(pod);
  return pod;
}

async function startWorker(cluster) {
  const temp = podTemp(`worker-${cluster.name}`);
  const pod = await startPod(`worker-${cluster.name}`, [
    'ray', 'start', `--address=${nodeIp}:${cluster.ports.gcs}`, '--block', '--num-cpus=1', '--resources={"worker": 1}',
    `--temp-dir=${temp}`, `--dashboard-agent-listen-port=${await freePort()}`, '--min-worker-port=0', '--max-worker-port=0',
    '--disable-usage-stats',
  ], baseEnv({ RAY_gcs_rpc_server_reconnect_timeout_s: String(RECONNECT_S) }), path.join(work, `worker-${cluster.name}.log`));
  pods.add(pod);
  cluster.worker = pod;
  cluster.workerTemp = temp;
  return pod;
}

const gcsAddress = (cluster) => `${nodeIp}:${cluster.ports.gcs}`;
const gcsListening = (cluster) => isListening(cluster.ports.gcs, nodeIp, 300);

/** Starts a probe (Ray imported) and resolves once it waits for the go. */
async function readyProbe(cluster, mode) {
  const proc = spawn(PYTHON, [PROBE, gcsAddress(cluster), mode, String(PROBE_DEADLINE_S), cluster.workerTemp], {
    env: baseEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const lines = readline.createInterface({ input: proc.stdout });
  const queue = [];
  let wake = null;
  lines.on('line', (l) => {
    queue.push(l);
    wake?.();
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const nextJson = async () => {
    for (;;) {
      while (queue.length) {
        const l = queue.shift();
        try {
          return JSON.parse(l);
        } catch {
          /* Ray's own chatter */
        }
      }
      const more = new Promise((r) => (wake = r));
      const gone = await Promise.race([more.then(() => false), exited.then(() => true)]);
      if (gone && !queue.length) return { error: `probe exited without a result: ${stderr.slice(-1500)}` };
    }
  };
  if (mode === 'create') return nextJson();
  const ready = await nextJson();
  if (!ready.ready) throw new Error(`probe did not get ready: ${JSON.stringify(ready)}`);
  return {
    go() {
      proc.stdin.write('go\n');
      return nextJson();
    },
    kill: () => proc.kill('SIGKILL'),
  };
}

async function leaseHolder(cluster) {
  const v = await rc.get(`ray-head-ha:{${cluster.ns}}:lease`);
  return v ? v.split('#')[0] : null;
}

/** The GCS port: first time it answers after `since`, having been seen down (polled every 20 ms). */
function watchGcsBack(cluster, seenDownAlready) {
  let stopped = false;
  let downSeen = seenDownAlready;
  const up = new Promise((resolve) => {
    const tick = async () => {
      if (stopped) return resolve(null);
      const on = await gcsListening(cluster);
      if (!on) downSeen ??= Date.now();
      if (on && downSeen) return resolve({ downAt: downSeen, upAt: Date.now() });
      setTimeout(tick, 20);
    };
    tick();
  });
  return { up, stop: () => (stopped = true) };
}

function eventAt(logFile, since, msg) {
  const e = orchestratorEvents(logFile).find((r) => r.at >= since - 5 && (typeof msg === 'string' ? r.msg === msg : msg.test(r.msg)));
  return e ?? null;
}

/** The probe's epoch-ms times as seconds from the fault, with the failures it met once the GCS port answered. */
function driverTimes(r, t0) {
  return {
    tcpOk: d(r.tcpAt, t0), initOk: d(r.initAt, t0), actorOk: d(r.actorAt, t0), answered: d(r.answerAt, t0),
    errorsAfterTcp: (r.errorsAfterTcp ?? []).map((e) => ({ at: d(e.at, t0), error: e.error })),
  };
}

/**
 * When the worker's raylet had caught up with the new GCS (its own log: it
 * re-fetched the job table after "The GCS has restarted"). A driver on that
 * node cannot finish ray.init before it.
 */
async function workerResynced(cluster, sinceMs) {
  const file = path.join(cluster.workerTemp, 'session_latest', 'logs', 'raylet.out');
  const needle = 'Finished fetching all job information from gcs server after gcs server or pub-sub server is restarted';
  const end = Date.now() + 5000;
  for (;;) {
    const at = rayLogTime(file, needle, sinceMs);
    if (at !== null || Date.now() > end) return at;
    await sleep(100);
  }
}

/** Seconds from b to a, or null when either is unknown. */
const d = (a, b) => (a === null || a === undefined || b === null || b === undefined ? null : s(a - b));
const s = (ms) => (ms === null || ms === undefined || Number.isNaN(ms) ? null : Math.round(ms) / 1000);

// ---------- HA ----------

async function haCluster() {
  const cluster = { name: 'ha', ns: `bench-ha-${process.pid}`, ports: await headPorts(), candidates: new Map() };
  const t0 = Date.now();
  await startHaCandidate(cluster, 'cand-a');
  await waitFor('cand-a to lead', async () => (await leaseHolder(cluster)) === 'cand-a', 60_000, 50);
  await waitFor('the GCS of cand-a', () => gcsListening(cluster), 90_000, 100);
  log(`HA: cand-a leads, GCS up ${s(Date.now() - t0)} s after start`);
  const b = await startHaCandidate(cluster, 'cand-b');
  await waitFor('cand-b to stand by', () => eventAt(b.logFile, 0, /-> standby$/), 30_000, 100);
  await startWorker(cluster);
  const created = await readyProbe(cluster, 'create');
  if (created.value !== 1) throw new Error(`HA: actor not created: ${JSON.stringify(created)}`);
  log('HA: worker joined, detached actor created');
  return cluster;
}

/** Waits until `id` is a standby again after a restart. */
async function restartAsStandby(cluster, id) {
  const pod = await startHaCandidate(cluster, id);
  await waitFor(`${id} to stand by`, () => eventAt(pod.logFile, 0, /-> standby$/), 60_000, 100);
  await sleep(RETRY_MS);
}

/** The leader, the candidate that will take over, a ready probe and a watch on the next head's start. */
async function handover(cluster) {
  const oldId = await leaseHolder(cluster);
  const newId = [...cluster.candidates.keys()].find((k) => k !== oldId);
  const next = cluster.candidates.get(newId);
  const probe = await readyProbe(cluster, 'incr');
  const runtime = watchText(next.logFile, 'Ray runtime started', fileSize(next.logFile));
  return { oldId, old: cluster.candidates.get(oldId), newId, next, probe, runtime };
}

/** After the driver answered: when the GCS came back and Ray said it started (null if not within 5 s); the old pod forgotten. */
async function settle(cluster, h, gcs) {
  pods.delete(h.old);
  cluster.candidates.delete(h.oldId);
  const back = await Promise.race([gcs.up, sleep(5000).then(() => null)]);
  gcs.stop();
  const runtimeAt = await Promise.race([h.runtime.seen, sleep(5000).then(() => null)]);
  h.runtime.stop();
  return { back, runtimeAt };
}

/** The row's common part: who handed over to whom, what the driver got, and the new head's phases from `-> leading` on. */
async function handoverRow(cluster, h, t0, r, back, runtimeAt) {
  const acquired = eventAt(h.next.logFile, t0, /-> leading$/);
  const prevDown = eventAt(h.next.logFile, t0, 'previous GCS is down');
  const headStarted = eventAt(h.next.logFile, t0, 'head started');
  return {
    acquiredAt: acquired?.at,
    outcome: { from: h.oldId, to: h.newId, value: r.value ?? null, error: r.error ?? (r.value ? undefined : r.lastError), attempts: r.attempts },
    newHead: {
      oldGcsWait: prevDown ? d(prevDown.at, acquired?.at) : 0,
      spawnHead: d(headStarted?.at, prevDown?.at ?? acquired?.at),
      rayStartToGcs: d(back?.upAt, headStarted?.at),
      rayStartToRuntimeStarted: d(runtimeAt, headStarted?.at),
      workerResyncAfterGcs: d(await workerResynced(cluster, t0), back?.upAt),
      driverAfterGcs: d(r.answerAt, back?.upAt),
    },
  };
}

async function haKill(cluster) {
  const h = await handover(cluster);
  const { oldId, old, probe } = h;
  const t0 = Date.now();
  await old.kill();
  const deadAt = Date.now();
  const answered = probe.go();
  const gcs = watchGcsBack(cluster, deadAt);
  const r = await answered;
  const { back, runtimeAt } = await settle(cluster, h, gcs);
  const common = await handoverRow(cluster, h, t0, r, back, runtimeAt);
  const row = {
    scenario: 'ha-kill', ...common.outcome,
    total: d(r.answerAt, t0),
    phases: { podDead: d(deadAt, t0), leaseWait: d(common.acquiredAt, t0), ...common.newHead },
    driver: driverTimes(r, t0),
  };
  await restartAsStandby(cluster, oldId);
  return row;
}

async function haTerm(cluster) {
  const h = await handover(cluster);
  const { oldId, old, probe } = h;
  const gcs = watchGcsBack(cluster, null);
  const t0 = Date.now();
  old.signalInit('SIGTERM');
  const answered = probe.go();
  const exit = await old.exited;
  const oldExitAt = Date.now();
  const r = await answered;
  const { back, runtimeAt } = await settle(cluster, h, gcs);
  const headStopped = eventAt(old.logFile, t0, 'head stopped');
  const common = await handoverRow(cluster, h, t0, r, back, runtimeAt);
  const row = {
    scenario: 'ha-term', ...common.outcome, oldExit: exit,
    total: d(r.answerAt, t0),
    phases: {
      oldHeadStop: d(headStopped?.at, t0),
      oldGcsDown: d(back?.downAt, t0),
      leaseHandover: d(common.acquiredAt, headStopped?.at),
      ...common.newHead,
    },
    oldCandidateExit: d(oldExitAt, t0),
    driver: driverTimes(r, t0),
  };
  await restartAsStandby(cluster, oldId);
  return row;
}

// ---------- stock ----------

async function stockCluster() {
  const cluster = { name: 'stock', ns: `bench-stock-${process.pid}`, ports: await headPorts() };
  const t0 = Date.now();
  cluster.head = await startStockHead(cluster);
  await waitFor('the stock GCS', () => gcsListening(cluster), 90_000, 100);
  log(`stock: head GCS up ${s(Date.now() - t0)} s after start`);
  await startWorker(cluster);
  const created = await readyProbe(cluster, 'create');
  if (created.value !== 1) throw new Error(`stock: actor not created: ${JSON.stringify(created)}`);
  log('stock: worker joined, detached actor created');
  return cluster;
}

async function stockKill(cluster) {
  const probe = await readyProbe(cluster, 'incr');
  const t0 = Date.now();
  await cluster.head.kill();
  const deadAt = Date.now();
  pods.delete(cluster.head);
  const answered = probe.go();
  const gcs = watchGcsBack(cluster, deadAt);
  // "By hand", at once: the same command in a fresh pod.
  const startAt = Date.now();
  cluster.head = await startStockHead(cluster);
  const runtime = watchText(cluster.head.logFile, 'Ray runtime started');
  const r = await answered;
  const back = await Promise.race([gcs.up, sleep(5000).then(() => null)]);
  gcs.stop();
  const runtimeAt = await Promise.race([runtime.seen, sleep(5000).then(() => null)]);
  runtime.stop();
  return {
    scenario: 'stock', value: r.value ?? null, error: r.error ?? (r.value ? undefined : r.lastError), attempts: r.attempts,
    total: d(r.answerAt, t0),
    phases: {
      podDead: d(deadAt, t0),
      rayStartToGcs: d(back?.upAt, startAt),
      rayStartToRuntimeStarted: d(runtimeAt, startAt),
      workerResyncAfterGcs: d(await workerResynced(cluster, t0), back?.upAt),
      driverAfterGcs: d(r.answerAt, back?.upAt),
    },
    driver: driverTimes(r, t0),
  };
}

// ---------- report ----------

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : Math.round(((v[v.length / 2 - 1] + v[v.length / 2]) / 2) * 1000) / 1000;
};

function markdown(result) {
  const lines = [
    '# bench-ray: head failover on real Ray',
    '',
    `Ray ${result.ray}, ${result.runs} runs, ttl ${TTL_MS} ms, retry ${RETRY_MS} ms, killGrace ${Math.min(2000, TTL_MS / 10)} ms (default), ` +
      `${result.machine.cpus} CPUs (load ${result.machine.loadBefore.join(' ')} before), ${result.date}.`,
    'Seconds from the fault to the detached actor answering a fresh driver (Ray imported before the fault).',
    'Stock: a plain head (same GCS fault tolerance in Redis) is SIGKILLed and the same `ray start --head` runs again at once.',
    '',
    '| scenario | run | total | where the seconds go |',
    '|---|---|---|---|',
  ];
  for (const r of result.rows) {
    const phases = Object.entries(r.phases).map(([k, v]) => `${k} ${v ?? '?'}`).join(', ');
    lines.push(`| ${r.scenario} | ${r.run} | ${r.total ?? `failed: ${r.error}`} | ${phases} |`);
  }
  lines.push('', 'Medians (s):', '', '| scenario | total (min-max) | where the seconds go (medians) |', '|---|---|---|');
  for (const sc of ['ha-kill', 'ha-term', 'stock']) {
    const rows = result.rows.filter((r) => r.scenario === sc);
    const t = rows.map((r) => r.total).filter((x) => typeof x === 'number');
    if (!rows.length) continue;
    const keys = Object.keys(rows[0].phases);
    const phases = keys.map((k) => `${k} ${median(rows.map((r) => r.phases[k])) ?? '?'}`).join(', ');
    lines.push(`| ${sc} | ${median(t)} (${t.length ? Math.min(...t) : '-'}-${t.length ? Math.max(...t) : '-'}) | ${phases} |`);
  }
  lines.push(
    '',
    'Phases: podDead = SIGKILL until no process of the pod is left; leaseWait = fault until the standby logs `-> leading`',
    '(a crash: the rest of the ttl; a SIGTERM: leaseHandover, from the old leader\'s `head stopped` to the new `-> leading`);',
    'oldGcsWait = `-> leading` until `previous GCS is down`; spawnHead = until `head started` (keeper spawns `ray start`);',
    'rayStartToGcs = until the GCS port accepts (polled 20 ms); rayStartToRuntimeStarted = until `ray start` logs',
    '"Ray runtime started" (Ray\'s own log time; every head process launched); driverAfterGcs = GCS port up until the actor answered',
    '(ray.init + get_actor + one call, retried every 0.2 s); workerResyncAfterGcs = GCS port up until the worker\'s raylet',
    'logs that it re-fetched the job table from the new GCS (a driver on that node waits for it: part of driverAfterGcs).',
    'Phases overlap where noted by their start points; `total` is the only end-to-end number.',
  );
  return lines.join('\n') + '\n';
}

async function cleanup() {
  for (const pod of pods) await pod.kill().catch(() => {});
  pods.clear();
}

const result = {
  date: new Date().toISOString(),
  ray: null,
  runs: RUNS,
  config: { ttlMs: TTL_MS, retryMs: RETRY_MS, workerReconnectTimeoutS: RECONNECT_S },
  machine: { cpus: os.cpus().length, loadBefore: os.loadavg().map((x) => Math.round(x * 100) / 100) },
  rows: [],
};
let failed = false;
process.on('SIGINT', async () => {
  await cleanup();
  process.exit(130);
});
try {
  result.ray = await new Promise((resolve) => {
    const p = spawn(path.join(VENV_BIN, 'ray'), ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', () => resolve(out.trim().replace(/^ray, version /, '')));
  });
  log(`Ray ${result.ray}, ${RUNS} runs, ttl ${TTL_MS} ms, logs in ${work}`);
  const ha = await haCluster();
  for (let run = 1; run <= RUNS; run++) {
    const k = await haKill(ha);
    result.rows.push({ run, ...k });
    log(`run ${run} ha-kill: ${k.total} s ${JSON.stringify(k.phases)}`);
    const t = await haTerm(ha);
    result.rows.push({ run, ...t });
    log(`run ${run} ha-term: ${t.total} s ${JSON.stringify(t.phases)}`);
  }
  await cleanup();
  const stock = await stockCluster();
  for (let run = 1; run <= RUNS; run++) {
    const k = await stockKill(stock);
    result.rows.push({ run, ...k });
    log(`run ${run} stock: ${k.total} s ${JSON.stringify(k.phases)}`);
  }
} catch (err) {
  failed = true;
  console.error(`bench-ray: ${err.stack ?? err}`);
} finally {
  await cleanup();
  rc.disconnect();
  await redis.close();
}
mkdirSync(OUT, { recursive: true });
writeFileSync(path.join(OUT, 'bench-ray.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(path.join(OUT, 'bench-ray.md'), markdown(result));
log(`wrote ${path.relative(ROOT, OUT)}/bench-ray.json and bench-ray.md`);
process.stdout.write(markdown(result));
if (failed || opts.keep) log(`logs kept in ${work}`);
else rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
