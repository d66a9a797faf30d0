#!/usr/bin/env node
// A local cluster to watch: a redis-server on a free port, N head candidates
// (`ray-head-ha run`), each reaching Redis through its own TCP proxy (so its
// connection can be cut or black-holed), with a stand-in head or a real Ray
// head, and a live view of who leads.
//
//   node scripts/local-cluster.mjs [--candidates 3] [--ttl-ms 3000] [--http] [--ray]
//                                  [--demo] [--trace out.svg] [--quiet] [--keep] [--workdir DIR] [--no-restart]
//
// --demo     a scripted tour, then exit: the leader's orchestrator is SIGKILLed
//            (its pod dies), it comes back as a standby, the new leader is
//            stopped with SIGTERM (a graceful handover), then a head crashes.
// --trace F  at the end, print the terms table and write the timeline picture
//            (scripts/trace.mjs's code) to F.
// --http     each candidate serves /healthz, /readyz, /leader, /metrics on a
//            free port; the view shows its role and readiness from them.
// --ray      a real Ray head (`ray start --head --block`) from .venv/bin/ray
//            instead of the stand-in; needs `bash scripts/setup.sh --ray` once.
//            On one machine only one head runs at a time, so the candidates
//            share the GCS, dashboard and client-server ports. Ray's GCS talks
//            to Redis directly (RAY_REDIS_ADDRESS); the election goes through
//            the proxy (RAY_HA_REDIS_ADDRESS). The ttl defaults to 10 s.
// Without --demo the cluster runs until Ctrl-C or SIGTERM; a candidate that
// exits is started again after a second (a pod's restart; --no-restart: not),
// and `node scripts/chaos.mjs kill|stop|cont|cut|blackhole|heal|redis-restart`
// breaks it meanwhile. Every candidate logs to <workdir>/<id>.log; faults go
// to <workdir>/faults.log; <workdir>/cluster.json says where everything is
// (chaos.mjs reads it), and `node scripts/trace.mjs <workdir>` draws who led when.
import { chalk, fs, minimist, sleep } from 'zx';
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CLI, HeadSampler, ROOT, freePort, isAlive, isListening, procState, startStandInCandidate, startProxy, startRedis,
} from './lib/harness.mjs';
import { buildTimeline, parseLogText, readLogs, termsTable, timelineSvg } from './lib/timeline.mjs';

const argv = minimist(process.argv.slice(2), {
  boolean: ['demo', 'quiet', 'keep', 'http', 'ray', 'restart', 'help'],
  string: ['candidates', 'ttl-ms', 'retry-ms', 'trace', 'workdir'],
  default: { restart: true },
});
if (argv.help) {
  console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1).filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}

const RAY = path.join(ROOT, '.venv/bin/ray');
if (argv.ray && !fs.existsSync(RAY)) {
  console.error(`--ray needs Ray in ${RAY}: run \`bash scripts/setup.sh --ray\` first`);
  process.exit(2);
}
if (!fs.existsSync(path.join(ROOT, 'dist/status.js'))) {
  console.error('dist/ is missing: run `npm run build:ts` (or `npm run demo`, which builds) first');
  process.exit(2);
}
const { readStatus } = await import(path.join(ROOT, 'dist/status.js'));
const { Redis } = await import('ioredis');

const count = Number(argv.candidates ?? 3);
const ttlMs = Number(argv['ttl-ms'] ?? (argv.ray ? 10_000 : 3000));
const retryMs = Number(argv['retry-ms'] ?? Math.round(ttlMs / 6));
const live = !argv.demo;
const namespace = 'demo';
const work = argv.workdir ? path.resolve(argv.workdir) : mkdtempSync(path.join(tmpdir(), 'ray-head-ha-cluster-'));
mkdirSync(work, { recursive: true });
const faultsLog = path.join(work, 'faults.log');
const clusterFile = path.join(work, 'cluster.json');

// Notes: the demo's narration and, in the live view, what happened lately.
const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(2).padStart(6)}s`;
const events = [];
function note(text) {
  const line = `${stamp()}  ${text}`;
  events.push(line);
  if (!argv.quiet && !(live && process.stdout.isTTY)) console.log(chalk.yellow(line));
}
/** One JSON line in faults.log, in the candidates' log format, for trace.mjs. */
function recordFault(fault, target, detail) {
  appendFileSync(faultsLog, `${JSON.stringify({ time: new Date().toISOString(), msg: 'fault', fault, target, detail, by: 'local-cluster' })}\n`);
}

// 1. Redis, the shared ports, the head sampler (stand-in heads record themselves there).
const redis = await startRedis();
const query = new Redis({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 200, connectTimeout: 1000 });
query.on('error', () => {});
const gcsPort = await freePort();
const rayPorts = argv.ray ? { dashboard: await freePort(), client: await freePort() } : null;
const sampler = new HeadSampler();
sampler.start(20);

// 2. Candidates, each behind its own proxy to Redis.
const slots = [];
for (let i = 1; i <= count; i++) {
  const id = `candidate-${i}`;
  slots.push({
    id, n: i, proxy: await startProxy(redis.port), proxyFault: null, httpPort: argv.http ? await freePort() : null,
    log: path.join(work, `${id}.log`), c: null, starts: 0, restartTimer: null,
    tail: { off: 0, rest: '', state: 'stopped', epoch: 0, headPid: null, last: null },
  });
}
const slotById = (id) => slots.find((s) => s.id === id);

function rayCandidate({ id, proxy, n, args, stdio }) {
  const tempDir = path.join(work, `ray${n}`);
  const env = {
    ...process.env, RAY_REDIS_ADDRESS: redis.address, RAY_HA_REDIS_ADDRESS: proxy.address, RAY_external_storage_namespace: namespace,
    RAY_USAGE_STATS_ENABLED: '0', RAY_HA_LOG_LEVEL: 'info', PATH: `${path.dirname(RAY)}${path.delimiter}${process.env.PATH}`,
  };
  delete env.RAY_ADDRESS;
  delete env.RAY_ENABLE_HEAD_HA;
  const proc = spawn(process.execPath, [CLI, 'run', '--id', id, '--namespace', namespace, '--ttl-ms', String(ttlMs), '--retry-ms', String(retryMs), ...args, '--',
    RAY, 'start', '--head', '--block', `--port=${gcsPort}`, `--dashboard-port=${rayPorts.dashboard}`, `--ray-client-server-port=${rayPorts.client}`,
    `--temp-dir=${tempDir}`, '--disable-usage-stats'], { env, stdio });
  const c = { id, proc, exit: null };
  c.exited = new Promise((r) => proc.once('exit', (code, signal) => r((c.exit = { code, signal }))));
  return c;
}

let stopping = false;
function startSlot(slot) {
  clearTimeout(slot.restartTimer);
  slot.restartTimer = null;
  const fd = openSync(slot.log, 'a');
  const args = slot.httpPort ? ['--http', `127.0.0.1:${slot.httpPort}`] : [];
  const stdio = ['ignore', fd, fd];
  const c = argv.ray
    ? rayCandidate({ ...slot, args, stdio })
    : startStandInCandidate({ id: slot.id, redis: slot.proxy.address, namespace, ttlMs, retryMs, gcsPort, headsDir: sampler.dir, env: { RAY_HA_LOG_LEVEL: 'info' }, args, stdio });
  closeSync(fd);
  slot.c = c;
  slot.starts++;
  writeCluster();
  c.exited.then(({ code, signal }) => {
    writeCluster();
    if (stopping || !live || slot.c !== c) return;
    note(`${slot.id} exited (${signal ?? `exit ${code}`})${argv.restart ? '; starting it again in 1 s' : ''}`);
    if (argv.restart) slot.restartTimer = setTimeout(() => !stopping && startSlot(slot), 1000);
  });
  return c;
}
const exitText = (c) => (c?.exit ? (c.exit.signal ?? `exit ${c.exit.code}`) : null);
const running = (slot) => slot.c && !slot.c.exit;

// 3. cluster.json: what chaos.mjs needs, rewritten whenever a pid changes.
let control = null;
let controlUrl = null;
function writeCluster() {
  const doc = {
    pid: process.pid, work, namespace, ttlMs, retryMs, ray: !!argv.ray, stopping,
    redis: { address: redis.address, port: redis.port, pid: redis.proc?.pid ?? null },
    gcsAddress: `127.0.0.1:${gcsPort}`,
    control: stopping ? null : controlUrl,
    faultsLog,
    headsDir: argv.ray ? null : sampler.dir,
    candidates: slots.map((s) => ({
      id: s.id, pid: running(s) ? s.c.proc.pid : null, exit: exitText(s.c), log: s.log, proxy: s.proxy.address, proxyFault: s.proxyFault,
      http: s.httpPort ? `127.0.0.1:${s.httpPort}` : null,
    })),
  };
  const tmp = `${clusterFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`);
  renameSync(tmp, clusterFile);
}

// 4. The control endpoint: faults that only this process can cause (the
//    proxies and Redis are its children). POST /fault/<action>?target=<id>.
const PROXY_FAULTS = {
  cut: (s) => { s.proxy.reset(); return 'connections reset'; },
  blackhole: (s) => { s.proxy.blackhole(true); s.proxyFault = 'blackhole'; return 'every byte dropped both ways until heal'; },
  heal: (s) => { s.proxy.blackhole(false); s.proxy.reset(); s.proxyFault = null; return 'proxy passes again'; },
};
async function handleControl(req, res) {
  const url = new URL(req.url, 'http://x');
  const reply = (code, body) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(body)}\n`);
  };
  if (req.method === 'GET' && url.pathname === '/state') {
    const s = await readStatus(query, namespace).catch(() => null);
    return reply(200, { leader: s?.leader ?? null, candidates: slots.map((x) => ({ id: x.id, pid: running(x) ? x.c.proc.pid : null, proxyFault: x.proxyFault })) });
  }
  const m = /^\/fault\/([a-z-]+)$/.exec(url.pathname);
  if (req.method !== 'POST' || !m) return reply(404, { error: 'GET /state, or POST /fault/{cut,blackhole,heal,redis-restart}?target=ID' });
  const action = m[1];
  const target = url.searchParams.get('target');
  if (action === 'redis-restart') {
    await redis.restartEmpty();
    recordFault('redis-restart', null, 'SIGKILL, started again empty on the same port');
    note(chalk.red(`chaos: Redis restarted empty (pid ${redis.proc.pid})`));
    writeCluster();
    return reply(200, { ok: true, action, pid: redis.proc.pid });
  }
  const fn = PROXY_FAULTS[action];
  if (!fn) return reply(400, { error: `unknown action ${action}` });
  const targets = target ? [slotById(target)] : action === 'heal' ? slots.filter((s) => s.proxyFault) : [];
  if (targets.includes(undefined)) return reply(400, { error: `no candidate ${target}` });
  if (targets.length === 0 && action !== 'heal') return reply(400, { error: `${action} needs ?target=ID` });
  const done = targets.map((s) => {
    const detail = fn(s);
    recordFault(action, s.id, detail);
    note(chalk.red(`chaos: ${action} ${s.id}'s Redis connection (${detail})`));
    return s.id;
  });
  writeCluster();
  return reply(200, { ok: true, action, targets: done });
}
control = http.createServer((req, res) => {
  handleControl(req, res).catch((err) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify({ error: err.message })}\n`);
  });
});
await new Promise((r) => control.listen(0, '127.0.0.1', r));
controlUrl = `http://127.0.0.1:${control.address().port}`;

for (const s of slots) startSlot(s);

// 5. What is going on: each candidate's log (tailed), its endpoints, the lease.
function tailLog(slot) {
  let fd;
  try {
    fd = openSync(slot.log, 'r');
  } catch {
    return;
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= slot.tail.off) return;
    const buf = Buffer.alloc(size - slot.tail.off);
    readSync(fd, buf, 0, buf.length, slot.tail.off);
    slot.tail.off = size;
    const lines = (slot.tail.rest + buf.toString('utf8')).split('\n');
    slot.tail.rest = lines.pop();
    for (const e of parseLogText(lines.join('\n'))) {
      const t = slot.tail;
      if (e.msg === 'candidate starting') Object.assign(t, { state: 'stopped', headPid: null });
      else if (typeof e.from === 'string' && typeof e.to === 'string') {
        t.state = e.to;
        if (e.epoch) t.epoch = e.epoch;
        t.last = { text: `${e.msg} (${e.reason})`, at: e.t };
      } else if (e.msg === 'head started') Object.assign(t, { headPid: e.pid, headEpoch: e.epoch });
      else if (e.msg === 'head stopped') t.headPid = null;
      else if (['renew failed', 'stepping down', 'cannot reach Redis; still trying as a standby', 'Redis refused the acquire attempt; still trying as a standby'].includes(e.msg)) {
        t.last = { text: `${e.msg}${e.reason ? ` (${e.reason})` : e.err ? ` (${e.err})` : ''}`, at: e.t };
      }
    }
  } finally {
    closeSync(fd);
  }
}
let faultsOff = 0;
function tailFaults() {
  try {
    const text = fs.readFileSync(faultsLog, 'utf8');
    for (const line of text.slice(faultsOff).split('\n')) {
      if (!line) continue;
      const f = JSON.parse(line);
      if (f.by === 'chaos') note(chalk.red(`chaos: ${f.fault}${f.target ? ` ${f.target}` : ''}${f.detail ? ` (${f.detail})` : ''}`));
    }
    faultsOff = text.length;
  } catch {
    /* none yet */
  }
}
async function getJson(port, route) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(400) });
    return { code: res.status, body: await res.json().catch(() => null) };
  } catch {
    return null;
  }
}
/** Live heads: the stand-ins' records, or the pid each Ray candidate logged. */
function liveHeads() {
  if (!argv.ray) return sampler.alive().map((r) => ({ pid: r.pid, candidate: r.candidate }));
  return slots.filter((s) => s.tail.headPid && isAlive(s.tail.headPid)).map((s) => ({ pid: s.tail.headPid, candidate: s.id }));
}

async function view({ detail = live } = {}) {
  for (const s of slots) tailLog(s);
  const [st, endpoints] = await Promise.all([
    readStatus(query, namespace).catch(() => null),
    Promise.all(slots.map(async (s) => (s.httpPort && running(s) ? { leader: await getJson(s.httpPort, '/leader'), ready: await getJson(s.httpPort, '/readyz') } : null))),
  ]);
  const heads = liveHeads();
  const rows = slots.map((s, i) => {
    const leads = st?.leader?.id === s.id;
    const head = heads.find((h) => h.candidate === s.id);
    const frozen = running(s) && procState(s.c.proc.pid) === 'T';
    const roleText = !running(s) ? `gone (${exitText(s.c) ?? '?'})` : frozen ? 'SIGSTOPPED' : leads ? 'LEADER' : s.tail.state === 'stepping-down' ? 'stepping down' : 'standby';
    const roleColor = !running(s) ? chalk.gray : frozen ? chalk.red : leads ? chalk.green : (x) => x;
    const headText = head ? `pid ${head.pid}` : '-';
    let row = `  ${s.id.padEnd(13)} ${roleColor(roleText.padEnd(20))} head ${head ? chalk.green(headText) : headText}`;
    const ep = endpoints[i];
    if (ep) {
      const role = ep.leader?.body?.self?.role ?? 'no answer';
      const ready = ep.ready ? (ep.ready.code === 200 ? chalk.green('ready'.padEnd(9)) : 'not ready') : chalk.red('no answer');
      row += `${' '.repeat(Math.max(1, 11 - headText.length))}/leader: ${role.padEnd(9)} /readyz: ${ready}`;
    }
    if (s.proxyFault) row += chalk.red(`  [redis link: ${s.proxyFault}]`);
    if (detail && s.tail.last && running(s)) row += chalk.gray(`  ${s.tail.last.text}, ${((Date.now() - s.tail.last.at) / 1000).toFixed(1)} s ago`);
    return row;
  });
  const lease = st?.leader ? `epoch ${st.leader.epoch}, ttl ${(st.leader.ttlMs / 1000).toFixed(1)} s` : st ? chalk.red('no leader') : chalk.red('Redis does not answer');
  return `${stamp()}  lease: ${lease}\n${rows.join('\n')}`;
}

async function waitForLeader(exceptId, timeoutMs = ttlMs * 3 + (argv.ray ? 60_000 : 0)) {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    for (const s of slots) tailLog(s);
    const st = await readStatus(query, namespace).catch(() => null);
    const heads = liveHeads();
    const ready = argv.ray ? await isListening(gcsPort) : true;
    if (st?.leader && st.leader.id !== exceptId && heads.length === 1 && heads[0].candidate === st.leader.id && ready) {
      return { id: st.leader.id, epoch: st.leader.epoch, ms: Date.now() - start };
    }
    await sleep(argv.ray ? 100 : 5);
  }
  throw new Error(`no new leader within ${timeoutMs} ms`);
}

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  for (const s of slots) clearTimeout(s.restartTimer);
  const alive = slots.filter(running);
  for (const s of alive) {
    s.c.proc.kill('SIGCONT');
    s.c.proc.kill('SIGTERM');
  }
  const grace = argv.ray ? 15_000 : Math.max(1000, ttlMs);
  await Promise.race([Promise.all(alive.map((s) => s.c.exited)), sleep(grace)]);
  for (const s of slots) if (running(s)) s.c.proc.kill('SIGKILL');
  await Promise.all(alive.map((s) => s.c.exited));
  clearInterval(sampler.timer);
  const overlaps = sampler.overlaps.length;
  for (const s of slots) s.proxy.close();
  control.close();
  query.disconnect();
  await redis.close();
  sampler.close();
  writeCluster();
  if (argv.trace) {
    try {
      const tl = buildTimeline(readLogs([work]));
      console.log(chalk.bold('\nTerms') + '\n' + termsTable(tl));
      fs.writeFileSync(argv.trace, timelineSvg(tl, { title: `ray-head-ha ${argv.demo ? 'demo' : 'local cluster'}: who led when` }));
      console.log(`timeline picture: ${path.resolve(argv.trace)}`);
    } catch (err) {
      console.error(chalk.red(`--trace: ${err.message}`));
    }
  }
  if (argv.demo && code === 0 && !argv.ray) {
    console.log(overlaps === 0
      ? chalk.green(`never two heads alive at once (sampled every 20 ms, ${sampler.samples} samples)`)
      : chalk.red(`two heads alive at once in ${overlaps} samples`));
    if (overlaps > 0) code = 1;
  }
  if (!argv.keep) rmSync(work, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
// Whatever goes wrong here, the candidates, their heads and Redis must not outlive us.
for (const ev of ['uncaughtException', 'unhandledRejection']) {
  process.on(ev, (err) => {
    console.error(chalk.red(`local-cluster: ${err?.stack ?? err}; logs kept in ${work}`));
    argv.keep = true;
    if (stopping) process.exit(1);
    shutdown(1);
  });
}

console.log(chalk.bold(`ray-head-ha local cluster: redis ${redis.address}, ${count} candidates${argv.ray ? ' with Ray heads' : ''}, ttl ${ttlMs} ms, logs in ${work}`));

if (live) {
  console.log(chalk.gray(`  break it: node scripts/chaos.mjs kill|stop|cont|cut|blackhole|heal|redis-restart --cluster ${clusterFile}`));
  console.log(chalk.gray(`  who led when: node scripts/trace.mjs ${work} --svg timeline.svg`));
  const tty = process.stdout.isTTY;
  for (;;) {
    tailFaults();
    const v = await view();
    if (tty) {
      const recent = events.slice(-8);
      process.stdout.write(`\x1b[H\x1b[2J${chalk.bold(`ray-head-ha local cluster`)} (${work}; Ctrl-C stops)\n${chalk.gray(`break it: node scripts/chaos.mjs kill|stop|cont|head-kill|cut|blackhole|heal|redis-restart`)}\n${v}\n\n${recent.map((e) => chalk.yellow(e)).join('\n')}\n`);
    } else if (!argv.quiet) console.log(v);
    await sleep(1000);
  }
}

// 6. The demo tour.
try {
  // The first term: the candidates start (node and the keeper), and a new namespace is held back a ttl (decision 28).
  let leader = await waitForLeader(null, ttlMs * 3 + 30_000 + (argv.ray ? 60_000 : 0));
  note(`${leader.id} leads (epoch ${leader.epoch})`);
  console.log(await view());
  await sleep(1500);

  note(`SIGKILL ${leader.id}'s orchestrator (a pod dies): its keeper kills the head, the lease runs out after the ttl`);
  recordFault('kill', leader.id, 'SIGKILL the orchestrator');
  slotById(leader.id).c.proc.kill('SIGKILL');
  let next = await waitForLeader(leader.id);
  note(`${next.id} leads (epoch ${next.epoch}), ${next.ms} ms after the kill (ttl ${ttlMs} ms)`);
  console.log(await view());
  startSlot(slotById(leader.id));
  note(`${leader.id} restarted: it comes back as a standby`);
  await sleep(1500);
  console.log(await view());

  leader = next;
  note(`SIGTERM ${leader.id} (graceful): it stops its head and releases the lease`);
  recordFault('term', leader.id, 'SIGTERM the orchestrator');
  slotById(leader.id).c.proc.kill('SIGTERM');
  next = await waitForLeader(leader.id);
  note(`${next.id} leads (epoch ${next.epoch}), ${next.ms} ms after the SIGTERM`);
  console.log(await view());
  await slotById(leader.id).c.exited;
  startSlot(slotById(leader.id));
  await sleep(1500);

  leader = next;
  const head = liveHeads()[0];
  note(`SIGKILL ${leader.id}'s head (pid ${head.pid}): the candidate releases and exits with the head's code`);
  recordFault('head-kill', leader.id, `SIGKILL head pid ${head.pid}`);
  process.kill(head.pid, 'SIGKILL');
  next = await waitForLeader(leader.id);
  const gone = await Promise.race([slotById(leader.id).c.exited.then(() => exitText(slotById(leader.id).c)), sleep(2000).then(() => 'still exiting')]);
  note(`${next.id} leads (epoch ${next.epoch}), ${next.ms} ms after the head crash; ${leader.id} ${gone}`);
  console.log(await view());

  console.log(chalk.bold('\nTimeline'));
  for (const e of events) console.log(e);
  await shutdown(0);
} catch (err) {
  console.error(chalk.red(`demo failed: ${err.message}; logs kept in ${work}`));
  argv.keep = true;
  await shutdown(1);
}
