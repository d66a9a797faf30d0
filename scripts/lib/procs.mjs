// Reading processes from /proc, for the harness: state, liveness, command
// lines, waiting for death, fixtures' pid files, zombies. One implementation
// for the scripts and the tests (test/helpers/process-tree.ts types it).
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The state letter of /proc/<pid>/stat ('Z' a zombie), or null when there is no such process. */
export function procState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2];
  } catch {
    return null;
  }
}

/** Gone or a zombie: it runs no code any more. */
export function isDead(pid) {
  const state = procState(pid);
  return state === null || state === 'Z' || state === 'X';
}

/** Running code: present and not a zombie. */
export const isAlive = (pid) => !isDead(pid);

/** A process's command line, words joined by spaces; '' when it is gone. */
export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Polls until every pid is dead; returns the ms it took, or throws naming the survivors. */
export async function waitDead(pids, timeoutMs) {
  const t0 = nowMs();
  for (;;) {
    const alive = pids.filter((p) => !isDead(p));
    if (alive.length === 0) return nowMs() - t0;
    if (nowMs() - t0 > timeoutMs) throw new Error(`still alive after ${timeoutMs} ms: ${alive.join(', ')}`);
    await sleep(2);
  }
}

/** Waits for a fixture's pid file and returns the numbers in it. */
export async function readPids(file, timeoutMs = 5000) {
  const t0 = nowMs();
  while (!existsSync(file)) {
    if (nowMs() - t0 > timeoutMs) throw new Error(`no pid file ${file} after ${timeoutMs} ms`);
    await sleep(5);
  }
  return readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
}

const allPids = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);

/** Live (non-zombie) processes whose environment contains `token`. */
export function processesWithEnv(token) {
  return allPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(token) && !isDead(pid);
    } catch {
      return false; // gone, or not ours to read
    }
  });
}

/** `pid` and every process below it (by parent pid, scanned now): what a whole-leader freeze stops. */
export function processTree(pid) {
  const parents = new Map();
  for (const p of allPids()) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      parents.set(p, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i] && !tree.includes(child)) tree.push(child);
  }
  return tree;
}

/**
 * Freezes a set of processes, as a cgroup freezer or `docker pause` would:
 * SIGSTOP to every pid `list()` gives, again until it gives nothing new (a
 * process may fork while the first ones stop). Returns thaw(), which SIGCONTs
 * every process it stopped.
 */
export function freeze(list) {
  const stopped = new Set();
  for (let round = 0; round < 5; round++) {
    const fresh = list().filter((p) => !stopped.has(p));
    if (fresh.length === 0) break;
    for (const p of fresh) {
      try {
        process.kill(p, 'SIGSTOP');
        stopped.add(p);
      } catch {
        // gone
      }
    }
  }
  return () => {
    for (const p of stopped) {
      try {
        process.kill(p, 'SIGCONT');
      } catch {
        // gone
      }
    }
  };
}

/** Freezes `pid`'s whole tree (freeze()); returns thaw(). */
export const freezeTree = (pid) => freeze(() => processTree(pid));

/** Children of `pid` that are zombies. */
export function zombieChildren(pid) {
  return allPids().filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return rest[0] === 'Z' && Number(rest[1]) === pid;
    } catch {
      return false;
    }
  });
}

/** SIGKILL, ignoring a process that is already gone. */
export function killQuietly(target) {
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    /* gone */
  }
}
