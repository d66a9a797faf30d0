// A lab of hosts on one machine: each host a network namespace with its own
// address, all on one bridge with no uplink (netns.mjs). Processes run on a
// host as "pods": `ip netns exec HOST unshare --pid --fork --mount-proc CMD`,
// so a pod has the host's network and its own PID namespace (SIGKILL to its
// init ends every process in it, as when a container dies, and Ray's "already
// running" check sees only the pod's processes).
//
// Teardown is reliable: close() kills every process of every host (found by
// network namespace, not by remembering pids), deletes the namespaces, the
// bridge and the work dir. It runs on close(), on process exit, on SIGINT and
// SIGTERM; and a lab whose owner died without it (SIGKILL, a crashed test
// worker) is swept by the next lab that starts, or by `node scripts/lab/cli.mjs sweep`:
// each lab registers itself in /run/ray-head-ha-lab/ with its owner's pid
// and start time.
//
// Needs root (namespaces, links, iptables).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cmdline, isAlive } from '../lib/procs.mjs';
import * as net from './netns.mjs';

export const REGISTRY = '/run/ray-head-ha-lab';
const PREFIX = 'rl'; // every bridge, namespace and link of a lab starts with rl<id>

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The start time of a process (clock ticks since boot), or null when it is gone: with the pid, a process's identity. */
export function startTime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return null;
  }
}

function pidNamespace(pid) {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** Tears down what a registry record names: processes, namespaces, links, bridge, work dir. */
function destroy(rec, { keepWork = false } = {}) {
  for (const h of rec.hosts) {
    const id = net.netnsId(h.ns);
    if (id) {
      try {
        net.killNetns(id);
      } catch (e) {
        console.error(`lab ${rec.id}: ${e.message}`);
      }
    }
    net.deleteHost(h.ns, h.peer);
  }
  net.deleteBridge(rec.bridge);
  if (!keepWork && rec.workDir) rmSync(rec.workDir, { recursive: true, force: true });
  rmSync(path.join(REGISTRY, `${rec.id}.json`), { force: true });
}

/** Removes every lab whose owner process is gone; returns their ids. */
export function sweep({ all = false } = {}) {
  if (!existsSync(REGISTRY)) return [];
  const swept = [];
  for (const f of readdirSync(REGISTRY)) {
    let rec;
    try {
      rec = JSON.parse(readFileSync(path.join(REGISTRY, f), 'utf8'));
    } catch {
      continue;
    }
    if (!all && startTime(rec.ownerPid) === rec.ownerStart) continue;
    destroy(rec, { keepWork: rec.keepWork });
    swept.push(rec.id);
  }
  return swept;
}

/**
 * A process group in its own PID namespace on a host (see the file header).
 * Output (stdout and stderr) is appended to logFile.
 */
async function startPod(host, name, argv, { env = process.env, logFile, cwd } = {}) {
  const fd = openSync(logFile, 'a');
  const proc = spawn('ip', ['netns', 'exec', host.ns, 'unshare', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', ...argv], {
    env,
    cwd,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const selfNs = pidNamespace(process.pid);
  let initPid = 0;
  const deadline = Date.now() + 10_000;
  while (!initPid) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`pod ${name} on ${host.name}: unshare did not start (see ${logFile})`);
    let children = '';
    try {
      children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim();
    } catch {
      /* not there yet */
    }
    const child = Number(children.split(' ')[0]);
    if (child && pidNamespace(child) && pidNamespace(child) !== selfNs) initPid = child;
    else await sleep(5);
  }
  const pidns = pidNamespace(initPid);
  const pod = {
    name,
    host,
    proc,
    initPid,
    logFile,
    exited,
    /** Pids (machine namespace) of every live process of the pod. */
    pids: () => host.pids().filter((p) => pidNamespace(p) === pidns),
    commands: () => pod.pids().map(cmdline),
    signalInit(signal) {
      try {
        process.kill(initPid, signal);
      } catch {
        /* gone */
      }
    },
    /** SIGKILL the init (the kernel kills the rest); resolves when no process of the pod is left. */
    async kill() {
      pod.signalInit('SIGKILL');
      const until = Date.now() + 10_000;
      while (pod.pids().length > 0) {
        if (Date.now() > until) throw new Error(`pod ${name}: processes left after SIGKILL: ${pod.commands().join(' | ')}`);
        await sleep(10);
      }
      await exited;
    },
  };
  return pod;
}

/**
 * Creates a lab (keepWork, or RHHA_LAB_KEEP=1: the work dir and its logs stay after close()):
 * `hosts` is a list of host names (letters, digits, at most 6
 * characters: they become link names). Returns { id, prefix, gateway, workDir,
 * hosts: Map(name -> host), host(name), close() }.
 * A host: { name, ns, address, pids(), commands(), exec(argv), spawn(name, argv, opts),
 *           partition(), heal(), linkDown(), linkUp(), killAll() }.
 */
export function createLab({ hosts, keepWork = process.env.RHHA_LAB_KEEP === '1' } = {}) {
  if (process.getuid?.() !== 0) throw new Error('lab: needs root (network namespaces, links, iptables)');
  for (const tool of ['ip', 'iptables', 'unshare']) {
    if (!net.tryRun('sh', ['-c', `command -v ${tool}`])) throw new Error(`lab: ${tool} is missing (bash scripts/setup.sh --lab installs it)`);
  }
  for (const h of hosts) if (!/^[a-z][a-z0-9]{0,5}$/.test(h)) throw new Error(`lab: bad host name ${JSON.stringify(h)} (a-z0-9, at most 6)`);
  sweep();
  mkdirSync(REGISTRY, { recursive: true, mode: 0o700 });
  const id = `${PREFIX}${(process.pid % 36 ** 3).toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`.slice(0, 7);
  const prefix = net.pickSubnet((process.pid % 250) + 1);
  const workDir = mkdtempSync(path.join(tmpdir(), `${id}-`));
  const rec = {
    id,
    ownerPid: process.pid,
    ownerStart: startTime(process.pid),
    bridge: id,
    prefix,
    workDir,
    keepWork,
    hosts: hosts.map((name) => ({ name, ns: `${id}-${name}`, peer: `${id}-${name}` })),
  };
  // Registered before anything is made, so a crash halfway is swept too.
  writeFileSync(path.join(REGISTRY, `${id}.json`), JSON.stringify(rec), { mode: 0o600 });

  let closed = false;
  const onExit = () => lab.close();
  const onSignal = (sig) => {
    lab.close();
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  };
  const lab = {
    id,
    prefix,
    gateway: `${prefix}.1`,
    workDir,
    hosts: new Map(),
    host(name) {
      const h = lab.hosts.get(name);
      if (!h) throw new Error(`lab: no host ${name} (hosts: ${[...lab.hosts.keys()].join(', ')})`);
      return h;
    },
    /** Idempotent and synchronous: safe from an exit handler. */
    close() {
      if (closed) return;
      closed = true;
      process.off('exit', onExit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      destroy(rec, { keepWork });
    },
  };
  process.on('exit', onExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    net.createBridge(rec.bridge, prefix);
    rec.hosts.forEach((h, i) => {
      const address = `${prefix}.${10 + i}`;
      net.createHost({ ns: h.ns, peer: h.peer, bridge: rec.bridge, address });
      const nsId = net.netnsId(h.ns);
      const host = {
        name: h.name,
        ns: h.ns,
        address,
        nsId,
        pids: () => net.pidsInNetns(nsId).filter(isAlive),
        commands: () => host.pids().map(cmdline),
        /** Runs a short command on the host; returns its stdout. */
        exec: (argv, opts) => net.run('ip', ['netns', 'exec', h.ns, ...argv], opts),
        spawn: (name, argv, opts = {}) => startPod(host, name, argv, { logFile: path.join(workDir, `${name}.log`), ...opts }),
        partition: () => net.partition(h.ns),
        heal: () => net.heal(h.ns),
        linkDown: () => net.setLink(h.ns, false),
        linkUp: () => net.setLink(h.ns, true),
        /** SIGKILL every process on the host; returns when none is left. */
        killAll: () => net.killNetns(nsId),
      };
      lab.hosts.set(h.name, host);
    });
  } catch (e) {
    lab.close();
    throw e;
  }
  return lab;
}
