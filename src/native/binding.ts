/**
 * Loads the native part: the addon (ray_head_ha.node) and the keeper
 * executable (ray-head-ha-keeper), built side by side by `npm run
 * build:native` (cmake-js, build/native/Release) or by node-gyp
 * (scripts/build-gyp.sh, build/Release). RAY_HEAD_HA_NATIVE_DIR, when set, is
 * the only place looked at, so a test run against one build can never pick up
 * the other by accident. Linux only: prctl and /proc have no equivalent elsewhere.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ReapedChild {
  pid: number;
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The addon's exports (native/src/addon.cc). Errors carry errno (negative, like Node's), code and syscall. */
export interface NativeBinding {
  /** prctl(PR_SET_CHILD_SUBREAPER) on this process; orphans of our descendants re-parent to us. */
  setChildSubreaper(enable?: boolean): void;
  isChildSubreaper(): boolean;
  /** Every descendant of pid from /proc parent links, parents first; throws ESRCH when pid does not exist. */
  descendants(pid: number): number[];
  /** Reaps pid if it has exited and libuv does not own it; null otherwise. Throws ECHILD if not our child. */
  reapIfZombie(pid: number): ReapedChild | null;
  /** Direct children of this process that libuv did not spawn, minus `exclude`. */
  adoptedOrphans(exclude?: readonly number[]): number[];
}

/**
 * The test build of the addon (ray_head_ha_test.node, RHHA_ADDON_TEST_EXPORTS):
 * the same exports and three the product never calls, for the tests of the
 * prctl and kill wrappers.
 */
export interface TestNativeBinding extends NativeBinding {
  /** prctl(PR_SET_PDEATHSIG) on this process; fires when the thread that forked us exits. 0 clears it. */
  setParentDeathSignal(signal: number): void;
  getParentDeathSignal(): number;
  /** kill(-pgid, signal); false when the group is empty (ESRCH). pgid must be > 1. */
  killGroup(pgid: number, signal: number): boolean;
}

export const ADDON_FILE = 'ray_head_ha.node';
const TEST_ADDON_FILE = 'ray_head_ha_test.node';
export const KEEPER_FILE = 'ray-head-ha-keeper';
export const NATIVE_DIR_ENV = 'RAY_HEAD_HA_NATIVE_DIR';

const EXPORTS: readonly (keyof NativeBinding)[] = [
  'setChildSubreaper',
  'isChildSubreaper',
  'descendants',
  'reapIfZombie',
  'adoptedOrphans',
];

export class NativeUnavailableError extends Error {
  constructor(
    message: string,
    readonly tried: readonly string[],
  ) {
    super(message);
    this.name = 'NativeUnavailableError';
  }
}

/** src/native or dist/native -> the package root. */
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Directories searched, in order. */
export function nativeDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env[NATIVE_DIR_ENV];
  if (override) return [path.resolve(override)];
  return [path.join(packageRoot, 'build', 'native', 'Release'), path.join(packageRoot, 'build', 'Release')];
}

function assertLinux(): void {
  if (process.platform !== 'linux') {
    throw new NativeUnavailableError(
      `ray-head-ha's native process control needs Linux (prctl, /proc); this is ${process.platform}`,
      [],
    );
  }
}

const TEST_EXPORTS: readonly (keyof TestNativeBinding)[] = [...EXPORTS, 'setParentDeathSignal', 'getParentDeathSignal', 'killGroup'];

function hasExports(value: unknown, names: readonly string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return names.every((name) => typeof record[name] === 'function');
}

/** By file and the directories searched, so another RAY_HEAD_HA_NATIVE_DIR is another search. */
const cache = new Map<string, unknown>();

function loadAddon(file: string, names: readonly string[], env: NodeJS.ProcessEnv): unknown {
  assertLinux();
  const dirs = nativeDirs(env);
  const key = [file, ...dirs].join('\0');
  const cached = cache.get(key);
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const dir of dirs) {
    const full = path.join(dir, file);
    let loaded: unknown;
    try {
      loaded = require(full);
    } catch (err) {
      tried.push(`${full}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    if (!hasExports(loaded, names)) {
      tried.push(`${full}: missing exports (want ${names.join(', ')})`);
      continue;
    }
    cache.set(key, loaded);
    return loaded;
  }
  throw new NativeUnavailableError(
    `cannot load the native addon (run \`npm run build:native\`); tried:\n  ${tried.join('\n  ')}`,
    tried,
  );
}

/** Loads the addon once; throws NativeUnavailableError listing every path it tried and why each failed. */
export function loadNative(env: NodeJS.ProcessEnv = process.env): NativeBinding {
  return loadAddon(ADDON_FILE, EXPORTS, env) as NativeBinding;
}

/** Loads the test build of the addon (tests only), from where the addon is looked for. */
export function loadTestNative(env: NodeJS.ProcessEnv = process.env): TestNativeBinding {
  return loadAddon(TEST_ADDON_FILE, TEST_EXPORTS, env) as TestNativeBinding;
}

/** Absolute path of the keeper executable, looked for where the addon is. */
export function keeperExecutablePath(env: NodeJS.ProcessEnv = process.env): string {
  assertLinux();
  const tried: string[] = [];
  for (const dir of nativeDirs(env)) {
    const file = path.join(dir, KEEPER_FILE);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch (err) {
      tried.push(`${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  throw new NativeUnavailableError(
    `cannot find the keeper executable (run \`npm run build:native\`); tried:\n  ${tried.join('\n  ')}`,
    tried,
  );
}
