/**
 * The options of `ray-head-ha run` in one table (flag, the environment names
 * that feed it, first wins), the flag parser, and the readers that take an
 * option from a flag or else the environment. Every failure is one
 * ConfigError line naming the input, the value and the rule.
 */
import { ConfigError } from './errors.js';

export interface Option {
  /** null: read from the environment only (a secret, which argv would show to every user, or a value the shim sets). */
  flag: string | null;
  env: string[];
  /** One line for --help: what it sets, and its default. */
  help: string;
}

/**
 * One table of every setting of `run`: its flag (null: environment only), the
 * environment names that feed it (first wins), and one line of help.
 */
export const OPTIONS = {
  // RAY_HA_REDIS_ADDRESS is for the election only: Ray's GCS reads RAY_REDIS_ADDRESS and knows no redis+sentinel://.
  redis: { flag: 'redis', env: ['RAY_HA_REDIS_ADDRESS', 'RAY_REDIS_ADDRESS'], help: 'Redis: host:port, redis[s]://..., redis[s]+sentinel://... (127.0.0.1:6379)' },
  namespace: { flag: 'namespace', env: ['RAY_external_storage_namespace'], help: 'one cluster = one namespace (default)' },
  candidateId: { flag: 'id', env: ['RAY_HA_CANDIDATE_ID'], help: "this candidate's name (hostname-pid-random)" },
  ttlMs: { flag: 'ttl-ms', env: ['RAY_HA_KEY_EXPIRE_TIME_MS'], help: 'lease ttl (15000)' },
  retryMs: { flag: 'retry-ms', env: ['RAY_HA_CHECK_INTERVAL_MS'], help: 'renew and poll period (2000)' },
  renewDeadlineMs: { flag: 'renew-deadline-ms', env: ['RAY_HA_RENEW_DEADLINE_MS'], help: 'step down when no renew succeeded for this long (2/3 of ttl)' },
  killGraceMs: { flag: 'kill-grace-ms', env: ['RAY_HA_KILL_GRACE_MS'], help: 'SIGTERM to SIGKILL for the head (min(2000, ttl/10))' },
  maxFailures: { flag: 'max-failures', env: ['RAY_HA_CHECK_MAX_FAILURE_COUNT'], help: 'also step down after more than this many failed renews in a row (none)' },
  waitAfterElectedMs: { flag: 'wait-after-elected-ms', env: ['RAY_HA_WAIT_TIME_AFTER_BE_ACTIVE_MS'], help: 'pause before starting the head, after a previous leader only (0)' },
  waitPreviousMaxMs: { flag: 'wait-previous-max-ms', env: ['RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS'], help: "longest wait for the previous leader's GCS to stop answering (60000)" },
  connectTimeoutMs: { flag: 'connect-timeout-ms', env: ['RAY_HA_CONNECT_TIMEOUT_MS'], help: 'Redis connect and command timeout; commands at most renewDeadline/2 (renewDeadline/2)' },
  gcsAddress: { flag: 'gcs-address', env: ['RAY_HA_GCS_ADDRESS'], help: "host:port of this candidate's GCS (from ray start's arguments)" },
  dashboardUrl: { flag: 'dashboard-url', env: ['RAY_HA_DASHBOARD_URL'], help: "this candidate's dashboard URL (from ray start's arguments)" },
  onLoss: { flag: 'on-loss', env: ['RAY_HA_ON_LOSS'], help: 'after a lost lease: exit (code 3) or standby (exit)' },
  httpAddress: { flag: 'http', env: ['RAY_HA_HTTP_ADDRESS'], help: 'host:port for /healthz, /readyz, /leader, /metrics (off)' },
  logFormat: { flag: 'log-format', env: ['RAY_HA_LOG_FORMAT'], help: 'json or pretty (json)' },
  logLevel: { flag: 'log-level', env: ['RAY_HA_LOG_LEVEL'], help: 'trace, debug, info, warn or error (info)' },
  minReplicas: { flag: 'min-replicas', env: ['RAY_HA_MIN_REPLICAS'], help: 'replicas that must acknowledge each acquire and renew, WAIT (0)' },
  // Secrets come from the environment or a file, never from a flag (argv is world-readable in /proc).
  redisPasswordFile: { flag: 'redis-password-file', env: ['RAY_HA_REDIS_PASSWORD_FILE'], help: 'a file holding the Redis password (one trailing newline dropped)' },
  // TLS: our names first, then Ray's own (what its GCS reads), so one setting serves both.
  redisCaFile: { flag: 'redis-ca-file', env: ['RAY_HA_REDIS_TLS_CA_FILE', 'RAY_REDIS_CA_CERT'], help: 'PEM CA bundle to verify the server (system CAs)' },
  redisCaPath: { flag: 'redis-ca-path', env: ['RAY_HA_REDIS_TLS_CA_PATH', 'RAY_REDIS_CA_PATH'], help: 'a directory of PEM CA certificates' },
  redisCertFile: { flag: 'redis-cert-file', env: ['RAY_HA_REDIS_TLS_CERT_FILE', 'RAY_REDIS_CLIENT_CERT'], help: 'client certificate' },
  redisKeyFile: { flag: 'redis-key-file', env: ['RAY_HA_REDIS_TLS_KEY_FILE', 'RAY_REDIS_CLIENT_KEY'], help: "the client certificate's key" },
  redisServerName: { flag: 'redis-server-name', env: ['RAY_HA_REDIS_TLS_SERVER_NAME', 'RAY_REDIS_SERVER_NAME'], help: 'name to verify the certificate against (the host)' },
  // Environment only: secrets (argv is world-readable) and what the shim hands over.
  redisPassword: { flag: null, env: ['REDIS_PASSWORD'], help: "Redis password when the address has none and no password file is given (Ray's variable)" },
  redisUsername: { flag: null, env: ['RAY_HA_REDIS_USERNAME', 'REDIS_USERNAME'], help: 'Redis user when the address has none' },
  sentinelUsername: { flag: null, env: ['RAY_HA_REDIS_SENTINEL_USERNAME'], help: 'user for sentinels that require auth' },
  sentinelPassword: { flag: null, env: ['RAY_HA_REDIS_SENTINEL_PASSWORD'], help: 'password for sentinels that require auth' },
  sentinelPasswordFile: { flag: null, env: ['RAY_HA_REDIS_SENTINEL_PASSWORD_FILE'], help: 'a file holding it (wins over the variable)' },
  headRedisPassword: { flag: null, env: ['RAY_HA_HEAD_REDIS_PASSWORD'], help: "set by the shim: Ray's --redis-password, put back on the head's command line only" },
  stateFile: { flag: null, env: ['RAY_HA_STATE_FILE'], help: "set by the shim: where run reports its role (leader, standby, stopped)" },
  instanceDir: {
    flag: null,
    env: ['RAY_HA_INSTANCE_DIR'],
    help: 'a directory that outlives a container restart (an emptyDir): a leader restarted in place releases its previous lease at once (off)',
  },
  podUid: { flag: null, env: ['RAY_HA_POD_UID'], help: "this pod's UID (the downward API's metadata.uid), recorded with the term: only the same pod releases it after a restart" },
  instanceLocked: { flag: null, env: ['RAY_HA_INSTANCE_LOCKED'], help: "set by the shim as a container's PID 1: it holds the instance directory's lock" },
  warmStandby: { flag: 'warm-standby', env: ['RAY_HA_WARM_STANDBY'], help: "true: a standby keeps Ray's CLI imported in a waiting head process, started on winning (true)" },
  jobsOffHead: {
    flag: 'jobs-off-head',
    env: ['RAY_HA_JOBS_OFF_HEAD'],
    help: 'true: a Ray Job submitted without resources runs its driver on a node other than the head, so it outlives the leader (true)',
  },
  // On Kubernetes, the leader labels its own pod (src/k8s/role-label.ts); all three or none.
  roleLabel: { flag: 'k8s-role-label', env: ['RAY_HA_K8S_ROLE_LABEL'], help: 'label key the leader sets to leader on its own pod, the others to standby, e.g. ray-head-ha/role (off)' },
  k8sPodName: { flag: 'k8s-pod-name', env: ['RAY_HA_K8S_POD_NAME'], help: "this candidate's pod (the downward API's metadata.name); with --k8s-role-label" },
  k8sPeerSelector: { flag: 'k8s-peer-selector', env: ['RAY_HA_K8S_PEER_SELECTOR'], help: 'key=value[,...] selecting every candidate pod of the cluster, with ray-head-ha/cluster=<namespace> among them (default: that term alone); with --k8s-role-label' },
  runDir: { flag: null, env: ['RAY_HA_RUN_DIR'], help: "absolute directory of the candidates' pidfiles, for ray stop (/tmp/ray-head-ha-<uid>)" },
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

/** The flags of these options (an option read only from the environment has none). */
export function flagsOf(opts: readonly Option[]): string[] {
  return opts.flatMap((o) => (o.flag === null ? [] : [o.flag]));
}

export const RUN_FLAGS: readonly string[] = [...flagsOf(Object.values(OPTIONS)), 'help'];

/** Reads one option: the flag if given, else the first environment name that is set. */
export function lookup(opt: Option, flags: Flags, env: NodeJS.ProcessEnv): { value: string; source: string } | null {
  const fromFlag = opt.flag === null ? undefined : flags[opt.flag];
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
