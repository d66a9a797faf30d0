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
  kind: 'int' | 'string';
}

/** One table: flag, the environment names that feed it (first wins), and its kind. */
export const OPTIONS = {
  // RAY_HA_REDIS_ADDRESS is for the election only: Ray's GCS reads RAY_REDIS_ADDRESS and knows no redis+sentinel://.
  redis: { flag: 'redis', env: ['RAY_HA_REDIS_ADDRESS', 'RAY_REDIS_ADDRESS'], kind: 'string' },
  namespace: { flag: 'namespace', env: ['RAY_external_storage_namespace'], kind: 'string' },
  candidateId: { flag: 'id', env: ['RAY_HA_CANDIDATE_ID'], kind: 'string' },
  ttlMs: { flag: 'ttl-ms', env: ['RAY_HA_KEY_EXPIRE_TIME_MS'], kind: 'int' },
  retryMs: { flag: 'retry-ms', env: ['RAY_HA_CHECK_INTERVAL_MS'], kind: 'int' },
  renewDeadlineMs: { flag: 'renew-deadline-ms', env: ['RAY_HA_RENEW_DEADLINE_MS'], kind: 'int' },
  killGraceMs: { flag: 'kill-grace-ms', env: ['RAY_HA_KILL_GRACE_MS'], kind: 'int' },
  maxFailures: { flag: 'max-failures', env: ['RAY_HA_CHECK_MAX_FAILURE_COUNT'], kind: 'int' },
  waitAfterElectedMs: { flag: 'wait-after-elected-ms', env: ['RAY_HA_WAIT_TIME_AFTER_BE_ACTIVE_MS'], kind: 'int' },
  waitPreviousMaxMs: { flag: 'wait-previous-max-ms', env: ['RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS'], kind: 'int' },
  connectTimeoutMs: { flag: 'connect-timeout-ms', env: ['RAY_HA_CONNECT_TIMEOUT_MS'], kind: 'int' },
  gcsAddress: { flag: 'gcs-address', env: ['RAY_HA_GCS_ADDRESS'], kind: 'string' },
  dashboardUrl: { flag: 'dashboard-url', env: ['RAY_HA_DASHBOARD_URL'], kind: 'string' },
  onLoss: { flag: 'on-loss', env: ['RAY_HA_ON_LOSS'], kind: 'string' },
  httpAddress: { flag: 'http', env: ['RAY_HA_HTTP_ADDRESS'], kind: 'string' },
  logFormat: { flag: 'log-format', env: ['RAY_HA_LOG_FORMAT'], kind: 'string' },
  logLevel: { flag: 'log-level', env: ['RAY_HA_LOG_LEVEL'], kind: 'string' },
  minReplicas: { flag: 'min-replicas', env: ['RAY_HA_MIN_REPLICAS'], kind: 'int' },
  // Secrets come from the environment or a file, never from a flag (argv is world-readable in /proc).
  redisPasswordFile: { flag: 'redis-password-file', env: ['RAY_HA_REDIS_PASSWORD_FILE'], kind: 'string' },
  // TLS: our names first, then Ray's own (what its GCS reads), so one setting serves both.
  redisCaFile: { flag: 'redis-ca-file', env: ['RAY_HA_REDIS_TLS_CA_FILE', 'RAY_REDIS_CA_CERT'], kind: 'string' },
  redisCaPath: { flag: 'redis-ca-path', env: ['RAY_HA_REDIS_TLS_CA_PATH', 'RAY_REDIS_CA_PATH'], kind: 'string' },
  redisCertFile: { flag: 'redis-cert-file', env: ['RAY_HA_REDIS_TLS_CERT_FILE', 'RAY_REDIS_CLIENT_CERT'], kind: 'string' },
  redisKeyFile: { flag: 'redis-key-file', env: ['RAY_HA_REDIS_TLS_KEY_FILE', 'RAY_REDIS_CLIENT_KEY'], kind: 'string' },
  redisServerName: { flag: 'redis-server-name', env: ['RAY_HA_REDIS_TLS_SERVER_NAME', 'RAY_REDIS_SERVER_NAME'], kind: 'string' },
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

export function readString(opt: Option, flags: Flags, env: NodeJS.ProcessEnv): { value: string; source: string } | null {
  return lookup(opt, flags, env);
}

export function oneOf<T extends string>(opt: Option, flags: Flags, env: NodeJS.ProcessEnv, allowed: readonly T[], dflt: T): T {
  const found = readString(opt, flags, env);
  if (!found) return dflt;
  const v = found.value.trim().toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${found.source}=${JSON.stringify(found.value)}: must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}
