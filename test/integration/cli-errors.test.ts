/**
 * Every bad input gets one clear line on stderr, a distinct exit code, and
 * leaves nothing running (docs/design.md, invariant 6).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadSampler, STAND_IN, runCli } from '../helpers/candidates.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let redis: RedisServer;
let secured: RedisServer;
const sampler = new HeadSampler();

beforeAll(async () => {
  redis = await startRedis();
  secured = await startRedis({ args: ['--requirepass', 'right-password'] });
});
afterAll(async () => {
  sampler.close();
  await redis.close();
  await secured.close();
});

const cli = runCli;

const head = () => ['--', 'node', STAND_IN, '0', sampler.dir];
const fast = ['--ttl-ms', '1500', '--retry-ms', '200'];
const ROLE_LABEL = { RAY_external_storage_namespace: 'demo', RAY_HA_K8S_ROLE_LABEL: 'ray-head-ha/role', RAY_HA_K8S_POD_NAME: 'head-0', RAY_HA_K8S_PEER_SELECTOR: 'ray-head-ha/cluster=demo' };

describe('bad input', () => {
  const configCases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
    ['no command', [], {}, /missing command/],
    ['an unknown command', ['launch'], {}, /unknown command "launch"/],
    ['run without a head command', ['run', '--ttl-ms', '3000'], {}, /run needs a head command after "--"/],
    ['an unknown flag', ['run', '--ttl', '3000', ...head()], {}, /unknown flag --ttl/],
    ['a ttl that is not a number', ['run', ...head()], { RAY_HA_KEY_EXPIRE_TIME_MS: 'soon' }, /RAY_HA_KEY_EXPIRE_TIME_MS="soon": must be an integer/],
    ['timing that breaks the safety rule', ['run', '--ttl-ms', '2000', '--renew-deadline-ms', '1900', ...head()], {}, /renewDeadline \+ killGrace/],
    ['a malformed Redis address', ['run', ...head()], { RAY_REDIS_ADDRESS: 'redis//nohost' }, /RAY_REDIS_ADDRESS="redis\/\/nohost": expected host:port/],
    ['a role label outside a pod', ['run', ...head()], { RAY_REDIS_ADDRESS: '127.0.0.1:1', ...ROLE_LABEL },
      /role label needs the Kubernetes API: KUBERNETES_SERVICE_HOST/],
    ['a role label without a service account token', ['run', ...head()],
      { RAY_REDIS_ADDRESS: '127.0.0.1:1', ...ROLE_LABEL, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '1' },
      /cannot read \/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/ca\.crt.*automountServiceAccountToken: true/],
    ['a role label without the pod name', ['run', ...head()], { RAY_HA_K8S_ROLE_LABEL: 'ray-head-ha/role', RAY_HA_K8S_PEER_SELECTOR: 'app=x' },
      /RAY_HA_K8S_ROLE_LABEL needs this pod's name in RAY_HA_K8S_POD_NAME/],
  ];
  it.each(configCases)('%s: exit 2, one line', (_name, args, env, message) => {
    const r = cli(args, env);
    expect(r.code).toBe(2);
    expect(r.errorLines).toHaveLength(1);
    expect(r.errorLines[0]).toMatch(message);
    expect(sampler.records()).toEqual([]);
  });

  it('a wrong Redis password: exit 2, the password never printed, no head started', () => {
    const r = cli(['run', ...fast, ...head()], { RAY_REDIS_ADDRESS: `redis://:wrong-password@127.0.0.1:${secured.port}` });
    expect(r.code).toBe(2);
    expect(r.errorLines).toHaveLength(1);
    expect(r.errorLines[0]).toMatch(/refused our credentials/);
    expect(r.stderr).not.toContain('wrong-password');
    expect(sampler.records()).toEqual([]);
  });

  it('no password for a Redis that requires one: exit 2', () => {
    const r = cli(['run', ...fast, ...head()], { RAY_REDIS_ADDRESS: secured.address });
    expect(r.code).toBe(2);
    expect(r.errorLines[0]).toMatch(/refused our credentials.*NOAUTH/);
    expect(sampler.records()).toEqual([]);
  });

  it('the right password (REDIS_PASSWORD) works and is never logged', () => {
    const r = cli(['run', ...fast, '--', 'node', '-e', 'process.exit(4)'], {
      RAY_REDIS_ADDRESS: secured.address,
      REDIS_PASSWORD: 'right-password',
      RAY_HA_LOG_LEVEL: 'info',
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('head started');
    expect(r.stderr).not.toContain('right-password');
  });

  it('a head command that does not exist: exit 127, lease released', async () => {
    const r = cli(['run', ...fast, '--namespace', 'enoent', '--', '/nonexistent/ray', 'start', '--head'], {
      RAY_REDIS_ADDRESS: redis.address,
    });
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/cannot start the head/);
    expect(await redis.client().exists('ray-head-ha:{enoent}:lease')).toBe(0);
  });

  it('preflight: a head command that cannot be executed is refused with exit 127 before the election', async () => {
    const notExecutable = ['/nonexistent/ray', '/tmp', 'no-such-head-command-xyz'];
    for (const command of notExecutable) {
      const r = cli(['run', ...fast, '--namespace', 'preflight', '--', command, 'start', '--head'], { RAY_REDIS_ADDRESS: redis.address, RAY_HA_LOG_LEVEL: 'info' });
      expect(r.code).toBe(127);
      expect(r.errorLines).toHaveLength(1);
      expect(r.errorLines[0]).toMatch(/^ray-head-ha: cannot start the head: /);
      // Never a candidate: no log line of the election, no epoch counter created, no lease taken.
      expect(r.stderr).not.toContain('candidate starting');
    }
    expect(await redis.client().exists('ray-head-ha:{preflight}:epoch', 'ray-head-ha:{preflight}:lease')).toBe(0);
    // Without a Redis to reach at all the answer is the same, at once: nothing waits as a standby.
    const unreachable = cli(['run', ...fast, '--', '/nonexistent/ray'], { RAY_REDIS_ADDRESS: '127.0.0.1:1' });
    expect(unreachable.code).toBe(127);
    expect(sampler.records()).toEqual([]);
  });

  it('--help of every command prints the one usage text and exit 0, without touching Redis', () => {
    const help = cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage:\n  ray-head-ha run /);
    for (const command of ['run', 'status', 'watch', 'install-shim']) {
      const r = cli([command, '--help'], { RAY_REDIS_ADDRESS: '127.0.0.1:1', RAY_HA_CONNECT_TIMEOUT_MS: '200' });
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toBe(help.stdout);
      expect(r.stderr, command).toBe('');
    }
    expect(help.stdout).toContain('RAY_HA_STATE_FILE');
    expect(help.stdout).toContain('REDIS_PASSWORD');
  });

  it('status of an unreachable Redis: exit 1 with the address, no password', () => {
    const r = cli(['status'], { RAY_REDIS_ADDRESS: 'redis://:pw-secret@127.0.0.1:1', RAY_HA_CONNECT_TIMEOUT_MS: '500' });
    expect(r.code).toBe(1);
    expect(r.errorLines).toHaveLength(1);
    expect(r.errorLines[0]).toBe('ray-head-ha: cannot read status from redis://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
    expect(r.stderr).not.toContain('pw-secret');
  });

  it('status with no leader prints JSON with leader null', () => {
    const r = cli(['status', '--json', '--namespace', 'empty-ns'], { RAY_REDIS_ADDRESS: redis.address });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ namespace: 'empty-ns', epoch: 0, leader: null });
  });
});
