/**
 * When the head command is Ray's own `ray start --head`, the orchestrator
 * learns from it what it would otherwise need flags for: the GCS address to
 * publish (and that the next leader waits on), the dashboard URL, Ray's Redis
 * credentials; and it makes sure the head runs with --block, so it stays our
 * child instead of daemonizing.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import { monotonicClock } from '../clock.js';
import { watchGcsProcess } from './gcs-process.js';
import { isRayHeadStart, rayHeadInfo, redisCredentialsFromRayArgs } from './head-command.js';
import { restoreRayPassword } from './head-secrets.js';
import { rayInterpreter } from './warm-command.js';

export interface PreparedHead {
  command: string[];
  config: Config;
  /** For a Ray head: resolves once the head's gcs_server has exited (see gcs-process.ts). */
  watchHead?: (headPid: number, signal: AbortSignal) => Promise<string | null>;
  /**
   * For a Ray head: the interpreter of Ray's console script, for the helper
   * that marks the previous leaders' head nodes dead (previous-heads.ts);
   * or why there is none (`noRayInterpreter`).
   */
  rayInterpreter?: string[];
  noRayInterpreter?: string;
  /** A Ray head: its environment is rayHeadEnvironment's (RAY_HA_DEFAULTS, jobs kept off the head). */
  isRayHead?: boolean;
}

/**
 * What an HA head runs with by default. A Ray Job submitted without resources
 * runs its supervisor and driver on the head node (a hard node affinity),
 * where it dies with the leader; on a worker it lives through a failover and
 * the new head's job manager finds it running (docs/design.md, decision 39).
 */
export const RAY_HA_DEFAULTS: Readonly<Record<string, string>> = { RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES: '1' };

/** The directory whose sitecustomize.py keeps Ray Jobs off an HA head (decision 41). */
export const HEAD_SITE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'head-site');
export const HEAD_SITE_SCRIPT = path.join(HEAD_SITE_DIR, 'sitecustomize.py');

/**
 * A Ray head's environment from the candidate's (`ray`: what headEnvironment
 * keeps of it): RAY_HA_DEFAULTS under it, jobs kept off the head
 * (withJobsOffHead), and the warning to log when a Ray Job submitted without
 * resources can still die with the leader (null when it cannot).
 */
export function rayHeadEnvironment(
  candidate: NodeJS.ProcessEnv,
  ray: NodeJS.ProcessEnv,
  jobsOffHead: boolean,
): { env: NodeJS.ProcessEnv; jobsWarning: { fields: Record<string, unknown>; msg: string } | null } {
  const env = withJobsOffHead({ ...RAY_HA_DEFAULTS, ...ray }, jobsOffHead);
  const own = candidate.RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES;
  if (own !== undefined && own !== RAY_HA_DEFAULTS.RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES) {
    return {
      env,
      jobsWarning: {
        fields: { RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES: own },
        msg: 'Ray Jobs submitted without resources will run their driver on the head and die with the leader (RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES is not 1)',
      },
    };
  }
  if (!jobsOffHead) {
    return {
      env,
      jobsWarning: {
        fields: {},
        msg: 'Ray Jobs submitted without resources may run their driver on the head (Ray places them at random) and die with the leader (RAY_HA_JOBS_OFF_HEAD=false)',
      },
    };
  }
  return { env, jobsWarning: null };
}

/**
 * A Ray head's environment with its jobs kept off the head (decision 41): a
 * job submitted without resources runs its driver anywhere but the head,
 * where Ray would pin it there or (RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES=1)
 * place it at random. With `on` (RAY_HA_JOBS_OFF_HEAD, default true) and
 * RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES=1 (Ray's pinning off): HEAD_SITE_DIR
 * goes first on PYTHONPATH and RAY_HA_HEAD_SITE=1 (ours alone, never the
 * operator's) tells it to act.
 */
function withJobsOffHead(env: NodeJS.ProcessEnv, on: boolean): NodeJS.ProcessEnv {
  const { RAY_HA_HEAD_SITE: _inherited, ...rest } = env;
  if (!on || env.RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES !== '1') return rest;
  return {
    ...rest,
    RAY_HA_HEAD_SITE: '1',
    PYTHONPATH: [HEAD_SITE_DIR, ...(env.PYTHONPATH ? [env.PYTHONPATH] : [])].join(path.delimiter),
  };
}

export function prepareHead(given: string[], config: Config, env: NodeJS.ProcessEnv): PreparedHead {
  // Ray's password, if the shim took it off the command line: back on, before anything reads the arguments.
  const command = restoreRayPassword(given, env);
  if (!isRayHeadStart(command)) return { command, config };
  // Without external storage a new head would start an empty cluster: that is not a failover.
  if (!env.RAY_REDIS_ADDRESS) {
    throw new ConfigError(
      'RAY_REDIS_ADDRESS is not set: head HA needs Ray GCS fault tolerance (external Redis), or a new head would start an empty cluster',
    );
  }
  const info = rayHeadInfo(command, env);
  const creds = redisCredentialsFromRayArgs(command, env);
  const redis = { ...config.redis };
  // A password or user given to us (URL, variables, file) wins over Ray's.
  if (redis.password === undefined && creds.password !== undefined) redis.password = creds.password;
  if (redis.username === undefined && creds.username !== undefined) redis.username = creds.username;
  const gcsAddress = config.gcsAddress ?? info.gcsAddress;
  const ray = rayInterpreter(info.command, env);
  return {
    command: info.command,
    isRayHead: true,
    watchHead: (headPid, signal) => watchGcsProcess(headPid, signal, { clock: monotonicClock }),
    ...('reason' in ray ? { noRayInterpreter: ray.reason } : { rayInterpreter: ray.interpreter }),
    config: {
      ...config,
      redis,
      gcsAddress,
      dashboardUrl: config.dashboardUrl ?? info.dashboardUrl,
    },
  };
}
