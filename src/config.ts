/**
 * Configuration for `ray-head-ha run`: environment variables (Ray's names,
 * the way KubeRay hands configuration to Ray) and flags of the same meaning;
 * a flag wins over the environment. Everything is parsed and validated here,
 * once, and every failure is one ConfigError line naming the input, the value
 * and the rule.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ConfigError } from './errors.js';
import { OPTIONS, lookup, oneOf, readInt, type Flags, type Option } from './options.js';
import { parseRedisAddress, type RedisTarget } from './redis/address.js';
import { loadRedisSecrets, type RedisFiles } from './redis/secrets.js';
import { MAX_HOST_PORT_BYTES, splitHostPort } from './host-port.js';
import { isName } from './redis/values.js';
import { loadRoleLabel, type RoleLabelConfig } from './k8s/role-label-config.js';

export type OnLoss = 'exit' | 'standby';
export type LogFormat = 'json' | 'pretty';

/** RedisFiles: paths only; the contents go into `redis` (the password never sits in Config twice). */
export interface Config extends RedisFiles {
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
  /** A standby keeps a warm head (src/supervisor/warm-standby.ts); only for Ray's own `ray` script. */
  warmStandby: boolean;
  /** Ray Jobs submitted without resources run off the head (decision 41). */
  jobsOffHead: boolean;
  /** On Kubernetes: the leader labels its own pod (src/k8s/role-label.ts); null: off. */
  roleLabel: RoleLabelConfig | null;
}

// Every Config field has its row in OPTIONS (checked when compiling).
OPTIONS satisfies Record<keyof Config, Option>;

/** Allowed clock drift between Redis and us, as a fraction of the ttl (docs/design.md, "Timing": ttl·0.01). */
export const MAX_DRIFT = 0.01;


export function defaultCandidateId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** `host:port` with a port in range; returns it normalised, or throws naming the source. */
export function parseHostPort(value: string, source: string): string {
  if (!splitHostPort(value)) {
    throw new ConfigError(
      `${source}=${JSON.stringify(value)}: expected host:port with a port from 1 to 65535 (host: A-Z a-z 0-9 . _ - or [IPv6]; at most ${MAX_HOST_PORT_BYTES} bytes)`,
    );
  }
  return value.trim();
}

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv): Config {
  const redisFound = lookup(OPTIONS.redis, flags, env);
  const redis = redisFound
    ? parseRedisAddress(redisFound.value, redisFound.source)
    : parseRedisAddress('127.0.0.1:6379', 'default');
  const redisFiles = loadRedisSecrets(redis, redisFound?.source ?? 'the default address', flags, env);

  const ns = lookup(OPTIONS.namespace, flags, env);
  const namespace = ns?.value ?? 'default';
  if (!isName(namespace)) {
    throw new ConfigError(`${ns!.source}=${JSON.stringify(namespace)}: use 1-200 of A-Z a-z 0-9 . _ : @ -`);
  }
  const idFound = lookup(OPTIONS.candidateId, flags, env);
  const candidateId = idFound?.value ?? defaultCandidateId();
  if (!isName(candidateId)) {
    throw new ConfigError(`${idFound!.source}=${JSON.stringify(candidateId)}: use 1-200 of A-Z a-z 0-9 . _ : @ - (no '#')`);
  }

  const ttlMs = readInt(OPTIONS.ttlMs, flags, env, 100) ?? 15_000;
  const retryMs = readInt(OPTIONS.retryMs, flags, env, 10) ?? 2_000;
  const renewDeadlineMs = readInt(OPTIONS.renewDeadlineMs, flags, env, 1) ?? Math.floor((ttlMs * 2) / 3);
  const killGraceMs = readInt(OPTIONS.killGraceMs, flags, env, 0) ?? Math.min(2_000, Math.floor(ttlMs / 10));
  // null: no count, the renew deadline alone ends a term (ant-ray's default of 5 would never come first).
  const maxFailures = readInt(OPTIONS.maxFailures, flags, env, 0);
  const waitAfterElectedMs = readInt(OPTIONS.waitAfterElectedMs, flags, env, 0) ?? 0;
  const waitPreviousMaxMs = readInt(OPTIONS.waitPreviousMaxMs, flags, env, 0) ?? 60_000;
  const connectTimeoutMs = readInt(OPTIONS.connectTimeoutMs, flags, env, 1) ?? Math.max(100, Math.floor(renewDeadlineMs / 2));

  const gcs = lookup(OPTIONS.gcsAddress, flags, env);
  const gcsAddress = gcs ? parseHostPort(gcs.value, gcs.source) : null;
  const dashboardUrl = lookup(OPTIONS.dashboardUrl, flags, env)?.value ?? null;
  const http = lookup(OPTIONS.httpAddress, flags, env);
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
    warmStandby: oneOf(OPTIONS.warmStandby, flags, env, ['true', 'false'] as const, 'true') === 'true',
    jobsOffHead: oneOf(OPTIONS.jobsOffHead, flags, env, ['true', 'false'] as const, 'true') === 'true',
    roleLabel: loadRoleLabel(flags, env, namespace),
    ...redisFiles,
  };
  validateTiming(config, (key) => lookup(OPTIONS[key], flags, env)?.source ?? `${key} (default)`);
  return config;
}

type TimingKey = 'ttlMs' | 'retryMs' | 'renewDeadlineMs' | 'killGraceMs';

/**
 * The safety rule (docs/design.md, "Timing"): the head is dead (renewDeadline + killGrace)
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
