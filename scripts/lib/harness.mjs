// Shared by the demo, the benchmark and the fault campaign: a redis-server on
// a free port, `ray-head-ha run` candidates with the stand-in head, a TCP
// proxy that can cut or black-hole one candidate's Redis connection, and a
// sampler that watches which heads are alive.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'bin/ray-head-ha.js');
export const STAND_IN = path.join(ROOT, 'test/fixtures/stand-in-head.mjs');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function isListening(port, host = '127.0.0.1', timeoutMs = 300) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** A redis-server without persistence; restartEmpty() keeps the port. */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'rhha-redis-'));
  const server = {
    port,
    address: `127.0.0.1:${port}`,
    proc: null,
    async start() {
      server.proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
      const end = Date.now() + 10_000;
      while (!(await isListening(port))) {
        if (Date.now() > end) throw new Error('redis-server did not start');
        await sleep(20);
      }
    },
    async stop() {
      const p = server.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGCONT');
      p.kill('SIGKILL');
      await gone;
    },
    async restartEmpty() {
      await server.stop();
      await server.start();
    },
    pause: () => server.proc.kill('SIGSTOP'),
    resume: () => server.proc.kill('SIGCONT'),
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

/**
 * A TCP proxy to Redis for one candidate. mode 'pass' forwards; reset()
 * destroys every open connection (a cut); blackhole(true) keeps them open but
 * drops every byte both ways (a partition), and refuses nothing.
 */
export async function startProxy(targetPort) {
  const port = await freePort();
  const pairs = new Set();
  let holed = false;
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('data', (d) => !holed && upstream.write(d));
    upstream.on('data', (d) => !holed && client.write(d));
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    address: `127.0.0.1:${port}`,
    reset() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy?.() ?? client.destroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    blackhole(on) {
      holed = on;
    },
    close() {
      this.reset();
      server.close();
    },
  };
}

/** A process's command line, words joined by spaces; '' when it is gone. */
export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** State letter of /proc/<pid>/stat ('Z' zombie), or null when gone. */
export function procState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2];
  } catch {
    return null;
  }
}
export const isAlive = (pid) => {
  const s = procState(pid);
  return s !== null && s !== 'Z';
};

/**
 * Watches the stand-in heads' records in `dir` (one JSON file per head).
 * Samples every `periodMs`; an overlap is any sample with two heads alive.
 */
export class HeadSampler {
  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'rhha-heads-'));
    this.known = new Map(); // pid -> record
    this.live = new Set(); // pids not yet seen dead
    this.overlapMs = 0;
    this.overlaps = [];
    this.samples = 0;
    this.lastSampleMs = null;
  }
  scan() {
    for (const f of readdirSync(this.dir)) {
      const pid = Number(f.replace('.json', ''));
      if (this.known.has(pid)) continue;
      try {
        const rec = JSON.parse(readFileSync(path.join(this.dir, f), 'utf8'));
        rec.firstSeenMs = nowMs();
        this.known.set(pid, rec);
        this.live.add(pid);
      } catch {
        /* being written: next tick */
      }
    }
    const alive = [];
    for (const pid of this.live) {
      if (isAlive(pid)) alive.push(this.known.get(pid));
      else {
        this.live.delete(pid);
        this.known.get(pid).diedMs = nowMs();
      }
    }
    return alive;
  }
  start(periodMs = 5) {
    this.timer = setInterval(() => {
      const t = nowMs();
      const alive = this.scan();
      this.samples++;
      if (alive.length > 1) {
        if (this.lastSampleMs !== null) this.overlapMs += t - this.lastSampleMs;
        this.overlaps.push({ atMs: t, pids: alive.map((r) => r.pid), candidates: alive.map((r) => r.candidate) });
      }
      this.lastSampleMs = t;
    }, periodMs);
  }
  alive() {
    return [...this.live].map((pid) => this.known.get(pid)).filter((r) => isAlive(r.pid));
  }
  /** Every pid (head, child, setsid daemon) of heads that died, still present (alive or zombie). */
  leftovers() {
    const dead = [...this.known.values()].filter((r) => !this.live.has(r.pid));
    return dead.flatMap((r) => [r.pid, r.grandchild, r.daemon]).filter((pid) => procState(pid) !== null);
  }
  close() {
    clearInterval(this.timer);
    for (const r of this.known.values()) for (const pid of [r.pid, r.grandchild, r.daemon]) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One `ray-head-ha run` with a stand-in head that serves its "GCS" on gcsPort. */
export function startCandidate({ id, redis, namespace, ttlMs, retryMs, gcsPort, headsDir, env = {}, args = [], stdio = 'ignore' }) {
  const proc = spawn(
    process.execPath,
    [CLI, 'run', '--id', id, '--namespace', namespace, '--ttl-ms', String(ttlMs), '--retry-ms', String(retryMs),
      '--gcs-address', `127.0.0.1:${gcsPort}`, ...args, '--', process.execPath, STAND_IN, String(gcsPort), ...(headsDir ? [headsDir] : [])],
    { env: { ...process.env, RAY_REDIS_ADDRESS: redis, RAY_HA_LOG_LEVEL: 'warn', ...env }, stdio },
  );
  const c = { id, proc, exit: null };
  c.exited = new Promise((r) => proc.once('exit', (code, signal) => r((c.exit = { code, signal }))));
  return c;
}

export function percentiles(xs) {
  if (xs.length === 0) return { n: 0, p50: null, p99: null, max: null };
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  const r = (x) => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(q(0.5)), p99: r(q(0.99)), max: r(s[s.length - 1]) };
}

/** A small seeded PRNG (mulberry32), so a campaign can be replayed with --seed. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
