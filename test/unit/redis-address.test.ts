/** Redis address forms, credentials and TLS settings: parsed once, secrets never in a message. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { describeRedis, parseRedisAddress, redactUrl } from '../../src/redis/address.js';
import { refusalOf } from '../../src/redis/refusals.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rhha-addr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseRedisAddress', () => {
  it('reads the plain forms', () => {
    expect(parseRedisAddress('10.0.0.1:6380', 'x')).toEqual({ host: '10.0.0.1', port: 6380, db: 0, tls: false });
    expect(parseRedisAddress('[::1]:6379', 'x')).toMatchObject({ host: '::1', port: 6379 });
    expect(parseRedisAddress('rediss://ray:p%40ss@redis.example:6390/3', 'x')).toMatchObject({
      host: 'redis.example', port: 6390, db: 3, tls: true, username: 'ray', password: 'p@ss',
    });
  });

  it('reads redis+sentinel:// with several sentinels, default ports, a primary name and a db', () => {
    const t = parseRedisAddress('redis+sentinel://app:s3cret@s1:26380,s2,[::1]:26381/mymaster/2', 'RAY_HA_REDIS_ADDRESS');
    expect(t).toMatchObject({
      db: 2,
      tls: false,
      username: 'app',
      password: 's3cret',
      sentinel: { name: 'mymaster', nodes: [{ host: 's1', port: 26380 }, { host: 's2', port: 26379 }, { host: '::1', port: 26381 }] },
    });
    expect(describeRedis(t)).toBe('redis+sentinel://app@s1:26380,s2:26379,[::1]:26381/mymaster/2');
    expect(parseRedisAddress('rediss+sentinel://h/m', 'x')).toMatchObject({ tls: true, db: 0, sentinel: { name: 'm' } });
  });

  const bad: [string, RegExp][] = [
    ['redis+sentinel://s1:26379', /needs the primary name/],
    ['redis+sentinel://s1:26379/', /needs the primary name/],
    ['redis+sentinel://s1:99999/m', /every sentinel port must be an integer/],
    ['redis+sentinel://s1:1,,s2:2/m', /sentinel "" is not host\[:port\]/],
    ['redis+sentinel://s1/m/x', /database after the primary name/],
    ['redis+sentinel://s1/m/1/2', /database after the primary name/],
    ['redis://h:1/x', /database after "\/"/],
    ['unix:///tmp/redis.sock', /only redis:\/\/, rediss:\/\//],
    ['h', /expected host:port/],
  ];
  it.each(bad)('rejects %s with one line', (value, message) => {
    expect(configError(() => parseRedisAddress(value, 'RAY_HA_REDIS_ADDRESS'))).toMatch(message);
  });

  it('never shows a password, even one with unescaped @ or /', () => {
    expect(redactUrl('redis+sentinel://u:pa/ss@w@s1,s2/m')).toBe('redis+sentinel://u:***@s1,s2/m');
    expect(redactUrl('redis://:pw@h:1')).toBe('redis://:***@h:1');
    expect(redactUrl('redis://h:1')).toBe('redis://h:1');
    const msg = configError(() => parseRedisAddress('redis+sentinel://u:pa/ss@w@s1:0/m', 'x'));
    expect(msg).not.toContain('pa/ss');
    expect(msg).not.toContain('ss@w');
  });
});

describe('Redis settings in loadConfig', () => {
  it('RAY_HA_REDIS_ADDRESS wins over RAY_REDIS_ADDRESS (Ray keeps its own)', () => {
    const c = loadConfig({}, { RAY_HA_REDIS_ADDRESS: 'redis+sentinel://s1/m', RAY_REDIS_ADDRESS: 's1:26379' });
    expect(c.redis.sentinel?.name).toBe('m');
  });

  it('credentials: URL first, then the password file (one trailing newline dropped), then REDIS_PASSWORD', () => {
    const pw = file('pw', 'from-file\n');
    expect(loadConfig({}, { RAY_REDIS_ADDRESS: 'redis://u:url@h:1', RAY_HA_REDIS_PASSWORD_FILE: pw }).redis.password).toBe('url');
    const c = loadConfig({}, { RAY_REDIS_ADDRESS: 'h:1', RAY_HA_REDIS_PASSWORD_FILE: pw, REDIS_PASSWORD: 'env', RAY_HA_REDIS_USERNAME: 'ray-ha' });
    expect(c.redis).toMatchObject({ password: 'from-file', username: 'ray-ha' });
    expect(c.redisPasswordFile).toBe(pw);
    expect(loadConfig({}, { RAY_REDIS_ADDRESS: 'h:1', REDIS_PASSWORD: 'env', REDIS_USERNAME: 'u' }).redis).toMatchObject({ password: 'env', username: 'u' });
  });

  it('sentinel credentials come from their own variables or file', () => {
    const spw = file('spw', 'sentinel-secret\n');
    const c = loadConfig({}, {
      RAY_HA_REDIS_ADDRESS: 'redis+sentinel://:data@s1/m',
      RAY_HA_REDIS_SENTINEL_USERNAME: 'sent',
      RAY_HA_REDIS_SENTINEL_PASSWORD_FILE: spw,
    });
    expect(c.redis.password).toBe('data');
    expect(c.redis.sentinel).toMatchObject({ username: 'sent', password: 'sentinel-secret' });
  });

  it("TLS files by our names or Ray's, read at start; a CA directory is read whole", () => {
    const ca = file('ca.pem', PEM);
    const cert = file('c.pem', 'CERT');
    const key = file('k.pem', 'KEY');
    const c = loadConfig({}, { RAY_REDIS_ADDRESS: 'rediss://h:1', RAY_REDIS_CA_CERT: ca, RAY_HA_REDIS_TLS_CERT_FILE: cert, RAY_REDIS_CLIENT_KEY: key, RAY_REDIS_SERVER_NAME: 'redis.internal' });
    expect(c.redis.tlsOptions).toEqual({ ca: PEM, cert: 'CERT', key: 'KEY', servername: 'redis.internal' });
    const caDir = path.join(dir, 'cas');
    mkdirSync(caDir);
    writeFileSync(path.join(caDir, 'a.0'), PEM);
    writeFileSync(path.join(caDir, 'README'), 'not a certificate');
    expect(loadConfig({ 'redis-ca-path': caDir }, { RAY_REDIS_ADDRESS: 'rediss://h:1' }).redis.tlsOptions?.ca).toBe(PEM);
  });

  const bad: [string, Record<string, string>, NodeJS.ProcessEnv, RegExp][] = [
    ['TLS files with a plain address', {}, { RAY_REDIS_ADDRESS: 'h:1', RAY_REDIS_CA_CERT: '/x' }, /^RAY_REDIS_CA_CERT="\/x": TLS settings need a rediss:\/\//],
    ['a CA file that is missing', { 'redis-ca-file': '/nonexistent/ca.pem' }, { RAY_REDIS_ADDRESS: 'rediss://h:1' }, /^--redis-ca-file="\/nonexistent\/ca.pem": cannot be read \(ENOENT\)$/],
    ['a certificate without a key', {}, { RAY_REDIS_ADDRESS: 'rediss://h:1', RAY_REDIS_CLIENT_CERT: '/c' }, /needs both RAY_HA_REDIS_TLS_CERT_FILE and RAY_HA_REDIS_TLS_KEY_FILE/],
    ['a missing password file', {}, { RAY_HA_REDIS_PASSWORD_FILE: '/nonexistent/pw' }, /^RAY_HA_REDIS_PASSWORD_FILE="\/nonexistent\/pw": cannot be read/],
    ['a negative replica count', { 'min-replicas': '-1' }, {}, /^--min-replicas=-1: must be >= 0$/],
  ];
  it.each(bad)('rejects %s with one line', (_name, flags, env, message) => {
    expect(configError(() => loadConfig(flags, env))).toMatch(message);
  });

  it('an empty password file is an error, not an empty password', () => {
    const empty = file('empty', '\n');
    expect(configError(() => loadConfig({}, { RAY_HA_REDIS_PASSWORD_FILE: empty }))).toMatch(/the file is empty/);
  });
});

describe('refusalOf', () => {
  const err = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
  it('tells refusals no retry can fix from transient errors', () => {
    expect(refusalOf(err('WRONGPASS invalid username-password pair or user is disabled.'), false)?.message).toMatch(/refused our credentials/);
    expect(refusalOf(err("NOPERM User ha has no permissions to run the 'evalsha' command"), false)?.message).toMatch(/needs EVAL and EVALSHA/);
    expect(refusalOf(err("NOPERM User ha has no permissions to run the 'publish' command"), false)?.message).toMatch(/minimal ACL/);
    expect(refusalOf(err("ERR unknown command 'evalsha', with args beginning with: "), false)?.message).toMatch(/needs EVAL and EVALSHA/);
    expect(refusalOf(err('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'), false)?.message).toMatch(/TLS handshake refused/);
    expect(refusalOf(err("READONLY You can't write against a read only replica."), false)?.message).toMatch(/read-only replica/);
    // With Sentinel, READONLY is a failover in progress: retry.
    expect(refusalOf(err("READONLY You can't write against a read only replica."), true)).toBeNull();
    expect(refusalOf(err('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), false)).toBeNull();
    expect(refusalOf(err('Command timed out'), false)).toBeNull();
  });
});
