// Real Ray on the lab, in the shape users run it: one host per head
// candidate, each running the user's command unchanged through the installed
// shim (`ray start --head --block --port=6379 --node-ip-address=<its own
// address> ...`, its own temp dir); Redis on its own host; HAProxy on a
// balancer host following the leader by /readyz; workers and drivers on worker
// hosts that reach the GCS, the dashboard and Ray Client only through the
// balancer. The lab's fault verbs are methods here.
//
// Used by test/e2e/lab-*.test.ts (typed by test/helpers/lab.ts),
// scripts/bench-ray.mjs and scripts/chaos-ray.mjs.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { cmdline as cmdlineOf } from '../lib/procs.mjs';
import { jobStatusOf } from '../lib/ray-job.mjs';
import { createLab } from './lab.mjs';
import { isListening, startHaproxy, startLabRedis } from './services.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const VENV_BIN = path.join(ROOT, '.venv', 'bin');
const PYTHON = path.join(VENV_BIN, 'python');
const PROBE = path.join(ROOT, 'scripts', 'lab', 'actor-probe.py');
const NODE_TABLE = path.join(ROOT, 'scripts', 'lab', 'node-table.py');
export const STEPS_JOB = path.join(ROOT, 'scripts', 'lab', 'steps-job.py');
// Ray's ports on a head, each also a frontend of the balancer (metrics: Ray's own, as KubeRay's head exposes it).
export const PORTS = { gcs: 6379, dashboard: 8265, client: 10001, metrics: 8080 };
export const HTTP_PORT = 8088;
const RAY_PROCESS = /gcs_server|raylet|dashboard\.py|dashboard\/agent\.py|log_monitor\.py|monitor\.py|runtime_env\/agent|\/ray start|default_worker\.py|ray::/;
// Not Ray: the pod's `unshare`, the orchestrator (`node .../ray-head-ha.js run -- ray start ...`) and its keeper.
const NOT_RAY = /^(\S*\/)?(unshare|ip|node|ray-head-ha-keeper)( |$)/;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs, stepMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** Ray processes among a list of command lines (head or worker: raylet, GCS, dashboard, agents, monitors, workers). */
export const rayProcesses = (commands) => commands.filter((c) => RAY_PROCESS.test(c) && !NOT_RAY.test(c));

/**
 * A standby's warm head still waiting for its go (docs/design.md, decision
 * 32): Ray's CLI imported, nothing of Ray started. Its stdin is the go pipe
 * until the go; a warm head that got it reads /dev/null and is a head.
 */
function waitingWarmHead(pid, cmd) {
  if (!/\/warm-head\.py /.test(cmd)) return false;
  try {
    return readlinkSync(`/proc/${pid}/fd/0`) !== '/dev/null';
  } catch {
    return false;
  }
}

function checkPrerequisites() {
  for (const [what, ok] of [
    ['dist/cli.js (npm run build:ts)', existsSync(path.join(ROOT, 'dist', 'cli.js'))],
    ['.venv/bin/ray (bash scripts/setup.sh --ray)', existsSync(path.join(VENV_BIN, 'ray'))],
    ['root (network and PID namespaces)', process.getuid?.() === 0],
  ]) {
    if (!ok) throw new Error(`ray lab: needs ${what}`);
  }
}

/**
 * Builds the lab and starts Redis and the balancer. Nothing of Ray runs yet:
 * startCandidate(), startWorker() and createActor() do that.
 * opts: candidates (2), workers (1), ttlMs (6000), retryMs (1000), env (extra for candidates), rayEnv (extra
 * for every Ray process: heads, stock heads, workers, drivers; Ray's own RAY_<setting> variables), keepWork,
 * persistentRedis (an append-only file: redisRestart() keeps the data).
 */
export async function startRayLab({ candidates = 2, workers = 1, ttlMs = 6000, retryMs = 1000, env: extraEnv = {}, rayEnv = {}, keepWork, persistentRedis = false } = {}) {
  checkPrerequisites();
  const { installShim } = await import('../../dist/ray/install-shim.js');
  const candNames = Array.from({ length: candidates }, (_, i) => `c${i + 1}`);
  const workerNames = Array.from({ length: workers }, (_, i) => `w${i + 1}`);
  const lab = createLab({ hosts: ['redis', 'lb', ...candNames, ...workerNames], keepWork });
  let redisClient = null;
  try {
    const shimDir = path.join(lab.workDir, 'bin');
    installShim({ binDir: shimDir, searchPath: [shimDir, VENV_BIN].join(path.delimiter) });
    let dataDir = null;
    if (persistentRedis) mkdirSync((dataDir = path.join(lab.workDir, 'redis-data')));
    const redis = await startLabRedis(lab.host('redis'), { dataDir });
    const balancer = await startHaproxy(lab.host('lb'), {
      ports: PORTS,
      servers: candNames.map((n) => ({ name: n, address: lab.host(n).address })),
      checkPort: HTTP_PORT,
      workDir: lab.workDir,
    });
    redisClient = new Redis({ host: redis.host.address, port: redis.port, maxRetriesPerRequest: 1, lazyConnect: true });
    redisClient.on('error', () => {});
    return rayLab({ lab, shimDir, redis, balancer, redisClient, candNames, workerNames, ttlMs, retryMs, extraEnv, rayEnv });
  } catch (e) {
    redisClient?.disconnect();
    lab.close();
    throw e;
  }
}

function rayLab({ lab, shimDir, redis, balancer, redisClient, candNames, workerNames, ttlMs, retryMs, extraEnv, rayEnv }) {
  const ns = `lab-${lab.id}`;
  const gcsAddress = `${balancer.address}:${PORTS.gcs}`;
  const pods = new Map(); // host name -> current pod
  let serial = 0;
  const runDir = path.join(lab.workDir, 'run');
  mkdirSync(runDir, { mode: 0o700 });

  function baseEnv(extra = {}) {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('RAY_') || k === 'REDIS_PASSWORD') delete env[k];
    Object.assign(env, { PATH: [shimDir, VENV_BIN, process.env.PATH].join(path.delimiter), RAY_USAGE_STATS_ENABLED: '0', PYTHONUNBUFFERED: '1' }, rayEnv, extra);
    for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
    return env;
  }

  /** `argv` in a host's network namespace (no pod of its own: a driver or a CLI), with the lab's Ray environment; stdout and stderr piped. */
  function onHost(name, argv, stdin = 'pipe') {
    return spawn('ip', ['netns', 'exec', lab.host(name).ns, ...argv], { env: baseEnv(), stdio: [stdin, 'pipe', 'pipe'] });
  }

  /** A fresh temp dir per pod incarnation, as a restarted pod has; short (Ray's socket paths must fit 107 bytes). */
  function podTemp(name) {
    const dir = path.join(lab.workDir, `${name}-${serial++}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  const headArgs = (host, temp) => [
    'ray', 'start', '--head', '--block', `--port=${PORTS.gcs}`, `--node-ip-address=${host.address}`,
    '--dashboard-host=0.0.0.0', `--dashboard-port=${PORTS.dashboard}`, `--ray-client-server-port=${PORTS.client}`,
    `--metrics-export-port=${PORTS.metrics}`, '--num-cpus=0', `--temp-dir=${temp}`, '--disable-usage-stats',
  ];

  const self = {
    lab,
    redis,
    balancer,
    redisClient,
    namespace: ns,
    gcsAddress,
    candidates: candNames,
    workers: workerNames,
    pods,
    host: (name) => lab.host(name),
    baseEnv,
    onHost,
    haEnv(name, extra = {}) {
      return baseEnv({
        RAY_ENABLE_HEAD_HA: 'true',
        RAY_REDIS_ADDRESS: redis.address,
        RAY_external_storage_namespace: ns,
        RAY_HA_CANDIDATE_ID: name,
        RAY_HA_KEY_EXPIRE_TIME_MS: String(ttlMs),
        RAY_HA_CHECK_INTERVAL_MS: String(retryMs),
        RAY_HA_HTTP_ADDRESS: `${lab.host(name).address}:${HTTP_PORT}`,
        // Candidates' pidfiles (for `ray stop` through the shim) in the lab, not in the machine's /tmp.
        RAY_HA_RUN_DIR: runDir,
        ...extraEnv,
        ...extra,
      });
    },
    /** The user's command, unchanged, through the shim, on the candidate's host (a new pod, a new temp dir). */
    async startCandidate(name, { env = {}, args = [] } = {}) {
      const host = lab.host(name);
      const temp = podTemp(name);
      const pod = await host.spawn(`${name}-${serial}`, [...headArgs(host, temp), ...args], { env: self.haEnv(name, env) });
      pod.tempDir = temp;
      pods.set(name, pod);
      return pod;
    },
    /** A stock head (no HA: the shim passes it to Ray as is), same GCS fault tolerance in Redis. */
    async startStockHead(name) {
      const host = lab.host(name);
      const temp = podTemp(`${name}s`);
      const pod = await host.spawn(`${name}-stock-${serial}`, headArgs(host, temp), {
        env: baseEnv({ RAY_REDIS_ADDRESS: redis.address, RAY_external_storage_namespace: ns }),
      });
      pod.tempDir = temp;
      pods.set(name, pod);
      return pod;
    },
    /**
     * For a stock head: what a Service's TCP readiness probe gives it, served
     * where the balancer checks (/readyz on HTTP_PORT): 200 while the host's
     * GCS port accepts. Runs on the host until its pods are killed.
     */
    async startTcpReadiness(name) {
      const host = lab.host(name);
      const code = `const net=require('net');require('http').createServer((q,r)=>{const s=net.connect(${PORTS.gcs},'${host.address}');` +
        `const t=setTimeout(()=>{s.destroy();r.writeHead(503).end()},300);s.on('connect',()=>{clearTimeout(t);s.destroy();r.writeHead(200).end()});` +
        `s.on('error',()=>{clearTimeout(t);r.writeHead(503).end()})}).listen(${HTTP_PORT},'${host.address}')`;
      return host.spawn(`${name}-tcp-readiness-${serial++}`, [process.execPath, '-e', code]);
    },
    /** A worker node that reaches the GCS through the balancer. */
    async startWorker(name = workerNames[0], { env = {} } = {}) {
      const host = lab.host(name);
      const temp = podTemp(name);
      const pod = await host.spawn(`${name}-${serial}`, [
        'ray', 'start', `--address=${gcsAddress}`, '--block', `--node-ip-address=${host.address}`, '--num-cpus=1',
        '--resources={"worker": 1}', `--temp-dir=${temp}`, '--disable-usage-stats',
      ], { env: baseEnv({ RAY_gcs_rpc_server_reconnect_timeout_s: '60', ...env }) });
      pod.tempDir = temp;
      pods.set(name, pod);
      return pod;
    },
    async leaseHolder() {
      try {
        const v = await redisClient.get(`ray-head-ha:{${ns}}:lease`);
        return v ? { id: v.split('#')[0], epoch: Number(v.split('#')[1]) } : null;
      } catch {
        return null;
      }
    },
    /** Hosts that run a live gcs_server (a split brain is two of them). */
    gcsHosts: () => candNames.filter((n) => lab.host(n).commands().some((c) => c.includes('gcs_server'))),
    /** Ray processes still on a host. */
    // Not the shim either: as the pod's PID 1 it stays as the init (`<python> <shimDir>/ray start ...`)
    // while the candidate runs; the head's own `ray start` is the real one from the venv.
    // Nor a standby's warm head that waits for its go.
    rayProcessesOn: (name) => rayProcesses(lab.host(name).pids().map((p) => [p, cmdlineOf(p)])
      .filter(([p, c]) => !c.split(' ')[1]?.startsWith(`${shimDir}${path.sep}`) && !waitingWarmHead(p, c))
      .map(([, c]) => c)),
    gcsListeningOn: (name) => isListening(PORTS.gcs, lab.host(name).address),
    gcsThroughBalancer: () => isListening(PORTS.gcs, balancer.address),
    /** Which candidate servers the balancer routes to ('UP'), for the GCS frontend. */
    async balancerUp() {
      const states = await balancer.serverStates();
      return Object.entries(states.gcs ?? {}).filter(([, s]) => s === 'UP').map(([n]) => n);
    },
    async readyz(name) {
      try {
        const res = await fetch(`http://${lab.host(name).address}:${HTTP_PORT}/readyz`, { signal: AbortSignal.timeout(1000) });
        return res.status;
      } catch {
        return null;
      }
    },
    /** The orchestrator's JSON log lines of the host's current pod. */
    events(name) {
      const pod = pods.get(name);
      if (!pod) return [];
      let text = '';
      try {
        text = readFileSync(pod.logFile, 'utf8');
      } catch {
        return [];
      }
      return text.split('\n').filter((l) => l.startsWith('{')).flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      });
    },
    /** True once the host's current `ray start` printed that it runs (every head process launched, its node registered). */
    rayStarted(name) {
      const pod = pods.get(name);
      try {
        return readFileSync(pod.logFile, 'utf8').includes('Ray runtime started');
      } catch {
        return false;
      }
    },
    /** Waits until the host's current candidate logged that it stands by. */
    waitStandby(name, timeoutMs = 120_000) {
      return waitFor(`${name} to stand by`, () => self.events(name).some((e) => /-> standby$/.test(e.msg)), timeoutMs, 100);
    },
    logTail(name, n = 40) {
      const pod = pods.get(name);
      try {
        return readFileSync(pod.logFile, 'utf8').split('\n').slice(-n).join('\n');
      } catch {
        return '';
      }
    },

    // ---- drivers, on a worker host ----

    /** Starts a probe driver on the worker host; see actor-probe.py. Returns { proc, next(), go(), stop() }. */
    probe(mode, { deadlineS = 120, waitGo = false, worker = workerNames[0], workers } = {}) {
      const host = lab.host(worker);
      const flags = [...(waitGo ? ['--wait-go'] : []), ...(workers ? [`--workers=${workers}`] : [])];
      const proc = onHost(worker, [PYTHON, PROBE, gcsAddress, mode, String(deadlineS), host.address, ...flags]);
      let stderr = '';
      const errLog = createWriteStream(path.join(lab.workDir, `probe-${mode}-${serial++}.log`));
      proc.stderr.on('data', (d) => {
        stderr = (stderr + d).slice(-4000);
        errLog.write(d);
      });
      let exit = null;
      proc.once('exit', (code, signal) => {
        exit = { code, signal };
        errLog.end();
      });
      const lines = readline.createInterface({ input: proc.stdout });
      const queue = [];
      let wake = null;
      lines.on('line', (l) => {
        queue.push(l);
        wake?.();
      });
      const exited = new Promise((r) => proc.once('exit', r));
      /** The probe's next JSON line (Ray's own chatter skipped). */
      const next = async () => {
        for (;;) {
          while (queue.length) {
            const l = queue.shift();
            if (!l.startsWith('{')) continue;
            try {
              return JSON.parse(l);
            } catch {
              /* not ours */
            }
          }
          const more = new Promise((r) => (wake = r));
          const gone = await Promise.race([more.then(() => false), exited.then(() => true)]);
          if (gone && !queue.length) return { error: `probe exited (${JSON.stringify(exit)}) without a result: ${stderr.slice(-1500)}` };
        }
      };
      return {
        proc,
        next,
        /** --wait-go: the fault happened, start now. */
        go: () => proc.stdin.write('go\n'),
        /** watch: stop calling and report. */
        stop: () => proc.stdin.end(),
        kill: () => proc.kill('SIGKILL'),
      };
    },
    /**
     * Ray's job CLI on a worker host, against the dashboard through the
     * balancer, as a user runs it: `ray job VERB --address http://<balancer>:8265 ARGS...`.
     * Resolves with its exit code and output (stdout and stderr).
     */
    jobCli(verb, args = [], { worker = workerNames[0], timeoutMs = 60_000 } = {}) {
      return new Promise((resolve) => {
        const proc = onHost(worker, [path.join(VENV_BIN, 'ray'), 'job', verb, '--address', `http://${balancer.address}:${PORTS.dashboard}`, ...args], 'ignore');
        let output = '';
        proc.stdout.on('data', (d) => (output += d));
        proc.stderr.on('data', (d) => (output += d));
        const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        proc.once('close', (code) => {
          clearTimeout(timer);
          resolve({ code, output });
        });
      });
    },
    /** A job's status as `ray job status` prints it (RUNNING, SUCCEEDED, ...), or null when it cannot tell. */
    async jobStatus(id, opts) {
      return jobStatusOf((await self.jobCli('status', [id], opts)).output);
    },
    /**
     * Watches Ray's node table through the balancer (or `address`, a
     * candidate's own GCS) from a worker host (node-table.py): `changes` holds every change seen ({at, nodes} or
     * {at, error}); `stop()` ends it. Resolves once it runs.
     */
    async nodeTable({ worker = workerNames[0], address = gcsAddress } = {}) {
      const proc = onHost(worker, [PYTHON, NODE_TABLE, address]);
      // stop() after the host's processes were killed: the pipe is gone, nothing to tell.
      proc.stdin.on('error', () => {});
      const changes = [];
      let stderr = '';
      proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
      const lines = readline.createInterface({ input: proc.stdout });
      const ready = new Promise((resolve, reject) => {
        lines.on('line', (l) => {
          let v;
          try {
            v = JSON.parse(l);
          } catch {
            return;
          }
          if (v.ready) resolve();
          else changes.push(v);
        });
        proc.once('exit', (code) => reject(new Error(`node-table.py exited ${code}: ${stderr}`)));
      });
      await ready;
      return {
        changes,
        /** The latest node list (null while the GCS does not answer). */
        latest: () => changes.at(-1)?.nodes ?? null,
        stop: () => {
          proc.stdin.end();
          setTimeout(() => proc.kill('SIGKILL'), 2000).unref();
        },
      };
    },
    /** Creates the detached actor (value 1) through the balancer. */
    async createActor() {
      const r = await self.probe('create', { deadlineS: 120 }).next();
      if (r.value !== 1) throw new Error(`ray lab: actor not created: ${JSON.stringify(r)}`);
      return r;
    },
    /** Starts a probe that waits for go(); resolves once Ray is imported and it is ready. */
    async readyProbe(mode = 'incr', opts = {}) {
      const p = self.probe(mode, { ...opts, waitGo: mode !== 'watch' && mode !== 'tasks' });
      const ready = await p.next();
      if (!ready.ready) throw new Error(`probe did not get ready: ${JSON.stringify(ready)}`);
      return p;
    },

    // ---- the lab's fault verbs ----

    /** Head crash: SIGKILL the host's gcs_server (its `ray start` and the orchestrator are left to notice); false when none runs. */
    headCrash(name) {
      const pid = lab.host(name).pids().find((p) => cmdlineOf(p).includes('gcs_server'));
      if (!pid) return false;
      process.kill(pid, 'SIGKILL');
      return true;
    },
    /** SIGKILL of the orchestrator alone (`ray-head-ha run`): an OOM kill; its keeper and head are left to the keeper. */
    orchestratorKill(name) {
      const pid = lab.host(name).pids().find((p) => /ray-head-ha(\.js)? run( |$)/.test(cmdlineOf(p)));
      if (!pid) return false;
      process.kill(pid, 'SIGKILL');
      return true;
    },
    /** iptables drops everything but loopback on the host; its processes keep running. */
    partition: (name) => lab.host(name).partition(),
    heal: (name) => lab.host(name).heal(),
    /** Host death: link cut first (no FIN or RST reaches anyone), then SIGKILL every process on it. */
    hostDeath(name) {
      const host = lab.host(name);
      host.linkDown();
      host.killAll();
      pods.delete(name);
    },
    /** The dead host's link back (a new machine with the same address), nothing running. */
    revive: (name) => lab.host(name).linkUp(),
    /** Pod kill: SIGKILL every process on the host, link kept. */
    podKill(name) {
      lab.host(name).killAll();
      pods.delete(name);
    },
    /** Graceful stop, as the kubelet does it: SIGTERM to the `ray start` process (the pod's init). */
    gracefulStop: (name) => pods.get(name)?.signalInit('SIGTERM'),
    redisRestartEmpty: () => redis.restartEmpty(),
    redisRestart: () => redis.restart(),
    redisPause: () => redis.pause(),
    redisResume: () => redis.resume(),
    /** As the kubelet restarts a container: whatever is left is killed, the same command in a new pod with a new temp dir. */
    async restartCandidate(name, opts) {
      lab.host(name).killAll();
      return self.startCandidate(name, opts);
    },

    close() {
      redisClient.disconnect();
      lab.close();
    },
  };
  return self;
}
