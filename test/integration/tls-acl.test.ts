/**
 * A TLS-only redis-server that requires client certificates (made with
 * openssl for this file), and per test namespace an ACL user with exactly the
 * minimal per-namespace ACL the README documents (read from the README, so the
 * documentation is what is tested): it cannot touch another namespace's lease,
 * and its connects leave ACL LOG empty. Real candidates lead and hand over through it; the password is
 * nowhere: not in logs, errors, status/watch output or any process's argv.
 * Bad TLS or ACL input: one line, exit 2, no head started.
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HeadSampler, ROOT, STAND_IN, headStarted, killAllCandidates, runCli, startCandidate, until } from '../helpers/candidates.js';
import { FAST_TIMING } from '../helpers/cluster.js';
import { freePort, isListening } from '../helpers/ports.js';
import { makeTlsFiles, startRedis, type RedisServer, type TlsFiles } from '../helpers/redis.js';

const PASSWORD = 'acl-pw-Kx9-never-shown';

/** The `ACL SETUSER` line of README.md for `namespace`, with our password: the user's name and its rules. */
function readmeAcl(namespace: string): { user: string; rules: string[] } {
  const m = /^ACL SETUSER (ray-head-ha\S*) (.+)$/m.exec(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  if (!m) throw new Error('README.md has no "ACL SETUSER ray-head-ha... ..." line');
  const fill = (text: string) => text.replaceAll('NAMESPACE', namespace).replaceAll('PASSWORD', PASSWORD);
  return { user: fill(m[1]!), rules: m[2]!.trim().split(/\s+/).map(fill) };
}

/** Creates (or resets) the README's user for `namespace`, exactly as documented; returns its name. */
async function createReadmeUser(namespace: string): Promise<string> {
  const { user, rules } = readmeAcl(namespace);
  await redis.client().call('ACL', 'SETUSER', user, 'reset', ...rules);
  return user;
}

let tls: TlsFiles;
let redis: RedisServer;
let noScripts: RedisServer;
let sampler: HeadSampler;
let passwordFile: string;
let ns: string;
/** The README's user for this test's namespace. */
let aclUser: string;
let n = 0;

beforeAll(async () => {
  tls = makeTlsFiles();
  passwordFile = path.join(tls.dir, 'redis-password');
  writeFileSync(passwordFile, `${PASSWORD}\n`);
  const clientTls = { ca: readFileSync(tls.caCert), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey) };
  redis = await startRedis({
    tls,
    args: [
      '--tls-auth-clients', 'yes',
      '--user', 'no-eval', 'on', `>${PASSWORD}`, '~*', '&*', '+@all', '-eval', '-evalsha',
    ],
    clientOptions: { tls: clientTls },
  });
  // EVAL renamed away, the way some managed Redis offerings ship.
  noScripts = await startRedis({ args: ['--rename-command', 'EVAL', '', '--rename-command', 'EVALSHA', ''] });
});
afterAll(async () => {
  await redis?.close();
  await noScripts?.close();
  rmSync(tls.dir, { recursive: true, force: true });
});
beforeEach(async () => {
  ns = `tls-${++n}`;
  aclUser = await createReadmeUser(ns);
  sampler = new HeadSampler();
  sampler.start(5); // without it, `overlaps` stays empty whatever happens
});
afterEach(async () => {
  await killAllCandidates();
  sampler.close();
});

/** Everything a candidate needs for the TLS server, by Ray's variable names and ours. */
function secureEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    RAY_REDIS_CA_CERT: tls.caCert,
    RAY_REDIS_CLIENT_CERT: tls.clientCert,
    RAY_REDIS_CLIENT_KEY: tls.clientKey,
    RAY_HA_REDIS_USERNAME: aclUser,
    RAY_HA_REDIS_PASSWORD_FILE: passwordFile,
    ...extra,
  };
}

const address = () => `rediss://127.0.0.1:${redis.port}`;

const cli = runCli;

/** argv of every process below `root` (and root itself), from /proc. */
function treeArgv(root: number): string[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return [...parent.keys()].filter(inTree).map((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      return '';
    }
  });
}

describe('TLS with client certificates and a minimal ACL user', () => {
  it('candidates lead and hand over; status and watch read it (settings from the environment or flags); the password is nowhere', async () => {
    const gcsPort = await freePort();
    const start = (id: string) =>
      startCandidate({
        id,
        redis: address(),
        namespace: ns,
        args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${gcsPort}`],
        env: secureEnv(),
        command: ['node', STAND_IN, String(gcsPort), sampler.dir],
      });
    const a = start('a');
    await a.waitForLog(headStarted);
    const b = start('b');
    await b.waitForLog((l) => l.to === 'standby');
    await until('head serving', () => isListening(gcsPort));

    const argv = [...treeArgv(a.proc.pid!), ...treeArgv(b.proc.pid!)];
    expect(argv.some((l) => l.includes(STAND_IN))).toBe(true);
    for (const line of argv) expect(line).not.toContain(PASSWORD);

    const status = cli(['status', '--json', '--namespace', ns, '--redis', address()], secureEnv());
    expect(status.code).toBe(0);
    const before = JSON.parse(status.stdout) as { epoch: number };
    expect(before).toMatchObject({ namespace: ns, leader: { id: 'a', epoch: before.epoch } });
    // watch with the same settings as flags instead of the environment.
    const tlsFlags = ['--redis-ca-file', tls.caCert, '--redis-cert-file', tls.clientCert, '--redis-key-file', tls.clientKey, '--redis-password-file', passwordFile];
    const watched = cli(['watch', '--once', '--json', '--namespace', ns, '--redis', `rediss://${aclUser}@127.0.0.1:${redis.port}`, ...tlsFlags]);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain('"id":"a"');

    // Handover: release and its event (PUBLISH/SUBSCRIBE under the ACL) wake b.
    a.proc.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    await b.waitForLog(headStarted);
    const after = JSON.parse(cli(['status', '--json', '--namespace', ns, '--redis', address()], secureEnv()).stdout);
    expect(after.leader).toMatchObject({ id: 'b', epoch: before.epoch + 1 });

    for (const text of [...a.stderr, ...b.stderr, status.stdout, status.stderr, watched.stdout, watched.stderr]) {
      expect(text).not.toContain(PASSWORD);
    }
    expect(sampler.overlaps).toEqual([]);
  });
});

describe('the README ACL is per namespace', () => {
  /** ACL LOG as objects (each entry is a flat key/value list). */
  async function aclLog(): Promise<Record<string, unknown>[]> {
    const entries = (await redis.client().call('ACL', 'LOG')) as unknown[][];
    return entries.map((e) => Object.fromEntries(Array.from({ length: e.length / 2 }, (_, i) => [String(e[2 * i]), e[2 * i + 1]])));
  }

  it("one namespace's credential cannot touch another namespace's lease; connects leave ACL LOG empty", async () => {
    const admin = redis.client();
    await admin.call('ACL', 'LOG', 'RESET');
    const other = `${ns}-other`;
    const otherUser = await createReadmeUser(other);
    const otherSampler = new HeadSampler(); // a second cluster: its head runs alongside ours on purpose
    const clientTls = { ca: readFileSync(tls.caCert), cert: readFileSync(tls.clientCert), key: readFileSync(tls.clientKey) };
    const asUs = new Redis({ host: '127.0.0.1', port: redis.port, tls: clientTls, username: aclUser, password: PASSWORD, maxRetriesPerRequest: 0, enableReadyCheck: false });
    asUs.on('error', () => {});
    try {
      const [gcsOurs, gcsOther] = [await freePort(), await freePort()];
      const start = (id: string, namespace: string, user: string, gcsPort: number, dir: string) =>
        startCandidate({
          id,
          redis: address(),
          namespace,
          args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${gcsPort}`],
          env: secureEnv({ RAY_HA_REDIS_USERNAME: user }),
          command: ['node', STAND_IN, String(gcsPort), dir],
        });
      // Each cluster with its own README user: a leader and a standby here, a leader there.
      const a = start('a', ns, aclUser, gcsOurs, sampler.dir);
      await a.waitForLog(headStarted);
      const b = start('b', ns, aclUser, gcsOurs, sampler.dir);
      await b.waitForLog((l) => l.to === 'standby');
      const c = start('c', other, otherUser, gcsOther, otherSampler.dir);
      await c.waitForLog(headStarted);
      expect(cli(['status', '--namespace', ns], { ...secureEnv(), RAY_REDIS_ADDRESS: address() }).code).toBe(0);
      expect(cli(['watch', '--once', '--namespace', ns], { ...secureEnv(), RAY_REDIS_ADDRESS: address() }).code).toBe(0);
      await new Promise((r) => setTimeout(r, 1_000)); // a few renews and standby attempts
      // Every connection (election, subscriber, status, watch) named itself and nothing was refused.
      expect(await aclLog()).toEqual([]);
      const clients = String(await admin.call('CLIENT', 'LIST'));
      expect(clients.split('\n').filter((l) => l.includes(`user=${aclUser}`) && l.includes('name=ray-head-ha')).length).toBeGreaterThanOrEqual(4);

      const otherKeys = { lease: `ray-head-ha:{${other}}:lease`, epoch: `ray-head-ha:{${other}}:epoch`, leader: `ray-head-ha:{${other}}:leader` };
      const theirToken = await admin.get(otherKeys.lease);
      expect(theirToken).toMatch(/^c#\d+$/);

      // Our credential against their namespace: a candidate, status and watch are refused (exit 2, one line) ...
      const env = { ...secureEnv(), RAY_REDIS_ADDRESS: address() };
      const run = cli(['run', ...FAST_TIMING, '--namespace', other, '--', 'node', STAND_IN, '0', sampler.dir], env);
      expect(run.code).toBe(2);
      expect(run.errorLines).toHaveLength(1);
      expect(run.errorLines[0]).toMatch(/Redis refused a command the election needs .*NOPERM/);
      for (const cmd of [['status'], ['watch', '--once']]) {
        const r = cli([...cmd, '--namespace', other], env);
        expect(r.code).toBe(2);
        expect(r.errorLines).toHaveLength(1);
        expect(r.errorLines[0]).toMatch(/NOPERM/);
      }
      // ... and so is every direct write, read or publish.
      for (const attempt of [
        () => asUs.set(otherKeys.lease, `a#${Number.MAX_SAFE_INTEGER}`),
        () => asUs.del(otherKeys.lease),
        () => asUs.pexpire(otherKeys.lease, 1),
        () => asUs.get(otherKeys.lease),
        () => asUs.set(otherKeys.epoch, '1'),
        () => asUs.hset(otherKeys.leader, 'gcsAddress', '127.0.0.1:1'),
        () => asUs.publish(`ray-head-ha:{${other}}:events`, '{"type":"released","id":"c","epoch":1}'),
      ]) {
        await expect(attempt()).rejects.toThrow(/NOPERM/);
      }
      // Their lease, its term and its head are untouched.
      expect(await admin.get(otherKeys.lease)).toBe(theirToken);
      expect(await admin.pttl(otherKeys.lease)).toBeGreaterThan(0);
      expect(c.logs.filter((l) => l.msg === 'stepping down' || l.to === 'stepping-down')).toEqual([]);
      expect(otherSampler.alive().map((h) => h.candidate)).toEqual(['c']);
      // The refusals are the only ACL LOG entries: keys and channels, never a command we send on connect.
      const log = await aclLog();
      expect(log.length).toBeGreaterThan(0);
      for (const entry of log) {
        expect(entry.username).toBe(aclUser);
        expect(['key', 'channel']).toContain(entry.reason);
      }
    } finally {
      asUs.disconnect();
      await killAllCandidates();
      otherSampler.close();
    }
  });
});

describe('bad TLS and ACL input: one line, exit 2, nothing started', () => {
  const head = () => ['--', 'node', STAND_IN, '0', sampler.dir];
  const cases: [string, () => { address: string; env: NodeJS.ProcessEnv }, RegExp][] = [
    ['a CA that did not sign the server certificate', () => ({ address: address(), env: secureEnv({ RAY_REDIS_CA_CERT: tls.otherCaCert }) }), /TLS handshake refused \(SELF_SIGNED_CERT_IN_CHAIN\)/],
    ['no client certificate where the server requires one', () => ({ address: address(), env: secureEnv({ RAY_REDIS_CLIENT_CERT: '', RAY_REDIS_CLIENT_KEY: '' }) }), /TLS handshake refused \(ERR_SSL_.*CERTIFICATE_REQUIRED\)/],
    ['a user that does not exist', () => ({ address: address(), env: secureEnv({ RAY_HA_REDIS_USERNAME: 'nobody' }) }), /rediss:\/\/nobody@127\.0\.0\.1:\d+: Redis refused our credentials: WRONGPASS/],
    ['the wrong password in the URL', () => ({ address: `rediss://${aclUser}:wrong-${PASSWORD}@127.0.0.1:${redis.port}`, env: secureEnv() }), /refused our credentials: WRONGPASS/],
    ['an ACL user without EVAL and EVALSHA', () => ({ address: address(), env: secureEnv({ RAY_HA_REDIS_USERNAME: 'no-eval' }) }), /the lease needs EVAL and EVALSHA .*NOPERM/],
    ['a server with EVAL renamed away', () => ({ address: noScripts.address, env: {} }), /the lease needs EVAL and EVALSHA .*unknown command/],
    // The handshake just hangs (the server waits for the rest of a "command"): the port is asked in plain RESP.
    ['rediss:// to a Redis without TLS', () => ({ address: `rediss://127.0.0.1:${noScripts.port}`, env: { RAY_HA_CONNECT_TIMEOUT_MS: '1000' } }), /^ray-head-ha: rediss:\/\/127\.0\.0\.1:\d+: no TLS on port \d+: it answered a plain PING \(\+PONG\); use redis:\/\//],
  ];
  it.each(cases)('%s', (_name, input, message) => {
    const { address: addr, env } = input();
    const r = cli(['run', ...FAST_TIMING, '--namespace', ns, ...head()], { RAY_REDIS_ADDRESS: addr, ...env });
    expect(r.code).toBe(2);
    expect(r.errorLines).toHaveLength(1);
    expect(r.errorLines[0]).toMatch(message);
    expect(r.stderr).not.toContain(PASSWORD);
    expect(sampler.records()).toEqual([]);
  });

  it('status and watch --once say the same of rediss:// to a Redis without TLS, also one that wants a password', async () => {
    const locked = await startRedis({ args: ['--requirepass', PASSWORD] });
    try {
      for (const [server, reply] of [[noScripts, '+PONG'], [locked, '-NOAUTH Authentication required.']] as const) {
        for (const cmd of [['status'], ['watch', '--once']]) {
          const r = cli([...cmd, '--namespace', ns], { RAY_REDIS_ADDRESS: `rediss://127.0.0.1:${server.port}`, RAY_HA_CONNECT_TIMEOUT_MS: '1000' });
          expect(r.code).toBe(2);
          expect(r.errorLines).toEqual([
            `ray-head-ha: rediss://127.0.0.1:${server.port}: no TLS on port ${server.port}: it answered a plain PING (${reply}); use redis://, or point rediss:// at the server's tls-port`,
          ]);
        }
      }
      // Nothing listening is not mistaken for a plain Redis: it stays a transport error (exit 1).
      const r = cli(['status'], { RAY_REDIS_ADDRESS: `rediss://127.0.0.1:${await freePort()}`, RAY_HA_CONNECT_TIMEOUT_MS: '1000' });
      expect(r.code).toBe(1);
      expect(r.errorLines[0]).toMatch(/cannot read status from rediss:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    } finally {
      await locked.close();
    }
  });
});
