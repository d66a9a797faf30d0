/**
 * ray-head-ha on a real Kubernetes (scripts/k8s-lab/: two nodes, each its own
 * kubelet, containerd and kube-proxy; CoreDNS; the KubeRay operator), with the
 * manifests of deploy/kubernetes/ applied as written. Two head candidates (the
 * RayCluster's head pod and a StatefulSet pod, one per node by a required
 * anti-affinity), one KubeRay worker, a detached actor on it, the demo Redis
 * with its password from a Secret, pods under the `restricted` Pod Security
 * level.
 *
 * Faults, each followed by: the Service `ray-head` has exactly the new
 * leader's pod as endpoint within a bound, a new driver (in the worker pod,
 * through the Service's DNS name) gets the actor's next value (its state
 * survived), and the old leader's pod comes back as a standby:
 *   the leader pod deleted (graceful), the leader container killed (SIGKILL
 *   from the node), the leader's node partitioned (its link down), and last
 *   deleting the RayCluster while a StatefulSet candidate leads: its GCS state
 *   in Redis and its leadership survive.
 *
 * Needs root and what scripts/k8s-lab/up.sh needs (it builds and caches the
 * binaries and images on first use: about an hour on a loaded 2-core machine,
 * 70 s for the cluster after that). Not in `npm test` (too long for CI's
 * budget with a cold cache): `npm run test:k8s`.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN, KUBECONFIG, NS, ROOT, candidates, driver, kubectl, labScript, leaseHolder,
  serviceEndpoints, sleep, waitFor, type Pod,
} from './k8s-lab.js';

const MANIFESTS = path.join(ROOT, 'deploy', 'kubernetes');
const TTL_MS = 15_000; // config.yaml
// A bound on the Service following the leader, from the fault: the ttl (a
// crash or a partition waits it out), the GCS start under this shared
// machine's load, the readiness period, and for a partition the node
// controller's grace (20 s in the lab) before the old endpoint goes.
const FOLLOW_BOUND_MS = 75_000;
const timings: Record<string, Record<string, number>> = {};
let counter = 0;
let up = false;
const REDIS_PASSWORD = crypto.randomUUID().replaceAll('-', '');

/** Keys of the storage namespace in the demo Redis (Ray's tables and the lease). */
function redisKeys(): number {
  const out = kubectl(['-n', NS, 'exec', 'redis-0', '--', 'env', `REDISCLI_AUTH=${REDIS_PASSWORD}`,
    'redis-cli', '--scan', '--pattern', '*ray-ha-demo*']);
  return out.split('\n').filter(Boolean).length;
}

/** The one Ready candidate; waits out a readiness blip (a probe timing out on a loaded node) for up to 30 s. */
async function leader(): Promise<Pod> {
  return waitFor('exactly one Ready candidate', () => {
    const ready = candidates().filter((p) => p.ready);
    return ready.length === 1 ? ready[0] : false;
  }, 30_000, 500);
}

/** Waits until the Service's only endpoint is a candidate other than `old`, and the lease agrees. */
async function serviceFollows(old: Pod, t0: number): Promise<{ pod: Pod; followMs: number }> {
  const pod = await waitFor('the Service to follow a new leader', () => {
    const eps = serviceEndpoints();
    if (eps.length !== 1 || eps[0] === old.ip) return false;
    return candidates().find((p) => p.ip === eps[0] && p.name !== old.name);
  }, FOLLOW_BOUND_MS, 100);
  const followMs = Date.now() - t0;
  const holder = leaseHolder(pod.name);
  expect(holder?.id).toBe(pod.name);
  return { pod, followMs };
}

async function actorAnswers(t0: number): Promise<number> {
  const n = await waitFor('a new driver to get the actor\'s answer', () => {
    try {
      return driver('incr', 25);
    } catch {
      return false;
    }
  }, 120_000, 500);
  expect(n).toBe(counter + 1); // the actor kept its state
  counter = n;
  return Date.now() - t0;
}

async function standsBy(name: string, timeoutMs = 120_000): Promise<void> {
  await waitFor(`${name} to come back as a standby`, () => {
    const p = candidates().find((c) => c.name === name);
    return p && p.phase === 'Running' && !p.ready && leaseHolder()?.id !== name;
  }, timeoutMs, 1000);
}

async function apply(file: string): Promise<void> {
  kubectl(['apply', '-f', path.join(MANIFESTS, file)]);
}

describe('ray-head-ha on Kubernetes with KubeRay', () => {
  beforeAll(async () => {
    await labScript('up.sh', 40 * 60_000);
    up = true;
    await apply('namespace.yaml');
    await waitFor('the namespace\'s default ServiceAccount', () => kubectl(['-n', NS, 'get', 'sa', 'default'], { allowFail: true }), 30_000);
    kubectl(['-n', NS, 'create', 'secret', 'generic', 'redis-auth', `--from-literal=password=${REDIS_PASSWORD}`]);
    // Redis and the worker on node 1 (the machine), so that node 2 can be
    // partitioned without them: node 2 is cordoned until they are placed.
    kubectl(['cordon', 'k8slab-n2']);
    await apply('redis.yaml');
    await apply('config.yaml');
    await apply('head-candidates.yaml');
    await apply('raycluster.yaml');
    await waitFor('Redis and the worker on node 1', () => {
      const pods = JSON.parse(kubectl(['-n', NS, 'get', 'pods', '-o', 'json'])).items;
      const on = (pred: (p: any) => boolean) => pods.find((p: any) => pred(p))?.spec.nodeName;
      return on((p) => p.metadata.name === 'redis-0') === 'k8slab-n1' && on((p) => p.metadata.labels['ray.io/node-type'] === 'worker') === 'k8slab-n1';
    }, 120_000, 1000);
    kubectl(['uncordon', 'k8slab-n2']);
    await waitFor('one leader behind the Service', () => serviceEndpoints().length === 1 && candidates().length === 2, 300_000, 1000);
    const nodes = new Set(candidates().map((p) => p.node));
    expect(nodes.size).toBe(2); // the required anti-affinity spread them
    counter = await waitFor('the detached actor on the worker', () => {
      try {
        return driver('create', 90);
      } catch (e) {
        console.error(String(e));
        return false;
      }
    }, 300_000, 2000);
    expect(counter).toBeGreaterThanOrEqual(1);
  }, 45 * 60_000);

  afterAll(async () => {
    console.log('[k8s] timings (ms):', JSON.stringify(timings));
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

  it('the PodDisruptionBudget refuses to evict the leader and lets a standby go', async () => {
    const evict = (name: string) => kubectl(['create', '--raw', `/api/v1/namespaces/${NS}/pods/${name}/eviction`, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: NS } }),
      allowFail: true,
    });
    const l = await leader();
    const standby = candidates().find((p) => p.name !== l.name)!;
    expect(evict(l.name)).toBe(''); // refused (429: the budget would be violated)
    expect(candidates().find((p) => p.name === l.name)).toBeDefined();
    expect(evict(standby.name)).toMatch(/Success|"status"/);
    await waitFor('the evicted standby to be replaced by a standby', () => {
      const c = candidates();
      return c.length === 2 && c.every((p) => p.phase === 'Running') && c.filter((p) => p.ready).length === 1;
    }, 180_000, 1000);
    await sleep(3000);
    expect((await leader()).name).toBe(l.name); // no failover happened
  }, 300_000);

  it('fails over when the leader pod is deleted (graceful)', async () => {
    const old = await leader();
    const t0 = Date.now();
    kubectl(['-n', NS, 'delete', 'pod', old.name, '--wait=false']);
    const { followMs } = await serviceFollows(old, t0);
    const answerMs = await actorAnswers(t0);
    timings.graceful = { followMs, answerMs };
    await standsBy(old.name);
  }, 300_000);

  it('fails over when the leader container is killed (crash)', async () => {
    const old = await leader();
    const node = old.node === 'k8slab-n1' ? 1 : 2;
    const t0 = Date.now();
    const r = spawnSync('bash', ['-c', `source ${ROOT}/scripts/k8s-lab/lib.sh && ctr_n ${node} tasks kill -s SIGKILL ${old.containerId}`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { followMs } = await serviceFollows(old, t0);
    const answerMs = await actorAnswers(t0);
    timings.crash = { followMs, answerMs };
    expect(followMs).toBeGreaterThan(TTL_MS * 0.5); // the standby waited out (most of) the lease
    await standsBy(old.name);
  }, 300_000);

  it('fails over when the leader\'s node is partitioned, and the node comes back as a standby', async () => {
    // The leader must be on node 2 (node 1 is this machine and holds Redis).
    if ((await leader()).node !== 'k8slab-n2') {
      const l = await leader();
      kubectl(['-n', NS, 'delete', 'pod', l.name, '--wait=false']);
      await serviceFollows(l, Date.now());
      await actorAnswers(Date.now());
      await standsBy(l.name);
    }
    const old = await leader();
    expect(old.node).toBe('k8slab-n2');
    const t0 = Date.now();
    spawnSync('ip', ['link', 'set', 'k8slab-v2h', 'down']);
    try {
      const { followMs } = await serviceFollows(old, t0);
      const answerMs = await actorAnswers(t0);
      timings.partition = { followMs, answerMs };
    } finally {
      spawnSync('ip', ['link', 'set', 'k8slab-v2h', 'up']);
    }
    await waitFor('node 2 Ready again', () => / Ready /.test(kubectl(['get', 'node', 'k8slab-n2', '--no-headers'])), 120_000, 1000);
    await standsBy(old.name, 180_000);
  }, 600_000);

  it('deleting the RayCluster keeps the GCS state a StatefulSet leader uses', async () => {
    if ((await leader()).owner !== 'statefulset') {
      const l = await leader();
      kubectl(['-n', NS, 'delete', 'pod', l.name, '--wait=false']);
      await serviceFollows(l, Date.now());
      await actorAnswers(Date.now());
    }
    const l = await leader();
    expect(l.owner).toBe('statefulset');
    const epoch = leaseHolder()!.epoch;
    const before = redisKeys();
    expect(before).toBeGreaterThan(0);
    kubectl(['-n', NS, 'delete', 'raycluster', 'ray-ha-demo', '--wait=true', '--timeout=120s']);
    await sleep(5000);
    // No cleanup Job, the same leader at the same epoch, its GCS still answering through the Service.
    expect(kubectl(['-n', NS, 'get', 'jobs', '-o', 'name'])).toBe('');
    expect(leaseHolder()).toEqual({ id: l.name, epoch });
    expect(serviceEndpoints()).toEqual([l.ip]);
    expect(redisKeys()).toBeGreaterThanOrEqual(before);
    const ns = kubectl(['-n', NS, 'exec', l.name, '--', 'python3', '-c',
      'import ray; ray.init(address="ray-head:6379", namespace="k8s-e2e", logging_level="ERROR"); ' +
      'from ray.util.state import list_actors; print("ACTORS", len([a for a in list_actors(filters=[("name","=","counter")])]))'], { timeoutMs: 90_000 });
    expect(ns).toMatch(/^ACTORS 1$/m); // the detached actor is still known to the GCS
  }, 300_000);
});
