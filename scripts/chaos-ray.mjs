#!/usr/bin/env node
// `npm run chaos:ray -- --trials N --seed S`: a seeded fault campaign on real
// Ray across hosts (the lab, scripts/lab/). Three head candidates on hosts of
// their own behind HAProxy, Redis with an fsynced append-only file on its own
// host, a worker host with a detached actor (a counter), a Ray Serve app
// that takes steady HTTP traffic (50 requests per second by default, each sent on time)
// through the worker's own Serve proxy, and a
// Ray Job (`ray job submit` through the balancer the usual way, no resources:
// the HA head runs it on the worker) that runs a step every 0.5 s through every trial.
//
// Per trial one fault at random (mostly on the leader), then recovery, then
// the faulted candidate restarted as the kubelet would. A trial fails on:
//   - two hosts running a gcs_server at once (sampled every 20 ms);
//   - the actor's counter going backwards or the actor gone (a fresh driver
//     and a driver that stays connected both check it);
//   - a fenced host (partitioned or lost its lease) still running any Ray
//     process when another candidate takes the lease;
//   - the worker's raylet gone;
//   - a leader change whose epoch did not grow;
//   - no recovery (a fresh driver answered by the actor) within the bound;
//   - the Ray Job no longer RUNNING after the fault.
// At the end the job is told to stop: it must end SUCCEEDED with every step
// in `ray job logs`, or the campaign exits 1.
// Failed Serve requests and the longest gap between two answered ones, and
// failed calls of the connected driver, are counted per fault kind (reported,
// not a failure). Exits 1 on any failed trial.
//
//   node scripts/chaos-ray.mjs [--trials 10] [--seed S] [--ttl-ms 6000] [--faults a,b] [--serve-rps 50] [--max-minutes M] [--out bench-results] [--keep]
//
// --serve-rps: the Serve client's rate (default 50, the measurement; the suite's
// e2e sends 10: at 50 the worker's proxy on these shared 2 cores fell behind for
// good in one CI-like run and took the CPU new heads needed to start).
// --max-minutes: start no trial after M minutes; the report then says how many ran of how many asked.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ROOT, startRayLab, STEPS_JOB, VENV_BIN, waitFor } from './lab/ray-lab.mjs';
import { freeze, seededRandom } from './lib/harness.mjs';
import { leaseSnapshot, restoreLeaseSnapshot } from './lib/lease-snapshot.mjs';
import { stepsInLogs } from './lib/ray-job.mjs';
import { steadyGetsOffThread, windowStats } from './lib/steady-http.mjs';

const { values: opts } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    'max-minutes': { type: 'string' },
    seed: { type: 'string', default: String(Date.now() % 1_000_000) },
    'ttl-ms': { type: 'string', default: '6000' },
    faults: { type: 'string' },
    'serve-rps': { type: 'string', default: '50' },
    out: { type: 'string', default: 'bench-results' },
    keep: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});
const TRIALS = Number(opts.trials);
const SEED = Number(opts.seed);
const TTL = Number(opts['ttl-ms']);
const RETRY = Math.max(100, Math.round(TTL / 6));
const SERVE_PORT = 8000;
const SERVE_RPS = Number(opts['serve-rps']);
if (!(SERVE_RPS > 0 && SERVE_RPS <= 200)) {
  console.error(`chaos-ray: --serve-rps must be a rate from 1 to 200, got ${opts['serve-rps']}`);
  process.exit(2);
}
const OUT = path.resolve(ROOT, opts.out);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => !opts.quiet && console.log(`[chaos-ray ${new Date().toISOString().slice(11, 23)}] ${msg}`);

const random = seededRandom(SEED);
const pick = (xs) => xs[Math.floor(random() * xs.length)];

// Recovery bounds from the start of the fault: Ray's own start on 2 shared cores takes seconds.
const RAY_START_MS = 60_000;
const FAULTS = {
  'pod-kill': { boundMs: TTL + RAY_START_MS },
  // The keeper KILLs the head and releases the lease (docs/design.md, decision 29): no ttl.
  'orchestrator-kill': { boundMs: RAY_START_MS },
  graceful: { boundMs: RAY_START_MS },
  'head-crash': { boundMs: TTL + RAY_START_MS },
  partition: { boundMs: TTL + RAY_START_MS },
  'host-death': { boundMs: TTL + RAY_START_MS },
  'standby-kill': { boundMs: RAY_START_MS },
  'redis-pause-short': { boundMs: TTL + RAY_START_MS },
  'redis-pause-long': { boundMs: 2 * TTL + RAY_START_MS },
  'redis-restart': { boundMs: TTL + RAY_START_MS },
  // Redis goes back to the counter and leader hash of before the last takeover (an older RDB,
  // a lagging replica promoted) and loses the lease: the standbys hold back a ttl (decision 34).
  'redis-restore-older': { boundMs: 2 * TTL + RAY_START_MS },
  // The whole leader host frozen past the ttl (every process on it: a cgroup freezer, docker
  // pause), then thawed; its keeper KILLs at once on waking past its deadline.
  'freeze-leader': { boundMs: 1.5 * TTL + RAY_START_MS },
  // Frozen for longer than the previous-GCS wait (one ttl here), twice over: each new leader
  // steps down while the frozen GCS still accepts connections; none starts a head before the thaw.
  'previous-gcs-rounds': { boundMs: 3.5 * TTL + RAY_START_MS },
};
/** Every process on the host frozen for `ms`, then thawed. */
async function freezeHost(name, ms) {
  const thaw = freeze(() => L.host(name).pids());
  await sleep(ms);
  thaw();
}
/** A candidate whose pod is gone or exited. */
function podExited(c) {
  const pod = L.pods.get(c);
  return !pod || pod.proc.exitCode !== null || pod.proc.signalCode !== null;
}
/** Restarts, as the kubelet would, every candidate whose pod exited, until none is left exited or `forMs` passed. */
async function restartExited(forMs) {
  const end = Date.now() + forMs;
  for (;;) {
    for (const c of L.candidates) if (podExited(c)) await L.restartCandidate(c);
    if (Date.now() >= end) return;
    await sleep(500);
  }
}
/** Taken at the start of the trial before this one: before the last takeover. */
let olderSnapshot = null;
const chosen = opts.faults ? opts.faults.split(',') : Object.keys(FAULTS);
for (const f of chosen) if (!FAULTS[f]) throw new Error(`unknown fault ${f}; known: ${Object.keys(FAULTS).join(', ')}`);

// The previous-GCS wait is one ttl, so a frozen leader makes new leaders step down (previous-gcs-rounds).
const L = await startRayLab({
  candidates: 3, ttlMs: TTL, retryMs: RETRY, persistentRedis: true, keepWork: opts.keep, env: { RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS: String(TTL) },
});
process.on('exit', () => L.close());

const holder = async () => L.leaseHolder();
let current = null; // the trial running now: the split-brain sampler marks it

// ---------- checkers ----------

const split = { ms: 0, samples: 0, last: null, events: [] };
const sampler = setInterval(() => {
  const now = Date.now();
  const hosts = L.gcsHosts();
  split.samples++;
  if (hosts.length > 1) {
    if (split.last !== null) split.ms += now - split.last;
    if (split.events.length < 50) split.events.push({ at: now, hosts, trial: current?.n });
    if (current) current.splitBrain = true;
  }
  split.last = now;
}, 20);

// Serve traffic at SERVE_RPS (--serve-rps), each request sent on time (scripts/lib/steady-http.mjs;
// a 2 s timeout counts as failed), from a thread of its own: a client in this loop
// would go silent whenever the loop is busy (spawning, /proc), a gap that is not
// Serve's. Every result is kept: a trial's figures and the
// totals are windows over them (windowStats).

const serve = { results: [], startedAt: 0, stop: () => {} };
function serveTraffic() {
  const url = `http://${L.host('w1').address}:${SERVE_PORT}/`;
  serve.startedAt = Date.now();
  serve.stop = steadyGetsOffThread(url, SERVE_RPS, (r) => serve.results.push(r), { acceptPrefix: 'ok' });
}
const serveSince = (fromMs) => windowStats(serve.results, fromMs, Date.now());
// How late this loop ran its callbacks (the campaign's own stalls), per trial.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

function deployServe() {
  return new Promise((resolve, reject) => {
    const host = L.host('w1');
    const p = L.onHost('w1', [path.join(VENV_BIN, 'python'), path.join(ROOT, 'scripts/lab/serve-app.py'), L.gcsAddress, host.address, String(SERVE_PORT)], 'ignore');
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err = (err + d).slice(-3000)));
    p.on('exit', (code) => (code === 0 && out.includes('"deployed": true') ? resolve() : reject(new Error(`serve-app exited ${code}: ${out} ${err}`))));
  });
}

// ---------- a Ray Job that runs through every trial ----------

const JOB_ID = 'campaign';
const jobStopFile = () => path.join(L.lab.workDir, 'campaign-job.stop');
const job = { endedIn: null, status: null, steps: null, missing: null };

/** Submitted through the balancer's dashboard without resources (on the worker: decision 41); resolves once its driver ran a step. */
async function startCampaignJob() {
  const r = await L.jobCli('submit', ['--no-wait', '--submission-id', JOB_ID, '--', 'python', STEPS_JOB, '--until', jobStopFile()]);
  if (r.code !== 0) throw new Error(`ray job submit exited ${r.code}: ${r.output.slice(-1500)}`);
  await waitFor('the campaign job to run', async () => /step 1 /.test((await L.jobCli('logs', [JOB_ID])).output), 60_000, 1000);
}

/** Stops the campaign job (its stop file) and checks that it ends SUCCEEDED with every step in its logs. */
async function finishCampaignJob() {
  writeFileSync(jobStopFile(), '');
  await waitFor('the campaign job to end', async () => !['RUNNING', 'PENDING', null].includes((job.status = await L.jobStatus(JOB_ID))), 120_000, 1000).catch(() => {});
  const logs = (await L.jobCli('logs', [JOB_ID])).output;
  const { done, missing } = stepsInLogs(logs);
  job.steps = done;
  job.missing = missing?.length ?? null;
}

const workerRayletAlive = () => L.host('w1').commands().some((c) => /\/raylet\b|raylet /.test(c) && !c.startsWith('unshare'));

/** A leader holds the lease, its GCS answers, the balancer routes to it only. */
async function leaderServing(timeoutMs) {
  return waitFor('a serving leader', async () => {
    const h = await holder();
    if (!h) return null;
    if (!(await L.gcsListeningOn(h.id))) return null;
    const up = await L.balancerUp();
    return up.length === 1 && up[0] === h.id ? h : null;
  }, timeoutMs, 50);
}

// ---------- one trial ----------

let lastValue = 0;

async function trial(n, fault) {
  const before = await holder();
  // A trial that left no leader (counted failed) ends the campaign: nothing after it would mean anything.
  if (!before) throw new Error(`no lease holder before trial ${n}: the trial before it left no leader, so the campaign stops`);
  const leader = before.id;
  const standbys = L.candidates.filter((c) => c !== leader);
  const target = fault === 'standby-kill' ? pick(standbys) : leader;
  const t = (current = {
    n, fault, target, from: leader, fromEpoch: before.epoch, problems: [], startedAt: Date.now(), splitBrain: false,
  });
  loopDelay.reset();
  const snap = await leaseSnapshot(L.redisClient, L.namespace).catch(() => null);
  const watcher = await L.readyProbe('watch', { deadlineS: 3600 });
  const fresh = await L.readyProbe('incr', { deadlineS: Math.ceil(FAULTS[fault].boundMs / 1000) + 30 });
  const t0 = Date.now();
  // Watches for the moment another candidate takes the lease, and what the fenced host runs then.
  let fencedCheck = null;
  const fencedWatch = (async () => {
    if (!['partition', 'redis-pause-long'].includes(fault)) return;
    const h = await waitFor('a new lease holder', async () => {
      const x = await holder();
      return x && x.epoch !== before.epoch ? x : null;
    }, FAULTS[fault].boundMs, 10).catch(() => null);
    if (h && h.id !== leader) fencedCheck = L.rayProcessesOn(leader);
  })();

  switch (fault) {
    case 'pod-kill':
    case 'standby-kill':
      L.podKill(target);
      break;
    case 'orchestrator-kill':
      if (!L.orchestratorKill(target)) t.problems.push('no orchestrator on the leader to kill');
      break;
    case 'graceful':
      L.gracefulStop(target);
      break;
    case 'head-crash':
      if (!L.headCrash(target)) t.problems.push('no gcs_server on the leader to crash');
      break;
    case 'partition':
      L.partition(target);
      break;
    case 'host-death':
      L.hostDeath(target);
      break;
    case 'redis-pause-short':
      L.redisPause();
      await sleep(TTL * 0.4);
      L.redisResume();
      break;
    case 'redis-pause-long':
      L.redisPause();
      await sleep(TTL * 1.5);
      L.redisResume();
      break;
    case 'redis-restart':
      await L.redisRestart();
      break;
    case 'redis-restore-older':
      await restoreLeaseSnapshot(L.redisClient, L.namespace, olderSnapshot ?? snap);
      break;
    case 'freeze-leader':
      await freezeHost(target, TTL * 1.5);
      break;
    case 'previous-gcs-rounds':
      await freezeHost(target, TTL * 3.5);
      // Every candidate has stepped down or is about to (the thawed one loses its lease): as the
      // kubelet would, restart each pod whose candidate exited, so that someone can lead again.
      await restartExited(10_000);
      break;
  }
  olderSnapshot = snap;
  fresh.go();
  const r = await fresh.next();
  t.recoveryMs = r.answerAt ? r.answerAt - t0 : null;
  if (typeof r.value !== 'number') t.problems.push(`the actor did not answer a new driver: ${r.error ?? ''} ${r.lastError ?? ''}`);
  else if (r.value <= lastValue) t.problems.push(`the counter went backwards: ${r.value} after ${lastValue}`);
  else lastValue = r.value;
  if (t.recoveryMs !== null && t.recoveryMs > FAULTS[fault].boundMs) t.problems.push(`recovery ${t.recoveryMs} ms > bound ${FAULTS[fault].boundMs} ms`);
  await fencedWatch;
  if (fencedCheck && fencedCheck.length) t.problems.push(`fenced host ${leader} ran Ray processes at the takeover: ${fencedCheck.join(' | ').slice(0, 300)}`);

  // Recovered means a serving leader whose `ray start` finished too (a fault in the middle of it
  // is another trial's business). On a loaded machine Ray's own start can give up (its node
  // registration wait is 30 s) after the GCS already served: that head fails, another candidate
  // takes over; counted as a head that failed to start, not as a failed trial.
  let after = null;
  const stableBy = Date.now() + FAULTS[fault].boundMs + 2 * RAY_START_MS;
  t.headStartFailures = 0;
  while (Date.now() < stableBy) {
    const h = await leaderServing(Math.max(1, stableBy - Date.now())).catch(() => null);
    if (!h) break;
    const done = await waitFor(`${h.id}'s ray start to finish`, async () => {
      if (L.rayStarted(h.id)) return 'started';
      const now = await holder();
      return now && now.epoch !== h.epoch ? 'replaced' : null;
    }, RAY_START_MS, 100).catch(() => 'timeout');
    if (done === 'started') {
      after = h;
      break;
    }
    t.headStartFailures++;
  }
  if (!after) t.problems.push('no serving leader whose ray start finished after the fault');
  t.to = after?.id ?? null;
  t.toEpoch = after?.epoch ?? null;
  if (after && after.id !== leader && !(after.epoch > before.epoch)) t.problems.push(`epoch did not grow: ${before.epoch} -> ${after.epoch}`);
  if (!workerRayletAlive()) t.problems.push('the worker raylet exited');
  // The campaign's Ray Job lives on (its driver on the worker) through the fault.
  if (!job.endedIn) {
    // The job API is the new head's dashboard, which comes up after its GCS: null until it answers.
    const status = await waitFor('the job API to answer', () => L.jobStatus(JOB_ID), 60_000, 1000).catch(() => null);
    if (status !== 'RUNNING') {
      job.endedIn = n;
      job.status = status;
      t.problems.push(`the campaign's Ray Job is ${status} after the fault`);
    }
  }

  watcher.stop();
  const w = await watcher.next();
  t.connectedFailed = w.failed ?? null;
  t.connectedGapMs = w.longestGapMs ?? null;
  if (w.error) t.problems.push(`connected driver: ${w.error}`);
  if ((w.backwards ?? []).length) t.problems.push(`connected driver saw the counter go backwards: ${JSON.stringify(w.backwards)}`);
  if (typeof w.last === 'number') lastValue = Math.max(lastValue, w.last);

  // Restore three candidates, as the kubelet would: the faulted one restarted (a new pod, a new temp dir).
  if (fault === 'partition') L.heal(target);
  if (fault === 'host-death') L.revive(target);
  for (const c of L.candidates) {
    if (podExited(c)) {
      await L.restartCandidate(c);
      await L.waitStandby(c).catch((e) => t.problems.push(`restart of ${c}: ${e.message}`));
    }
  }
  // No Ray process on any candidate but the leader (no orphan of an old head).
  const now = await holder();
  for (const c of L.candidates) {
    if (c === now?.id) continue;
    const left = L.rayProcessesOn(c);
    if (left.length) t.problems.push(`Ray processes left on standby ${c}: ${left.join(' | ').slice(0, 300)}`);
  }
  if (t.splitBrain) t.problems.push('two gcs_server hosts at once');
  const s = serveSince(t.startedAt);
  Object.assign(t, { serveOk: s.ok, serveFailed: s.failed, serveGapMs: s.longestGapMs, serveFailedWhy: s.failedWhy });
  t.loopDelayMaxMs = Math.round(loopDelay.max / 1e6);
  current = null;
  return t;
}

// ---------- run ----------

const trials = [];
let setupError = null;
try {
  log(`seed ${SEED}, ${TRIALS} trials, ttl ${TTL} ms, lab ${L.lab.prefix}.0/24, faults: ${chosen.join(', ')}`);
  await L.startCandidate('c1');
  await leaderServing(90_000);
  for (const c of L.candidates.slice(1)) await L.startCandidate(c);
  for (const c of L.candidates.slice(1)) await L.waitStandby(c);
  await L.startWorker();
  lastValue = (await L.createActor()).value;
  await deployServe();
  serveTraffic();
  await waitFor('Serve answering', () => serveSince(serve.startedAt).ok > 10, 60_000, 100);
  await startCampaignJob();
  log('3 candidates, a worker, the actor, the Serve app and a Ray Job are up');
  const stopStartingAt = opts['max-minutes'] ? Date.now() + Number(opts['max-minutes']) * 60_000 : Infinity;
  for (let n = 1; n <= TRIALS; n++) {
    if (Date.now() >= stopStartingAt) {
      log(`--max-minutes ${opts['max-minutes']} reached after ${n - 1} trials`);
      break;
    }
    const fault = pick(chosen);
    const t = await trial(n, fault);
    trials.push(t);
    log(`trial ${n} ${fault} (${t.target}): ${t.problems.length ? 'FAILED ' + t.problems.join('; ') : 'ok'} ` +
      `recovery ${t.recoveryMs} ms, ${t.from} -> ${t.to}, serve failed ${t.serveFailed}/${t.serveOk + t.serveFailed} (longest gap ${t.serveGapMs} ms${t.serveFailed ? `, ${JSON.stringify(t.serveFailedWhy)}` : ''}), connected failed ${t.connectedFailed}, campaign loop late up to ${t.loopDelayMaxMs} ms`);
    await sleep(RETRY);
  }
  if (!job.endedIn) await finishCampaignJob();
} catch (e) {
  setupError = e.stack ?? String(e);
  console.error(`chaos-ray: ${setupError}`);
}
serve.stop();
const serveAll = serveSince(serve.startedAt);
const jobOk = !job.endedIn && job.status === 'SUCCEEDED' && job.missing === 0;
clearInterval(sampler);
loopDelay.disable();

const byFault = {};
for (const t of trials) {
  const f = (byFault[t.fault] ??= { trials: 0, failed: 0, recoveryMs: [], serveFailed: 0, serveTotal: 0, maxServeGapMs: 0, connectedFailed: 0, maxConnectedGapMs: 0, lostOrReset: 0, fencedWithRay: 0, deadWorker: 0, epochNotGrown: 0, headStartFailures: 0 });
  f.trials++;
  if (t.problems.length) f.failed++;
  if (t.recoveryMs !== null) f.recoveryMs.push(t.recoveryMs);
  f.serveFailed += t.serveFailed;
  f.serveTotal += t.serveFailed + t.serveOk;
  f.maxServeGapMs = Math.max(f.maxServeGapMs, t.serveGapMs);
  f.connectedFailed += t.connectedFailed ?? 0;
  f.maxConnectedGapMs = Math.max(f.maxConnectedGapMs, t.connectedGapMs ?? 0);
  f.lostOrReset += t.problems.some((p) => /actor did not answer|backwards/.test(p)) ? 1 : 0;
  f.fencedWithRay += t.problems.some((p) => p.startsWith('fenced host')) ? 1 : 0;
  f.deadWorker += t.problems.some((p) => p.includes('worker raylet')) ? 1 : 0;
  f.epochNotGrown += t.problems.some((p) => p.startsWith('epoch')) ? 1 : 0;
  f.headStartFailures += t.headStartFailures ?? 0;
}
const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] : null);
const summary = {
  seed: SEED,
  trials: trials.length,
  requested: TRIALS,
  failed: trials.filter((t) => t.problems.length).length,
  setupError,
  ttlMs: TTL,
  splitBrainMs: split.ms,
  splitBrainSamples: split.samples,
  splitBrainEvents: split.events,
  serve: { ok: serveAll.ok, failed: serveAll.failed },
  job: { ...job, ok: jobOk },
  byFault: Object.fromEntries(Object.entries(byFault).map(([k, f]) => [k, { ...f, recoveryMedianMs: median(f.recoveryMs), recoveryMaxMs: f.recoveryMs.length ? Math.max(...f.recoveryMs) : null, recoveryMs: undefined }])),
  failures: trials.filter((t) => t.problems.length),
};
const md = [
  `# chaos-ray: ${summary.trials} trials (of ${TRIALS} asked) on real Ray across hosts (seed ${SEED}, ttl ${TTL} ms)`,
  '',
  `Failed trials: ${summary.failed}. Split brain: ${split.ms} ms over ${split.samples} samples (every 20 ms). ` +
    `Serve requests (${SERVE_RPS} per second through the worker's proxy): ${serveAll.failed} failed of ${serveAll.ok + serveAll.failed}. ` +
    `A Ray Job through every trial: ${job.endedIn ? `ended ${job.status} after trial ${job.endedIn}` : `${job.status}, ${job.steps} steps, ${job.missing} missing from its logs`}.`,
  '',
  '| fault | trials | failed | recovery median / max (ms) | lost or reset actor | fenced host with Ray | dead worker raylet | epoch not grown | heads that failed to start | Serve failed / total / longest gap (ms) | connected driver failed calls / longest gap (ms) |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...Object.entries(summary.byFault).map(([k, f]) =>
    `| ${k} | ${f.trials} | ${f.failed} | ${f.recoveryMedianMs} / ${f.recoveryMaxMs} | ${f.lostOrReset} | ${f.fencedWithRay} | ${f.deadWorker} | ${f.epochNotGrown} | ${f.headStartFailures} | ${f.serveFailed} / ${f.serveTotal} / ${f.maxServeGapMs} | ${f.connectedFailed} / ${f.maxConnectedGapMs} |`),
  '',
  ...summary.failures.map((t) => `- trial ${t.n} ${t.fault}: ${t.problems.join('; ')}`),
].join('\n') + '\n';
mkdirSync(OUT, { recursive: true });
writeFileSync(path.join(OUT, 'chaos-ray.json'), JSON.stringify(summary, null, 2) + '\n');
writeFileSync(path.join(OUT, 'chaos-ray.md'), md);
process.stdout.write(md);
if (opts.keep) log(`logs kept in ${L.lab.workDir}`);
process.exit(summary.failed || setupError || !jobOk || (summary.trials < TRIALS && !opts['max-minutes']) ? 1 : 0);
