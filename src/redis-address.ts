/**
 * Parses the Redis address forms Ray accepts in RAY_REDIS_ADDRESS:
 * `host:port`, `[v6]:port`, `redis://[user:pass@]host:port[/db]`, `rediss://...`.
 * The password never leaves this object except into the ioredis options;
 * `describe()` is the only form that reaches logs and errors.
 */
import { ConfigError } from './errors.js';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string | undefined;
  password?: string | undefined;
}

export function parseRedisAddress(raw: string, source: string): RedisTarget {
  const value = raw.trim();
  const bad = (rule: string) =>
    new ConfigError(`${source}=${JSON.stringify(redactUrl(value))}: ${rule}`);
  if (value === '') throw bad('must not be empty');

  if (/^rediss?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw bad('is not a valid redis:// or rediss:// URL');
    }
    const port = url.port === '' ? 6379 : parsePort(url.port);
    if (port === null) throw bad('port must be an integer from 1 to 65535');
    const dbText = url.pathname.replace(/^\//, '');
    const db = dbText === '' ? 0 : Number(dbText);
    if (!Number.isInteger(db) || db < 0) throw bad('the database after "/" must be an integer >= 0');
    if (url.hostname === '') throw bad('has no host');
    return {
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port,
      db,
      tls: url.protocol.toLowerCase() === 'rediss:',
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
    };
  }
  if (value.includes('://')) throw bad('only redis:// and rediss:// URLs are supported');

  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(value);
  if (!m) throw bad('expected host:port, redis://[user:pass@]host:port[/db] or rediss://...');
  const port = parsePort(m[3]!);
  if (port === null) throw bad('port must be an integer from 1 to 65535');
  return { host: (m[1] ?? m[2])!, port, db: 0, tls: false };
}

function parsePort(text: string): number | null {
  const port = Number(text);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
}

/** host:port (and db, tls, user) without the password: safe for logs and errors. */
export function describeRedis(t: RedisTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const user = t.username ? `${t.username}@` : '';
  return `${t.tls ? 'rediss' : 'redis'}://${user}${host}:${t.port}${t.db ? `/${t.db}` : ''}`;
}

function redactUrl(value: string): string {
  return value.replace(/(\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
