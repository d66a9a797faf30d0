// The scripts' harness (demo, benchmark, fault campaigns): one import for
// the shared parts, which the tests use too through test/helpers/ (net.mjs,
// procs.mjs, head-sampler.mjs, candidates.mjs), plus a redis-server on a free
// port, the stand-in candidate with its timing, percentiles and a seeded PRNG.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startCandidate, standInCommand } from './candidates.mjs';
import { freePort, isListening } from './net.mjs';
import { sleep } from './procs.mjs';

export { CLI, ROOT, STAND_IN, killAllCandidates, standInCommand, startCandidate } from './candidates.mjs';
export { HeadSampler } from './head-sampler.mjs';
export { freePort, isListening, startProxy } from './net.mjs';
export { cmdline, freeze, freezeTree, isAlive, isDead, killQuietly, nowMs, procState, sleep } from './procs.mjs';

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

/** A candidate with the stand-in head, timed by ttlMs/retryMs, its "GCS" on 127.0.0.1:gcsPort; output to stdio ('ignore' by default). */
export function startStandInCandidate({ id, redis, namespace, ttlMs, retryMs, gcsPort, headsDir, env = {}, args = [], stdio = 'ignore' }) {
  return startCandidate({
    id,
    redis,
    namespace,
    args: ['--ttl-ms', String(ttlMs), '--retry-ms', String(retryMs), '--gcs-address', `127.0.0.1:${gcsPort}`, ...args],
    env: { RAY_HA_LOG_LEVEL: 'warn', ...env },
    command: standInCommand(gcsPort, headsDir),
    stdio,
  });
}

/** The median of the numbers in xs (the mean of the middle two for an even count, to 0.001), null when there are none. */
export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : Math.round(((v[v.length / 2 - 1] + v[v.length / 2]) / 2) * 1000) / 1000;
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
