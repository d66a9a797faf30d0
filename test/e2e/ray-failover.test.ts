/**
 * Head HA on real Ray (the .venv's `ray`), through the shim, on one machine:
 * Redis, two head candidates as "pods" (own PID namespace each, same GCS port,
 * own --temp-dir), one worker pod, a detached actor on the worker.
 *   1. SIGKILL every process of the leader's pod → the standby takes over, the
 *      actor answers with its state, the dashboard answers;
 *   2. the dead candidate starts again → standby;
 *   3. SIGTERM the leader → graceful handover, the actor answers again;
 *   4. RAY_ENABLE_HEAD_HA unset → the shim is stock `ray start --head`.
 * Timings are printed (seconds from the fault): lease, GCS port, actor.
 * Needs dist/ (npm run build:ts), unshare (util-linux) and root for PID namespaces.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { installShim } from '../../src/ray/install-shim.js';
import { nodeIpRayWouldPick } from '../../src/ray/node-ip.js';
import { startPod, waitFor, type Pod } from '../helpers/pods.js';
import { freePort, isListening } from '../helpers/ports.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const VENV_BIN = path.join(ROOT, '.venv', 'bin');
const PROBE = path.join(ROOT, 'test', 'fixtures', 'ray-actor-probe.py');
const CLI = path.join(ROOT, 'bin', 'ray-head-ha.js');
const NS = `e2e-${process.pid}`;
const TTL_MS = 6000;
const RETRY_MS = 1000;

let work: string;
let shimDir: string;
let redis: RedisServer;
let rc: Redis;
let gcsPort: number;
let dashPort: number;
let nodeIp: string;
let workerTemp: string;
const pods = new Map<string, Pod>();
const timings: Record<string, number> = {};
let failed = false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['RAY_ENABLE_HEAD_HA'];
  delete env['RAY_ADDRESS'];
  Object.assign(env, { PATH: [shimDir, VENV_BIN, process.env['PATH']].join(path.delimiter), RAY_USAGE_STATS_ENABLED: '0' }, extra);
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

function haEnv(id: string): NodeJS.ProcessEnv {
  return baseEnv({
    RAY_ENABLE_HEAD_HA: 'true',
    RAY_REDIS_ADDRESS: redis.address,
    RAY_external_storage_namespace: NS,
    RAY_HA_CANDIDATE_ID: id,
    RAY_HA_KEY_EXPIRE_TIME_MS: String(TTL_MS),
    RAY_HA_CHECK_INTERVAL_MS: String(RETRY_MS),
    RAY_HA_WAIT_PRE_GCS_STOP_MAX_TIME_MS: '30000',
  });
}

function headArgs(tempDir: string, port = gcsPort, dash = dashPort): string[] {
  return [
    'ray', 'start', '--head', '--block', `--port=${port}`, `--dashboard-port=${dash}`,
    '--num-cpus=0', `--temp-dir=${tempDir}`, '--disable-usage-stats',
  ];
}

async function startCandidate(id: string): Promise<Pod> {
  const temp = path.join(work, `temp-${id}`);
  mkdirSync(temp, { recursive: true });
  const pod = await startPod(id, headArgs(temp), haEnv(id), path.join(work, `${id}.log`));
  pods.set(id, pod);
  return pod;
}

async function leaseHolder(): Promise<string | null> {
  const v = await rc.get(`ray-head-ha:{${NS}}:lease`);
  return v ? v.split('#')[0]! : null;
}

function headProcesses(pod: Pod): string[] {
  return pod.commands().filter((c) => /gcs_server|raylet|dashboard\.py|ray start/.test(c));
}

/** Runs the actor probe: a fresh Ray driver, retrying until `deadlineS`. */
async function probeAsync(mode: 'create' | 'incr', deadlineS: number) {
  return new Promise<{ value?: number; error?: string; seconds: number }>((resolve) => {
    execFile(path.join(VENV_BIN, 'python'), [PROBE, `${nodeIp}:${gcsPort}`, mode, String(deadlineS), workerTemp], {
      env: baseEnv(),
      timeout: (deadlineS + 30) * 1000,
    }, (_err, stdout, stderr) => {
      // The probe's one JSON line; Ray may print after it (the raylet's "node marked dead" notices reach every driver).
      const line = stdout.split('\n').reverse().find((l) => l.startsWith('{"')) ?? '';
      try {
        resolve(JSON.parse(line));
      } catch {
        resolve({ error: `probe printed ${JSON.stringify(stdout.slice(-500))}, stderr ${stderr.slice(-1500)}`, seconds: -1 });
      }
    });
  });
}

function statusJson(): { leader: { id: string; gcsAddress: string | null; dashboardUrl?: string | null } | null } {
  const r = spawnSync(process.execPath, [CLI, 'status', '--json'], { encoding: 'utf8', env: haEnv('status'), timeout: 20_000 });
  if (r.status !== 0) throw new Error(`status --json exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function dashboardAnswers(): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${dashPort}/api/version`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

function tail(file: string, n = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build:ts` first');
  work = mkdtempSync(path.join(tmpdir(), 'rhha-e2e-'));
  shimDir = path.join(work, 'bin');
  installShim({ binDir: shimDir, searchPath: [shimDir, VENV_BIN].join(path.delimiter) });
  redis = await startRedis();
  rc = redis.client();
  // Ray's worker ports are 10002-19999 by default; the OS's ephemeral ports are above them.
  gcsPort = await freePort();
  dashPort = await freePort();
  nodeIp = nodeIpRayWouldPick();
  workerTemp = path.join(work, 'temp-worker');
}, 30_000);

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  for (const pod of pods.values()) await pod.kill().catch(() => {});
  console.log(`e2e timings (s): ${JSON.stringify(timings)}`);
  await redis?.close();
  // Keep the pods' logs and Ray's session dirs of a failed run.
  if (failed) console.log(`e2e: logs kept in ${work}`);
  else if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe.sequential('head HA on real Ray', () => {
  it('cand-a leads, cand-b stands by, a worker joins, a detached actor lives on the worker', async () => {
    const t0 = Date.now();
    const a = await startCandidate('cand-a');
    await waitFor('cand-a to hold the lease', async () => (await leaseHolder()) === 'cand-a', 30_000);
    await waitFor('the GCS of cand-a', () => isListening(gcsPort), 60_000, 100);
    timings['firstHeadGcsUp'] = (Date.now() - t0) / 1000;
    const b = await startCandidate('cand-b');
    await sleep(3 * RETRY_MS);
    expect(await leaseHolder()).toBe('cand-a');
    expect(b.pids().length, tail(b.logFile)).toBeGreaterThan(0);
    expect(headProcesses(b).filter((c) => /gcs_server|raylet/.test(c))).toEqual([]);

    const worker = await startPod('worker', [
      'ray', 'start', `--address=${nodeIp}:${gcsPort}`, '--block', '--num-cpus=1', '--resources={"worker": 1}',
      `--temp-dir=${workerTemp}`, `--dashboard-agent-listen-port=${await freePort()}`, '--min-worker-port=0', '--max-worker-port=0',
      '--disable-usage-stats',
    ], baseEnv({ RAY_ENABLE_HEAD_HA: 'true', RAY_gcs_rpc_server_reconnect_timeout_s: '60' }), path.join(work, 'worker.log'));
    pods.set('worker', worker);
    const created = await probeAsync('create', 90);
    expect(created, tail(worker.logFile)).toMatchObject({ value: 1 });
    // What a fresh driver costs when nothing fails, to read the failover numbers against.
    const t1 = Date.now();
    expect(await probeAsync('incr', 60)).toMatchObject({ value: 2 });
    timings['probeBaseline'] = (Date.now() - t1) / 1000;
    // The shim handed only the head to the orchestrator: the worker is plain Ray.
    expect(worker.commands().some((c) => c.includes('ray-head-ha'))).toBe(false);
    expect(a.commands().some((c) => c.includes('ray-head-ha.js run'))).toBe(true);

    const status = statusJson();
    expect(status.leader?.id).toBe('cand-a');
    expect(status.leader?.gcsAddress).toBe(`${nodeIp}:${gcsPort}`);
  }, 180_000);

  it('SIGKILL of every process of the leader: cand-b takes over, the actor keeps its state', async () => {
    const a = pods.get('cand-a')!;
    const t0 = Date.now();
    const probing = probeAsync('incr', 120);
    await a.kill();
    timings['killToAllDead'] = (Date.now() - t0) / 1000;
    await waitFor('cand-b to hold the lease', async () => (await leaseHolder()) === 'cand-b', TTL_MS + 10_000, 10);
    timings['killToLease'] = (Date.now() - t0) / 1000;
    await waitFor('the GCS of cand-b', () => isListening(gcsPort), 60_000, 50);
    timings['killToGcsUp'] = (Date.now() - t0) / 1000;
    const r = await probing;
    timings['killToActorAnswers'] = (Date.now() - t0) / 1000;
    expect(r, `probe: ${JSON.stringify(r)}\n${tail(pods.get('cand-b')!.logFile)}`).toMatchObject({ value: 3 });
    await waitFor('the dashboard on cand-b', dashboardAnswers, 60_000, 200);
    timings['killToDashboard'] = (Date.now() - t0) / 1000;
    expect(statusJson().leader?.id).toBe('cand-b');
  }, 180_000);

  it('the killed candidate starts again and stays a standby', async () => {
    const a = await startCandidate('cand-a');
    await sleep(4 * RETRY_MS);
    expect(await leaseHolder()).toBe('cand-b');
    expect(a.pids().length, tail(a.logFile)).toBeGreaterThan(0);
    expect(headProcesses(a).filter((c) => /gcs_server|raylet/.test(c))).toEqual([]);
  }, 60_000);

  it('SIGTERM to the leader: a graceful handover to cand-a, the actor answers again', async () => {
    const b = pods.get('cand-b')!;
    const t0 = Date.now();
    const probing = probeAsync('incr', 120);
    b.signalInit('SIGTERM');
    await waitFor('cand-a to hold the lease', async () => (await leaseHolder()) === 'cand-a', 30_000, 10);
    timings['termToLease'] = (Date.now() - t0) / 1000;
    const exit = await b.exited;
    timings['termToOldCandidateExit'] = (Date.now() - t0) / 1000;
    expect(exit, tail(b.logFile)).toEqual({ code: 0, signal: null });
    expect(b.pids()).toEqual([]);
    await waitFor('the GCS of cand-a', () => isListening(gcsPort), 60_000, 50);
    timings['termToGcsUp'] = (Date.now() - t0) / 1000;
    const r = await probing;
    timings['termToActorAnswers'] = (Date.now() - t0) / 1000;
    expect(r, `probe: ${JSON.stringify(r)}\n${tail(pods.get('cand-a')!.logFile)}`).toMatchObject({ value: 4 });
    expect(statusJson().leader?.id).toBe('cand-a');
    pods.delete('cand-b');
  }, 180_000);
});

describe.sequential('HA off: the shim is stock Ray', () => {
  it('`ray start --head --block` through the shim is Ray itself: same process, same exit code on SIGTERM', async () => {
    for (const pod of pods.values()) await pod.kill();
    pods.clear();
    const results: Array<{ via: string; code: number | null; signal: string | null; init: string }> = [];
    for (const via of ['shim', 'stock']) {
      const temp = path.join(work, `temp-off-${via}`);
      const port = await freePort();
      const args = headArgs(temp, port, await freePort());
      if (via === 'stock') args[0] = path.join(VENV_BIN, 'ray');
      // Ray drains a SIGTERMed node for up to 30 s (RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S); both runs skip it alike.
      const env = baseEnv({ RAY_REDIS_ADDRESS: undefined, RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S: '0' });
      const pod = await startPod(`off-${via}`, args, env, path.join(work, `off-${via}.log`));
      pods.set(pod.name, pod);
      await waitFor(`the ${via} head to start`, () => readFileSync(pod.logFile, 'utf8').includes('Ray runtime started'), 60_000, 100);
      const init = readFileSync(`/proc/${pod.initPid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ');
      pod.signalInit('SIGTERM');
      const exit = await pod.exited;
      results.push({ via, ...exit, init });
      pods.delete(pod.name);
      await pod.kill();
    }
    // The shim exec'd the real ray (python running .venv/bin/ray), no orchestrator in between.
    expect(results[0]!.init).toBe(`${path.join(VENV_BIN, 'python3')} ${path.join(VENV_BIN, 'ray')} start`);
    expect({ code: results[0]!.code, signal: results[0]!.signal }).toEqual({ code: results[1]!.code, signal: results[1]!.signal });
    // Stock Ray's own code for a SIGTERMed `ray start --block` (node.py: sys.exit(1)).
    expect(results[1]!.code).toBe(1);
  }, 120_000);
});
