// The Kubernetes lab from Node: its scripts (up.sh, down.sh, node.sh),
// kubectl, the head candidates and the leader Service as the cluster sees
// them, and a Ray driver run in a worker pod. One implementation for
// test/e2e/k8s-failover.test.ts (typed by test/e2e/k8s-lab.ts) and
// scripts/bench-k8s.mjs.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const LAB = path.join(ROOT, 'scripts', 'k8s-lab');
/** The namespace deploy/kubernetes/ applies to. */
export const NS = 'ray-ha-demo';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function labVar(name) {
  const r = spawnSync('bash', ['-c', `source ${LAB}/lib.sh && printf %s "$${name}"`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reading ${name} from lib.sh: ${r.stderr}`);
  return r.stdout;
}
export const RUN = labVar('RUN');
export const BIN = labVar('BIN');
export const KUBECONFIG = path.join(RUN, 'admin.kubeconfig');

/**
 * Runs up.sh or down.sh with its output streamed to our stderr; rejects on a
 * non-zero exit. up.sh records this process as the lab's owner, so that
 * sweepDeadK8sLab() can remove the lab if this process dies first.
 */
const running = new Set();

export function labScript(script, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(LAB, script)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, K8S_LAB_OWNER_PID: String(process.pid) },
    });
    if (script === 'up.sh') running.add(child); // down.sh is never interrupted
    child.on('exit', () => running.delete(child));
    let out = '';
    const onData = (d) => {
      out += d.toString();
      process.stderr.write(d);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${script} exited ${code}:\n${out.slice(-3000)}`));
    });
  });
}

/**
 * SIGINT to an up.sh this process runs (it then tears down what it made);
 * resolves once it has exited. For a signal handler.
 */
export function interruptLabScripts() {
  return Promise.all([...running].map((child) => new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGINT');
  })));
}

/** A fault of node 2: partition, heal, lose, revive (scripts/k8s-lab/node.sh). */
export function node(verb) {
  const r = spawnSync('bash', [path.join(LAB, 'node.sh'), verb], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`node.sh ${verb} exited ${r.status}: ${r.stdout}${r.stderr}`);
}

/**
 * Tears down a lab that a test run made and whose process is gone (killed
 * mid-test, so its afterAll never ran). A lab made by hand (`npm run k8s:up`)
 * is left alone: the next up.sh refuses with a clear message instead.
 * Returns what it did, for the log.
 */
export function sweepDeadK8sLab() {
  if (!existsSync(RUN)) return null;
  let owner = '';
  try {
    owner = readFileSync(path.join(RUN, 'owner'), 'utf8').trim();
  } catch {
    return null; // up.sh is just starting: not ours to judge
  }
  const pid = Number(owner);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return null; // its owner lives
  } catch {
    /* dead owner */
  }
  const r = spawnSync('bash', [path.join(LAB, 'down.sh')], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`down.sh for the lab of dead process ${pid} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return `removed the Kubernetes lab of dead process ${pid}`;
}

export function kubectl(args, opts = {}) {
  const r = spawnSync(path.join(BIN, 'kubectl'), ['--kubeconfig', KUBECONFIG, ...args], {
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeoutMs ?? 30_000,
  });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`kubectl ${args.join(' ')} exited ${r.status}: ${r.stderr || r.error}`);
  }
  return r.stdout;
}

export function kubectlJson(args) {
  return JSON.parse(kubectl([...args, '-o', 'json']));
}

/** Polls fn until it returns a truthy value (thrown errors count as "not yet"). */
export async function waitFor(what, fn, timeoutMs, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(everyMs);
  }
}

function toPod(p) {
  // The candidate's own container (the kubelet sorts statuses by name; the sidecar role-labeler is not it).
  const statuses = p.status.containerStatuses ?? [];
  const cs = statuses.find((c) => c.name !== 'role-labeler') ?? {};
  return {
    name: p.metadata.name,
    uid: p.metadata.uid,
    node: p.spec.nodeName ?? '',
    ip: p.status.podIP ?? '',
    ready: (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    phase: p.status.phase,
    restarts: cs.restartCount ?? 0,
    containerId: String(cs.containerID ?? '').replace(/^containerd:\/\//, ''),
    owner: p.metadata.labels?.['ray-head-ha/owner'] === 'statefulset' ? 'statefulset' : 'raycluster',
    role: p.metadata.labels?.['ray-head-ha/role'] ?? null,
  };
}

/** Pods (not being deleted) of a namespace that match a label selector. */
export function pods(ns, selector) {
  return kubectlJson(['-n', ns, 'get', 'pods', '-l', selector]).items.filter((p) => !p.metadata.deletionTimestamp).map(toPod);
}

/** The head candidates (StatefulSet pods and the RayCluster's head pod). */
export function candidates() {
  return pods(NS, 'ray-head-ha/cluster=ray-ha-demo');
}

/** Ready addresses of a Service (default: the leader Service `ray-head`), from its EndpointSlices. */
export function serviceEndpoints(service = 'ray-head', ns = NS) {
  const s = kubectlJson(['-n', ns, 'get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`]);
  const ips = [];
  for (const slice of s.items) {
    for (const e of slice.endpoints ?? []) if (e.conditions?.ready) ips.push(...e.addresses);
  }
  return ips.sort();
}

/** The lease holder as the candidates' own status command sees it, run in `pod` (default: a running candidate on node 1). */
export function leaseHolder(pod) {
  const name = pod ?? candidates().find((p) => p.phase === 'Running' && p.node === 'k8slab-n1')?.name;
  if (!name) return null;
  const out = kubectl(['-n', NS, 'exec', name, '--', 'node', '/opt/ray-head-ha/bin/ray-head-ha.js', 'status', '--json'], {
    timeoutMs: 20_000,
  });
  const s = JSON.parse(out);
  return s.leader ? { id: s.leader.id, epoch: s.leader.epoch } : null;
}

export function workerPod(ns = NS) {
  const p = pods(ns, 'ray.io/node-type=worker').find((w) => w.phase === 'Running');
  if (!p) throw new Error(`no running worker pod in ${ns}`);
  return p.name;
}

export const DRIVER = readFileSync(path.join(LAB, 'driver.py'), 'utf8');

/**
 * A new Ray driver in a worker pod: `create` makes the detached actor, `incr`
 * calls it; returns the counter. `address` is the head as the worker pod
 * names it (default: the leader Service).
 */
export function driver(op, timeoutS = 30, { ns = NS, address = 'ray-head:6379' } = {}) {
  const out = kubectl(['-n', ns, 'exec', '-i', workerPod(ns), '--', 'timeout', String(timeoutS), 'python3', '-', op, address], {
    input: DRIVER,
    timeoutMs: (timeoutS + 15) * 1000,
  });
  const m = /^COUNTER (\d+)$/m.exec(out);
  if (!m) throw new Error(`driver ${op} printed no counter: ${out.slice(-500)}`);
  return Number(m[1]);
}

/** Runs a command in a node's containerd (ctr -n k8s.io), e.g. to SIGKILL a container's task. */
export function ctr(nodeNumber, args) {
  const r = spawnSync('bash', ['-c', `source ${LAB}/lib.sh && ctr_n ${nodeNumber} "$@"`, 'ctr', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ctr ${args.join(' ')} on node ${nodeNumber} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const MANIFESTS = path.join(ROOT, 'deploy', 'kubernetes');

/** Applies YAML text (a manifest of deploy/kubernetes/, or one rewritten for another namespace). */
export function applyYaml(text) {
  kubectl(['apply', '-f', '-'], { input: text });
}

/** deploy/kubernetes/FILE as written, or with its namespace rewritten to `ns`. */
export function manifest(file, ns = NS) {
  const text = readFileSync(path.join(MANIFESTS, file), 'utf8');
  return ns === NS ? text : text.replaceAll(`namespace: ${NS}`, `namespace: ${ns}`);
}

/**
 * The other way for the Service to follow the leader (deploy/kubernetes/README.md,
 * "The Service follows by readiness"): no role label, the Service selects every
 * candidate and only the leader whose GCS accepts passes /readyz. Exact
 * replacements in the shipped manifests; one that no longer matches throws.
 */
const READINESS_WAY = {
  'head-candidates.yaml': [
    [/^    ray-head-ha\/role: leader .*\n/m, ''],
    // The sidecar role-labeler and its token volume.
    [/^        # The role label \(docs\/design.md, decisions 31 and 37\)[^]*?(?=^      volumes:)/m, ''],
    [/^        - name: labeler-token .*\n(?:^          .*\n)+/m, ''],
    [/(readinessProbe:\n\s*httpGet: \{path: )\/healthz(, port: ha-http\}\n\s*)periodSeconds: 2/, '$1/readyz$2periodSeconds: 1'],
    [/type: RollingUpdate/, 'type: OnDelete'],
  ],
  'raycluster.yaml': [
    [/^          - name: role-labeler [^]*?(?=^        volumes:)/m, ''],
    [/^          - name: labeler-token\n(?:^            .*\n)+/m, ''],
    [/(readinessProbe: .*\n\s*httpGet: \{path: )\/healthz(, port: ha-http\}\n\s*)periodSeconds: 2/, '$1/readyz$2periodSeconds: 1'],
  ],
};

/** A file of deploy/kubernetes/, with the Service following the leader `label` (as shipped) or by `readiness`. */
export function exampleManifest(file, way = 'label') {
  let text = manifest(file);
  if (way === 'readiness') {
    for (const [re, to] of READINESS_WAY[file] ?? []) {
      if (!re.test(text)) throw new Error(`the readiness way: ${re} no longer matches deploy/kubernetes/${file}`);
      text = text.replace(re, to);
    }
  }
  return text;
}

/**
 * Waits for namespace ns's default ServiceAccount (pods made before it fail),
 * then makes the Secret of the two Redis users (redis.yaml): Ray's password
 * is `redisPassword`, the election's a fresh random one that no test knows.
 */
async function namespaceWithSecret(ns, redisPassword) {
  await waitFor(`the default ServiceAccount of ${ns}`, () => kubectl(['-n', ns, 'get', 'sa', 'default'], { allowFail: true }), 30_000);
  kubectl(['-n', ns, 'create', 'secret', 'generic', 'redis-auth', `--from-literal=ray-password=${redisPassword}`,
    `--from-literal=election-password=${randomBytes(24).toString('hex')}`]);
}

/**
 * Places what must survive a loss of node 2 (the demo Redis, the worker) on
 * node 1: node 2 is cordoned while `apply` runs and until `onNode1` holds.
 */
async function onNode1(apply, placed) {
  kubectl(['cordon', 'k8slab-n2']);
  try {
    apply();
    await waitFor('Redis and the worker on node 1', placed, 180_000, 1000);
  } finally {
    kubectl(['uncordon', 'k8slab-n2']);
  }
}

function nodeOf(ns, pred) {
  return kubectlJson(['-n', ns, 'get', 'pods']).items.find(pred)?.spec.nodeName;
}

/**
 * deploy/kubernetes/ applied as the README says (namespace, the password
 * Secret, Redis, config, candidates, RayCluster, then the Serve app), Redis
 * and the worker on node 1; waits for one leader behind the Service, creates
 * the detached actor, and waits for the Serve app behind `ray-serve`.
 * Returns the actor's counter.
 */
export async function deployExample(redisPassword, way = 'label') {
  if (!['label', 'readiness'].includes(way)) throw new Error(`deployExample: unknown way ${way}`);
  applyYaml(manifest('namespace.yaml'));
  await namespaceWithSecret(NS, redisPassword);
  await onNode1(() => {
    for (const f of ['redis.yaml', 'network-policies.yaml', 'config.yaml', 'head-candidates.yaml', 'raycluster.yaml']) applyYaml(exampleManifest(f, way));
  }, () => nodeOf(NS, (p) => p.metadata.name === 'redis-0') === 'k8slab-n1'
    && nodeOf(NS, (p) => p.metadata.labels['ray.io/node-type'] === 'worker') === 'k8slab-n1');
  await waitFor('one leader behind the Service', () => serviceEndpoints().length === 1 && candidates().length === 2, 300_000, 1000);
  const counter = await createActor({});
  await deployServe();
  return counter;
}

/**
 * serve.yaml applied: its Job deploys the Serve app through the leader
 * Service; waits for the Job to complete and the worker to be the Service
 * `ray-serve`'s endpoint (its raylet and its Serve proxy answer).
 */
async function deployServe() {
  applyYaml(manifest('serve.yaml'));
  await waitFor('the Job ray-serve-deploy to complete', () => {
    const job = kubectlJson(['-n', NS, 'get', 'job', 'ray-serve-deploy']);
    if (job.status?.failed >= job.spec.backoffLimit) throw new Error(`ray-serve-deploy failed:\n${kubectl(['-n', NS, 'logs', 'job/ray-serve-deploy', '--tail=40'], { allowFail: true })}`);
    return job.status?.succeeded === 1;
  }, 300_000, 2000);
  await waitFor('the worker behind the Service ray-serve', () => serviceEndpoints('ray-serve').length === 1, 120_000, 1000);
}

/** The Serve app through the Service `ray-serve` (its cluster IP, port 8000). */
export function serveUrl() {
  const ip = kubectlJson(['-n', NS, 'get', 'service', 'ray-serve']).spec.clusterIP;
  return `http://${ip}:8000/`;
}

/** The baseline: one KubeRay head with KubeRay's GCS fault tolerance (scripts/k8s-lab/kuberay-alone.yaml). */
export const ALONE = { ns: 'ray-alone', address: 'ray-alone-head-svc:6379', service: 'ray-alone-head-svc' };

export async function deployAlone(redisPassword) {
  const text = readFileSync(path.join(LAB, 'kuberay-alone.yaml'), 'utf8');
  const [nsDoc] = text.split(/^---$/m);
  applyYaml(nsDoc);
  await namespaceWithSecret(ALONE.ns, redisPassword);
  await onNode1(() => {
    applyYaml(manifest('redis.yaml', ALONE.ns));
    applyYaml(text);
  }, () => nodeOf(ALONE.ns, (p) => p.metadata.name === 'redis-0') === 'k8slab-n1');
  await waitFor('the KubeRay head Ready', () => serviceEndpoints(ALONE.service, ALONE.ns).length === 1, 300_000, 1000);
  return createActor({ ns: ALONE.ns, address: ALONE.address });
}

async function createActor(where) {
  return waitFor('the detached actor on the worker', () => {
    try {
      return driver('create', 90, where);
    } catch (e) {
      console.error(String(e).slice(0, 300));
      return false;
    }
  }, 300_000, 2000);
}

/**
 * The last `lines` lines of every log file the kubelets keep for a pod (all
 * its containers and restarts), read from the node's pod-logs directory.
 */
export function podLogs(ns, name, lines = 40) {
  const r = spawnSync('bash', ['-c', `for f in ${RUN}/n*/pod-logs/${ns}_${name}_*/*/*.log; do [[ -f $f ]] && { echo "== $f"; tail -n ${lines} "$f"; }; done`], { encoding: 'utf8' });
  return r.stdout;
}

/** What the lab looks like now (pods, the leader Service's endpoints, the candidates' logs): for a failure message. */
export function describeExample() {
  const out = [kubectl(['get', 'nodes', '-o', 'wide'], { allowFail: true }), kubectl(['-n', NS, 'get', 'pods', '-o', 'wide'], { allowFail: true })];
  try {
    out.push(`ray-head endpoints: ${serviceEndpoints().join(' ')}`);
  } catch (e) {
    out.push(String(e));
  }
  for (const p of candidates()) out.push(podLogs(NS, p.name, 25));
  // Why containers restarted: probe failures, kills, OOM (the namespace's latest events).
  out.push(kubectl(['-n', NS, 'get', 'events', '--sort-by=.lastTimestamp'], { allowFail: true }).split('\n').slice(-40).join('\n'));
  return out.join('\n');
}

/** The candidate that is the Service's only endpoint, from `cs` (default: a fresh list), or null. */
function behindService(cs = candidates()) {
  const eps = serviceEndpoints();
  return eps.length === 1 ? (cs.find((c) => c.ip === eps[0]) ?? null) : null;
}

/** One look: the candidate behind the Service holding the lease in its own status command, with the epoch; or false. */
function serving() {
  const p = behindService();
  if (!p) return false;
  const holder = leaseHolder(p.name);
  return holder?.id === p.name ? { ...p, epoch: holder.epoch } : false;
}

/**
 * One look: the pod that serves a term later than `oldEpoch` (the Service's
 * only endpoint, holding the lease in its own status command), or false.
 * After a crash the restarted container of the same pod may win the next
 * term: a new term, the same pod and address.
 */
export function newTermServing(oldEpoch) {
  const s = serving();
  return s && s.epoch > oldEpoch ? s : false;
}

/** Waits until node 2 reports Ready (after a heal or a revive). */
export function node2Ready(timeoutMs = 120_000) {
  return waitFor('node 2 Ready', () => / Ready /.test(kubectl(['get', 'node', 'k8slab-n2', '--no-headers'])), timeoutMs, 1000);
}

/**
 * The candidate behind the Service (its only endpoint), holding the lease in
 * its own status command, with the epoch; waits out a blip (a probe timing
 * out on a loaded node, a label being moved).
 */
export function exampleLeader(timeoutMs = 30_000) {
  return waitFor('exactly one candidate behind the Service, holding the lease', serving, timeoutMs, 500);
}

/**
 * Every candidate Running, exactly one behind the Service and holding the
 * lease, and every candidate reaching Redis (its own `ray-head-ha status`
 * reads the same holder): the steady state between faults, with standbys
 * that can take over. With the role label, standbys are Ready and labeled
 * standby; with readiness (the other way), they are not Ready.
 */
export async function exampleSettled(timeoutMs = 180_000) {
  // The way deployed: the Service selects the role label, or (readiness) only the candidates.
  const byLabel = 'ray-head-ha/role' in (kubectlJson(['-n', NS, 'get', 'service', 'ray-head']).spec.selector ?? {});
  await waitFor('two candidates Running, one of them leading behind the Service, both reaching Redis', () => {
    const c = candidates();
    if (c.length !== 2 || !c.every((p) => p.phase === 'Running')) return false;
    const l = behindService(c);
    if (!l) return false;
    const standbysOk = c.every((p) => p === l || (byLabel ? p.ready && p.role === 'standby' : !p.ready));
    return standbysOk && c.every((p) => leaseHolder(p.name)?.id === l.name);
  }, timeoutMs, 1000);
  return exampleLeader();
}
