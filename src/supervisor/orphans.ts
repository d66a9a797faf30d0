/**
 * The orchestrator's second line of defence. As a child subreaper it adopts
 * whatever escapes a head tree whose keeper died without cleaning up (keeper
 * SIGKILLed or crashed): the head itself (killed by its PDEATHSIG, a zombie
 * now ours) and daemons that left the head's group with setsid. libuv cannot
 * reap them, it never spawned them; this kills each with its descendants and
 * reaps it by pid. libuv's own children are never touched (the addon skips
 * the pids of live uv_process_t handles and peeks with WNOWAIT).
 */
import type { NativeBinding } from '../native/binding.js';

/** SIGKILL to a pid (or, negative, a process group); one that is already gone is fine. */
export function sigkillQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function descendantsOf(native: NativeBinding, pid: number): number[] {
  try {
    return native.descendants(pid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return [];
    throw err;
  }
}

/**
 * Kills and reaps every adopted orphan until none is left or `timeoutMs`
 * passes. Returns the pids it reaped. `exclude`: children spawned by other
 * means than this thread's libuv loop, which must be left alone.
 */
export async function killAdoptedOrphans(
  native: NativeBinding,
  timeoutMs = 2000,
  exclude: readonly number[] = [],
): Promise<number[]> {
  const reaped: number[] = [];
  const endMs = performance.now() + timeoutMs;
  for (;;) {
    const orphans = native.adoptedOrphans(exclude);
    if (orphans.length === 0 || performance.now() > endMs) return reaped;
    for (const pid of orphans) {
      // Children first would race with their re-parenting; KILL all of them, any order.
      for (const d of descendantsOf(native, pid)) sigkillQuietly(d);
      sigkillQuietly(pid);
    }
    for (const pid of orphans) {
      try {
        if (native.reapIfZombie(pid)) reaped.push(pid);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ECHILD') throw err;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
