/**
 * The options of `ray-head-ha run` in one table (flag, the environment names
 * that feed it, first wins), the flag parser, and the readers that take an
 * option from a flag or else the environment. Every failure is one
 * ConfigError line naming the input, the value and the rule.
 */
import { ConfigError } from './errors.js';

export interface Option {
  flag: string;
  env: string[];
}

/** One table: flag, and the environment names that feed it (first wins). */
export const OPTIONS = {
  // RAY_HA_REDIS_ADDRESS is for the election only: Ray's GCS reads RAY_REDIS_ADDRESS and knows no redis+sentinel://.
  redis: { flag: 'redis', env: ['RAY_HA_REDIS_ADDRESS', 'RAY_REDIS_ADDRESS'] },
  namespace: { flag: 'namespace', env: ['RAY_external_storage_namespace'] },
  candidateId: { flag: 'id', env: ['RAY_HA_CANDIDATE_ID'] },
  ttlMs: { flag: 'ttl-ms', env: ['RAY_HA_KEY_EXPIRE_TIME_MS'] },
  retryMs: { flag: 'retry-ms', env: ['RAY_HA_CHECK_INTERVAL_MS'] },
  renewDeadlineMs: { flag: 'renew-deadline-ms', env: ['RAY_HA_RENEW_DEADLINE_MS'] },
  killGraceMs: { flag: 'kill-grace-ms', env: ['RAY_HA_KILL_GRACE_MS'] },
  maxFailures: { flag: 'max-failures', env: ['RAY_HA_CHECK_MAX_FAILURE_COUNT'] },
  waitAfterElectedMs: { flag: 'wait-after-elected-ms', env: ['RAY_HA_WAIT_TIME_AFTER_BE_ACTIVE_MS'] },
  waitPreviousMaxMs: { flag: 'wait-previous-max-ms', env: ['RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS'] },
  connectTimeoutMs: { flag: 'connect-timeout-ms', env: ['RAY_HA_CONNECT_TIMEOUT_MS'] },
  gcsAddress: { flag: 'gcs-address', env: ['RAY_HA_GCS_ADDRESS'] },
  dashboardUrl: { flag: 'dashboard-url', env: ['RAY_HA_DASHBOARD_URL'] },
  onLoss: { flag: 'on-loss', env: ['RAY_HA_ON_LOSS'] },
  httpAddress: { flag: 'http', env: ['RAY_HA_HTTP_ADDRESS'] },
  logFormat: { flag: 'log-format', env: ['RAY_HA_LOG_FORMAT'] },
  logLevel: { flag: 'log-level', env: ['RAY_HA_LOG_LEVEL'] },
  minReplicas: { flag: 'min-replicas', env: ['RAY_HA_MIN_REPLICAS'] },
  // Secrets come from the environment or a file, never from a flag (argv is world-readable in /proc).
  redisPasswordFile: { flag: 'redis-password-file', env: ['RAY_HA_REDIS_PASSWORD_FILE'] },
  // TLS: our names first, then Ray's own (what its GCS reads), so one setting serves both.
  redisCaFile: { flag: 'redis-ca-file', env: ['RAY_HA_REDIS_TLS_CA_FILE', 'RAY_REDIS_CA_CERT'] },
  redisCaPath: { flag: 'redis-ca-path', env: ['RAY_HA_REDIS_TLS_CA_PATH', 'RAY_REDIS_CA_PATH'] },
  redisCertFile: { flag: 'redis-cert-file', env: ['RAY_HA_REDIS_TLS_CERT_FILE', 'RAY_REDIS_CLIENT_CERT'] },
  redisKeyFile: { flag: 'redis-key-file', env: ['RAY_HA_REDIS_TLS_KEY_FILE', 'RAY_REDIS_CLIENT_KEY'] },
  redisServerName: { flag: 'redis-server-name', env: ['RAY_HA_REDIS_TLS_SERVER_NAME', 'RAY_REDIS_SERVER_NAME'] },
} as const satisfies Record<string, Option>;

export type Flags = Partial<Record<string, string>>;

/** Splits `[flags] -- command...` and parses `--flag value` / `--flag=value`. */
export function parseFlags(args: string[], known: readonly string[]): { flags: Flags; rest: string[] } {
  const flags: Flags = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      rest.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (!known.includes(name)) throw new ConfigError(`unknown flag --${name} (see ray-head-ha --help)`);
    if (eq !== -1) {
      flags[name] = arg.slice(eq + 1);
    } else if (BOOLEAN_FLAGS.has(name)) {
      flags[name] = 'true';
    } else {
      const value = args[i + 1];
      if (value === undefined || value === '--') throw new ConfigError(`flag --${name} needs a value`);
      flags[name] = value;
      i++;
    }
  }
  return { flags, rest };
}

const BOOLEAN_FLAGS = new Set(['json', 'help', 'once']);

export const RUN_FLAGS: readonly string[] = [...Object.values(OPTIONS).map((o) => o.flag), 'help'];

/** Reads one option: the flag if given, else the first environment name that is set. */
export function lookup(opt: Option, flags: Flags, env: NodeJS.ProcessEnv): { value: string; source: string } | null {
  const fromFlag = flags[opt.flag];
  if (fromFlag !== undefined) return { value: fromFlag, source: `--${opt.flag}` };
  for (const name of opt.env) {
    const v = env[name];
    if (v !== undefined && v !== '') return { value: v, source: name };
  }
  return null;
}

export function readInt(opt: Option, flags: Flags, env: NodeJS.ProcessEnv, min: number): number | null {
  const found = lookup(opt, flags, env);
  if (!found) return null;
  const n = Number(found.value.trim());
  if (!/^-?\d+$/.test(found.value.trim()) || !Number.isSafeInteger(n)) {
    throw new ConfigError(`${found.source}=${JSON.stringify(found.value)}: must be an integer`);
  }
  if (n < min) throw new ConfigError(`${found.source}=${n}: must be >= ${min}`);
  return n;
}

export function oneOf<T extends string>(opt: Option, flags: Flags, env: NodeJS.ProcessEnv, allowed: readonly T[], dflt: T): T {
  const found = lookup(opt, flags, env);
  if (!found) return dflt;
  const v = found.value.trim().toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${found.source}=${JSON.stringify(found.value)}: must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}
