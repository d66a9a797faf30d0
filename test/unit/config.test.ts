import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { parseFlags, RUN_FLAGS } from '../../src/options.js';
import { ConfigError } from '../../src/errors.js';
import { electionTimeouts } from '../../src/run.js';
import { describeRedis, parseRedisAddress } from '../../src/redis/address.js';

const load = (flags: Record<string, string>, env: NodeJS.ProcessEnv = {}) => loadConfig(flags, env);

describe('config', () => {
  it('has the documented defaults, and they satisfy the safety rule', () => {
    const c = load({}, {});
    expect(c).toMatchObject({
      namespace: 'default',
      ttlMs: 15_000,
      retryMs: 2_000,
      renewDeadlineMs: 10_000,
      killGraceMs: 1_500,
      maxFailures: null,
      waitAfterElectedMs: 0,
      waitPreviousMaxMs: 60_000,
      gcsAddress: null,
      onLoss: 'exit',
      redis: { host: '127.0.0.1', port: 6379, db: 0, tls: false },
    });
    expect(c.candidateId).toMatch(/^.+-\d+-[0-9a-f]{6}$/);
  });

  it("reads Ray's environment names, and a flag wins over the environment", () => {
    const env = {
      RAY_REDIS_ADDRESS: 'redis://ray:s3cret@redis.example:6380/2',
      RAY_external_storage_namespace: 'cluster-a',
      RAY_HA_KEY_EXPIRE_TIME_MS: '6000',
      RAY_HA_CHECK_INTERVAL_MS: '500',
      RAY_HA_CHECK_MAX_FAILURE_COUNT: '3',
      RAY_HA_WAIT_TIME_AFTER_BE_ACTIVE_MS: '100',
      RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS: '2000',
      RAY_HA_GCS_ADDRESS: '10.1.2.3:6379',
      RAY_HA_ON_LOSS: 'standby',
    };
    const c = load({ 'ttl-ms': '9000', namespace: 'from-flag' }, env);
    expect(c).toMatchObject({
      namespace: 'from-flag',
      ttlMs: 9_000,
      retryMs: 500,
      renewDeadlineMs: 6_000,
      killGraceMs: 900,
      maxFailures: 3,
      waitAfterElectedMs: 100,
      waitPreviousMaxMs: 2_000,
      gcsAddress: '10.1.2.3:6379',
      onLoss: 'standby',
      redis: { host: 'redis.example', port: 6380, db: 2, username: 'ray', password: 's3cret', tls: false },
    });
  });

  it('takes REDIS_PASSWORD when the address has none', () => {
    expect(load({}, { RAY_REDIS_ADDRESS: '10.0.0.1:6379', REDIS_PASSWORD: 'pw' }).redis.password).toBe('pw');
    expect(load({}, { RAY_REDIS_ADDRESS: 'redis://:url@h:1', REDIS_PASSWORD: 'pw' }).redis.password).toBe('url');
  });

  const bad: [string, Record<string, string>, NodeJS.ProcessEnv, RegExp][] = [
    ['a non-integer ttl', {}, { RAY_HA_KEY_EXPIRE_TIME_MS: '15s' }, /^RAY_HA_KEY_EXPIRE_TIME_MS="15s": must be an integer$/],
    ['a negative grace', { 'kill-grace-ms': '-1' }, {}, /^--kill-grace-ms=-1: must be >= 0$/],
    ['a renew deadline at the ttl', { 'ttl-ms': '3000', 'renew-deadline-ms': '3000' }, {}, /must be less than the ttl/],
    [
      'deadline + grace + drift over the ttl',
      { 'ttl-ms': '3000', 'renew-deadline-ms': '2500', 'kill-grace-ms': '500' },
      {},
      /renewDeadline \+ killGrace \+ ttl\*0\.01 = 3030 must be less than ttl \(--ttl-ms=3000\)/,
    ],
    ['a retry too close to the deadline', { 'ttl-ms': '1500', 'retry-ms': '900' }, {}, /^--retry-ms=900: retry\*1\.2 = 1080 must be less than the renew deadline/],
    ['an unknown on-loss', { 'on-loss': 'restart' }, {}, /^--on-loss="restart": must be one of exit, standby$/],
    ['an id with #', { id: 'a#1' }, {}, /^--id="a#1": use 1-200 of/],
    ['a bad gcs address', {}, { RAY_HA_GCS_ADDRESS: '10.0.0.1' }, /^RAY_HA_GCS_ADDRESS="10.0.0.1": expected host:port/],
    ['an http URL for Redis', { redis: 'http://h:1' }, {}, /only redis:\/\/, rediss:\/\/, redis\+sentinel:\/\/ and rediss\+sentinel:\/\/ URLs are supported/],
    ['a Redis port out of range', {}, { RAY_REDIS_ADDRESS: 'h:70000' }, /port must be an integer from 1 to 65535/],
  ];
  it.each(bad)('rejects %s with one line naming the input and the rule', (_name, flags, env, message) => {
    let err: unknown;
    try {
      load(flags, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  it("reads ant-ray's names with ant-ray's meanings", () => {
    // RAY_HA_CHECK_MAX_FAILURE_COUNT: "more than N" failures, so 0 (step down at the first) is a value, -1 is not.
    expect(load({}, { RAY_HA_CHECK_MAX_FAILURE_COUNT: '0' }).maxFailures).toBe(0);
    expect(() => load({}, { RAY_HA_CHECK_MAX_FAILURE_COUNT: '-1' })).toThrow(/^RAY_HA_CHECK_MAX_FAILURE_COUNT=-1: must be >= 0$/);
    // RAY_HA_CONNECT_TIMEOUT_MS bounds the connect and every command; the election's command timeout stays within renewDeadline/2.
    const defaults = load({}, {});
    expect(electionTimeouts(defaults)).toEqual({ commandTimeoutMs: 5_000, connectTimeoutMs: 5_000, reconnectMaxMs: 1_000 });
    expect(electionTimeouts(load({}, { RAY_HA_CONNECT_TIMEOUT_MS: '300' }))).toMatchObject({ commandTimeoutMs: 300, connectTimeoutMs: 300 });
    expect(electionTimeouts(load({}, { RAY_HA_CONNECT_TIMEOUT_MS: '60000' }))).toMatchObject({ commandTimeoutMs: 5_000, connectTimeoutMs: 60_000 });
  });

  it('never puts the Redis password in an error or a description', () => {
    expect(() => load({ redis: 'redis://u:hunter2@h:99999' })).toThrow(ConfigError);
    try {
      load({ redis: 'redis://u:hunter2@h:99999' });
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
    expect(describeRedis(parseRedisAddress('rediss://u:hunter2@h:6380/1', 'x'))).toBe('rediss://u@h:6380/1');
  });
});

describe('role label settings', () => {
  const base = {
    RAY_external_storage_namespace: 'demo',
    RAY_HA_K8S_ROLE_LABEL: 'ray-head-ha/role',
    RAY_HA_K8S_POD_NAME: 'ray-head-0',
    RAY_HA_K8S_PEER_SELECTOR: 'ray-head-ha/cluster=demo, app=ray',
  };
  it('is off unless the label is set, and takes all three when it is', () => {
    expect(load({}, {}).roleLabel).toBeNull();
    expect(load({}, base).roleLabel).toEqual({ label: 'ray-head-ha/role', podName: 'ray-head-0', peerSelector: 'ray-head-ha/cluster=demo,app=ray' });
    expect(load({ 'k8s-role-label': 'role' }, base).roleLabel?.label).toBe('role');
  });
  it('derives the peer selector from the namespace when it is not set: exactly this cluster\'s candidates', () => {
    expect(load({}, { ...base, RAY_HA_K8S_PEER_SELECTOR: '' }).roleLabel?.peerSelector).toBe('ray-head-ha/cluster=demo');
    expect(load({ namespace: 'team-b' }, { ...base, RAY_HA_K8S_PEER_SELECTOR: '' }).roleLabel?.peerSelector).toBe('ray-head-ha/cluster=team-b');
  });
  it.each([
    ['a pod name without the label', { RAY_HA_K8S_POD_NAME: 'p' }, /RAY_HA_K8S_POD_NAME is set but RAY_HA_K8S_ROLE_LABEL is not/],
    ['a label key Kubernetes refuses', { ...base, RAY_HA_K8S_ROLE_LABEL: 'Ray_HA/role' }, /not a Kubernetes label key/],
    ['a label name too long', { ...base, RAY_HA_K8S_ROLE_LABEL: 'x'.repeat(64) }, /not a Kubernetes label key/],
    // Two clusters in one namespace: a selector that does not name this cluster would match the other's pods.
    ['a broad peer selector', { ...base, RAY_HA_K8S_PEER_SELECTOR: 'app=ray' }, /must contain ray-head-ha\/cluster=demo .*could match another cluster/],
    ['a peer selector naming another cluster', { ...base, RAY_HA_K8S_PEER_SELECTOR: 'ray-head-ha/cluster=other' }, /must contain ray-head-ha\/cluster=demo/],
    ['a peer selector with two cluster terms', { ...base, RAY_HA_K8S_PEER_SELECTOR: 'ray-head-ha/cluster=demo,ray-head-ha/cluster=other' }, /no other ray-head-ha\/cluster term/],
    ['a namespace that cannot be a label value', { ...base, RAY_external_storage_namespace: 'a:b' }, /must also be a Kubernetes label value/],
    ['a set-based peer selector', { ...base, RAY_HA_K8S_PEER_SELECTOR: 'app in (a,b)' }, /expected key=value/],
    ['a peer selector on the role label', { ...base, RAY_HA_K8S_PEER_SELECTOR: 'ray-head-ha/role=leader' }, /must not select on the role label/],
    ['a pod name Kubernetes refuses', { ...base, RAY_HA_K8S_POD_NAME: 'Ray_Head' }, /not a pod name/],
  ])('%s: one ConfigError line', (_name, env, message) => {
    expect(() => load({}, env)).toThrow(ConfigError);
    expect(() => load({}, env)).toThrow(message);
  });
});

describe('parseFlags', () => {
  it('splits flags from the head command at "--" and keeps the command untouched', () => {
    const { flags, rest } = parseFlags(['--ttl-ms=5000', '--id', 'x', '--', 'ray', 'start', '--head', '--port=1'], RUN_FLAGS);
    expect(flags).toEqual({ 'ttl-ms': '5000', id: 'x' });
    expect(rest).toEqual(['ray', 'start', '--head', '--port=1']);
  });
  it('rejects unknown flags and flags without a value', () => {
    expect(() => parseFlags(['--ttl', '5'], RUN_FLAGS)).toThrow(/unknown flag --ttl/);
    expect(() => parseFlags(['--id', '--', 'x'], RUN_FLAGS)).toThrow(/flag --id needs a value/);
  });
});
