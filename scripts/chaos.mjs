#!/usr/bin/env node
// Breaks a running local cluster (scripts/local-cluster.mjs) on demand, on
// its current leader unless --target names a candidate.
//
//   node scripts/chaos.mjs <action> [--cluster <workdir>/cluster.json] [--target ID] [--wait] [--json]
//
//   leader          print who leads (id, epoch, pid)
//   kill            SIGKILL the leader's orchestrator (a pod dies)
//   stop            SIGSTOP it (a frozen process: its keeper still kills the head at the deadline)
//   cont            SIGCONT every stopped candidate (or --target)
//   head-kill       SIGKILL the leader's head (the pid its log gave in 'head started')
//   cut             reset the leader's Redis connection (through its proxy)
//   blackhole       drop every byte between the leader and Redis, both ways, until heal
//   heal            undo blackhole (every black-holed candidate, or --target)
//   redis-restart   SIGKILL Redis and start it again, empty, on the same port
//
// Signals go straight to the pids in cluster.json (checked against
// /proc/<pid>/cmdline first). The proxies and Redis are local-cluster's
// children, so cut, blackhole, heal and redis-restart are asked of it over its
// control endpoint (cluster.json's "control": POST /fault/<action>?target=ID).
// Every fault is appended to faults.log, where trace.mjs finds it.
// --wait: then wait for a leader with a later epoch and print how long it took.
// --cluster defaults to $RAY_HA_CLUSTER, else the newest running
// $TMPDIR/ray-head-ha-cluster-*/cluster.json.
import { chalk, fs, minimist, sleep } from 'zx';
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cmdline, procState } from './lib/harness.mjs';
import { parseLogText } from './lib/timeline.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ACTIONS = ['leader', 'kill', 'stop', 'cont', 'head-kill', 'cut', 'blackhole', 'heal', 'redis-restart'];
const argv = minimist(process.argv.slice(2), { string: ['cluster', 'target', 'timeout-ms'], boolean: ['wait', 'json', 'help'] });
const action = String(argv._[0] ?? '');
if (argv.help || !ACTIONS.includes(action)) {
  console.error(`usage: node scripts/chaos.mjs ${ACTIONS.join('|')} [--cluster FILE] [--target ID] [--wait] [--json]`);
  process.exit(argv.help ? 0 : 2);
}
const fail = (text) => {
  console.error(chalk.red(`chaos: ${text}`));
  process.exit(1);
};

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
function findCluster() {
  if (argv.cluster) return path.resolve(argv.cluster);
  if (process.env.RAY_HA_CLUSTER) return path.resolve(process.env.RAY_HA_CLUSTER);
  const found = readdirSync(tmpdir())
    .filter((d) => d.startsWith('ray-head-ha-cluster-'))
    .map((d) => path.join(tmpdir(), d, 'cluster.json'))
    .filter((f) => fs.existsSync(f))
    .map((f) => ({ f, mtime: statSync(f).mtimeMs, doc: JSON.parse(readFileSync(f, 'utf8')) }))
    .filter((x) => !x.doc.stopping && pidAlive(x.doc.pid))
    .sort((a, b) => b.mtime - a.mtime);
  if (found.length === 0) fail('no running local cluster found: start one with `node scripts/local-cluster.mjs`, or give --cluster');
  return found[0].f;
}
const clusterFile = findCluster();
function readCluster() {
  try {
    return JSON.parse(readFileSync(clusterFile, 'utf8'));
  } catch (err) {
    return fail(`cannot read ${clusterFile}: ${err.code === 'ENOENT' ? 'no such file (is the cluster running?)' : err.message}`);
  }
}
let cluster = readCluster();
if (cluster.stopping || !pidAlive(cluster.pid)) fail(`the cluster in ${clusterFile} is not running`);

const { Redis } = await import('ioredis');
const { readStatus } = await import(path.join(ROOT, 'dist/status.js'));
const [host, port] = [cluster.redis.address.slice(0, cluster.redis.address.lastIndexOf(':')), Number(cluster.redis.address.split(':').pop())];
const redis = new Redis({ host, port, maxRetriesPerRequest: 1, connectTimeout: 1000, retryStrategy: () => 200, lazyConnect: true });
redis.on('error', () => {});
const status = () => readStatus(redis, cluster.namespace).catch(() => null);

/** The candidate a signal goes to, with its pid checked against /proc (pids get reused). */
function candidate(id) {
  cluster = readCluster();
  const c = cluster.candidates.find((x) => x.id === id);
  if (!c) fail(`no candidate ${id} in ${clusterFile}`);
  if (!c.pid) fail(`${id} is not running (${c.exit ?? 'no pid'})`);
  if (!cmdline(c.pid).includes(`--id ${id} `)) fail(`pid ${c.pid} is no longer ${id}'s orchestrator`);
  return c;
}
/** The current leader, waiting up to 3 ttl for one (a takeover may be under way). */
async function leader() {
  const end = Date.now() + cluster.ttlMs * 3;
  for (;;) {
    const s = await status();
    if (s?.leader) return s.leader;
    if (Date.now() > end) fail(s ? 'no leader now' : `Redis (${cluster.redis.address}) does not answer: give --target`);
    await sleep(50);
  }
}
function record(fault, target, detail) {
  appendFileSync(cluster.faultsLog, `${JSON.stringify({ time: new Date().toISOString(), msg: 'fault', fault, target, detail, by: 'chaos' })}\n`);
}
async function askCluster(fault, target) {
  const url = `${cluster.control}/fault/${fault}${target ? `?target=${encodeURIComponent(target)}` : ''}`;
  let res;
  try {
    res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    fail(`local-cluster's control endpoint ${cluster.control} does not answer: ${err.message}`);
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) fail(`${fault}: ${body.error ?? res.status}`);
  return body;
}
/** The pid of the head a candidate's log says is running in this epoch. */
function headPid(c, epoch) {
  let pid = null;
  for (const e of parseLogText(readFileSync(c.log, 'utf8'))) {
    if (e.msg === 'head started' && e.epoch === epoch) pid = e.pid;
    if (e.msg === 'head stopped' && e.epoch === epoch) pid = null;
    if (e.msg === 'candidate starting') pid = null;
  }
  return pid;
}

await redis.connect().catch(() => {});
const out = { action };
const say = (text) => !argv.json && console.log(text);
const needLeader = !argv.target && !['cont', 'heal', 'redis-restart'].includes(action);
const lead = needLeader || action === 'leader' ? await leader() : null;
const targetId = argv.target ?? lead?.id ?? null;
const before = lead?.epoch ?? (await status())?.leader?.epoch ?? 0;
Object.assign(out, { target: targetId, epoch: before });

switch (action) {
  case 'leader': {
    const c = cluster.candidates.find((x) => x.id === lead.id);
    Object.assign(out, { id: lead.id, pid: c?.pid ?? null, ttlMs: lead.ttlMs, gcsAddress: lead.gcsAddress });
    say(`${lead.id} leads (epoch ${lead.epoch}, pid ${c?.pid ?? '?'}, lease ttl ${(lead.ttlMs / 1000).toFixed(1)} s)`);
    break;
  }
  case 'kill':
  case 'stop': {
    const c = candidate(targetId);
    const signal = action === 'kill' ? 'SIGKILL' : 'SIGSTOP';
    record(action, c.id, `${signal} the orchestrator, pid ${c.pid}`);
    process.kill(c.pid, signal);
    out.pid = c.pid;
    say(`${signal} ${c.id} (pid ${c.pid}${lead ? `, leader at epoch ${lead.epoch}` : ''})${action === 'stop' ? '; `chaos.mjs cont` resumes it' : ''}`);
    break;
  }
  case 'cont': {
    cluster = readCluster();
    const stopped = cluster.candidates.filter((c) => c.pid && (argv.target ? c.id === argv.target : procState(c.pid) === 'T'));
    if (stopped.length === 0) say('no stopped candidate');
    for (const { id } of stopped) {
      const c = candidate(id);
      record('cont', c.id, `SIGCONT pid ${c.pid}`);
      process.kill(c.pid, 'SIGCONT');
      say(`SIGCONT ${c.id} (pid ${c.pid})`);
    }
    out.targets = stopped.map((c) => c.id);
    break;
  }
  case 'head-kill': {
    const c = candidate(targetId);
    const pid = headPid(c, lead?.epoch);
    if (!pid) fail(`${c.id}'s log names no running head${lead ? ` for epoch ${lead.epoch}` : ''}`);
    record('head-kill', c.id, `SIGKILL head pid ${pid}`);
    process.kill(pid, 'SIGKILL');
    out.pid = pid;
    say(`SIGKILL ${c.id}'s head (pid ${pid})`);
    break;
  }
  default: {
    const body = await askCluster(action, argv.target ?? (action === 'heal' || action === 'redis-restart' ? null : targetId));
    Object.assign(out, body);
    say(`${action}${body.targets ? ` ${body.targets.join(', ') || '(nothing to heal)'}` : ''}${body.pid ? ` (redis pid ${body.pid})` : ''}: done`);
  }
}

if (argv.wait && action !== 'leader') {
  const t = Date.now();
  const end = t + Number(argv['timeout-ms'] ?? cluster.ttlMs * 4);
  let next = null;
  while (Date.now() < end) {
    const s = await status();
    if (s?.leader && s.leader.epoch > before) {
      next = s.leader;
      break;
    }
    await sleep(10);
  }
  out.next = next ? { id: next.id, epoch: next.epoch, afterMs: Date.now() - t } : null;
  say(next ? `${next.id} leads (epoch ${next.epoch}) ${Date.now() - t} ms later` : `no new term within ${end - t} ms (epoch still ${before})`);
}
if (argv.json) console.log(JSON.stringify(out));
redis.disconnect();
