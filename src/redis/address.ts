/**
 * Parses the Redis address forms of RAY_HA_REDIS_ADDRESS / RAY_REDIS_ADDRESS:
 * `host:port`, `[v6]:port`, `redis://[user:pass@]host:port[/db]`, `rediss://...`,
 * and for Sentinel `redis+sentinel://[user:pass@]host1:26379[,host2:26379...]/<primary-name>[/db]`
 * (`rediss+sentinel://` for TLS to the sentinels and the data nodes).
 * The password never leaves this object except into the ioredis options;
 * `describeRedis()` is the only form that reaches logs and errors.
 */
import { ConfigError } from '../errors.js';
import { buildAddress } from '../host-port.js';

export interface RedisEndpoint {
  host: string;
  port: number;
}

export interface SentinelTarget {
  nodes: RedisEndpoint[];
  /** The name the sentinels monitor the primary under (`sentinel monitor <name> ...`). */
  name: string;
  username?: string | undefined;
  password?: string | undefined;
}

/** TLS material as contents (config.ts reads the files), for node:tls. */
export interface RedisTlsOptions {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  servername?: string | undefined;
}

export interface RedisTarget extends RedisEndpoint {
  db: number;
  tls: boolean;
  username?: string | undefined;
  password?: string | undefined;
  /** Set for redis+sentinel://: the primary is found through the sentinels (host/port are the first sentinel's). */
  sentinel?: SentinelTarget | undefined;
  tlsOptions?: RedisTlsOptions | undefined;
}

export const DEFAULT_SENTINEL_PORT = 26379;

type Bad = (rule: string, hideUser?: boolean) => ConfigError;

export function parseRedisAddress(raw: string, source: string): RedisTarget {
  const value = raw.trim();
  const bad = (rule: string, hideUser = false) =>
    new ConfigError(`${source}=${JSON.stringify(hideUser ? redactUserinfo(value) : redactUrl(value))}: ${rule}`);
  if (value === '') throw bad('must not be empty');

  if (/^rediss?\+sentinel:\/\//i.test(value)) return parseSentinelUrl(value, bad);
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
    if (!/^\d*$/.test(dbText) || !Number.isSafeInteger(db)) throw bad('the database after "/" must be an integer >= 0');
    if (url.hostname === '') throw bad('has no host');
    return {
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port,
      db,
      tls: url.protocol.toLowerCase() === 'rediss:',
      ...decodeUserinfo(url.username, url.password, bad),
    };
  }
  if (value.includes('://')) throw bad('only redis://, rediss://, redis+sentinel:// and rediss+sentinel:// URLs are supported');

  const endpoint = parseEndpoint(value, null);
  if (!endpoint) throw bad('expected host:port, redis://[user:pass@]host:port[/db], rediss://... or redis+sentinel://host:port,.../<primary-name>');
  if (endpoint === 'bad-port') throw bad('port must be an integer from 1 to 65535');
  return { ...endpoint, db: 0, tls: false };
}

/** `redis+sentinel://[user:pass@]h1[:p1][,h2[:p2]...]/<name>[/db]`: user and password are for the data nodes. */
function parseSentinelUrl(value: string, bad: Bad): RedisTarget {
  const scheme = value.slice(0, value.indexOf('://')).toLowerCase();
  const rest = value.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at);
  const hostList = at === -1 ? authority : authority.slice(at + 1);

  const nodes: RedisEndpoint[] = [];
  for (const part of hostList.split(',')) {
    const endpoint = parseEndpoint(part.trim(), DEFAULT_SENTINEL_PORT);
    if (endpoint === 'bad-port') throw bad('every sentinel port must be an integer from 1 to 65535');
    if (!endpoint) throw bad(`sentinel ${JSON.stringify(part)} is not host[:port]`);
    nodes.push(endpoint);
  }
  const [name, dbText, ...extra] = path.split('/');
  if (!name) throw bad('needs the primary name after the sentinels: redis+sentinel://host:26379,.../<primary-name>[/db]');
  if (!/^[A-Za-z0-9._:-]{1,200}$/.test(name)) throw bad(`the primary name ${JSON.stringify(name)} may use A-Z a-z 0-9 . _ : -`);
  if (extra.length > 0 || (dbText !== undefined && !/^\d+$/.test(dbText))) {
    throw bad('the database after the primary name must be an integer >= 0');
  }
  const colon = userinfo.indexOf(':');
  const { username, password } = decodeUserinfo(
    colon === -1 ? userinfo : userinfo.slice(0, colon),
    colon === -1 ? '' : userinfo.slice(colon + 1),
    bad,
  );
  return {
    host: nodes[0]!.host,
    port: nodes[0]!.port,
    db: dbText === undefined ? 0 : Number(dbText),
    tls: scheme === 'rediss+sentinel',
    username,
    password,
    sentinel: { nodes, name },
  };
}

/**
 * The URL's user and password, percent-decoded. A bad escape (`%zz`, a cut
 * `%E0%A4`) is a ConfigError naming the variable; the message does not quote
 * the part that failed, as it may be the secret.
 */
function decodeUserinfo(user: string, pass: string, bad: Bad): { username: string | undefined; password: string | undefined } {
  const decode = (text: string, what: string) => {
    try {
      return text ? decodeURIComponent(text) : undefined;
    } catch {
      // Neither part is quoted: a password put where the user goes is still a password.
      throw bad(`the ${what} is not valid percent-encoding (write a literal % as %25)`, true);
    }
  };
  return { username: decode(user, 'user'), password: decode(pass, 'password') };
}

/** `host:port`, `[v6]:port`, or with a default port also `host` / `[v6]`. */
function parseEndpoint(text: string, defaultPort: number | null): RedisEndpoint | 'bad-port' | null {
  const m = /^(?:\[([^\]]+)\]|([^:\s,/@[\]]+))(?::(\d+))?$/.exec(text);
  if (!m) return null;
  if (m[3] === undefined && defaultPort === null) return null;
  const port = m[3] === undefined ? defaultPort : parsePort(m[3]);
  if (port === null) return 'bad-port';
  return { host: (m[1] ?? m[2])!, port };
}

function parsePort(text: string): number | null {
  const port = Number(text);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null;
}

/** The address (and db, tls, user) without any password: safe for logs and errors. */
export function describeRedis(t: RedisTarget): string {
  const user = t.username ? `${t.username}@` : '';
  const db = t.db ? `/${t.db}` : '';
  if (t.sentinel) {
    return `${t.tls ? 'rediss' : 'redis'}+sentinel://${user}${t.sentinel.nodes.map((n) => buildAddress(n.host, n.port)).join(',')}/${t.sentinel.name}${db}`;
  }
  return `${t.tls ? 'rediss' : 'redis'}://${user}${buildAddress(t.host, t.port)}${db}`;
}

/** Hides the password of `scheme://user:password@...`, even one with unescaped '@' or '/' in it. */
export function redactUrl(value: string): string {
  const start = value.indexOf('://');
  if (start === -1) return value;
  const at = value.lastIndexOf('@');
  if (at < start) return value;
  const colon = value.indexOf(':', start + 3);
  if (colon === -1 || colon > at) return value;
  return `${value.slice(0, colon + 1)}***${value.slice(at)}`;
}

/** `scheme://***@rest`: the whole user:password part hidden. */
function redactUserinfo(value: string): string {
  const start = value.indexOf('://');
  const at = value.lastIndexOf('@');
  return start === -1 || at < start ? value : `${value.slice(0, start + 3)}***${value.slice(at)}`;
}
