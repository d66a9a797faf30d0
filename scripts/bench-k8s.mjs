#!/usr/bin/env node
// `npm run bench:k8s`: head failover on the Kubernetes lab (scripts/k8s-lab/,
// two nodes, KubeRay), ray-head-ha against KubeRay's own GCS fault tolerance
// with one head (what KubeRay users run today), same cluster, same image,
// same faults, measured the same way, in one run.
//
//   ha      deploy/kubernetes/ as written (namespace ray-ha-demo): two head
//           candidates on two nodes, the leader Service `ray-head`, which
//           follows the role label the leader sets on its own pod
//   ha-readiness  the same with the other way (no label: the Service selects
//           the candidate that passes /readyz; k8s.mjs READINESS_WAY)
//   alone   scripts/k8s-lab/kuberay-alone.yaml (namespace ray-alone): one
//           RayCluster head with gcsFaultToleranceOptions, KubeRay's head Service
// One system at a time, each with its own demo Redis and the worker on node 1
// (the machine); the head (for ha: the leader) on node 2 before a node-lost fault.
//
// Faults, against the head (ha: the leader):
//   pod-delete   kubectl delete pod (graceful: the kubelet's SIGTERM)
//   crash        SIGKILL of the head container's task (ctr), the pod stays
//   node-lost    node 2 powered off (link down, every process of it killed);
//                after the run the node boots again (node.sh revive)
// Clocks per run, from the fault: `down` (the old head observed gone: out of
// the Service, or its container restarted), `actor` (a new driver in the worker
// pod, through the Service's DNS name, gets the detached actor and its next
// value; attempts start once `down` holds, each a fresh `python3` with a
// 25 s timeout), for ha also `follow` (the Service's only endpoint is the
// leader of a new term, polled before any driver). A run that does not recover within --max-s is reported as such.
//
//   node scripts/bench-k8s.mjs [--runs 3] [--node-lost-runs N (default: --runs)]
//        [--kinds pod-delete,crash,node-lost]
//        [--systems ha,alone] [--max-s 420] [--out bench-results]
//
// Needs root and what the lab needs (scripts/setup.sh --k8s); makes the lab
// itself (up.sh) and tears it down (down.sh), also on SIGINT/SIGTERM.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  ALONE, NS, ROOT, ctr, deployAlone, deployExample, driver, exampleLeader, exampleSettled, interruptLabScripts, kubectl,
  labScript, newTermServing, node, node2Ready, pods, serviceEndpoints, sleep, waitFor,
} from './k8s-lab/k8s.mjs';
import { median } from './lib/harness.mjs';

const KINDS_ALL = ['pod-delete', 'crash', 'node-lost'];
const SYSTEMS_ALL = ['ha', 'ha-readiness', 'alone'];
const isHa = (system) => system !== 'alone';
const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'node-lost-runs': { type: 'string' },
    kinds: { type: 'string', default: KINDS_ALL.join(',') },
    systems: { type: 'string', default: SYSTEMS_ALL.join(',') },
    'max-s': { type: 'string', default: '420' },
    out: { type: 'string', default: 'bench-results' },
  },
});
const RUNS = Number(opts.runs);
const NODE_LOST_RUNS = Number(opts['node-lost-runs'] ?? opts.runs);
const KINDS = opts.kinds.split(',');
const SYSTEMS = opts.systems.split(',');
const MAX_MS = Number(opts['max-s']) * 1000;
const OUT = path.resolve(ROOT, opts.out);
for (const k of KINDS) if (!KINDS_ALL.includes(k)) throw new Error(`bench-k8s: unknown kind ${k} (known: ${KINDS_ALL})`);
for (const s of SYSTEMS) if (!SYSTEMS_ALL.includes(s)) throw new Error(`bench-k8s: unknown system ${s} (known: ${SYSTEMS_ALL})`);
for (const n of [RUNS, NODE_LOST_RUNS]) if (!Number.isInteger(n) || n < 1) throw new Error('bench-k8s: --runs and --node-lost-runs must be positive integers');
if (process.getuid?.() !== 0) throw new Error('bench-k8s: needs root (the lab makes network namespaces, cgroups and a cluster)');

const log = (msg) => console.log(`[bench-k8s ${new Date().toISOString().slice(11, 23)}] ${msg}`);
const sec = (ms) => (ms === null || ms === undefined ? null : Math.round(ms / 100) / 10);
const password = crypto.randomUUID().replaceAll('-', '');
const counters = { ha: 0, 'ha-readiness': 0, alone: 0 };

let up = false;
async function teardown() {
  if (!up) return;
  up = false;
  await labScript('down.sh', 5 * 60_000).catch((e) => log(`teardown: ${e.message}`));
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: tearing the lab down`);
    interruptLabScripts().then(teardown).finally(() => process.exit(130));
  });
}

// --- the two systems: where the head is, how it is hit, how it is seen back --

const haLeader = () => exampleLeader(60_000);

const aloneHead = () => waitFor('the KubeRay head Running and Ready', () => {
  const h = pods(ALONE.ns, 'ray.io/node-type=head').find((p) => p.phase === 'Running' && p.ready);
  return h ?? false;
}, 300_000, 500);

const where = { ha: {}, 'ha-readiness': {}, alone: { ns: ALONE.ns, address: ALONE.address } };

/** Back to steady state after a run: node 2 up, every candidate Running and reaching Redis, one leader, the actor answering. */
async function settle(system) {
  await node2Ready(180_000);
  if (isHa(system)) {
    await exampleSettled(300_000);
  } else {
    await aloneHead();
  }
  counters[system] = await waitFor('the actor answering', () => driver('incr', 60, where[system]), 300_000, 2000);
}

/** Puts the head (ha: the leader) on node 2, as a node-lost fault needs. */
async function headOnNode2(system) {
  for (let i = 0; i < 4; i++) {
    const h = isHa(system) ? await haLeader() : await aloneHead();
    if (h.node === 'k8slab-n2') return;
    log(`${system}: the head is on ${h.node}; deleting ${h.name} to move it`);
    kubectl(['-n', isHa(system) ? NS : ALONE.ns, 'delete', 'pod', h.name, '--wait=true', '--timeout=120s']);
    await sleep(2000);
    await settle(system);
  }
  throw new Error(`${system}: could not get the head onto node 2`);
}

/** One run: the fault, then the clocks. */
async function run(system, kind) {
  if (kind === 'node-lost') await headOnNode2(system);
  const ns = isHa(system) ? NS : ALONE.ns;
  const old = isHa(system) ? await haLeader() : await aloneHead();
  const t0 = Date.now();
  if (kind === 'pod-delete') kubectl(['-n', ns, 'delete', 'pod', old.name, '--wait=false']);
  else if (kind === 'crash') ctr(old.node === 'k8slab-n1' ? 1 : 2, ['tasks', 'kill', '-s', 'SIGKILL', old.containerId]);
  else node('lose');
  const row = { system, kind, down: null, follow: null, actor: null, recovered: false };
  try {
    // `down`: the old head is no longer what a client reaches.
    const service = isHa(system) ? 'ray-head' : ALONE.service;
    await waitFor('the old head gone', () => {
      if (system === 'alone' && kind === 'crash') {
        const p = pods(ns, 'ray.io/node-type=head').find((x) => x.name === old.name);
        return !p || p.restarts > old.restarts || !p.ready;
      }
      return !serviceEndpoints(service, ns).includes(old.ip);
    }, MAX_MS, 100);
    row.down = Date.now() - t0;
    if (isHa(system)) {
      // Before any driver: kubectl and the driver run synchronously, so the
      // two clocks cannot be polled side by side (and no driver can reach the
      // new leader before the Service does).
      await waitFor('the Service on a new term', () => newTermServing(old.epoch), MAX_MS - (Date.now() - t0), 100);
      row.follow = Date.now() - t0;
    }
    const n = await waitFor('a new driver to get the actor', () => {
      try {
        return driver('incr', 25, where[system]);
      } catch {
        return false;
      }
    }, MAX_MS - (Date.now() - t0), 200);
    row.actor = Date.now() - t0;
    row.recovered = true;
    // A driver attempt cut off by its timeout may still have called the actor:
    // the counter may have moved by more than one, never back.
    if (n <= counters[system]) throw new Error(`${system}: the actor answered ${n} after ${counters[system]}: its state was lost`);
    counters[system] = n;
  } catch (e) {
    if (!String(e.message).startsWith('timed out')) throw e;
    log(`${system} ${kind}: not recovered within ${MAX_MS / 1000} s`);
  } finally {
    if (kind === 'node-lost') node('revive');
  }
  await settle(system);
  return row;
}

function markdown(result) {
  const lines = [
    `# bench:k8s (${result.date}, ${result.runs} runs per kind, ${result.nodeLostRuns} of node-lost; median seconds from the fault)`,
    '',
    'ha: the Service follows the role label (as shipped); ha-readiness: the Service follows readiness (the other way).',
    '',
    '| fault | ha: actor answers | ha: Service follows | ha-readiness: actor answers | ha-readiness: Service follows | KubeRay alone: actor answers | ratio (ha / alone) | not recovered within ' + `${MAX_MS / 1000} s (ha, ha-readiness, alone) |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of KINDS) {
    const rows = (s) => result.rows.filter((r) => r.system === s && r.kind === kind);
    const med = (s, field) => median(rows(s).map((r) => r[field]));
    const ha = med('ha', 'actor');
    const alone = med('alone', 'actor');
    const failed = (s) => rows(s).filter((r) => !r.recovered).length;
    const ratio = ha !== null && alone !== null ? (ha / alone).toFixed(2) : 'n/a';
    const cell = (ms, s) => (ms === null ? (rows(s).length ? `> ${MAX_MS / 1000}` : 'n/a') : sec(ms));
    lines.push(`| ${kind} | ${cell(ha, 'ha')} | ${cell(med('ha', 'follow'), 'ha')} | ${cell(med('ha-readiness', 'actor'), 'ha-readiness')} | ${cell(med('ha-readiness', 'follow'), 'ha-readiness')} | ${cell(alone, 'alone')} | ${ratio} | ${failed('ha')}, ${failed('ha-readiness')}, ${failed('alone')} |`);
  }
  lines.push('', 'Every run (s):', '', '| system | fault | down | Service follows | actor answers |', '|---|---|---|---|---|');
  for (const r of result.rows) lines.push(`| ${r.system} | ${r.kind} | ${sec(r.down) ?? '-'} | ${sec(r.follow) ?? '-'} | ${r.recovered ? sec(r.actor) : 'not recovered'} |`);
  return lines.join('\n') + '\n';
}

const result = { date: new Date().toISOString(), runs: RUNS, nodeLostRuns: NODE_LOST_RUNS, kinds: KINDS, systems: SYSTEMS, rows: [] };
try {
  log('bringing the lab up (up.sh)');
  await labScript('up.sh', 40 * 60_000);
  up = true;
  // One system at a time (a lost node would hit both): deploy, every kind, remove.
  for (const system of SYSTEMS) {
    counters[system] = isHa(system) ? await deployExample(password, system === 'ha' ? 'label' : 'readiness') : await deployAlone(password);
    log(`${system}: deployed, actor at ${counters[system]}`);
    for (const kind of KINDS) {
      for (let i = 0; i < (kind === 'node-lost' ? NODE_LOST_RUNS : RUNS); i++) {
        const row = await run(system, kind);
        result.rows.push(row);
        log(`${system} ${kind} #${i + 1}: down ${sec(row.down)} s, follow ${sec(row.follow)} s, actor ${row.recovered ? `${sec(row.actor)} s` : 'not recovered'}`);
      }
    }
    if (system === SYSTEMS.at(-1)) break; // the lab's teardown removes the last one
    // Out of the next system's way. The RayCluster's finalizer is dropped
    // first: with gcsFaultToleranceOptions KubeRay holds it until its Redis
    // cleanup Job ends, which in the lab did not happen within 180 s.
    const ns = isHa(system) ? NS : ALONE.ns;
    for (const rc of kubectl(['-n', ns, 'get', 'rayclusters', '-o', 'name']).split('\n').filter(Boolean)) {
      kubectl(['-n', ns, 'patch', rc, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    }
    kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=180s'], { timeoutMs: 200_000 });
  }
} finally {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(path.join(OUT, 'bench-k8s.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(path.join(OUT, 'bench-k8s.md'), markdown(result));
  await teardown();
}
console.log(markdown(result));
