/**
 * ray-head-ha on a real Kubernetes (scripts/k8s-lab/: two nodes, each its own
 * kubelet, containerd and kube-proxy; CoreDNS; the KubeRay operator), with the
 * manifests of deploy/kubernetes/ applied as written. Two head candidates (the
 * RayCluster's head pod and a StatefulSet pod, one per node by a required
 * anti-affinity), one KubeRay worker, a detached actor on it, the demo Redis
 * with its password from a Secret, pods under the `restricted` Pod Security
 * level.
 *
 * The Service `ray-head` selects the role label the leader sets on its own
 * pod; every running candidate is Ready, so the PodDisruptionBudget and a
 * rolling update work as for any workload (both tested).
 *
 * Least privilege (docs/design.md, decision 37): the label is set by each
 * pod's sidecar `role-labeler`, the only container with a token, narrowed by
 * a ValidatingAdmissionPolicy to the role label; Ray's Redis user cannot
 * touch the lease. Tested from inside the pods: a process in the leader's
 * head container finds no token, can patch no pod and cannot touch the
 * lease; the sidecar's token can change its role label and nothing else.
 *
 * What the user runs (issue 21): the Serve app of serve.yaml, deployed by a
 * Ray Job through the leader Service, takes steady requests (20 a second,
 * RHHA_K8S_SERVE_RPS) through the Service `ray-serve` (the workers' proxies)
 * from the start of the faults to
 * the end (a process of its own, scripts/k8s-lab/serve-traffic.mjs); every
 * fault's failed requests and longest gap are reported, and Serve must have
 * answered while no head served. A Ray Job submitted through the leader
 * Service the usual way (`ray job submit --address http://ray-head:8265`, no
 * resources: the HA head runs it on the worker, decision 41) runs through the
 * graceful failover to SUCCEEDED with every line of its logs.
 *
 * Faults, each followed by: the Service `ray-head` has exactly the new
 * leader's pod as endpoint within a bound, a new driver (in the worker pod,
 * through the Service's DNS name) gets the actor's next value (its state
 * survived), and the old leader's pod comes back as a standby:
 *   the leader pod deleted (graceful), the leader container killed (SIGKILL
 *   from the node), the leader's node partitioned (its link down, everything
 *   on it still running), the leader's node lost (link down, then every
 *   process of the node killed; the node boots again afterwards), and last
 *   deleting the RayCluster while a StatefulSet candidate leads: its GCS state
 *   in Redis and its leadership survive.
 *
 * Needs root and what scripts/k8s-lab/up.sh needs (`scripts/setup.sh --k8s`
 * installs it). The first run builds and caches the binaries and images
 * (about 10 minutes on an idle 2-core machine); the cluster is up in about
 * 70 s after that. `npm run test:k8s` runs this file alone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN, KUBECONFIG, NS, ROOT, candidates, ctr, kubectlJson, deployExample, describeExample, driver, kubectl, labScript,
  exampleLeader, exampleSettled, leaseHolder, newTermServing, node, node2Ready, podLogs, serveUrl, serviceEndpoints, sleep, waitFor, workerPod, type Pod,
} from './k8s-lab.js';
import { jobStatusOf, stepsInLogs } from '../helpers/ray-job.js';
import { readTrafficFile, windowStats, type RequestResult } from '../helpers/steady-http.js';

// A bound on the Service following the leader, from the fault: the ttl (a
// crash or a partition waits it out), the GCS start under this shared
// machine's load and the API calls that move the role label (the new leader
// takes it off a partitioned or lost leader's pod itself).
const FOLLOW_BOUND_MS = 75_000;
const timings: Record<string, Record<string, number>> = {};
let counter = 0;
let up = false;
const REDIS_PASSWORD = crypto.randomUUID().replaceAll('-', '');

/** Keys of the storage namespace in the demo Redis (Ray's tables and the lease), listed by Ray's user. */
function redisKeys(): number {
  const out = kubectl(['-n', NS, 'exec', 'redis-0', '--', 'env', `REDISCLI_AUTH=${REDIS_PASSWORD}`,
    'redis-cli', '--scan', '--pattern', '*ray-ha-demo*']);
  return out.split('\n').filter(Boolean).length;
}

// 5 a second in the suite: it shares 2 cores with two nodes and two heads, and at
// 20 a second the worker's Serve proxy and replica took about 40 % of a core, enough
// to push a new head's `ray start` past Ray's 30 s registration wait. The 50 a
// second the issue names was measured with this test (RHHA_K8S_SERVE_RPS=50,
// docs/measurements.md).
const SERVE_RPS = Number(process.env['RHHA_K8S_SERVE_RPS'] ?? 5);
if (!(SERVE_RPS > 0 && SERVE_RPS <= 200)) throw new Error(`RHHA_K8S_SERVE_RPS must be a rate from 1 to 200, got ${process.env['RHHA_K8S_SERVE_RPS']}`);
let serveTraffic: { proc: ChildProcess; dir: string; file: string } | null = null;

/** Starts the Serve client (its own process: kubectl here blocks this event loop). */
function startServeTraffic(): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'rhha-k8s-serve-'));
  const file = path.join(dir, 'requests');
  const proc = spawn(process.execPath, [path.join(ROOT, 'scripts/k8s-lab/serve-traffic.mjs'), serveUrl(), String(SERVE_RPS), file], { stdio: 'ignore' });
  serveTraffic = { proc, dir, file };
}

function stopServeTraffic(): void {
  if (!serveTraffic) return;
  serveTraffic.proc.kill('SIGTERM');
  rmSync(serveTraffic.dir, { recursive: true, force: true });
  serveTraffic = null;
}

/** Every change of the leader Service's endpoints, timestamped here: for a failure message. */
const endpointHistory: string[] = [];
let endpointWatch: ChildProcess | null = null;
function watchEndpoints(): void {
  endpointWatch = spawn(path.join(BIN, 'kubectl'), ['-n', NS, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=ray-head', '-w', '-o',
    'jsonpath={range .endpoints[*]}{.addresses[0]} ready={.conditions.ready} {end}{"\\n"}'], { env: { ...process.env, KUBECONFIG }, stdio: ['ignore', 'pipe', 'ignore'] });
  endpointWatch.stdout!.on('data', (d: Buffer) => {
    for (const line of String(d).split('\n')) if (line.trim()) endpointHistory.push(`${new Date().toISOString().slice(11, 23)} ${line.trim()}`);
  });
}

function serveResults(): RequestResult[] {
  return readTrafficFile(serveTraffic!.file);
}

/**
 * Serve through a fault: the requests that ended from the fault (t0) to now,
 * recorded under `label`; Serve answered while no head served (between the
 * fault and the new leader behind the Service, `followMs`).
 */
function serveKeptAnswering(label: string, t0: number, followMs: number): void {
  const results = serveResults();
  const all = windowStats(results, t0, Date.now());
  const whileNoHead = windowStats(results, t0, t0 + followMs);
  Object.assign(timings[label]!, { serveFailed: all.failed, serveOk: all.ok, serveLongestGapMs: all.longestGapMs });
  // Why requests failed (status or error), counted: serveFailed_<why>.
  for (const [why, n] of Object.entries(all.failedWhy)) timings[label]![`serveFailed_${why}`] = n;
  expect(whileNoHead.ok, `Serve through ray-serve between the fault and the new leader (${followMs} ms): ${JSON.stringify(whileNoHead)}`).toBeGreaterThan(0);
}

// A Ray Job through the leader Service, submitted from the worker pod; its
// working directory (scripts/lab/steps-job.py) is uploaded by the CLI.
const JOB_DIR = '/tmp/rhha-job';
const JOB_STEPS = 40;

/** `ray job VERB` in the worker pod through the leader Service: what it printed, stdout and stderr (the CLI logs to both). */
function rayJob(verb: string, args: string[], timeoutMs = 60_000): string {
  return kubectl(['-n', NS, 'exec', workerPod(), '--', 'bash', '-c', 'exec "$@" 2>&1', 'ray-job', 'timeout', String(Math.ceil(timeoutMs / 1000)),
    'ray', 'job', verb, '--address', 'http://ray-head:8265', ...args], { timeoutMs: timeoutMs + 10_000, allowFail: true });
}

/** The dashboard answers through the leader Service, asked from the worker pod (it starts after the GCS). */
async function dashboardAnswers(): Promise<void> {
  await waitFor('the dashboard through ray-head:8265', () => /^200$/m.test(kubectl(['-n', NS, 'exec', workerPod(), '--', 'python3', '-c',
    'import urllib.request; print(urllib.request.urlopen("http://ray-head:8265/api/version", timeout=5).status)'], { timeoutMs: 30_000, allowFail: true })), 120_000, 1000);
}

/**
 * The leader's `ray start` finished in its current term ("Ray runtime started"
 * after its last "head started"). Until then its head may still give up: Ray
 * waits at most 30 s for its own raylet to register, and on this loaded
 * machine a head whose GCS and dashboard already answered did (the job
 * submitted to it got a closed connection).
 */
async function leaderRayStarted(): Promise<void> {
  await waitFor('the leader\'s ray start to finish', async () => {
    const l = await leader();
    const own = candidateLines(l, (incarnation) => incarnation === l.restarts, 2000).join('\n');
    const started = own.lastIndexOf('"msg":"head started"');
    return started >= 0 && own.indexOf('Ray runtime started', started) > started;
  }, 180_000, 1000);
}

async function submitStepsJob(id: string): Promise<void> {
  await leaderRayStarted();
  await dashboardAnswers();
  kubectl(['-n', NS, 'exec', '-i', workerPod(), '--', 'bash', '-c', `mkdir -p ${JOB_DIR} && cat > ${JOB_DIR}/steps-job.py`], {
    input: readFileSync(path.join(ROOT, 'scripts/lab/steps-job.py'), 'utf8'),
  });
  const out = rayJob('submit', ['--no-wait', '--submission-id', id, '--working-dir', JOB_DIR,
    '--', 'python', 'steps-job.py', String(JOB_STEPS)], 120_000);
  if (!new RegExp(`Job '${id}' submitted successfully`).test(out)) console.error(`ray job submit ${id} failed at ${new Date().toISOString()}:\n${out.slice(-800)}\nray-head endpoints seen:\n${endpointHistory.slice(-30).join('\n')}\n${describeExample()}`);
  expect(out, out).toMatch(new RegExp(`Job '${id}' submitted successfully`));
  await waitFor(`job ${id} to run its first steps`, () => /step 2 /.test(rayJob('logs', [id])), 120_000, 1000);
}

async function jobSucceeded(id: string): Promise<void> {
  let status: string | null = null;
  await waitFor(`job ${id} to end`, () => {
    status = jobStatusOf(rayJob('status', [id]));
    return status !== null && status !== 'RUNNING' && status !== 'PENDING';
  }, 180_000, 2000);
  // The logs through the same Service, from a head whose ray start finished: on this loaded machine
  // a new head can still give up its start (Ray's 30 s wait) and hand over once more.
  let logs = '';
  await waitFor(`ray job logs ${id} through ray-head:8265`, async () => {
    await leaderRayStarted();
    logs = rayJob('logs', [id]);
    return !/Failed to connect to Ray|Connection aborted|Connection refused/.test(logs);
  }, 180_000, 2000);
  expect(status, logs.slice(-1500)).toBe('SUCCEEDED');
  expect(stepsInLogs(logs, JOB_STEPS), logs.slice(-1500)).toEqual({ done: JOB_STEPS, missing: [] });
}

const leader = () => exampleLeader();
const settled = (timeoutMs?: number) => exampleSettled(timeoutMs);

/**
 * Waits until a new term serves: the lease has a higher epoch than `old`'s,
 * its holder's pod is the Service's only endpoint. (After a crash the
 * restarted container of the same pod may win the next term: a new term, the
 * same pod.) On a timeout, says what the lab looked like.
 */
async function serviceFollows(old: Pod & { epoch: number }, t0: number): Promise<{ pod: Pod; followMs: number }> {
  let pod: Pod;
  try {
    pod = await waitFor('the Service to follow a new leader', () => newTermServing(old.epoch), FOLLOW_BOUND_MS, 100);
  } catch (e) {
    console.error(`${String(e)}\n${describeExample()}`);
    throw e;
  }
  return { pod, followMs: Date.now() - t0 };
}

async function actorAnswers(t0: number): Promise<number> {
  const n = await waitFor('a new driver to get the actor\'s answer', () => {
    try {
      return driver('incr', 25);
    } catch {
      return false;
    }
  }, 120_000, 500);
  // The actor kept its state: its counter goes on from where it was (a driver
  // attempt cut off by its timeout may still have called it: never back).
  expect(n).toBeGreaterThan(counter);
  counter = n;
  return Date.now() - t0;
}

/** `name` is Running as a standby that reaches Redis (its own status command reads another holder). */
async function standsBy(name: string, timeoutMs = 120_000): Promise<void> {
  await waitFor(`${name} to come back as a standby`, () => {
    const p = candidates().find((c) => c.name === name);
    if (!p || p.phase !== 'Running' || !p.ready || p.role !== 'standby') return false;
    const holder = leaseHolder(name);
    return holder !== null && holder.id !== name;
  }, timeoutMs, 1000);
}

/**
 * While a crash plays out: the leader Service's endpoints, sampled every
 * 100 ms or so from the fault on (each sample notes when its read began).
 */
function sampleEndpoints(): () => Promise<{ startedAt: number; endpoints: string[] }[]> {
  const samples: { startedAt: number; endpoints: string[] }[] = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const startedAt = Date.now();
      try {
        samples.push({ startedAt, endpoints: serviceEndpoints() });
      } catch {
        // an API blip: no sample this time
      }
      await sleep(100);
    }
  })();
  return async () => {
    stop = true;
    await loop;
    return samples;
  };
}

/**
 * What the container of `name` restarted after `restarts` said about its
 * previous incarnation's lease (decision 30): released, or already ended;
 * when it started and its ttl. False until it said either.
 */
function restartedIncarnation(pod: Pod): { released: boolean; startedAt: number; ttlMs: number } | false {
  let startedAt = NaN;
  let ttlMs = NaN;
  for (const line of candidateLines(pod, (incarnation) => incarnation > pod.restarts)) {
    const e = eventOf(line);
    if (!e) continue;
    if (e.msg === 'candidate starting') {
      startedAt = Date.parse(String(e.time));
      ttlMs = Number(e.ttlMs);
    }
    if (e.msg?.startsWith('released the lease of this container\'s previous incarnation')) return { released: true, startedAt, ttlMs };
    if (e.msg === 'the previous incarnation\'s lease had already ended') return { released: false, startedAt, ttlMs };
  }
  return false;
}

/** When the candidate container of `pod` restarted after `restarts` logged that it leads, or Infinity. */
function ledAfterRestart(pod: Pod): number {
  let at = Infinity;
  for (const line of candidateLines(pod, (incarnation) => incarnation > pod.restarts)) {
    const e = eventOf(line);
    if (e?.to === 'leading') at = Math.min(at, Date.parse(String(e.time)));
  }
  return at;
}

/**
 * The lines of `pod`'s own candidate container (its CRI log files, found by
 * the pod's UID: never a namesake's from before a replacement), in order,
 * from the incarnations (restart counts) that `keep` takes; the last `tail`
 * lines of each file.
 */
function candidateLines({ name, uid }: Pod, keep: (incarnation: number) => boolean, tail = 100_000): string[] {
  const lines: string[] = [];
  let incarnation = -1;
  for (const line of podLogs(NS, name, tail).split('\n')) {
    if (line.startsWith('== ')) {
      incarnation = Number(new RegExp(`^== .*_${uid}/ray-head/(\\d+)\\.log$`).exec(line)?.[1] ?? -1);
      continue;
    }
    if (incarnation >= 0 && keep(incarnation)) lines.push(line);
  }
  return lines;
}

/** The candidate's JSON event on a CRI log line (after the runtime's prefix), or null. */
function eventOf(line: string): { msg?: string; time?: string; ttlMs?: number; to?: string } | null {
  const at = line.indexOf('{');
  if (at < 0) return null;
  try {
    return JSON.parse(line.slice(at)) as { msg?: string; time?: string; ttlMs?: number; to?: string };
  } catch {
    return null;
  }
}

describe('ray-head-ha on Kubernetes with KubeRay', () => {
  beforeAll(async () => {
    await labScript('up.sh', 40 * 60_000);
    up = true;
    counter = await deployExample(REDIS_PASSWORD);
    const nodes = new Set(candidates().map((p) => p.node));
    expect(nodes.size).toBe(2); // the required anti-affinity spread them
    expect(counter).toBeGreaterThanOrEqual(1);
    // serve.yaml's app answers through the Service ray-serve, from the worker's proxy.
    const res = await fetch(serveUrl(), { signal: AbortSignal.timeout(5000) });
    expect(await res.text()).toMatch(new RegExp(`^hello from ${workerPod()}`));
    startServeTraffic();
    watchEndpoints();
  }, 45 * 60_000);

  afterAll(async () => {
    console.log('[k8s] timings (ms):', JSON.stringify(timings));
    stopServeTraffic();
    endpointWatch?.kill();
    if (up) await labScript('down.sh', 5 * 60_000);
    // Nothing left: the run directory is gone and no process names it.
    const pattern = `[${BIN[0]}]${BIN.slice(1)}`; // a pattern that does not match this shell's own command line
    const left = spawnSync('bash', ['-c', `ls -d ${path.dirname(KUBECONFIG)} 2>/dev/null; pgrep -f '${pattern}' || true`], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
  }, 6 * 60_000);

  it('admitted every pod under the restricted Pod Security level', () => {
    const ns = JSON.parse(kubectl(['get', 'ns', NS, '-o', 'json']));
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const pods = JSON.parse(kubectl(['-n', NS, 'get', 'pods', '-o', 'json'])).items;
    expect(pods.length).toBeGreaterThanOrEqual(4); // redis, 2 candidates, a worker
  });

  /** scripts/k8s-lab/least-privilege.py run in a container of `pod`. */
  function leastPrivilege(pod: string, container: 'ray-head' | 'role-labeler', mode: 'head' | 'labeler'): any {
    const out = kubectl(['-n', NS, 'exec', '-i', pod, '-c', container, '--', 'python3', '-', mode, NS, pod], {
      input: readFileSync(path.join(ROOT, 'scripts', 'k8s-lab', 'least-privilege.py'), 'utf8'),
      timeoutMs: 60_000,
    });
    return JSON.parse(out.trim().split('\n').at(-1)!);
  }

  it('a process in the leader\'s head container (where Ray jobs run) finds no token, can patch no pod and cannot touch the lease', async () => {
    const l = await leader();
    const r = leastPrivilege(l.name, 'ray-head', 'head');
    expect(r.token_files).toEqual([]);
    // Anonymous (the only caller it has): RBAC refuses every write, the Redis pod's image and the role label alike.
    for (const [what, answer] of Object.entries(r.k8s.anonymous as Record<string, { status: number }>)) {
      expect([401, 403], `${what}: ${JSON.stringify(answer)}`).toContain(answer.status);
    }
    // Ray's Redis user works on Ray's keys and is refused every touch of the lease and every dangerous command.
    expect(r.redis.auth).toBe('+OK');
    expect(r.redis["ray's own key"]).toBe(':1');
    for (const what of ['del lease', 'set lease', 'pexpire lease', 'eval del lease', 'flushall', 'acl setuser', 'config set']) {
      expect(r.redis[what], what).toMatch(/^-NOPERM/);
    }
    const after = await leader();
    expect({ name: after.name, epoch: after.epoch }).toEqual({ name: l.name, epoch: l.epoch });
  });

  it('the role labeler\'s token changes nothing but the role label of this cluster\'s candidates (ValidatingAdmissionPolicy)', async () => {
    const l = await leader();
    const r = leastPrivilege(l.name, 'role-labeler', 'labeler') as Record<string, { status: number; message: string }>;
    const { 'own role label, unchanged': allowed, ...refused } = r;
    expect(allowed, JSON.stringify(allowed)).toMatchObject({ status: 200 });
    for (const [what, answer] of Object.entries(refused)) {
      expect(answer.status, `${what}: ${JSON.stringify(answer)}`).toBeGreaterThanOrEqual(400);
      expect(answer.message, what).toMatch(/ray-head-ha-labeler/);
    }
  });

  it('labels the leader leader and the standby standby; both are Ready', async () => {
    const l = await leader();
    const standby = candidates().find((p) => p.name !== l.name)!;
    expect(l.role).toBe('leader');
    expect(standby).toMatchObject({ role: 'standby', ready: true, phase: 'Running' });
    expect(serviceEndpoints()).toEqual([l.ip]);
  });

  it('the PodDisruptionBudget lets one candidate go at a time', async () => {
    const evict = (name: string) => kubectl(['create', '--raw', `/api/v1/namespaces/${NS}/pods/${name}/eviction`, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: NS } }),
      allowFail: true,
    });
    const l = await leader();
    const standby = candidates().find((p) => p.name !== l.name)!;
    expect(evict(standby.name)).toMatch(/Success|"status"/);
    // The standby is gone: evicting the leader now is refused (429), nobody Ready could take over.
    expect(evict(l.name)).toBe('');
    expect(candidates().find((p) => p.name === l.name)).toBeDefined();
    await settled();
    expect((await leader()).name).toBe(l.name); // no failover happened
  }, 300_000);

  it('a rolling update of the StatefulSet completes and keeps the cluster serving', async () => {
    kubectl(['-n', NS, 'rollout', 'restart', 'statefulset/ray-head']);
    // Waits until the new pod is Ready: back as a standby, or leading after a graceful handover.
    kubectl(['-n', NS, 'rollout', 'status', 'statefulset/ray-head', '--timeout=300s'], { timeoutMs: 320_000 });
    await settled();
    await actorAnswers(Date.now());
  }, 400_000);

  it('fails over when the leader pod is deleted (graceful); a Ray Job submitted through the leader Service runs through it to SUCCEEDED', async () => {
    await submitStepsJob('k8s-graceful');
    const old = await leader();
    const t0 = Date.now();
    kubectl(['-n', NS, 'delete', 'pod', old.name, '--wait=false']);
    const { followMs } = await serviceFollows(old, t0);
    const answerMs = await actorAnswers(t0);
    const next = await leader();
    timings.graceful = { followMs, answerMs };
    serveKeptAnswering('graceful', t0, followMs);
    await jobSucceeded('k8s-graceful');
    // Another term during the job is possible on this loaded machine (a new head whose
    // `ray start` gave up); the job must survive it too. Recorded, with the lab then.
    const after = await leader();
    timings.graceful!['termsAfterHandover'] = after.epoch === next.epoch ? 1 : 2;
    if (after.epoch !== next.epoch) console.log(`[k8s] another term began during the graceful test's job:\n${describeExample()}`);
    await settled();
  }, 420_000);

  it('fails over when the leader container is killed (crash)', async () => {
    const old = await leader();
    const nodeNumber = old.node === 'k8slab-n1' ? 1 : 2;
    const t0 = Date.now();
    const sampled = sampleEndpoints();
    ctr(nodeNumber, ['tasks', 'kill', '-s', 'SIGKILL', old.containerId]);
    const { followMs } = await serviceFollows(old, t0);
    const answerMs = await actorAnswers(t0);
    timings.crash = { followMs, answerMs };
    serveKeptAnswering('crash', t0, followMs);
    // Restart in place (RAY_HA_INSTANCE_DIR): the restarted container, its shim the init again and
    // holding the instance lock, released the crashed incarnation's lease instead of leaving it to expire.
    // (A container that restarted before is restarted after the kubelet's back-off, 10 s and
    // more: when that is past the ttl the lease has already ended, which it must then say.)
    let restarted: { released: boolean; startedAt: number; ttlMs: number };
    try {
      restarted = await waitFor('the restarted container to release its previous lease', () => restartedIncarnation(old), 90_000, 500);
    } catch (e) {
      console.error(`${String(e)}\n${old.name} (${old.restarts} restarts before the kill):\n${podLogs(NS, old.name, 60)}\n${describeExample()}`);
      throw e;
    }
    timings.crash!['restartedAfterMs'] = restarted.startedAt - t0;
    if (!restarted.released) {
      expect(restarted.startedAt - t0, `${old.name}'s restarted container did not release the lease it held, yet started within the ttl`).toBeGreaterThanOrEqual(restarted.ttlMs - 2000);
    }
    await settled();
    // Decision 31 (a): the restarted container, in a pod that was labeled leader, is not routed to
    // before it leads again (it labels itself standby before it can be Ready). Once the crashed
    // pod's address has left the Service, it comes back only after its new incarnation leads (or never).
    const samples = await sampled();
    const gone = samples.findIndex((x) => !x.endpoints.includes(old.ip));
    expect(gone, 'the crashed pod left the Service').toBeGreaterThanOrEqual(0);
    const ledAt = ledAfterRestart(old);
    const early = samples.slice(gone).filter((x) => x.endpoints.includes(old.ip) && x.startedAt < ledAt);
    expect(early, `routed to ${old.name}'s restarted container before it led (at ${ledAt})`).toEqual([]);
  }, 300_000);

  /**
   * Hands over gracefully until the leader is `what` (`wanted`). Every standby
   * competes after a handover, the replacement of the deleted pod too, and on
   * this loaded machine a new head's `ray start` can give up, so it may take
   * more than one.
   */
  async function handOverUntil(what: string, wanted: (p: Pod) => boolean): Promise<Pod & { epoch: number }> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const l = await leader();
      if (wanted(l)) return l;
      if (attempt > 0) console.log(`[k8s] handover ${attempt} did not make ${what} the leader:\n${describeExample()}`);
      kubectl(['-n', NS, 'delete', 'pod', l.name, '--wait=false']);
      await serviceFollows(l, Date.now());
      await actorAnswers(Date.now());
      await settled();
    }
    throw new Error(`${what} did not take the lease in 4 handovers:\n${describeExample()}`);
  }
  /** A candidate on node 2 leads (node 1 is this machine and holds Redis and the worker). */
  const leaderOnNode2 = () => handOverUntil('a candidate on node 2', (p) => p.node === 'k8slab-n2');

  it('fails over when the leader\'s node is partitioned, and the node comes back as a standby', async () => {
    const old = await leaderOnNode2();
    const t0 = Date.now();
    node('partition');
    try {
      const { followMs } = await serviceFollows(old, t0);
      const answerMs = await actorAnswers(t0);
      timings.partition = { followMs, answerMs };
      serveKeptAnswering('partition', t0, followMs);
    } finally {
      node('heal');
    }
    await node2Ready();
    await standsBy(old.name, 180_000);
    await settled();
  }, 600_000);

  it('fails over when the leader\'s node is lost (power off), and its pod stands by once the node boots', async () => {
    const old = await leaderOnNode2();
    const t0 = Date.now();
    node('lose');
    try {
      const { followMs } = await serviceFollows(old, t0);
      const answerMs = await actorAnswers(t0);
      timings.nodeLost = { followMs, answerMs };
      serveKeptAnswering('nodeLost', t0, followMs);
      // The new leader took the role label off the lost leader's pod (that is what took it out of the
      // Service; the node controller would only mark it not Ready after its grace).
      const lost = kubectlJson<{ items: { metadata: { name: string; labels: Record<string, string> } }[] }>(['-n', NS, 'get', 'pods'])
        .items.find((p) => p.metadata.name === old.name);
      expect(lost?.metadata.labels['ray-head-ha/role'] ?? 'gone').not.toBe('leader');
    } finally {
      node('revive');
    }
    await node2Ready();
    // The kubelet restarts the lost pod's container (or KubeRay replaces its head pod): a standby again.
    await settled(240_000);
    expect(leaseHolder()!.id, describeExample()).not.toBe(old.name);
  }, 600_000);

  it('deleting the RayCluster keeps the GCS state a StatefulSet leader uses', async () => {
    const l = await handOverUntil('the StatefulSet\'s candidate', (p) => p.owner === 'statefulset');
    stopServeTraffic(); // the workers go with the RayCluster
    const epoch = leaseHolder(l.name)!.epoch;
    const before = redisKeys();
    expect(before).toBeGreaterThan(0);
    kubectl(['-n', NS, 'delete', 'raycluster', 'ray-ha-demo', '--wait=true', '--timeout=120s']);
    await sleep(5000);
    // No cleanup Job, the same leader at the same epoch, its GCS still answering through the Service.
    // (Asked in the leader's own pod: the deleted head pod may have been the only candidate on node 1.)
    expect(kubectl(['-n', NS, 'get', 'jobs', '-o', 'name']).split('\n').filter((j) => j && j !== 'job.batch/ray-serve-deploy')).toEqual([]);
    expect(leaseHolder(l.name)).toEqual({ id: l.name, epoch });
    expect(serviceEndpoints()).toEqual([l.ip]);
    expect(redisKeys()).toBeGreaterThanOrEqual(before);
    const ns = kubectl(['-n', NS, 'exec', l.name, '--', 'python3', '-c',
      'import ray; ray.init(address="ray-head:6379", namespace="k8s-e2e", logging_level="ERROR"); ' +
      'from ray.util.state import list_actors; print("ACTORS", len([a for a in list_actors(filters=[("name","=","counter")])]))'], { timeoutMs: 90_000 });
    expect(ns).toMatch(/^ACTORS 1$/m); // the detached actor is still known to the GCS
  }, 300_000);
});
