/**
 * Helpers for the Kubernetes end-to-end tests: the lab (scripts/k8s-lab/up.sh
 * and down.sh), kubectl, and a Ray driver run in a worker pod.
 * Not a test file (vitest picks up *.test.ts only).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const LAB = path.join(ROOT, 'scripts', 'k8s-lab');
export const NS = 'ray-ha-demo';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function labVar(name: string): string {
  const r = spawnSync('bash', ['-c', `source ${LAB}/lib.sh && printf %s "$${name}"`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reading ${name} from lib.sh: ${r.stderr}`);
  return r.stdout;
}
export const RUN = labVar('RUN');
export const BIN = labVar('BIN');
export const KUBECONFIG = path.join(RUN, 'admin.kubeconfig');

/** Runs a lab script with its output streamed to ours; rejects on a non-zero exit. */
export function labScript(script: 'up.sh' | 'down.sh', timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(LAB, script)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d: Buffer) => {
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

export function kubectl(args: string[], opts: { input?: string; timeoutMs?: number; allowFail?: boolean } = {}): string {
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

export function kubectlJson<T = any>(args: string[]): T {
  return JSON.parse(kubectl([...args, '-o', 'json']));
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
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

export interface Pod {
  name: string;
  node: string;
  ip: string;
  ready: boolean;
  phase: string;
  restarts: number;
  containerId: string;
  owner: 'statefulset' | 'raycluster';
}

/** The head candidates (StatefulSet pods and the RayCluster's head pod). */
export function candidates(): Pod[] {
  const list = kubectlJson<{ items: any[] }>(['-n', NS, 'get', 'pods', '-l', 'ray-head-ha/cluster=ray-ha-demo']);
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => {
      const cs = (p.status.containerStatuses ?? [])[0] ?? {};
      return {
        name: p.metadata.name,
        node: p.spec.nodeName ?? '',
        ip: p.status.podIP ?? '',
        ready: (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
        phase: p.status.phase,
        restarts: cs.restartCount ?? 0,
        containerId: String(cs.containerID ?? '').replace(/^containerd:\/\//, ''),
        owner: p.metadata.labels['ray-head-ha/owner'] === 'statefulset' ? 'statefulset' : 'raycluster',
      };
    });
}

/** Ready addresses of the leader Service `ray-head`, from its EndpointSlices. */
export function serviceEndpoints(): string[] {
  const s = kubectlJson<{ items: any[] }>(['-n', NS, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=ray-head']);
  const ips: string[] = [];
  for (const slice of s.items) {
    for (const e of slice.endpoints ?? []) if (e.conditions?.ready) ips.push(...e.addresses);
  }
  return ips.sort();
}

/** The lease holder as the candidates' own status command sees it, run in `pod` (default: a running candidate on node 1). */
export function leaseHolder(pod?: string): { id: string; epoch: number } | null {
  const name = pod ?? candidates().find((p) => p.phase === 'Running' && p.node === 'k8slab-n1')?.name;
  if (!name) return null;
  const out = kubectl(['-n', NS, 'exec', name, '--', 'node', '/opt/ray-head-ha/bin/ray-head-ha.js', 'status', '--json'], {
    timeoutMs: 20_000,
  });
  const s = JSON.parse(out);
  return s.leader ? { id: s.leader.id, epoch: s.leader.epoch } : null;
}

export function workerPod(): string {
  const list = kubectlJson<{ items: any[] }>(['-n', NS, 'get', 'pods', '-l', 'ray.io/node-type=worker']);
  const p = list.items.find((i) => i.status.phase === 'Running' && !i.metadata.deletionTimestamp);
  if (!p) throw new Error('no running worker pod');
  return p.metadata.name;
}

export const DRIVER = readFileSync(path.join(import.meta.dirname, 'k8s-driver.py'), 'utf8');

/** A new Ray driver in the worker pod, through the leader Service: `create` or `incr`; returns the counter. */
export function driver(op: 'create' | 'incr', timeoutS = 30): number {
  const out = kubectl(['-n', NS, 'exec', '-i', workerPod(), '--', 'timeout', String(timeoutS), 'python3', '-', op], {
    input: DRIVER,
    timeoutMs: (timeoutS + 15) * 1000,
  });
  const m = /^COUNTER (\d+)$/m.exec(out);
  if (!m) throw new Error(`driver ${op} printed no counter: ${out.slice(-500)}`);
  return Number(m[1]);
}

/** Node 2's daemons (kubelet, kube-proxy, containerd): the PIDs up.sh recorded. */
export function labPid(name: string): number {
  return Number(readFileSync(path.join(RUN, 'pids', name), 'utf8').split(' ')[0]);
}
