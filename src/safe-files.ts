/**
 * Files we write where others may write too: Ray's temp dir (Ray makes it
 * world-writable, without the sticky bit), /tmp, a bin dir an operator names.
 * A name there may already be a link, planted to make us overwrite (or chmod)
 * the file it points to. So a new file is only ever created exclusively,
 * without following a link (O_CREAT|O_EXCL|O_NOFOLLOW), under a name nobody can
 * guess, and then renamed into place: rename(2) replaces a link, never follows it.
 * See: man 2 open (O_EXCL, O_NOFOLLOW), man 2 rename.
 * Also the one check of "can this file be exec'd" (preflight, install-shim).
 */
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, type Stats, fchmodSync, lstatSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;

/** Creates `file` with `mode` (not through the umask) and writes `data`; EEXIST when anything, a link included, is there. */
export function createExclusive(file: string, data: string, mode: number): void {
  const fd = openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    fchmodSync(fd, mode); // the fd, never the name: a name can be swapped for a link
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `file` atomically with a new file: readers see the old or the new content, never half. */
export function replaceAtomically(file: string, data: string, mode: number): void {
  const tmp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  createExclusive(tmp, data, mode);
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp); // ours: createExclusive made it
    throw err;
  }
}

/**
 * A directory only this user can change: created 0700 when missing; refused
 * (ConfigError naming `what`) when it is a link, someone else's, or writable
 * by group or others, since whoever can write there can plant what we read.
 */
export function ensurePrivateDir(dir: string, what: string): void {
  let st = lstatOrNull(dir);
  if (!st) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new ConfigError(`cannot create ${what} ${dir}: ${(err as Error).message}`);
    }
    st = lstatSync(dir);
  }
  const uid = process.geteuid?.() ?? -1;
  const problem = st.isSymbolicLink()
    ? 'is a symbolic link'
    : !st.isDirectory()
      ? 'is not a directory'
      : st.uid !== uid
        ? `belongs to uid ${st.uid}, not to us (uid ${uid})`
        : (st.mode & 0o022) !== 0
          ? `is writable by others (mode ${(st.mode & 0o777).toString(8)})`
          : null;
  if (problem) throw new ConfigError(`${what} ${dir} ${problem}; refusing to use it`);
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Why `file` cannot be exec'd, or null when it can (an existing regular file, after links, that we may execute). */
export function notExecutable(file: string): string | null {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) return 'no such file';
  if (!st.isFile()) return st.isDirectory() ? 'a directory' : 'not a regular file';
  try {
    accessSync(file, constants.X_OK);
    return null;
  } catch {
    return 'not executable (no execute permission)';
  }
}
