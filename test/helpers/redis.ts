/**
 * A real redis-server for tests, on a free loopback port, with no persistence.
 * Each test file starts its own (or shares one and uses its own namespace).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, isListening } from './ports.js';

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

export async function startRedis(opts: { port?: number; args?: string[] } = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(path.join(tmpdir(), 'rhha-redis-'));
  const clients: Redis[] = [];
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    proc: undefined as unknown as ChildProcess,
    client() {
      const c = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1 });
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
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--save', '',
          '--appendonly', 'no',
          '--dir', dir,
          '--loglevel', 'warning',
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
