/**
 * A real redis-server for tests, on a free loopback port, with no persistence.
 * Each test file starts its own (or shares one and uses its own namespace).
 * Also: TLS (certificates made with openssl), ACL users, replicas, and
 * redis-sentinel processes, all real.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { parseEvent } from '../../src/redis/events.js';
import { leaseKeys } from '../../src/redis/keys.js';
import { freePort, isListening, slowProxy } from './ports.js';

export interface RedisServer {
  port: number;
  url: string;
  /** `host:port`, the form RAY_REDIS_ADDRESS takes. */
  address: string;
  proc: ChildProcess;
  client(): Redis;
  /** SIGKILL and start again on the same port, empty (no persistence). */
  restartEmpty(): Promise<void>;
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** stop() for good: disconnects the helper clients and removes the data dir. */
  close(): Promise<void>;
}

export interface StartRedisOptions {
  port?: number;
  args?: string[];
  /** Serve TLS only (`--port 0 --tls-port`), with these files. */
  tls?: TlsFiles;
  /** Start as a replica of this primary port on 127.0.0.1. */
  replicaOf?: number;
  /** Extra ioredis options for client() (a password, an ACL user). */
  clientOptions?: RedisOptions;
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const portArgs = opts.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.serverCert, '--tls-key-file', opts.tls.serverKey,
       '--tls-ca-cert-file', opts.tls.caCert, '--tls-auth-clients', 'optional', '--tls-replication', 'yes']
    : ['--port', String(port)];
  const clientTls = opts.tls ? { ca: readFileSync(opts.tls.caCert, 'utf8') } : undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'rhha-redis-'));
  const clients: Redis[] = [];
  const server: RedisServer = {
    port,
    url: `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    proc: undefined as unknown as ChildProcess,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1, tls: clientTls, ...opts.clientOptions });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    async restartEmpty() {
      await server.stop();
      await server.start();
    },
    pause() {
      server.proc.kill('SIGSTOP');
    },
    resume() {
      server.proc.kill('SIGCONT');
    },
    async stop() {
      const p = server.proc;
      if (p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGCONT');
      p.kill('SIGKILL');
      await gone;
    },
    async close() {
      for (const c of clients) c.disconnect();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    async start() {
      server.proc = spawn(
        'redis-server',
        [
          ...portArgs,
          '--bind', '127.0.0.1',
          '--save', '',
          '--appendonly', 'no',
          '--dir', dir,
          '--loglevel', 'warning',
          ...(opts.replicaOf !== undefined ? ['--replicaof', '127.0.0.1', String(opts.replicaOf)] : []),
          ...(opts.args ?? []),
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      const deadline = Date.now() + 10_000;
      while (!(await isListening(port))) {
        if (server.proc.exitCode !== null) throw new Error(`redis-server exited with ${server.proc.exitCode}`);
        if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  await server.start();
  return server;
}

/** PEM files for TLS tests: a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an unrelated CA. */
export interface TlsFiles {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed none of the above: verification against it must fail. */
  otherCaCert: string;
}

export function makeTlsFiles(): TlsFiles {
  const dir = mkdtempSync(path.join(tmpdir(), 'rhha-tls-'));
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    ssl('req', '-x509', ...ec, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.crt`), '-subj', `/CN=rhha-test-${ca}`, '-days', '2');
  }
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    ssl('req', ...ec, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=rhha-test-${who}`);
    ssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f(`${who}.crt`), '-days', '2', '-extfile', f(`${who}.ext`));
  }
  return {
    dir,
    caCert: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    otherCaCert: f('other-ca.crt'),
  };
}

/** Polls the primary until `count` replicas are online and caught up. */
export async function waitForReplicas(primary: RedisServer, count: number, timeoutMs = 15_000): Promise<void> {
  const c = primary.client();
  const end = Date.now() + timeoutMs;
  for (;;) {
    const info = await c.info('replication').catch(() => '');
    const online = info.split('\n').filter((l) => /^slave\d+:.*state=online/.test(l)).length;
    if (online >= count) return;
    if (Date.now() > end) throw new Error(`only ${online} of ${count} replicas online:\n${info}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SentinelServer {
  port: number;
  /** The port clients and the other sentinels are told to use: `port`, or its slow proxy's. */
  announcedPort: number;
  proc: ChildProcess;
  client(): Redis;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real redis-sentinel on a free loopback port, monitoring `name` at 127.0.0.1:primaryPort with fast failover.
 * With `slowMs` it sits behind a proxy that delays each reply by that much, and announces the proxy's port,
 * so every path to it (from clients, and from the other sentinels) is slow.
 */
export async function startSentinel(o: {
  primaryPort: number;
  name: string;
  quorum?: number;
  downAfterMs?: number;
  slowMs?: number;
  /** Serve TLS only, and reach the (TLS) data nodes and the other sentinels over TLS. */
  tls?: TlsFiles;
}): Promise<SentinelServer> {
  const port = await freePort();
  const proxy = o.slowMs ? await slowProxy(port, o.slowMs) : null;
  const dir = mkdtempSync(path.join(tmpdir(), 'rhha-sentinel-'));
  const conf = path.join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file as it learns: it must be writable, and its own.
  writeFileSync(conf, [
    ...(o.tls
      ? ['port 0', `tls-port ${port}`, `tls-cert-file ${o.tls.serverCert}`, `tls-key-file ${o.tls.serverKey}`,
         `tls-ca-cert-file ${o.tls.caCert}`, 'tls-auth-clients optional', 'tls-replication yes']
      : [`port ${port}`]),
    'bind 127.0.0.1',
    `dir ${dir}`,
    'loglevel warning',
    `sentinel monitor ${o.name} 127.0.0.1 ${o.primaryPort} ${o.quorum ?? 2}`,
    `sentinel down-after-milliseconds ${o.name} ${o.downAfterMs ?? 500}`,
    `sentinel failover-timeout ${o.name} 2000`,
    `sentinel parallel-syncs ${o.name} 1`,
    ...(proxy ? ['sentinel announce-ip 127.0.0.1', `sentinel announce-port ${proxy.port}`] : []),
    '',
  ].join('\n'));
  const proc = spawn('redis-sentinel', [conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 10_000;
  while (!(await isListening(port))) {
    if (proc.exitCode !== null) throw new Error(`redis-sentinel exited with ${proc.exitCode}`);
    if (Date.now() > deadline) throw new Error(`redis-sentinel did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const clients: Redis[] = [];
  const s: SentinelServer = {
    port,
    announcedPort: proxy?.port ?? port,
    proc,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, tls: o.tls ? { ca: readFileSync(o.tls.caCert, 'utf8') } : undefined });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    },
    async close() {
      for (const c of clients) c.disconnect();
      proxy?.close();
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s;
}

/** What a sentinel knows about `name`: SENTINEL MASTER as an object. */
export async function sentinelView(s: SentinelServer, name: string): Promise<Record<string, string>> {
  const flat = (await s.client().call('SENTINEL', 'MASTER', name)) as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** Every lease event of namespace `ns`, parsed, from the moment this resolves on (a subscriber of its own). */
export async function recordLeaseEvents(redis: RedisServer, ns: string): Promise<unknown[]> {
  const events: unknown[] = [];
  const sub = redis.client();
  await sub.subscribe(leaseKeys(ns).events);
  sub.on('message', (_c, m: string) => events.push(parseEvent(m)));
  return events;
}
