/**
 * Process helpers for tests with real processes: poll for death with a
 * deadline, read pid files written by fixtures, and remember every process
 * group a test started so afterEach can kill it.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The state letter from /proc/<pid>/stat, or null when there is no such process. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** Gone or a zombie: it runs no code any more. */
export function isDead(pid: number): boolean {
  const state = procState(pid);
  return state === null || state === 'Z' || state === 'X';
}

/** Polls until every pid is dead; returns the ms it took, or throws naming the survivors. */
export async function waitDead(pids: readonly number[], timeoutMs: number): Promise<number> {
  const t0 = nowMs();
  for (;;) {
    const alive = pids.filter((p) => !isDead(p));
    if (alive.length === 0) return nowMs() - t0;
    if (nowMs() - t0 > timeoutMs) throw new Error(`still alive after ${timeoutMs} ms: ${alive.join(', ')}`);
    await sleep(2);
  }
}

/** Waits for a fixture's pid file and returns the numbers in it. */
export async function readPids(file: string, timeoutMs = 5000): Promise<number[]> {
  const t0 = nowMs();
  while (!existsSync(file)) {
    if (nowMs() - t0 > timeoutMs) throw new Error(`no pid file ${file} after ${timeoutMs} ms`);
    await sleep(5);
  }
  return readFileSync(file, 'utf8').trim().split(/\s+/).map(Number);
}

/** Live (non-zombie) processes whose environment contains `token`. */
export function processesWithEnv(token: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').includes(token) && !isDead(Number(name))) found.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Children of `pid` that are zombies. */
export function zombieChildren(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z' && Number(rest[1]) === pid) found.push(Number(name));
    } catch {
      // gone
    }
  }
  return found;
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Every process group and pid a test started; killAll() in afterEach. */
export class Started {
  private readonly groups = new Set<number>();
  private readonly pids = new Set<number>();

  group(pgid: number | undefined): void {
    if (pgid) this.groups.add(pgid);
  }

  pid(...pids: (number | undefined)[]): void {
    for (const p of pids) if (p) this.pids.add(p);
  }

  killAll(): void {
    const quietly = (target: number) => {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone already
      }
    };
    for (const g of this.groups) quietly(-g);
    for (const p of this.pids) {
      quietly(p);
    }
    this.groups.clear();
    this.pids.clear();
  }
}
