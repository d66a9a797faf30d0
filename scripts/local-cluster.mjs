#!/usr/bin/env node
// A local cluster to watch: a redis-server on a free port, N head candidates
// (`ray-head-ha run`) with a stand-in head each, and a live view of who leads.
//
//   node scripts/local-cluster.mjs [--candidates 3] [--ttl-ms 3000] [--demo]
//
// --demo runs a scripted tour and exits: the leader's orchestrator is SIGKILLed
// (its pod dies), it comes back as a standby, the new leader is stopped with
// SIGTERM (a graceful handover), then a head crashes. Without --demo the
// cluster runs until Ctrl-C; `scripts/chaos.mjs` can break it meanwhile.
import { $, argv, chalk, sleep } from 'zx';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

$.verbose = false;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin/ray-head-ha.js');
const standIn = path.join(root, 'test/fixtures/stand-in-head.mjs');
const { readStatus } = await import(path.join(root, 'dist/status.js'));
const { Redis } = await import('ioredis');

const count = Number(argv.candidates ?? 3);
const ttlMs = Number(argv['ttl-ms'] ?? 3000);
const work = mkdtempSync(path.join(tmpdir(), 'ray-head-ha-cluster-'));
const headsDir = path.join(work, 'heads');
await $`mkdir -p ${headsDir}`;

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// 1. Redis.
const redisPort = await freePort();
const redisProc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' });
const redis = new Redis({ port: redisPort, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
redis.on('error', () => {});
for (let i = 0; i < 100; i++) {
  try {
    await redis.connect();
    break;
  } catch {
    await sleep(50);
  }
}
const gcsPort = await freePort();
const namespace = 'demo';
writeFileSync(path.join(work, 'cluster.json'), JSON.stringify({ redis: `127.0.0.1:${redisPort}`, namespace, gcsPort, work }));

// 2. Candidates.
const candidates = new Map();
function startCandidate(id) {
  const logFile = path.join(work, `${id}.log`);
  const out = openSync(logFile, 'a');
  const proc = spawn(
    process.execPath,
    [cli, 'run', '--id', id, '--namespace', namespace, '--ttl-ms', String(ttlMs), '--retry-ms', String(Math.round(ttlMs / 6)),
      '--gcs-address', `127.0.0.1:${gcsPort}`, '--', process.execPath, standIn, String(gcsPort), headsDir],
    { env: { ...process.env, RAY_REDIS_ADDRESS: `127.0.0.1:${redisPort}` }, stdio: ['ignore', out, out] },
  );
  const c = { id, proc, logFile, exit: null };
  proc.on('exit', (code, signal) => (c.exit = signal ? signal : `exit ${code}`));
  candidates.set(id, c);
  return c;
}
for (let i = 1; i <= count; i++) startCandidate(`candidate-${i}`);

// 3. What is alive: heads from their records, roles from the lease.
const alive = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};
function liveHeads() {
  return readdirSync(headsDir)
    .map((f) => JSON.parse(readFileSync(path.join(headsDir, f), 'utf8')))
    .filter((r) => alive(r.pid));
}
const events = [];
const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(2).padStart(6)}s`;
function note(text) {
  events.push(`${stamp()}  ${text}`);
  if (!argv.quiet) console.log(chalk.yellow(`${stamp()}  ${text}`));
}

async function view() {
  const s = await readStatus(redis, namespace).catch(() => null);
  const heads = liveHeads();
  const rows = [...candidates.values()].map((c) => {
    const leads = s?.leader?.id === c.id;
    const head = heads.find((h) => h.candidate === c.id);
    const role = c.exit ? chalk.gray(`gone (${c.exit})`) : leads ? chalk.green('LEADER') : 'standby';
    return `  ${c.id.padEnd(13)} ${role.padEnd(20)} head ${head ? chalk.green(`pid ${head.pid}`) : '-'}`;
  });
  const lease = s?.leader ? `epoch ${s.leader.epoch}, ttl ${(s.leader.ttlMs / 1000).toFixed(1)} s` : chalk.red('no leader');
  return `${stamp()}  lease: ${lease}\n${rows.join('\n')}`;
}

async function waitForLeader(exceptId, timeoutMs = ttlMs * 3) {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    const s = await readStatus(redis, namespace).catch(() => null);
    const heads = liveHeads();
    if (s?.leader && s.leader.id !== exceptId && heads.length === 1 && heads[0].candidate === s.leader.id) {
      return { id: s.leader.id, epoch: s.leader.epoch, ms: Date.now() - start };
    }
    await sleep(5);
  }
  throw new Error(`no new leader within ${timeoutMs} ms`);
}

let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  for (const c of candidates.values()) if (!c.exit) c.proc.kill('SIGTERM');
  await sleep(Math.max(500, ttlMs / 5));
  for (const c of candidates.values()) if (!c.exit) c.proc.kill('SIGKILL');
  redis.disconnect();
  redisProc.kill('SIGKILL');
  if (!argv.keep) rmSync(work, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

console.log(chalk.bold(`ray-head-ha local cluster: redis 127.0.0.1:${redisPort}, ${count} candidates, ttl ${ttlMs} ms, logs in ${work}`));

if (!argv.demo) {
  for (;;) {
    console.log(await view());
    await sleep(1000);
  }
}

// 4. The demo tour.
try {
  let leader = await waitForLeader(null);
  note(`${leader.id} leads (epoch ${leader.epoch})`);
  console.log(await view());
  await sleep(1500);

  note(`SIGKILL ${leader.id}'s orchestrator (a pod dies): its keeper kills the head, the lease runs out after the ttl`);
  candidates.get(leader.id).proc.kill('SIGKILL');
  let next = await waitForLeader(leader.id);
  note(`${next.id} leads (epoch ${next.epoch}), ${next.ms} ms after the kill (ttl ${ttlMs} ms)`);
  console.log(await view());
  startCandidate(leader.id);
  note(`${leader.id} restarted: it comes back as a standby`);
  await sleep(1500);
  console.log(await view());

  leader = next;
  note(`SIGTERM ${leader.id} (graceful): it stops its head and releases the lease`);
  candidates.get(leader.id).proc.kill('SIGTERM');
  next = await waitForLeader(leader.id);
  note(`${next.id} leads (epoch ${next.epoch}), ${next.ms} ms after the SIGTERM`);
  console.log(await view());
  startCandidate(leader.id);
  await sleep(1500);

  leader = next;
  const head = liveHeads()[0];
  note(`SIGKILL ${leader.id}'s head (pid ${head.pid}): the candidate releases and exits with the head's code`);
  process.kill(head.pid, 'SIGKILL');
  next = await waitForLeader(leader.id);
  note(`${next.id} leads (epoch ${next.epoch}), ${next.ms} ms after the head crash; ${leader.id} ${candidates.get(leader.id).exit ?? 'still exiting'}`);
  console.log(await view());

  console.log(chalk.bold('\nTimeline'));
  for (const e of events) console.log(e);
  await shutdown(0);
} catch (err) {
  console.error(chalk.red(`demo failed: ${err.message}; logs kept in ${work}`));
  argv.keep = true;
  await shutdown(1);
}
