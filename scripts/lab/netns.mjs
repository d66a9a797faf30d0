// The lab's network: one Linux bridge with no uplink, and one network
// namespace per host, each with its own address in the lab's /24. The
// machine's own side of the bridge takes .1 (so the tests and scripts reach
// the hosts); nothing routes beyond the /24, and no host has a default route,
// so no packet of the lab leaves the machine.
//
// Everything here is a thin, synchronous wrapper around `ip` and `iptables`
// (iproute2, iptables): teardown must also work from a process 'exit' handler.
// See: man ip-netns, man ip-link, man veth, man iptables.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

/** Runs a command, throwing with its stderr when it fails. */
export function run(cmd, args, { input, quiet = false } = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    if (quiet) return null;
    const err = String(e.stderr ?? '').trim() || e.message;
    throw new Error(`${cmd} ${args.join(' ')}: ${err}`);
  }
}

/** Best effort: for teardown, where a part may already be gone. */
export const tryRun = (cmd, args) => run(cmd, args, { quiet: true });

/** The /24 prefixes ("10.231.7") that addresses or routes on this machine already use. */
function usedPrefixes() {
  const text = run('ip', ['-4', '-o', 'addr', 'show']) + run('ip', ['-4', 'route', 'show', 'table', 'all']);
  return new Set([...text.matchAll(/\b(\d+\.\d+\.\d+)\.\d+/g)].map((m) => m[1]));
}

/** A 10.231.N.0/24 that nothing on the machine uses yet (N from 1 to 254, starting at `hint`). */
export function pickSubnet(hint = 1) {
  const used = usedPrefixes();
  for (let i = 0; i < 254; i++) {
    const n = ((hint - 1 + i) % 254) + 1;
    const prefix = `10.231.${n}`;
    if (!used.has(prefix)) return prefix;
  }
  throw new Error('lab: no free 10.231.N.0/24 left on this machine');
}

export function createBridge(name, prefix) {
  run('ip', ['link', 'add', name, 'type', 'bridge']);
  run('ip', ['addr', 'add', `${prefix}.1/24`, 'dev', name]);
  run('ip', ['link', 'set', name, 'up']);
}

/**
 * A host: namespace `ns`, its end of a veth pair named eth0 with `address`,
 * the other end (`peer`, in the machine's namespace) on the bridge.
 */
export function createHost({ ns, peer, bridge, address }) {
  run('ip', ['netns', 'add', ns]);
  run('ip', ['link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  run('ip', ['link', 'set', peer, 'master', bridge, 'up']);
  run('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
}

/** Drops every packet in and out of the host but its loopback; its processes keep running. */
export function partition(ns) {
  const ipt = (...a) => run('ip', ['netns', 'exec', ns, 'iptables', '-w', ...a]);
  ipt('-F');
  ipt('-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT');
  ipt('-A', 'OUTPUT', '-o', 'lo', '-j', 'ACCEPT');
  ipt('-A', 'INPUT', '-j', 'DROP');
  ipt('-A', 'OUTPUT', '-j', 'DROP');
}

export function heal(ns) {
  run('ip', ['netns', 'exec', ns, 'iptables', '-w', '-F']);
}

/** The host's link down (nothing in or out, not even a RST) or up again. */
export function setLink(ns, up) {
  run('ip', ['-n', ns, 'link', 'set', 'eth0', up ? 'up' : 'down']);
}

/** The namespace's identity as /proc/PID/ns/net names it (`net:[4026532...]`), or null when it is gone. */
export function netnsId(ns) {
  try {
    return `net:[${statSync(`/run/netns/${ns}`).ino}]`;
  } catch {
    return null;
  }
}

/** Pids (machine pid namespace) of every process whose network namespace is `id`, zombies included. */
export function pidsInNetns(id) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/net`) === id) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** SIGKILL every process in the namespace until none is left (or `timeoutMs` passes: then throws). */
export function killNetns(id, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = pidsInNetns(id).filter((p) => p !== process.pid);
    const live = pids.filter((p) => !isZombie(p));
    if (live.length === 0) return;
    for (const p of live) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (Date.now() > deadline) throw new Error(`lab: processes left in ${id}: ${live.join(' ')}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

/** Zombie, dead or gone: nothing left to kill. */
function isZombie(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return 'ZX'.includes(stat[stat.lastIndexOf(')') + 2]);
  } catch {
    return true;
  }
}

export function deleteHost(ns, peer) {
  tryRun('ip', ['link', 'del', peer]);
  tryRun('ip', ['netns', 'del', ns]);
}

export function deleteBridge(name) {
  tryRun('ip', ['link', 'del', name]);
}
