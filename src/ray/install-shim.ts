/**
 * `ray-head-ha install-shim --bin-dir DIR [--ray PATH]`: writes DIR/ray, the
 * Python shim of scripts/ray-shim.py with the real `ray` and the orchestrator
 * command baked in. The shim carries a marker line, so neither this installer
 * nor the shim at run time ever takes a shim for the real `ray`.
 */
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { notExecutable, replaceAtomically } from '../safe-files.js';
import { GROUP_FLAGS, START_FLAGS } from './start-args.js';

/** The line that marks a file as our shim (also searched for by the shim itself). */
export const SHIM_MARKER = '# ray-head-ha-shim:';

/** Repository root, from src/ray/ (tests) or dist/ray/ (installed). */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TEMPLATE = path.join(ROOT, 'scripts', 'ray-shim.py');

export interface InstallShimOptions {
  binDir: string;
  /** The real `ray`; default: the first `ray` on PATH outside binDir that is not a shim. */
  rayPath?: string;
  /** argv prefix that runs the orchestrator; default: this Node and bin/ray-head-ha.js. */
  orchestrator?: string[];
  /** PATH to search; default process.env.PATH. */
  searchPath?: string;
}

/** Writes binDir/ray (mode 0755) and returns its path. Throws ConfigError when no real ray is found. */
export function installShim(opts: InstallShimOptions): string {
  const binDir = path.resolve(opts.binDir);
  const ray = opts.rayPath !== undefined ? checkRealRay(path.resolve(opts.rayPath)) : findRealRay(binDir, opts.searchPath ?? process.env['PATH'] ?? '');
  const orchestrator = opts.orchestrator ?? [process.execPath, path.join(ROOT, 'bin', 'ray-head-ha.js')];
  if (orchestrator.length === 0) throw new ConfigError('install-shim: the orchestrator command is empty');

  const template = readFileSync(TEMPLATE, 'utf8');
  // JSON strings and lists of strings are valid Python literals. Replacer
  // functions, not strings: a path may hold `$&` or `$'`, which a replacement
  // string would expand.
  const body = template
    .replace('__RAY_HEAD_HA_REAL_RAY__', () => JSON.stringify(ray))
    .replace('__RAY_HEAD_HA_ORCHESTRATOR__', () => JSON.stringify(orchestrator))
    // The shim reads `ray start` argv as the orchestrator does: one list of value-less options.
    .replace('__RAY_HEAD_HA_START_FLAGS__', () => JSON.stringify([...START_FLAGS]))
    .replace('__RAY_HEAD_HA_GROUP_FLAGS__', () => JSON.stringify([...GROUP_FLAGS]));
  const shebang = shebangFor(ray);
  const script = body.replace(/^#!.*\n/, () => `${shebang}\n`);

  mkdirSync(binDir, { recursive: true });
  const target = path.join(binDir, 'ray');
  // Created exclusively, not through a link, with its mode set on the fd; then
  // renamed over DIR/ray (atomic: a concurrent `ray` never sees half a shim).
  replaceAtomically(target, script, 0o755);
  return target;
}

/**
 * The first executable `ray` on searchPath outside binDir that is not our shim.
 * Relative and empty entries (the working directory) are skipped: what they
 * name depends on where the installer happened to run.
 */
export function findRealRay(binDir: string, searchPath: string): string {
  const skip = realOrSelf(binDir);
  const tried: string[] = [];
  for (const dir of searchPath.split(path.delimiter)) {
    if (!path.isAbsolute(dir) || realOrSelf(dir) === skip) continue;
    const candidate = path.join(dir, 'ray');
    if (isExecutableFile(candidate) && !isShim(candidate)) return candidate;
    tried.push(candidate);
  }
  throw new ConfigError(
    `install-shim: no real \`ray\` found on PATH outside ${binDir} (tried ${tried.length ? tried.join(', ') : 'nothing'}); install Ray or pass --ray PATH`,
  );
}

export function isShim(file: string): boolean {
  try {
    return readFileSync(file).subarray(0, 512).includes(SHIM_MARKER);
  } catch {
    return false;
  }
}

function checkRealRay(file: string): string {
  if (!isExecutableFile(file)) throw new ConfigError(`install-shim: --ray ${file}: not an executable file`);
  if (isShim(file)) throw new ConfigError(`install-shim: --ray ${file}: that is a ray-head-ha shim, not Ray's own \`ray\``);
  return file;
}

/** Ray's console script names its interpreter; the shim uses the same one (it is stdlib-only). */
function shebangFor(ray: string): string {
  const first = readFileSync(ray).subarray(0, 256).toString('utf8').split('\n')[0] ?? '';
  return first.startsWith('#!') && /python/.test(first) ? first : '#!/usr/bin/env python3';
}

const isExecutableFile = (file: string): boolean => notExecutable(file) === null;

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
