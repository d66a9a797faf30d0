/**
 * Logs of real candidates against a Redis with a password: one JSON object per
 * line, every role change as `from -> to` with its reason and epoch, and the
 * password nowhere (not in logs, errors, status or watch output), whichever
 * way it was given.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, STAND_IN, until, type Candidate } from '../helpers/candidates.js';
import { FAST_TIMING, useStandInCluster } from '../helpers/cluster.js';

const PASSWORD = 'pw-Zq7-never-log-me';
const WRONG = 'pw-wrong-also-secret';
const STATES = ['standby', 'leading', 'stepping-down', 'stopped'];

const cluster = useStandInCluster('logs', { sample: false, redisArgs: ['--requirepass', PASSWORD] });
const { leaderAmong } = cluster;
const urlWith = (password: string) => `redis://:${encodeURIComponent(password)}@127.0.0.1:${cluster.redis.port}`;

/** A candidate given the password in its Redis URL or in REDIS_PASSWORD. */
function candidate(id: string, how: 'url' | 'env', extra: string[] = [], password = PASSWORD): Candidate {
  return cluster.candidate(id, {
    redis: how === 'url' ? urlWith(password) : cluster.redis.address,
    env: how === 'env' ? { REDIS_PASSWORD: password } : {},
    args: extra,
  });
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(encodeURIComponent(PASSWORD));
  expect(text).not.toContain(WRONG);
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
}

describe('logs', () => {
  it('are one JSON object per line; every role change is `from -> to` with reason and epoch; no password', async () => {
    const cs = [candidate('by-url', 'url'), candidate('by-env', 'env')];
    const first = await leaderAmong(cs);
    const second = cs.find((c) => c !== first)!;
    // A graceful handover, then the new leader stops too: every state is entered.
    first.proc.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    await leaderAmong([second]);
    second.proc.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);

    for (const c of cs) {
      const text = c.stderr.join('\n');
      expectNoSecret(text);
      expect(c.stderr.length).toBeGreaterThan(5);
      for (const line of c.stderr) {
        const rec = JSON.parse(line) as Record<string, unknown>; // throws on a non-JSON line
        expect(rec).toMatchObject({ id: c.id, level: expect.any(Number), msg: expect.any(String) });
        expect(Number.isNaN(Date.parse(String(rec.time)))).toBe(false);
      }
      const transitions = c.logs.filter((l) => l.to !== undefined);
      for (const t of transitions) {
        expect(STATES).toContain(t.to);
        expect(t.msg).toBe(`${String(t.from)} -> ${String(t.to)}`);
        expect(typeof t.reason).toBe('string');
        expect(Number.isInteger(t.epoch)).toBe(true);
      }
      const path = transitions.map((t) => `${String(t.msg)} (${String(t.reason)})`);
      expect(path.slice(-3)).toEqual(['standby -> leading (acquired)', 'leading -> stepping-down (shutdown)', 'stepping-down -> stopped (shutdown)']);
      const led = transitions.find((t) => t.to === 'leading')!;
      expect(transitions.filter((t) => t.from === 'leading' || t.from === 'stepping-down').every((t) => t.epoch === led.epoch)).toBe(true);
      // The Redis target is logged, without its password.
      expect(c.logs.find((l) => l.msg === 'candidate starting')).toMatchObject({ redis: `redis://127.0.0.1:${cluster.redis.port}` });
    }
    // The second term's epoch is above the first's.
    const epochOf = (c: Candidate) => c.logs.find((l) => l.to === 'leading')!.epoch as number;
    expect(epochOf(second)).toBe(epochOf(first) + 1);
  });

  it('a fenced leader logs why (lost-lease or deadline), with its epoch, and still no password', async () => {
    const c = candidate('fenced', 'url');
    await leaderAmong([c]);
    await cluster.redis.restartEmpty();
    expect((await c.exited).code).toBe(3);
    const down = c.logs.find((l) => l.to === 'stepping-down')!;
    expect(['lost-lease', 'deadline', 'fenced']).toContain(down.reason);
    expect(down.epoch).toBe(c.logs.find((l) => l.to === 'leading')!.epoch);
    expectNoSecret(c.stderr.join('\n'));
    for (const line of c.stderr) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('--log-format pretty: one readable line per event, `from -> to` included, no password', async () => {
    const c = candidate('pretty', 'url', ['--log-format', 'pretty']);
    await until('pretty leader line', () => c.stderr.some((l) => l.includes('standby -> leading')));
    c.proc.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    expectNoSecret(c.stderr.join('\n'));
    expect(c.logs).toEqual([]); // nothing in JSON
    const line = c.stderr.find((l) => l.includes('standby -> leading'))!;
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[pretty\] standby -> leading from=standby to=leading reason=acquired epoch=\d+ inStateMs=\d+$/);
  });

  it('a wrong password: one error line, exit 2, neither password in it', () => {
    for (const [how, r] of [
      ['url', cli(['run', '--redis', urlWith(WRONG), '--namespace', cluster.ns, ...FAST_TIMING, '--', 'node', STAND_IN, '0'])],
      ['env', cli(['run', '--redis', cluster.redis.address, '--namespace', cluster.ns, ...FAST_TIMING, '--', 'node', STAND_IN, '0'], { REDIS_PASSWORD: WRONG })],
      ['status', cli(['status', '--redis', urlWith(WRONG), '--namespace', cluster.ns])],
      ['watch', cli(['watch', '--once', '--redis', urlWith(WRONG), '--namespace', cluster.ns])],
    ] as const) {
      expect({ how, code: r.status }).toEqual({ how, code: 2 });
      expect(r.stderr).toMatch(/ray-head-ha: .*(WRONGPASS|credentials)/);
      expectNoSecret(r.stderr + r.stdout);
    }
  });

  it('status and watch with the right password in the URL do not print it', async () => {
    const c = candidate('shown', 'url');
    await leaderAmong([c]);
    for (const r of [
      cli(['status', '--redis', urlWith(PASSWORD), '--namespace', cluster.ns]),
      cli(['status', '--json', '--redis', urlWith(PASSWORD), '--namespace', cluster.ns]),
      cli(['watch', '--json', '--duration-ms', '300', '--redis', urlWith(PASSWORD), '--namespace', cluster.ns]),
    ]) {
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('shown');
      expectNoSecret(r.stdout + r.stderr);
    }
  });
});
