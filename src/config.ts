/**
 * Configuration for `ray-head-ha run`: environment variables (Ray's names,
 * the way KubeRay hands configuration to Ray) and flags of the same meaning;
 * a flag wins over the environment. Everything is parsed and validated here,
 * once, and every failure is one ConfigError line naming the input, the value
 * and the rule.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { parseRedisAddress, type RedisTarget } from './redis-address.js';

export type OnLoss = 'exit' | 'standby';
export type LogFormat = 'json' | 'pretty';

export interface Config {
  redis: RedisTarget;
  namespace: string;
  candidateId: string;
  ttlMs: number;
  retryMs: number;
  renewDeadlineMs: number;
  killGraceMs: number;
  maxFailures: number | null;
  waitAfterElectedMs: number;
  waitPreviousMaxMs: number;
  connectTimeoutMs: number;
  gcsAddress: string | null;
  dashboardUrl: string | null;
  onLoss: OnLoss;
  httpAddress: string | null;
  logFormat: LogFormat;
  logLevel: string;
  /** Replicas that must acknowledge an acquire or renew (Redis WAIT) for it to count; 0 = do not wait. */
  minReplicas: number;
  /** Paths only: the contents go into `redis` (the password never sits in Config twice). */
  redisPasswordFile: string | null;
  redisCaFile: string | null;
  redisCaPath: string | null;
  redisCertFile: string | null;
  redisKeyFile: string | null;
  redisServerName: string | null;
}

/** Allowed clock drift between Redis and us, as a fraction of the ttl (DESIGN.md: ttl·maxDrift). */
export const MAX_DRIFT = 0.01;

interface Option {
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
} as const satisfies Record<keyof Config, Option>;

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
function lookup(opt: Option, flags: Flags, env: NodeJS.ProcessEnv): { value: string; source: string } | null {
  const fromFlag = flags[opt.flag];
  if (fromFlag !== undefined) return { value: fromFlag, source: `--${opt.flag}` };
  for (const name of opt.env) {
    const v = env[name];
    if (v !== undefined && v !== '') return { value: v, source: name };
  }
  return null;
}

function readInt(opt: Option, flags: Flags, env: NodeJS.ProcessEnv, min: number): number | null {
  const found = lookup(opt, flags, env);
  if (!found) return null;
  const n = Number(found.value.trim());
  if (!/^-?\d+$/.test(found.value.trim()) || !Number.isSafeInteger(n)) {
    throw new ConfigError(`${found.source}=${JSON.stringify(found.value)}: must be an integer`);
  }
  if (n < min) throw new ConfigError(`${found.source}=${n}: must be >= ${min}`);
  return n;
}

function readString(opt: Option, flags: Flags, env: NodeJS.ProcessEnv): { value: string; source: string } | null {
  return lookup(opt, flags, env);
}

function oneOf<T extends string>(opt: Option, flags: Flags, env: NodeJS.ProcessEnv, allowed: readonly T[], dflt: T): T {
  const found = readString(opt, flags, env);
  if (!found) return dflt;
  const v = found.value.trim().toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${found.source}=${JSON.stringify(found.value)}: must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}

const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,200}$/;
const NAMESPACE_PATTERN = /^[A-Za-z0-9._:@-]{1,200}$/;

export function defaultCandidateId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** `host:port` with a port in range; returns it normalised, or throws naming the source. */
export function parseHostPort(value: string, source: string): string {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new ConfigError(`${source}=${JSON.stringify(value)}: expected host:port with a port from 1 to 65535`);
  }
  return value.trim();
}

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv): Config {
  const redisFound = readString(OPTIONS.redis, flags, env);
  const redis = redisFound
    ? parseRedisAddress(redisFound.value, redisFound.source)
    : parseRedisAddress('127.0.0.1:6379', 'default');
  const redisFiles = loadRedisSecrets(redis, redisFound?.source ?? 'the default address', flags, env);

  const ns = readString(OPTIONS.namespace, flags, env);
  const namespace = ns?.value ?? 'default';
  if (!NAMESPACE_PATTERN.test(namespace)) {
    throw new ConfigError(`${ns!.source}=${JSON.stringify(namespace)}: use 1-200 of A-Z a-z 0-9 . _ : @ -`);
  }
  const idFound = readString(OPTIONS.candidateId, flags, env);
  const candidateId = idFound?.value ?? defaultCandidateId();
  if (!ID_PATTERN.test(candidateId)) {
    throw new ConfigError(`${idFound!.source}=${JSON.stringify(candidateId)}: use 1-200 of A-Z a-z 0-9 . _ : @ - (no '#')`);
  }

  const ttlMs = readInt(OPTIONS.ttlMs, flags, env, 100) ?? 15_000;
  const retryMs = readInt(OPTIONS.retryMs, flags, env, 10) ?? 2_000;
  const renewDeadlineMs = readInt(OPTIONS.renewDeadlineMs, flags, env, 1) ?? Math.floor((ttlMs * 2) / 3);
  const killGraceMs = readInt(OPTIONS.killGraceMs, flags, env, 0) ?? Math.min(2_000, Math.floor(ttlMs / 10));
  const maxFailures = readInt(OPTIONS.maxFailures, flags, env, 1);
  const waitAfterElectedMs = readInt(OPTIONS.waitAfterElectedMs, flags, env, 0) ?? 0;
  const waitPreviousMaxMs = readInt(OPTIONS.waitPreviousMaxMs, flags, env, 0) ?? 60_000;
  const connectTimeoutMs = readInt(OPTIONS.connectTimeoutMs, flags, env, 1) ?? Math.max(100, Math.floor(renewDeadlineMs / 2));

  const gcs = readString(OPTIONS.gcsAddress, flags, env);
  const gcsAddress = gcs ? parseHostPort(gcs.value, gcs.source) : null;
  const dashboardUrl = readString(OPTIONS.dashboardUrl, flags, env)?.value ?? null;
  const http = readString(OPTIONS.httpAddress, flags, env);
  const httpAddress = http ? parseHostPort(http.value, http.source) : null;

  const config: Config = {
    redis,
    namespace,
    candidateId,
    ttlMs,
    retryMs,
    renewDeadlineMs,
    killGraceMs,
    maxFailures,
    waitAfterElectedMs,
    waitPreviousMaxMs,
    connectTimeoutMs,
    gcsAddress,
    dashboardUrl,
    onLoss: oneOf(OPTIONS.onLoss, flags, env, ['exit', 'standby'] as const, 'exit'),
    httpAddress,
    logFormat: oneOf(OPTIONS.logFormat, flags, env, ['json', 'pretty'] as const, 'json'),
    logLevel: oneOf(OPTIONS.logLevel, flags, env, ['trace', 'debug', 'info', 'warn', 'error'] as const, 'info'),
    minReplicas: readInt(OPTIONS.minReplicas, flags, env, 0) ?? 0,
    ...redisFiles,
  };
  validateTiming(config, (key) => lookup(OPTIONS[key], flags, env)?.source ?? `${key} (default)`);
  return config;
}

type RedisFileKey = 'redisPasswordFile' | 'redisCaFile' | 'redisCaPath' | 'redisCertFile' | 'redisKeyFile' | 'redisServerName';

/**
 * Credentials and TLS material into the target. A URL's user and password win
 * (Ray's rule); then the password file, then the variables. Files are read
 * here, once, so a missing or unreadable one is a start-up error.
 */
function loadRedisSecrets(redis: RedisTarget, addressSource: string, flags: Flags, env: NodeJS.ProcessEnv): Pick<Config, RedisFileKey> {
  const passwordFile = readString(OPTIONS.redisPasswordFile, flags, env);
  if (redis.password === undefined && passwordFile) redis.password = readSecretFile(passwordFile);
  if (redis.password === undefined && env.REDIS_PASSWORD) redis.password = env.REDIS_PASSWORD;
  if (redis.username === undefined) redis.username = env.RAY_HA_REDIS_USERNAME || env.REDIS_USERNAME || undefined;
  if (redis.sentinel) {
    const file = env.RAY_HA_REDIS_SENTINEL_PASSWORD_FILE;
    redis.sentinel.username = env.RAY_HA_REDIS_SENTINEL_USERNAME || undefined;
    redis.sentinel.password = file
      ? readSecretFile({ value: file, source: 'RAY_HA_REDIS_SENTINEL_PASSWORD_FILE' })
      : env.RAY_HA_REDIS_SENTINEL_PASSWORD || undefined;
  }

  const ca = readString(OPTIONS.redisCaFile, flags, env);
  const caPath = readString(OPTIONS.redisCaPath, flags, env);
  const cert = readString(OPTIONS.redisCertFile, flags, env);
  const key = readString(OPTIONS.redisKeyFile, flags, env);
  const serverName = readString(OPTIONS.redisServerName, flags, env);
  const tlsInput = [ca, caPath, cert, key, serverName].find((f) => f !== null);
  if (tlsInput && !redis.tls) {
    throw new ConfigError(`${tlsInput.source}=${JSON.stringify(tlsInput.value)}: TLS settings need a rediss:// or rediss+sentinel:// address (${addressSource} is not one)`);
  }
  if ((cert === null) !== (key === null)) {
    const given = (cert ?? key)!;
    throw new ConfigError(`${given.source}=${JSON.stringify(given.value)}: a client certificate needs both ${OPTIONS.redisCertFile.env[0]} and ${OPTIONS.redisKeyFile.env[0]}`);
  }
  if (redis.tls) {
    const cas = [...(ca ? [readTextFile(ca)] : []), ...(caPath ? readCaDirectory(caPath) : [])];
    redis.tlsOptions = {
      ca: cas.length > 0 ? cas.join('\n') : undefined,
      cert: cert ? readTextFile(cert) : undefined,
      key: key ? readTextFile(key) : undefined,
      servername: serverName?.value.trim() || undefined,
    };
  }
  return {
    redisPasswordFile: passwordFile?.value ?? null,
    redisCaFile: ca?.value ?? null,
    redisCaPath: caPath?.value ?? null,
    redisCertFile: cert?.value ?? null,
    redisKeyFile: key?.value ?? null,
    redisServerName: serverName?.value ?? null,
  };
}

function readTextFile(f: { value: string; source: string }): string {
  try {
    return readFileSync(f.value, 'utf8');
  } catch (err) {
    throw new ConfigError(`${f.source}=${JSON.stringify(f.value)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** A secret in a file (a Kubernetes Secret volume): one trailing newline is not part of it. */
function readSecretFile(f: { value: string; source: string }): string {
  const secret = readTextFile(f).replace(/\r?\n$/, '');
  if (secret === '') throw new ConfigError(`${f.source}=${JSON.stringify(f.value)}: the file is empty`);
  return secret;
}

/** Every PEM certificate file in a directory (Ray's RAY_REDIS_CA_PATH; OpenSSL's hashed names or any other). */
function readCaDirectory(dir: { value: string; source: string }): string[] {
  let names: string[];
  try {
    names = readdirSync(dir.value);
  } catch (err) {
    throw new ConfigError(`${dir.source}=${JSON.stringify(dir.value)}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const pems = names
    .map((n) => path.join(dir.value, n))
    .filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile())
    .map((p) => readFileSync(p, 'utf8'))
    .filter((text) => text.includes('-----BEGIN CERTIFICATE-----'));
  if (pems.length === 0) throw new ConfigError(`${dir.source}=${JSON.stringify(dir.value)}: holds no PEM certificate`);
  return pems;
}

type TimingKey = 'ttlMs' | 'retryMs' | 'renewDeadlineMs' | 'killGraceMs';

/**
 * The safety rule of DESIGN.md: the head is dead (renewDeadline + killGrace)
 * before the lease can expire in Redis, even with the allowed clock drift, so
 * no one else can be leader while it runs. And a renew must get at least one
 * retry before the deadline.
 */
export function validateTiming(c: Pick<Config, TimingKey>, source: (key: TimingKey) => string): void {
  const name = (k: TimingKey) => `${source(k)}=${c[k]}`;
  if (c.renewDeadlineMs >= c.ttlMs) {
    throw new ConfigError(`${name('renewDeadlineMs')}: must be less than the ttl (${name('ttlMs')})`);
  }
  const budget = c.renewDeadlineMs + c.killGraceMs + c.ttlMs * MAX_DRIFT;
  if (budget >= c.ttlMs) {
    throw new ConfigError(
      `${name('renewDeadlineMs')}, ${name('killGraceMs')}: renewDeadline + killGrace + ttl*${MAX_DRIFT} = ${budget} must be less than ttl (${name('ttlMs')})`,
    );
  }
  if (c.retryMs * 1.2 >= c.renewDeadlineMs) {
    throw new ConfigError(
      `${name('retryMs')}: retry*1.2 = ${c.retryMs * 1.2} must be less than the renew deadline (${name('renewDeadlineMs')})`,
    );
  }
}
