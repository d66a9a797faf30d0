/**
 * The head's GCS as a process. When `gcs_server` dies, Ray's `ray start
 * --block` notices it only on its next check and then spends up to tens of
 * seconds stopping the rest of the node gracefully (its raylet tries to reach
 * the GCS that is gone), all the while this candidate holds the lease and no
 * one can take over. The orchestrator watches the process itself: once the
 * `gcs_server` of its own head tree has exited, the head has failed, whatever
 * its main process still does.
 *
 * Only a death is acted on, never a GCS that is slow to answer: a process that
 * is gone (or a zombie, or its pid now names another process) cannot come back.
 * See: man proc (/proc/PID/stat fields 4 ppid, 22 starttime).
 */
import { readdirSync } from 'node:fs';
import type { Clock } from '../clock.js';
import { readProcStat } from '../proc-stat.js';

/** True when `pid` descends from `ancestor` (walks the ppid chain; a short chain in practice). */
function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    const s = readProcStat(p);
    if (!s) return false;
    if (s.ppid === ancestor) return true;
    p = s.ppid;
  }
  return false;
}

/** The live process named `comm` (/proc/PID/stat's field 2) in the tree under headPid, or null when there is none (yet). */
export function findInHeadTree(headPid: number, comm: string): { pid: number; startTime: string } | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const s = readProcStat(pid);
    if (s?.comm === comm && s.state !== 'Z' && descendsFrom(pid, headPid)) return { pid, startTime: s.startTime };
  }
  return null;
}

/** The `gcs_server` process in the tree under headPid, or null when there is none (yet). */
export const findGcsServer = (headPid: number) => findInHeadTree(headPid, 'gcs_server');

export interface GcsWatchOptions {
  clock: Clock;
  /** How often to look for the gcs_server until it is there. */
  findEveryMs?: number;
  /** How often to check that it still runs. */
  checkEveryMs?: number;
}

/**
 * Resolves with a description once the gcs_server of headPid's tree has
 * exited, or with null when `signal` aborts first. A tree that never starts a
 * gcs_server is only looked for, never acted on.
 */
export async function watchGcsProcess(headPid: number, signal: AbortSignal, o: GcsWatchOptions): Promise<string | null> {
  const findEveryMs = o.findEveryMs ?? 200;
  const checkEveryMs = o.checkEveryMs ?? 100;
  try {
    let gcs = findGcsServer(headPid);
    while (!gcs) {
      await o.clock.sleep(findEveryMs, signal);
      gcs = findGcsServer(headPid);
    }
    for (;;) {
      await o.clock.sleep(checkEveryMs, signal);
      const s = readProcStat(gcs.pid);
      if (!s || s.state === 'Z' || s.state === 'X' || s.startTime !== gcs.startTime) return `gcs_server (pid ${gcs.pid}) exited`;
    }
  } catch {
    return null; // aborted
  }
}
