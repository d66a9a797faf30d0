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
 *
 * That proof holds only for a directory private to this pod on this node. On
 * a PVC or a network filesystem a replacement pod of the same name on another
 * node could take "the" lock (NFS, CIFS and FUSE locks are not this kernel's
 * alone) while the old pod still leads. So (a) a directory on a network or
 * FUSE filesystem is refused at start (statfs f_type; one line, exit 2), and
 * (b) the term record carries the pod's UID (RAY_HA_POD_UID, the downward
 * API's metadata.uid): a previous incarnation's lease is released only when
 * the recorded UID is this pod's, the same pod and not a namesake.
 */
import { readFileSync, statfsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Elector } from '../election/elector.js';
import type { Lease } from '../election/lease.js';
import { ConfigError } from '../errors.js';
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
  /** This pod's UID (RAY_HA_POD_UID), recorded with the term; null outside Kubernetes. */
  podUid: string | null;
}

/**
 * statfs(2) f_type of filesystems whose locks and files other machines share
 * (linux/magic.h and the filesystems' own sources): a lock taken there proves
 * nothing about this container's processes.
 */
export const SHARED_FILESYSTEMS: Record<number, string> = {
  0x6969: 'nfs',
  0x517b: 'smb',
  0xff534d42: 'cifs',
  0xfe534d42: 'smb2',
  0x65735546: 'fuse',
  0x00c36400: 'ceph',
  0x01021997: '9p',
  0x5346414f: 'afs',
  0x6b414653: 'afs',
  0x73757245: 'coda',
  0x564c: 'ncp',
  0x01161970: 'gfs2',
  0x7461636f: 'ocfs2',
  0x0bd00bd0: 'lustre',
  0x47504653: 'gpfs',
  0x19830326: 'orangefs',
  0x013111a8: 'ibrix',
  0xaad7aaea: 'panfs',
};

/** The shared filesystem `dir` is on, or null for a local one. */
export function sharedFilesystem(dir: string): string | null {
  // f_type is unsigned; some platforms hand it over as a signed 32-bit value.
  return SHARED_FILESYSTEMS[statfsSync(dir).type >>> 0] ?? null;
}

const POD_UID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * The instance from the environment, or null when RAY_HA_INSTANCE_DIR is not
 * set. Refuses (ConfigError, exit 2) a directory on a shared filesystem and
 * a malformed RAY_HA_POD_UID.
 */
export function instanceFrom(env: NodeJS.ProcessEnv, dir: string | undefined): Instance | null {
  if (!dir) return null;
  let shared: string | null;
  try {
    shared = sharedFilesystem(dir);
  } catch (err) {
    throw new ConfigError(`RAY_HA_INSTANCE_DIR=${JSON.stringify(dir)}: cannot statfs it (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  if (shared) {
    throw new ConfigError(
      `RAY_HA_INSTANCE_DIR=${JSON.stringify(dir)} is on ${shared}, a filesystem other machines share: its lock cannot prove this container's processes gone; use a node-local directory private to the pod (an emptyDir)`,
    );
  }
  const uid = env.RAY_HA_POD_UID?.trim() || null;
  if (uid !== null && !POD_UID.test(uid)) throw new ConfigError(`RAY_HA_POD_UID=${JSON.stringify(uid)}: not a pod UID (the downward API's metadata.uid)`);
  return { dir, proven: lookup(OPTIONS.instanceLocked, {}, env)?.value === '1' && process.ppid === 1, podUid: uid };
}

/** `<token>` and, on Kubernetes, `pod-uid <uid>` on the next line. */
function formatTerm(token: string, podUid: string | null): string {
  return podUid === null ? `${token}\n` : `${token}\npod-uid ${podUid}\n`;
}

function readTerm(file: string): { token: string; podUid: string | null } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').slice(0, 400);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const [token = '', second = ''] = text.split('\n').map((l) => l.trim());
  const m = /^pod-uid (\S+)$/.exec(second);
  return { token, podUid: m ? m[1]! : null };
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
  const record = readTerm(file);
  if (record === null) return;
  const recorded = record.token;
  const term = parseToken(recorded);
  if (record.podUid !== instance.podUid) {
    // Another pod of the same name (a shared directory) may still lead on it: not ours to release or remove.
    log.warn(
      { file, recordedPodUid: record.podUid, podUid: instance.podUid },
      'the recorded previous term is another pod\'s (RAY_HA_POD_UID differs): left alone',
    );
    return;
  }
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
      if (e.to === 'leading') replaceAtomically(file, formatTerm(formatToken(candidateId, e.epoch), instance.podUid), 0o600);
      else if (e.to === 'stopped') removeQuietly(file);
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, 'cannot record the term for a restart in place');
    }
  };
  elector.on('state', onState);
  return () => elector.off('state', onState);
}
