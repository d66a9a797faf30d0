/**
 * The warm standby's command (docs/design.md, decision 32): the same
 * `ray start --head ...`, run as `PYTHON warm-head.py RAY_SCRIPT ARG...`
 * with the interpreter of Ray's console script, so Ray's CLI is imported
 * before the term begins. Only for Ray's own console script (a `#!` Python
 * script that runs ray.scripts.scripts:main); anything else starts cold, and
 * the reason is returned for the log.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveHeadExecutable } from '../supervisor/preflight.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WARM_SCRIPT = path.join(ROOT, 'scripts', 'warm-head.py');

/** Ray's console script runs this; a script without it is not Ray's CLI. */
const RAY_ENTRY = 'from ray.scripts.scripts import main';

export function warmCommand(command: readonly string[], env: NodeJS.ProcessEnv): { command: string[] } | { reason: string } {
  const ray = rayInterpreter(command, env);
  if ('reason' in ray) return ray;
  return { command: [...ray.interpreter, WARM_SCRIPT, ray.script, ...command.slice(1)] };
}

/**
 * The interpreter (with its #! argument, if any) of Ray's console script that
 * `command` runs, and that script's absolute path; or why there is none (not
 * Ray's console script, unreadable).
 */
export function rayInterpreter(command: readonly string[], env: NodeJS.ProcessEnv): { interpreter: string[]; script: string } | { reason: string } {
  const exe = command[0];
  if (!exe) return { reason: 'the head command is empty' };
  let script: string;
  let head: string;
  try {
    // The file the keeper would exec for the cold head (execvp's lookup), made absolute.
    script = path.resolve(resolveHeadExecutable(exe, env));
    const fd = openSync(script, 'r');
    try {
      const buf = Buffer.alloc(4096);
      head = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return { reason: `cannot read the head's executable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  const shebang = /^#!\s*(\S+)(?:[ \t]+(\S.*?))?\s*$/m.exec(head.split('\n', 1)[0] ?? '');
  if (!head.startsWith('#!') || !shebang) return { reason: `${script} is not a script with a #! line` };
  if (!head.includes(RAY_ENTRY)) return { reason: `${script} is not Ray's console script (it does not run ray.scripts.scripts:main)` };
  return { interpreter: [shebang[1]!, ...(shebang[2] ? [shebang[2]] : [])], script };
}
