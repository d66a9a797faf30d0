/**
 * Head HA on real Ray across hosts (the lab, scripts/lab/): Redis, a balancer
 * (HAProxy health-checking /readyz), two head candidates on hosts of their own
 * addresses, each running the user's `ray start --head --block` through the
 * shim, and a worker host whose raylet and drivers reach the head only through
 * the balancer. A detached actor lives on the worker; a driver stays connected
 * and calls it every 50 ms through every fault.
 *
 * A sampler checks every 20 ms that no two hosts run a gcs_server at once.
 * After a partition or a lost lease, the fenced host must run no Ray process
 * at all, read from its network namespace's processes.
 *
 * What the user runs comes through every fault (issue 21): three worker
 * hosts; a second connected driver submits a fresh task every 100 ms and
 * every one must complete; after each takeover the previous head leaves the
 * node table (read from the new head's own GCS; how soon is measured by
 * `npm run bench:ray`, never timed here), and all three workers are ALIVE and each runs a task; Ray Jobs
 * submitted with `ray job submit` through the balancer's dashboard, without
 * resources (the HA head keeps their drivers off it: decision 41; nine such
 * jobs all ran on workers), run through a graceful stop, a host death and a
 * head crash to SUCCEEDED with every line of their logs, and the job history
 * keeps every job, the one from before the faults too. A
 * job the user placed on the leader's head (a label selector on its node ID)
 * dies with it through a graceful stop and a host death, and the new head
 * ends it FAILED without any other job request (decision 40).
 *
 * Needs root, dist/ (npm run build:ts), .venv with Ray, haproxy and iptables.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_HTTP_PORT, LAB_PORTS, STEPS_JOB, startRayLab, waitFor, type NodeTableWatch, type Pod, type Probe, type RayLab } from '../helpers/lab.js';
import { stepsInLogs } from '../helpers/ray-job.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'ray-head-ha.js');
const TTL_MS = 6000;
const RETRY_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const WORKERS = 3;
/** Steps of the jobs that run through a fault: 0.5 s apart, so about 15 s with the fault in the middle. */
const JOB_STEPS = 30;

let L: RayLab;
let watcher: Probe;
let tasks: Probe;
/** The node table as each candidate's own GCS sees it (errors while that candidate does not lead). */
const tables = new Map<string, NodeTableWatch>();
/** When each fault happened, for the connected driver's gaps. */
const faultTimes: Array<{ label: string; at: number }> = [];
let counter = 0;
const timings: Record<string, number> = {};
const overlaps: Array<{ at: number; hosts: string[] }> = [];
let sampler: NodeJS.Timeout | undefined;

function statusJson(): { leader: { id: string; gcsAddress: string | null; epoch: number } | null } {
  const r = spawnSync(process.execPath, [CLI, 'status', '--json', '--redis', L.redis.address, '--namespace', L.namespace], {
    encoding: 'utf8',
    env: L.baseEnv(),
    timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`status --json exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function holder(): Promise<string | null> {
  return (await L.leaseHolder())?.id ?? null;
}

/** A fresh driver through the balancer; its answer must be the next value of the counter. */
async function actorAnswers(deadlineS = 120): Promise<number> {
  const r = await L.probe('incr', { deadlineS }).next();
  expect(r.value, `probe: ${JSON.stringify(r)}`).toBeGreaterThan(counter);
  counter = r.value!;
  return counter;
}

async function leaderServes(name: string, timeoutMs: number): Promise<void> {
  await waitFor(`${name} to hold the lease`, async () => (await holder()) === name, timeoutMs, 20);
  await waitFor(`the GCS of ${name}`, () => L.gcsListeningOn(name), 60_000, 50);
  await waitFor(`the balancer to route to ${name} only`, async () => (await L.balancerUp()).join() === name, 10_000, 50);
}

/** Waits until `name`'s own GCS port accepts; returns when (epoch ms, polled every 20 ms). */
async function acceptsAt(name: string, timeoutMs: number): Promise<number> {
  await waitFor(`the GCS of ${name} to accept`, () => L.gcsListeningOn(name), timeoutMs, 20);
  return Date.now();
}

/**
 * After `newLeader` took over from `oldLeader` (whose GCS went away at `t0`):
 * the new head's own GCS comes to hold no other head ALIVE (the time from
 * accepting is recorded, not bounded: bench:ray measures it), never marks its own head dead, and all WORKERS workers are ALIVE and each
 * runs a task. Records the times under `label`.
 */
async function oneLiveHeadAndEveryWorker(label: string, newLeader: string, t0: number, acceptedAt: number): Promise<void> {
  faultTimes.push({ label, at: t0 });
  const ip = L.host(newLeader).address;
  const table = tables.get(newLeader)!;
  const oneHead = (nodes: Array<{ ip: string; head: boolean; state: string }>) => {
    const alive = nodes.filter((n) => n.head && n.state === 'ALIVE');
    return alive.length === 0 || (alive.length === 1 && alive[0]!.ip === ip);
  };
  const first = await waitFor(
    `${newLeader}'s GCS to hold at most its own head ALIVE`,
    () => table.changes.find((c) => c.at >= acceptedAt - 100 && c.nodes && oneHead(c.nodes)),
    30_000,
    50,
  );
  timings[`${label}OldHeadDeadAfterAccept`] = (first.at - acceptedAt) / 1000;
  // The head that was ALIVE before the fault (read from the old leader's own GCS) was marked
  // dead by this project's helper (decision 38), not left to Ray's health check.
  const oldTable = tables.get(L.candidates.find((c) => c !== newLeader)!)!;
  const before = oldTable.changes.filter((c) => c.at < t0 && c.nodes).at(-1)?.nodes ?? [];
  const oldHeads = before.filter((n) => n.head && n.state === 'ALIVE' && n.ip !== ip).map((n) => n.id);
  expect(oldHeads.length, JSON.stringify(before)).toBe(1);
  const oldNow = first.nodes!.find((n) => n.id === oldHeads[0]);
  expect(oldNow, JSON.stringify(first.nodes)).toMatchObject({ state: 'DEAD', death: expect.stringMatching(/^ray-head-ha: /) });
  const r = await L.probe('workers', { deadlineS: 120, workers: WORKERS }).next();
  expect(r.alive?.length, JSON.stringify(r)).toBe(WORKERS);
  expect(r.ran?.length, JSON.stringify(r)).toBe(WORKERS);
  timings[`${label}AllWorkersBack`] = (r.answerAt! - t0) / 1000;
  await metricsFollow(label, newLeader, L.host(L.candidates.find((c) => c !== newLeader)!).address, t0);
  // The new head registered and stays ALIVE: its own node is never the one marked dead.
  await waitFor(`${newLeader}'s own head node ALIVE`, () => {
    const nodes = table.latest();
    return nodes && nodes.filter((n) => n.head && n.state === 'ALIVE').map((n) => n.ip).join() === ip;
  }, 30_000, 100);
}

/**
 * Metrics across a failover: Ray's own, scraped through the balancer (where a
 * Prometheus would), come from the new head's node (label `ip`) and not the
 * old one's; the new leader's candidate says it leads. Records when Ray's
 * came back under `label`.
 */
async function metricsFollow(label: string, newLeader: string, oldIp: string, t0: number): Promise<void> {
  const ip = L.host(newLeader).address;
  // A scrape on this loaded machine can take seconds; a failed one is tried again.
  const scrape = async (url: string) => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      return res.ok ? await res.text() : '';
    } catch {
      return '';
    }
  };
  const text = await waitFor(`Ray's metrics of ${newLeader}'s node through the balancer`, async () => {
    const body = await scrape(`http://${L.balancer.address}:${LAB_PORTS.metrics}/metrics`);
    return body.includes(`ip="${ip}"`) ? body : null;
  }, 90_000, 500);
  timings[`${label}RayMetrics`] = (Date.now() - t0) / 1000;
  expect(text).not.toContain(`ip="${oldIp}"`);
  await waitFor(`${newLeader}'s own metrics to say it leads`, async () => /^ray_head_ha_is_leader 1$/m.test(await scrape(`http://${ip}:${LAB_HTTP_PORT}/metrics`)), 30_000, 500);
}

/**
 * Submits a Ray Job through the balancer's dashboard the usual way, without
 * resources: the HA head places its supervisor and driver off the head
 * (decision 41), or as `submitOptions` place it. Waits until its driver printed a step.
 */
async function submitStepsJob(id: string, steps: number, submitOptions: string[] = []): Promise<void> {
  await dashboardAnswers();
  const r = await L.jobCli('submit', ['--no-wait', '--submission-id', id, ...submitOptions, '--', 'python', STEPS_JOB, String(steps)]);
  expect(r.code, r.output).toBe(0);
  await waitFor(`job ${id} to run its first steps`, async () => /step 2 /.test((await L.jobCli('logs', [id])).output), 60_000, 500);
}

/**
 * Submits a Ray Job that the user placed on `name`'s head (a label selector on
 * its node ID): it cannot outlive that head. Waits until its driver printed a
 * step.
 */
async function submitJobOnHead(id: string, name: string): Promise<void> {
  const ip = L.host(name).address;
  const head = tables.get(name)!.latest()?.find((n) => n.head && n.state === 'ALIVE' && n.ip === ip);
  expect(head, `${name}'s head node in its own node table`).toBeDefined();
  await submitStepsJob(id, 100_000, ['--entrypoint-label-selector', JSON.stringify({ 'ray.io/node-id': head!.id })]);
}

/**
 * Polls `ray job status` (the new head's dashboard reads the job table; no
 * request reaches its job manager) until the job is no longer PENDING or
 * RUNNING, for up to `timeoutMs`. Resolves with the status and when it ended.
 */
async function jobEnds(id: string, timeoutMs: number): Promise<{ status: string | null; at: number }> {
  const until = Date.now() + timeoutMs;
  let status: string | null = null;
  while (Date.now() < until) {
    status = await L.jobStatus(id, { timeoutMs: 20_000 });
    if (status !== null && status !== 'RUNNING' && status !== 'PENDING') return { status, at: Date.now() };
    await sleep(1000);
  }
  return { status, at: Date.now() };
}

/** The dashboard through the balancer (the job API's address). */
async function dashboardAnswers(timeoutMs = 60_000): Promise<void> {
  await waitFor('the dashboard through the balancer', async () => {
    const res = await fetch(`http://${L.balancer.address}:${LAB_PORTS.dashboard}/api/version`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    return res?.ok ?? false;
  }, timeoutMs, 200);
}

/** The job ends SUCCEEDED on the head that leads now, its driver ran on a worker, and its logs hold every step. */
async function jobSucceeded(id: string, steps: number): Promise<void> {
  await dashboardAnswers();
  const { status } = await jobEnds(id, 120_000);
  expect(status).toBe('SUCCEEDED');
  const logs = (await L.jobCli('logs', [id])).output;
  expect(stepsInLogs(logs, steps), `the logs of ${id}: ${logs.slice(-1500)}`).toEqual({ done: steps, missing: [] });
  const list = (await L.jobCli('list')).output;
  expect(L.workers.map((w) => L.host(w).address), `the driver of ${id} ran on ${driverIp(list, id)}`).toContain(driverIp(list, id));
}

/** The IP of the node where job `id`'s driver ran, from `ray job list`'s output. */
function driverIp(list: string, id: string): string | undefined {
  return new RegExp(`submission_id='${id}', driver_info=DriverInfo\\(id='[0-9a-f]+', node_ip_address='([0-9.]+)'`).exec(list)?.[1];
}

async function standsBy(name: string): Promise<void> {
  await waitFor(`${name} to stand by`, () => L.events(name).some((e) => /-> standby$/.test(e.msg)), 60_000, 100);
  await sleep(2 * RETRY_MS);
  expect(await holder()).not.toBe(name);
  expect(L.rayProcessesOn(name).filter((c) => /gcs_server|raylet/.test(c)), L.logTail(name)).toEqual([]);
  expect(await L.readyz(name)).toBe(503);
}

beforeAll(async () => {
  L = await startRayLab({ candidates: 2, workers: WORKERS, ttlMs: TTL_MS, retryMs: RETRY_MS });
  sampler = setInterval(() => {
    const hosts = L.gcsHosts();
    if (hosts.length > 1) overlaps.push({ at: Date.now(), hosts });
  }, 20);
}, 60_000);

afterAll(async () => {
  clearInterval(sampler);
  watcher?.kill();
  tasks?.kill();
  for (const t of tables.values()) t.stop();
  console.log(`lab e2e timings (s): ${JSON.stringify(timings)}`);
  L?.close();
}, 60_000);

describe.sequential('head HA on real Ray across hosts', () => {
  it('c1 leads, c2 stands by, the balancer routes to c1 only, a worker joins through it, a detached actor lives on the worker', async () => {
    await L.startCandidate('c1');
    await leaderServes('c1', 60_000);
    await L.startCandidate('c2');
    await standsBy('c2');
    expect(await L.readyz('c1')).toBe(200);

    const worker = await L.startWorker();
    for (const w of L.workers.slice(1)) await L.startWorker(w);
    const created = await L.createActor();
    expect(created.value).toBe(1);
    counter = 1;
    // The worker is plain Ray: the shim handed only the head to the orchestrator.
    expect(worker.commands().some((c) => c.includes('ray-head-ha'))).toBe(false);
    expect(L.pods.get('c1')!.commands().some((c) => c.includes('ray-head-ha.js run'))).toBe(true);
    // The worker's raylet was given the balancer, never a candidate's own address.
    expect(worker.commands().find((c) => c.includes('ray start'))).toContain(`--address=${L.gcsAddress}`);

    const status = statusJson();
    expect(status.leader?.id).toBe('c1');
    expect(status.leader?.gcsAddress).toBe(`${L.host('c1').address}:${LAB_PORTS.gcs}`);
    await actorAnswers();
    watcher = await L.readyProbe('watch', { deadlineS: 3600 });
    tasks = await L.readyProbe('tasks', { deadlineS: 3600 });
    for (const c of L.candidates) tables.set(c, await L.nodeTable({ address: `${L.host(c).address}:${LAB_PORTS.gcs}` }));
    const all = await L.probe('workers', { deadlineS: 120, workers: WORKERS }).next();
    expect(all.ran?.length, JSON.stringify(all)).toBe(WORKERS);
    // A job before any fault: the history must keep it.
    const r = await L.jobCli('submit', ['--submission-id', 'before', '--', 'python', STEPS_JOB, '3', '0']);
    expect(r.code, r.output).toBe(0);
    expect(await L.jobStatus('before')).toBe('SUCCEEDED');
    // Jobs submitted without resources run their driver off the head (decision 41), where Ray would
    // place each at random among the four nodes (1 in 4 on the head).
    const batch = Array.from({ length: 8 }, (_, i) => `no-resources-${i}`);
    for (const id of batch) {
      const s = await L.jobCli('submit', ['--no-wait', '--submission-id', id, '--', 'python', STEPS_JOB, '1', '0']);
      expect(s.code, s.output).toBe(0);
    }
    for (const id of batch) await waitFor(`job ${id} to succeed`, async () => (await L.jobStatus(id)) === 'SUCCEEDED', 120_000, 1000);
    const list = (await L.jobCli('list')).output;
    const workerIps = L.workers.map((w) => L.host(w).address);
    for (const id of ['before', ...batch]) expect(workerIps, `the driver of ${id} ran on ${driverIp(list, id)}`).toContain(driverIp(list, id));
  }, 300_000);

  it('pod kill of the leader: c2 takes over, the balancer follows, the actor keeps its state, the dashboard answers through the balancer', async () => {
    const t0 = Date.now();
    L.podKill('c1');
    const accepted = await acceptsAt('c2', TTL_MS + 30_000);
    await leaderServes('c2', TTL_MS + 30_000);
    timings['podKillToBalancer'] = (Date.now() - t0) / 1000;
    await oneLiveHeadAndEveryWorker('podKill', 'c2', t0, accepted);
    await actorAnswers();
    timings['podKillToActor'] = (Date.now() - t0) / 1000;
    await dashboardAnswers();
    timings['podKillToDashboard'] = (Date.now() - t0) / 1000;
    expect(statusJson().leader?.id).toBe('c2');
  }, 240_000);

  it('c1 restarted as the kubelet does it (new temp dir) stands by', async () => {
    await L.restartCandidate('c1');
    await standsBy('c1');
  }, 90_000);

  it('graceful stop of the leader: it exits 0, c1 takes over, the actor answers, a Ray Job running through it succeeds; a job placed on the old head ends FAILED', async () => {
    await submitStepsJob('graceful', JOB_STEPS);
    // After the job above: a job manager that a job request builds (its `ray job logs` reaches a
    // worker's agent) watches the jobs that run at that moment, and would end this one.
    await submitJobOnHead('graceful-on-head', 'c2');
    const old = L.pods.get('c2')!;
    const t0 = Date.now();
    L.gracefulStop('c2');
    // Until the new head's job manager runs, nothing ends a job whose supervisor died with the
    // old head (ray-project/ray#65037): the leader starts it (decision 40), no job request does.
    const onHeadEnded = jobEnds('graceful-on-head', 150_000);
    const accepted = await acceptsAt('c1', 30_000);
    await leaderServes('c1', 30_000);
    timings['termToBalancer'] = (Date.now() - t0) / 1000;
    await oneLiveHeadAndEveryWorker('graceful', 'c1', t0, accepted);
    expect(await old.exited, L.logTail('c2')).toEqual({ code: 0, signal: null });
    expect(L.rayProcessesOn('c2')).toEqual([]);
    await actorAnswers();
    timings['termToActor'] = (Date.now() - t0) / 1000;
    // Before any other job request (jobSucceeded reads logs through an agent, which builds its job manager).
    const ended = await onHeadEnded;
    expect(ended.status, 'the job whose driver ran on the old head').toBe('FAILED');
    timings['gracefulOnHeadJobFailed'] = (ended.at - t0) / 1000;
    await jobSucceeded('graceful', JOB_STEPS);
    await L.restartCandidate('c2');
    await standsBy('c2');
  }, 360_000);

  it('the driver connected through the pod kill and the graceful stop: the counter never went backwards, it answers after', async () => {
    watcher.stop();
    const w = await watcher.next();
    expect(w.error, JSON.stringify(w)).toBeUndefined();
    expect(w.backwards).toEqual([]);
    expect(w.calls).toBeGreaterThan(100);
    // Failed calls and the longest gap are what issue 12 drives down; reported here, asserted by no test.
    timings['connectedDriverLongestGap'] = (w.longestGapMs ?? 0) / 1000;
    timings['connectedDriverFailedCalls'] = w.failed ?? -1;
    // Another driver stays connected through the partition and the host death: reported, and it must never go backwards.
    watcher = await L.readyProbe('watch', { deadlineS: 3600 });
    // The connected driver's calls and the fresh drivers' calls share one counter.
    await actorAnswers();
    expect(counter).toBeGreaterThan(w.last!);
  }, 60_000);

  it('partition of the leader: its host runs no Ray process before c2 leads; c2 serves; healed and restarted, c1 stands by', async () => {
    const old = L.pods.get('c1')!;
    const t0 = Date.now();
    L.partition('c1');
    // The lease can only expire after the old head is dead (renewDeadline + killGrace < ttl):
    // the moment c2 holds it, c1's host must have nothing of Ray left.
    await waitFor('c2 to hold the lease', async () => (await holder()) === 'c2', TTL_MS + 30_000, 10);
    timings['partitionToLease'] = (Date.now() - t0) / 1000;
    expect(L.rayProcessesOn('c1'), 'Ray processes on the fenced host when c2 took the lease').toEqual([]);
    expect((await old.exited).code, L.logTail('c1')).toBe(3);
    expect(L.host('c1').commands()).toEqual([]);
    const accepted = await acceptsAt('c2', 60_000);
    await leaderServes('c2', 60_000);
    await oneLiveHeadAndEveryWorker('partition', 'c2', t0, accepted);
    await actorAnswers();
    timings['partitionToActor'] = (Date.now() - t0) / 1000;
    L.heal('c1');
    await L.restartCandidate('c1');
    await standsBy('c1');
  }, 300_000);

  it('host death of the leader (link cut, every process killed): c1 takes over after the ttl, a Ray Job running through it succeeds, one placed on the old head ends FAILED; the host comes back as a standby', async () => {
    await submitStepsJob('host-death', JOB_STEPS);
    await submitJobOnHead('host-death-on-head', 'c2');
    const t0 = Date.now();
    L.hostDeath('c2');
    const onHeadEnded = jobEnds('host-death-on-head', 150_000);
    const accepted = await acceptsAt('c1', TTL_MS + 30_000);
    await leaderServes('c1', TTL_MS + 30_000);
    timings['hostDeathToBalancer'] = (Date.now() - t0) / 1000;
    await oneLiveHeadAndEveryWorker('hostDeath', 'c1', t0, accepted);
    await actorAnswers();
    timings['hostDeathToActor'] = (Date.now() - t0) / 1000;
    const ended = await onHeadEnded;
    expect(ended.status, 'the job whose driver ran on the dead host').toBe('FAILED');
    timings['hostDeathOnHeadJobFailed'] = (ended.at - t0) / 1000;
    await jobSucceeded('host-death', JOB_STEPS);
    L.revive('c2');
    await L.startCandidate('c2');
    await standsBy('c2');
  }, 360_000);

  it('head crash (the leader\'s gcs_server killed): the leader stops the rest of its head at once, releases, exits 1; c2 takes over without waiting out the ttl; a Ray Job running through it succeeds', async () => {
    expect(await holder()).toBe('c1');
    await submitStepsJob('head-crash', JOB_STEPS);
    const old = L.pods.get('c1')!;
    const t0 = Date.now();
    expect(L.headCrash('c1')).toBe(true);
    const exit = await old.exited;
    timings['headCrashToOldExit'] = (Date.now() - t0) / 1000;
    expect(exit.code, L.logTail('c1')).toBe(1);
    expect(L.events('c1').some((e) => e.msg === 'the head failed; stopping the rest of its tree')).toBe(true);
    expect(L.events('c1').some((e) => e.msg === 'stepping-down -> stopped' && e['reason'] === 'gcs-exit')).toBe(true);
    expect(L.rayProcessesOn('c1')).toEqual([]);
    // Released, not expired: the standby was woken by the release.
    const accepted = await acceptsAt('c2', 60_000);
    await leaderServes('c2', 60_000);
    timings['headCrashToBalancer'] = (Date.now() - t0) / 1000;
    await oneLiveHeadAndEveryWorker('headCrash', 'c2', t0, accepted);
    expect(L.events('c2').some((e) => e.msg === 'standby -> leading' && Date.parse(String(e['time'])) - t0 < TTL_MS)).toBe(true);
    await actorAnswers();
    timings['headCrashToActor'] = (Date.now() - t0) / 1000;
    await jobSucceeded('head-crash', JOB_STEPS);
    await L.restartCandidate('c1');
    await standsBy('c1');
  }, 240_000);

  it('the driver connected through the partition and the host death: the counter never went backwards, it answers after', async () => {
    watcher.stop();
    const w = await watcher.next();
    expect(w.error, JSON.stringify(w)).toBeUndefined();
    expect(w.backwards).toEqual([]);
    timings['hardFaultsConnectedLongestGap'] = (w.longestGapMs ?? 0) / 1000;
    timings['hardFaultsConnectedFailedCalls'] = w.failed ?? -1;
    await actorAnswers();
    expect(counter).toBeGreaterThan(w.last!);
  }, 60_000);

  it('a driver connected through every fault submitted a fresh task every 100 ms: every task completed', async () => {
    tasks.stop();
    const t = await tasks.next();
    expect(t.error, JSON.stringify(t)).toBeUndefined();
    expect(t.failed, JSON.stringify(t)).toBe(0);
    expect(t.tasks).toBeGreaterThan(500);
    // The longest wait between two results, per fault (reported; the target is what every task completing asserts).
    for (const [i, f] of faultTimes.entries()) {
      const end = faultTimes[i + 1]?.at ?? Infinity;
      const gaps = (t.gaps ?? []).filter(([from]) => from >= f.at - 1000 && from < end).map(([from, to]) => to - from);
      timings[`${f.label}TasksLongestGap`] = Math.max(0, ...gaps) / 1000;
    }
    timings['tasksLongestGap'] = (t.longestGapMs ?? 0) / 1000;
  }, 60_000);

  it('the job history on the leader now keeps every job, the one from before the first fault too', async () => {
    await dashboardAnswers();
    const list = (await L.jobCli('list')).output;
    for (const id of ['before', 'graceful', 'host-death', 'head-crash']) {
      expect(new RegExp(`submission_id='${id}'[^<]*status=<JobStatus\\.(\\w+)`).exec(list)?.[1], list.slice(-3000)).toBe('SUCCEEDED');
    }
  }, 60_000);

  it('a previous GCS that keeps answering: the new leader never starts a head and exits 3', async () => {
    // The node-table watchers dial every candidate's GCS address every 100 ms: against a listener
    // that never accepts they would fill its backlog, and the address would stop answering.
    for (const t of tables.values()) t.stop();
    // The leader's host is killed and something answers on its GCS address (a head we do not control).
    const leader = (await holder())!;
    const other = L.candidates.find((c) => c !== leader)!;
    const standby = L.pods.get(other)!;
    L.podKill(leader);
    const stale = await L.host(leader).spawn('stale-gcs', [
      'python3', '-c', `import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', ${LAB_PORTS.gcs})); s.listen(64); time.sleep(600)`,
    ]);
    await waitFor('the stale GCS address to answer', () => L.gcsListeningOn(leader), 10_000, 20);
    // The standby was started with the default wait (60 s); a restart with a short one shows the timeout path.
    await standby.kill();
    const next = await L.startCandidate(other, { env: { RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS: '3000' } });
    const exit = await next.exited;
    expect(exit.code, L.logTail(other)).toBe(3);
    expect(L.events(other).some((e) => e.msg.includes('previous GCS still answers') && (e['previousGcsAddresses'] as string[] | undefined)?.includes(`${L.host(leader).address}:${LAB_PORTS.gcs}`))).toBe(true);
    expect(L.events(other).some((e) => e.msg === 'head started')).toBe(false);
    expect(L.rayProcessesOn(other)).toEqual([]);
    await stale.kill();
  }, 120_000);

  it('no two hosts ran a gcs_server at once (sampled every 20 ms)', () => {
    expect(overlaps).toEqual([]);
  });
});

describe.sequential('HA off: the shim is stock Ray', () => {
  it('`ray start --head --block` through the shim is Ray itself: same process, same exit code on SIGTERM', async () => {
    for (const name of L.candidates) L.podKill(name);
    const results: Array<{ code: number | null; signal: string | null; init: string }> = [];
    for (const via of ['shim', 'stock']) {
      const host = L.host('c1');
      const pod: Pod = await host.spawn(`off-${via}`, [
        via === 'shim' ? 'ray' : path.join(ROOT, '.venv', 'bin', 'ray'),
        'start', '--head', '--block', `--port=${LAB_PORTS.gcs}`, `--node-ip-address=${host.address}`, '--num-cpus=0',
        `--temp-dir=${L.lab.workDir}/off-${via}`, '--disable-usage-stats',
      ], { env: L.baseEnv({ RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S: '0' }) });
      await waitFor(`the ${via} head to start`, () => L.gcsListeningOn('c1'), 60_000, 100);
      const init = readFileSync(`/proc/${pod.initPid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ');
      pod.signalInit('SIGTERM');
      const exit = await pod.exited;
      results.push({ ...exit, init });
      await pod.kill();
    }
    // The shim exec'd the real ray (python running .venv/bin/ray), no orchestrator in between.
    expect(results[0]!.init).toMatch(/\.venv\/bin\/python3? \S*\.venv\/bin\/ray start/);
    expect({ code: results[0]!.code, signal: results[0]!.signal }).toEqual({ code: results[1]!.code, signal: results[1]!.signal });
    // Stock Ray's own code for a SIGTERMed `ray start --block` (node.py: sys.exit(1)).
    expect(results[1]!.code).toBe(1);
  }, 150_000);
});
