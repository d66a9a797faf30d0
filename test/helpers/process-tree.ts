/**
 * Process helpers for tests with real processes: poll for death with a
 * deadline, read pid files written by fixtures, and remember every process
 * group a test started so afterEach can kill it.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// One implementation with the scripts (scripts/lib/procs.mjs), typed here.
import * as impl from '../../scripts/lib/procs.mjs';

export const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export const nowMs = impl.nowMs as () => number;
export const sleep = impl.sleep as (ms: number) => Promise<void>;
/** The state letter from /proc/<pid>/stat, or null when there is no such process. */
export const procState = impl.procState as (pid: number) => string | null;
/** Gone or a zombie: it runs no code any more. */
export const isDead = impl.isDead as (pid: number) => boolean;
/** Running code: present and not a zombie. */
export const isAlive = impl.isAlive as (pid: number) => boolean;
/** Command line of a process, or '' when it is gone. */
export const cmdline = impl.cmdline as (pid: number) => string;
/** Polls until every pid is dead; returns the ms it took, or throws naming the survivors. */
export const waitDead = impl.waitDead as (pids: readonly number[], timeoutMs: number) => Promise<number>;
/** Waits for a fixture's pid file and returns the numbers in it. */
export const readPids = impl.readPids as (file: string, timeoutMs?: number) => Promise<number[]>;
/** Live (non-zombie) processes whose environment contains `token`. */
export const processesWithEnv = impl.processesWithEnv as (token: string) => number[];
/** Children of `pid` that are zombies. */
export const zombieChildren = impl.zombieChildren as (pid: number) => number[];
const killQuietly = impl.killQuietly as (target: number) => void;

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
    for (const g of this.groups) killQuietly(-g);
    for (const p of this.pids) killQuietly(p);
    this.groups.clear();
    this.pids.clear();
  }
}
