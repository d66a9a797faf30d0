/**
 * What the orchestrator needs to know about a `ray start --head` command: the
 * command it must run (always with --block, so the head stays its child), the
 * GCS address it will serve (published in the leader hash and probed by the
 * next leader) and the dashboard URL. Pure functions of argv and env, except
 * for the node IP default, which mirrors Ray's own pick (see node-ip.ts).
 */
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { MAX_HOST_PORT_BYTES, buildAddress, splitHostPort } from '../host-port.js';
import { isLocalhost, nodeIpRayWouldPick } from './node-ip.js';
import { hasFlag, optionValue, parseStartArgs } from './start-args.js';

/** Ray's defaults (ray_constants.DEFAULT_PORT, DEFAULT_DASHBOARD_PORT). */
export const RAY_DEFAULT_GCS_PORT = 6379;
export const RAY_DEFAULT_DASHBOARD_PORT = 8265;

export interface RayHeadInfo {
  /** The head command, with --block added when it was missing. */
  command: string[];
  /** host:port of the GCS this head will serve. */
  gcsAddress: string;
  /** http://host:port, or null when the dashboard is off (--include-dashboard=false). */
  dashboardUrl: string | null;
  /** --temp-dir as given, or null for Ray's default (see defaultRayTempDir). */
  tempDir: string | null;
}

export interface RayHeadInfoOptions {
  /** This node's IP when --node-ip-address is absent; defaults to Ray's own pick. */
  nodeIp?: () => string;
}

/** True for `ray [group options] start ... --head ...` (argv[0] named `ray`). */
export function isRayHeadStart(argv: readonly string[]): boolean {
  const exe = argv[0];
  if (exe === undefined || path.basename(exe) !== 'ray') return false;
  const args = parseStartArgs(argv);
  return args.startIndex >= 0 && hasFlag(args, '--head');
}

/**
 * `env` is part of the contract but nothing in it changes Ray's head address
 * today; an explicit RAY_HA_GCS_ADDRESS / --gcs-address is applied by config.ts.
 */
export function rayHeadInfo(argv: readonly string[], _env: NodeJS.ProcessEnv, opts: RayHeadInfoOptions = {}): RayHeadInfo {
  const args = parseStartArgs(argv);
  if (args.startIndex < 0 || !hasFlag(args, '--head')) {
    throw new ConfigError(`head command is not \`ray start --head\`: ${argv.join(' ')}`);
  }
  const command = hasFlag(args, '--block') ? [...argv] : [...argv, '--block'];

  const port = parsePort(optionValue(args, '--port'), RAY_DEFAULT_GCS_PORT, '--port');
  if (port === 0) {
    throw new ConfigError('ray start --port=0 (a random GCS port) cannot be used with head HA: the next leader must know the address; give a fixed --port');
  }
  // Ray replaces a loopback --node-ip-address by the node's reachable IP
  // (services.resolve_ip_for_localhost), so the GCS is announced on that one.
  const pickNodeIp = memo(opts.nodeIp ?? (() => nodeIpRayWouldPick()));
  const given = optionValue(args, '--node-ip-address');
  const nodeIp = given !== undefined && !isLocalhost(given) ? given : pickNodeIp();
  const gcsAddress = buildAddress(nodeIp, port);
  // Published in the leader hash: the next leader accepts only this shape (host-port.ts), so refuse it here.
  if (!splitHostPort(gcsAddress)) {
    const source = given !== undefined && !isLocalhost(given) ? `ray start --node-ip-address=${JSON.stringify(given)}` : 'the node IP Ray would pick';
    throw new ConfigError(`${source}: the GCS address ${JSON.stringify(gcsAddress)} is not host:port (host: A-Z a-z 0-9 . _ - or an IPv6 address; at most ${MAX_HOST_PORT_BYTES} bytes); set RAY_HA_GCS_ADDRESS`);
  }

  let dashboardUrl: string | null = null;
  if (!isClickFalse(optionValue(args, '--include-dashboard'))) {
    const host = optionValue(args, '--dashboard-host') ?? '127.0.0.1';
    const dashPort = parsePort(optionValue(args, '--dashboard-port'), RAY_DEFAULT_DASHBOARD_PORT, '--dashboard-port');
    // The dashboard announces the node IP unless it binds a loopback address (dashboard/head.py).
    dashboardUrl = `http://${buildAddress(isLocalhost(host) ? host : nodeIp, dashPort)}`;
  }

  return { command, gcsAddress, dashboardUrl, tempDir: optionValue(args, '--temp-dir') ?? null };
}

/** Ray's default temp root when --temp-dir is absent (ray/_common/utils.py). */
export function defaultRayTempDir(env: NodeJS.ProcessEnv): string {
  return path.join(env['RAY_TMPDIR'] || env['TMPDIR'] || '/tmp', 'ray');
}

export interface RedisCredentials {
  username?: string;
  password?: string;
}

/**
 * Ray's Redis credentials for GCS fault tolerance: --redis-username and
 * --redis-password on `ray start` (KubeRay passes `--redis-password=$REDIS_PASSWORD`),
 * else REDIS_PASSWORD from the environment. Empty means none, as in Ray.
 */
export function redisCredentialsFromRayArgs(argv: readonly string[], env: NodeJS.ProcessEnv): RedisCredentials {
  const args = parseStartArgs(argv);
  const creds: RedisCredentials = {};
  const username = optionValue(args, '--redis-username');
  const password = optionValue(args, '--redis-password') || env['REDIS_PASSWORD'];
  if (username) creds.username = username;
  if (password) creds.password = password;
  return creds;
}

function parsePort(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new ConfigError(`ray start ${name}=${value}: not a port number (0-65535)`);
  return n;
}

/** click.BOOL's false spellings. */
function isClickFalse(value: string | undefined): boolean {
  return value !== undefined && ['0', 'false', 'f', 'no', 'n', 'off'].includes(value.trim().toLowerCase());
}

function memo<T>(fn: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = fn();
      done = true;
    }
    return value;
  };
}
