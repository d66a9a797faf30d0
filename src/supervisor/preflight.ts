/**
 * Preflight: the head command must be something the keeper can exec, checked
 * before the candidate joins the election. A broken image (Ray missing, a
 * typo in the command, a file without the execute bit) would otherwise take
 * the lease, fail to start, release, and take it again on the next attempt,
 * keeping a healthy standby out for as long as it runs.
 *
 * The lookup is execvp(3)'s, the one the keeper does: a name with a `/` is
 * used as it is; a bare name is searched in the head's PATH (unset: glibc's
 * default `/bin:/usr/bin`; an empty entry is the working directory), skipping
 * entries where it exists but cannot be executed. The keeper still reports an
 * exec that fails later (the file removed in between): exit 127 after the
 * election, as before. See: man 3 execvp.
 */
import path from 'node:path';
import { HeadStartError } from '../errors.js';
import { notExecutable } from '../safe-files.js';

/** glibc's path when PATH is unset (confstr _CS_PATH). */
const DEFAULT_PATH = '/bin:/usr/bin';

/** The file execvp would run for `name` under `env`, or throws HeadStartError (exit 127) saying why none. */
export function resolveHeadExecutable(name: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  if (name === '') throw new HeadStartError('cannot start the head: the command is empty');
  if (name.includes('/')) {
    const why = notExecutable(path.resolve(cwd, name));
    if (why) throw new HeadStartError(`cannot start the head: ${JSON.stringify(name)}: ${why}`);
    return name;
  }
  const searched = (env.PATH ?? DEFAULT_PATH).split(':');
  let found: string | null = null;
  for (const dir of searched) {
    const candidate = path.resolve(cwd, dir, name);
    const why = notExecutable(candidate);
    if (why === null) return candidate;
    if (why !== 'no such file') found ??= `${candidate} is ${why}`;
  }
  throw new HeadStartError(
    `cannot start the head: ${JSON.stringify(name)} ${found ? `is not executable on PATH (${found})` : 'is not found on PATH'}`,
  );
}

/** Refuses (exit 127) a head command that cannot be exec'd; call before joining the election. */
export function preflightHeadCommand(command: readonly string[], env: NodeJS.ProcessEnv): void {
  resolveHeadExecutable(command[0] ?? '', env);
}
