/**
 * Restart in place (docs/design.md, decision 30). With RAY_HA_INSTANCE_DIR (a
 * directory that outlives a container restart, such as an emptyDir), a
 * leading candidate records its term's token in `<dir>/term`. When the
 * container dies and restarts, the new incarnation releases that lease at
 * once instead of letting every standby wait out the ttl, but only with the
 * proof that every process of the previous incarnation is gone: the shim,
 * running as the container's PID 1, took the exclusive lock on `<dir>/lock`
 * that the previous container's PID 1 held until it died, and says so in
 * RAY_HA_INSTANCE_LOCKED; this process is that init's child. A PID 1 that
 * died took its whole PID namespace with it, and a runtime starts the next
 * container only after it has reaped that init, hence after every other
 * process of the namespace was gone.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Elector } from '../election/elector.js';
import type { Lease } from '../election/lease.js';
import type { Logger } from '../log.js';
import { formatToken, parseToken } from '../redis/keys.js';
import { OPTIONS, lookup } from '../options.js';
import { replaceAtomically } from '../safe-files.js';

/** The recorded term; the lock beside it (`lock`) is the shim's alone (scripts/ray-shim.py, lock_instance). */
export const TERM_FILE = 'term';

export interface Instance {
  dir: string;
  /** The shim as PID 1 holds the lock, and it is our parent. */
  proven: boolean;
}

/** The instance from the environment, or null when RAY_HA_INSTANCE_DIR is not set. */
export function instanceFrom(env: NodeJS.ProcessEnv, dir: string | undefined): Instance | null {
  if (!dir) return null;
  return { dir, proven: lookup(OPTIONS.instanceLocked, {}, env)?.value === '1' && process.ppid === 1 };
}

function readTerm(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').slice(0, 400).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/**
 * Before the election: the term the previous incarnation recorded, released
 * when the proof holds and the term is this candidate's. A failed release is
 * logged and costs the ttl, nothing else.
 */
export async function releasePreviousIncarnation(instance: Instance, candidateId: string, lease: Lease, log: Logger): Promise<void> {
  const file = path.join(instance.dir, TERM_FILE);
  const recorded = readTerm(file);
  if (recorded === null) return;
  const term = parseToken(recorded);
  if (!instance.proven) {
    log.info({ file }, 'a previous term is recorded, but this process is not the child of the shim as PID 1 holding the instance lock: no proof its head is gone, so it is left to expire');
    return;
  }
  if (!term || term.id !== candidateId) {
    log.warn({ file, recordedId: term?.id ?? null }, 'the recorded previous term is not this candidate\'s: left alone');
    removeQuietly(file);
    return;
  }
  try {
    const released = await lease.release(recorded, 'released');
    log.info(
      { epoch: term.epoch, released },
      released
        ? 'released the lease of this container\'s previous incarnation (its PID 1 died, so every process of it is gone)'
        : 'the previous incarnation\'s lease had already ended',
    );
  } catch (err) {
    log.warn({ epoch: term.epoch, err: (err as Error).message }, 'could not release the previous incarnation\'s lease; it expires by its ttl');
  }
  removeQuietly(file);
}

/** While this candidate leads, `<dir>/term` holds its token; removed when the term ends. Returns the undo. */
export function recordTerms(instance: Instance, elector: Elector, candidateId: string, log: Logger): () => void {
  const file = path.join(instance.dir, TERM_FILE);
  const onState = (e: { to: string; epoch: number }) => {
    try {
      if (e.to === 'leading') replaceAtomically(file, `${formatToken(candidateId, e.epoch)}\n`, 0o600);
      else if (e.to === 'stopped') removeQuietly(file);
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, 'cannot record the term for a restart in place');
    }
  };
  elector.on('state', onState);
  return () => elector.off('state', onState);
}
