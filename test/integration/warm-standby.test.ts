/**
 * Warm standby (docs/design.md, decision 32), with real candidates, real
 * keepers and a stand-in for Ray's CLI (test/fixtures/fake-ray-cli: the same
 * console-script shape, an import that takes a second): a standby keeps a
 * head process with the CLI imported, under its own keeper, without a socket;
 * on winning, that process runs the same command with the term's variables;
 * it never outlives its candidate, is fenced when its candidate freezes, and
 * a leader that started warm is still released by its keeper when its
 * orchestrator is killed. Real Ray takes this path in the lab's end-to-end
 * tests and bench:ray.
 */
import { execFile, execFileSync } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readProcStat } from '../../src/proc-stat.js';
import { ROOT, isLeading, killAllCandidates, startCandidate, until, type Candidate } from '../helpers/candidates.js';
import { FAST_TIMING } from '../helpers/cluster.js';
import { freePort, startProxy } from '../helpers/ports.js';
import { cmdline, waitDead } from '../helpers/process-tree.js';
import { makeTlsFiles, recordLeaseEvents, startRedis, type RedisServer } from '../helpers/redis.js';

const FAKE_CLI = path.join(ROOT, 'test/fixtures/fake-ray-cli');
let redis: RedisServer;
let dir: string;
let ns = '';
let gcsPort = 0;
let n = 0;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.close();
});
beforeEach(async () => {
  ns = `warm-${++n}`;
  gcsPort = await freePort();
  dir = mkdtempSync(path.join(tmpdir(), 'rhha-warm-'));
});
afterEach(async () => {
  await killAllCandidates();
  rmSync(dir, { recursive: true, force: true });
});

function candidate(
  id: string,
  env: NodeJS.ProcessEnv = {},
  command = [path.join(FAKE_CLI, 'bin/ray'), 'start', '--head', `--port=${gcsPort}`, '--node-ip-address=10.1.1.1'],
  redisUrl = redis.address,
): Candidate {
  return startCandidate({
    id,
    redis: redisUrl,
    namespace: ns,
    args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${gcsPort}`],
    env: { RAY_REDIS_ADDRESS: redis.address, PYTHONPATH: path.join(FAKE_CLI, 'lib'), FAKE_RAY_DIR: dir, FAKE_RAY_IMPORT_S: '1', ...env },
    command,
  });
}

/** A candidate whose head is Ray's own `ray start --head` (.venv), a temp dir of its own, Ray's storage namespace = the test's. */
function realRay(id: string, env: NodeJS.ProcessEnv = {}): Candidate {
  return candidate(id, { PYTHONPATH: '', RAY_external_storage_namespace: ns, ...env }, [
    path.join(ROOT, '.venv', 'bin', 'ray'), 'start', '--head', `--port=${gcsPort}`, '--node-ip-address=127.0.0.1', `--temp-dir=${path.join(dir, id)}`,
    '--include-dashboard=false', '--num-cpus=1', '--disable-usage-stats',
  ]);
}

const warmWaiting = (not: number[] = []) => (l: Record<string, unknown>) => l.msg === 'warm head waiting' && !not.includes(Number(l.pid));
const headStartedLine = (l: Record<string, unknown>) => l.msg === 'head started';

/** A warm head as it waits: its pid, once its import is done. */
async function warmHead(c: Candidate, not: number[] = []): Promise<number> {
  const pid = Number((await c.waitForLog(warmWaiting(not), 20_000)).pid);
  await until('the warm head imported the CLI', () => existsSync(path.join(dir, `imported-${pid}`)), 20_000);
  return pid;
}

/** A warm head of Ray's own CLI as it waits: its pid, once Ray's modules are mapped in (the import takes a second or more here). */
async function realWarmHead(c: Candidate): Promise<number> {
  const w = Number((await c.waitForLog(warmWaiting(), 20_000)).pid);
  await until('ray imported in the warm head', () => /\/ray\/_raylet/.test(readFileSync(`/proc/${w}/maps`, 'utf8')), 30_000, 100);
  return w;
}

/** The process's socket fds beyond 0-2, and every TCP or UDP socket it holds (its stdio may be socketpairs). */
function sockets(pid: number): { beyondStdio: string[]; inet: string[] } {
  const fds = readdirSync(`/proc/${pid}/fd`).map((fd) => {
    try {
      return { fd: Number(fd), link: readlinkSync(`/proc/${pid}/fd/${fd}`) };
    } catch {
      return { fd: Number(fd), link: '' };
    }
  }).filter((f) => f.link.startsWith('socket:['));
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) inodes.add(inode);
    }
  }
  return {
    beyondStdio: fds.filter((f) => f.fd > 2).map((f) => `${f.fd} ${f.link}`),
    inet: fds.filter((f) => inodes.has(f.link.slice('socket:['.length, -1))).map((f) => `${f.fd} ${f.link}`),
  };
}

function pgid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

describe('warm standby', () => {
  it("a standby keeps a warm head (the CLI imported, its own group under its keeper, no socket); on winning it runs the same command with the term's variables", async () => {
    const a = candidate('a');
    await a.waitForLog(isLeading, 20_000);
    const b = candidate('b');
    const w = await warmHead(b);
    expect(cmdline(w)).toContain('warm-head.py');
    expect(pgid(w)).toBe(w); // the head's own process group, as a cold head
    expect(cmdline(readProcStat(w)!.ppid)).toContain('ray-head-ha-keeper');
    expect(sockets(w)).toEqual({ beyondStdio: [], inet: [] }); // no port, no connection: nothing of the cluster
    expect(existsSync(path.join(dir, `main-${w}.json`))).toBe(false);

    a.proc.kill('SIGTERM');
    const leading = await b.waitForLog(isLeading, 20_000);
    const started = await b.waitForLog(headStartedLine, 20_000);
    expect(started).toMatchObject({ pid: w, warm: true });
    await until('the warm head ran main', () => existsSync(path.join(dir, `main-${w}.json`)), 10_000);
    const ran = JSON.parse(readFileSync(path.join(dir, `main-${w}.json`), 'utf8')) as { argv: string[]; env: Record<string, string>; importedAtMs: number };
    expect(ran.argv).toEqual([path.join(FAKE_CLI, 'bin/ray'), 'start', '--head', `--port=${gcsPort}`, '--node-ip-address=10.1.1.1', '--block']);
    expect(ran.env).toMatchObject({ RAY_HA_CANDIDATE_ID: 'b', RAY_HA_EPOCH: String(leading.epoch) });
    // Imported before the term began: the go skipped the import.
    expect(ran.importedAtMs).toBeLessThan(Date.parse(String(leading.time ?? leading.at ?? new Date().toISOString())));
  });

  it("with Ray's own CLI (.venv): the warm head imports it and holds no TCP or UDP socket, and nothing in Redis changes", async () => {
    const a = candidate('a');
    await a.waitForLog(isLeading, 20_000);
    const raw = redis.client();
    const keys = async () => Object.fromEntries(await Promise.all((await raw.keys('*')).sort().map(async (k) => [k, await raw.type(k)])));
    const before = await keys();
    const rayBin = path.join(ROOT, '.venv', 'bin', 'ray');
    const b = candidate('b', { PYTHONPATH: '' }, [rayBin, 'start', '--head', `--port=${gcsPort}`, '--node-ip-address=10.1.1.1']);
    const w = await realWarmHead(b);
    expect(cmdline(w)).toContain(`warm-head.py ${rayBin} start`);
    expect(sockets(w)).toEqual({ beyondStdio: [], inet: [] });
    expect(await keys()).toEqual(before);
  });

  it("with Ray's own CLI (.venv): a handover to a warm head reads the cluster's session name from Redis directly and keeps it", async () => {
    const a = realRay('a');
    await a.waitForLog(isLeading, 20_000);
    const raw = redis.client();
    const stored = async () => raw.hget(`RAY${ns}@KV`, '@namespace_session:session_name');
    await until("a's head stored the session name", async () => (await stored()) !== null, 60_000, 100);
    const session = (await stored())!;
    const b = realRay('b');
    await realWarmHead(b);
    a.proc.kill('SIGTERM');
    const started = await b.waitForLog(headStartedLine, 60_000);
    expect(started.warm).toBe(true);
    await until("b's head read the session name", () => b.stderr.some((l) => l.includes('ray-head-ha warm head: session name')), 30_000, 50);
    expect(b.stderr.filter((l) => l.includes('ray-head-ha warm head:'))).toEqual([expect.stringMatching(new RegExp(`session name ${session} read from Redis directly in \\d+ ms$`))]);
    await until("b's head made its session directory", () => existsSync(path.join(dir, 'b', 'session_latest')), 30_000, 100);
    expect(path.basename(readlinkSync(path.join(dir, 'b', 'session_latest')))).toBe(session);
    expect(await stored()).toBe(session);
  });

  it("with Ray's own CLI (.venv): a warm head connects to Redis only after its go (the session name is never read ahead, so never stale)", async () => {
    const a = realRay('a');
    await a.waitForLog(isLeading, 20_000);
    await until("a's head stored the session name", async () => (await redis.client().hget(`RAY${ns}@KV`, '@namespace_session:session_name')) !== null, 60_000, 100);
    // b's Ray reaches Redis only through this proxy (its election has its own --redis): it counts b's head's connections.
    const proxy = await startProxy(redis.port);
    try {
      const b = realRay('b', { RAY_REDIS_ADDRESS: proxy.address });
      await realWarmHead(b);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(proxy.accepted).toBe(0);
      a.proc.kill('SIGTERM');
      expect((await b.waitForLog(headStartedLine, 60_000)).warm).toBe(true);
      await until("b's head read the session name", () => b.stderr.some((l) => l.includes('read from Redis directly')), 30_000, 50);
      expect(proxy.accepted).toBeGreaterThan(0);
    } finally {
      proxy.close();
    }
  });

  it("the direct session-name read finds what Ray's own read finds, for this Ray: the namespace from the environment or the system config, absent, a password, an ACL user, TLS; and it trusts no server Ray would not", async () => {
    const secured = await startRedis({ args: ['--requirepass', 'pw', '--user', 'alice', 'on', '>alicepw', '~*', '+@all'], clientOptions: { password: 'pw' } });
    const tls = makeTlsFiles();
    const tlsRedis = await startRedis({ tls });
    try {
      const session = 'session_2026-12-01_10-00-00_123456_42';
      await redis.client().hset(`RAY${ns}@KV`, '@namespace_session:session_name', session);
      await redis.client().hset(`RAY${ns}-config@KV`, '@namespace_session:session_name', `${session}9`);
      await secured.client().hset(`RAY${ns}@KV`, '@namespace_session:session_name', `${session}7`);
      await tlsRedis.client().hset(`RAY${ns}@KV`, '@namespace_session:session_name', `${session}5`);
      const probe = `
import base64, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("warm_head", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
from ray._raylet import get_session_key_from_storage
text = lambda v: None if v is None else v.decode()
out = []
for host, port, user, password, use_ssl, config, ray_too in json.loads(sys.argv[2]):
    cfg = base64.b64encode(json.dumps(config).encode()).decode()
    ray = text(get_session_key_from_storage(host, port, user, password, use_ssl, cfg, b"session_name")) if ray_too else "-"
    try:
        direct = text(m.read_session_key(host, port, user, password, use_ssl, cfg, b"session_name"))
    except OSError as e:
        direct = type(e).__name__
    out.append([ray, direct])
print(json.dumps(out))
`;
      const cases = [
        ['127.0.0.1', redis.port, '', '', false, {}, true],
        ['127.0.0.1', redis.port, '', '', false, { external_storage_namespace: `${ns}-config` }, true],
        ['127.0.0.1', redis.port, '', '', false, { external_storage_namespace: `${ns}-absent` }, true],
        ['127.0.0.1', secured.port, '', 'pw', false, {}, true],
        ['127.0.0.1', secured.port, 'alice', 'alicepw', false, {}, true],
        // TLS: the CA from RAY_REDIS_CA_CERT, then with a client certificate from the system config.
        ['127.0.0.1', tlsRedis.port, '', '', true, {}, true],
        ['127.0.0.1', tlsRedis.port, '', '', true, { REDIS_CLIENT_CERT: tls.clientCert, REDIS_CLIENT_KEY: tls.clientKey }, true],
        // A CA that did not sign the server's certificate: the direct read refuses it (Ray's own would abort the process).
        ['127.0.0.1', tlsRedis.port, '', '', true, { REDIS_CA_CERT: tls.otherCaCert }, false],
      ];
      const out = execFileSync(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', probe, path.join(ROOT, 'scripts/warm-head.py'), JSON.stringify(cases)], {
        env: { ...process.env, PYTHONPATH: '', RAY_external_storage_namespace: ns, RAY_REDIS_CA_CERT: tls.caCert },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual([
        [session, session],
        [`${session}9`, `${session}9`],
        [null, null],
        [`${session}7`, `${session}7`],
        [`${session}7`, `${session}7`],
        [`${session}5`, `${session}5`],
        [`${session}5`, `${session}5`],
        ['-', 'SSLCertVerificationError'],
      ]);
    } finally {
      await secured.close();
      await tlsRedis.close();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['drips a session name a byte every 50 ms (each read is quick, the whole one is not)', (sock: net.Socket) => {
      const reply = Buffer.from('$40\r\nsession_2026-12-01_10-00-00_123456_4242\r\n');
      let i = 0;
      const timer = setInterval(() => (i < reply.length ? sock.write(reply.subarray(i, ++i)) : clearInterval(timer)), 50);
      sock.on('close', () => clearInterval(timer));
    }, /timed out|no answer within 500 ms in all/],
    ['announces a 1 GB bulk string and streams it', (sock: net.Socket) => {
      sock.write('$1000000000\r\n');
      const chunk = Buffer.alloc(65536, 'a');
      const pump = () => {
        while (!sock.destroyed && sock.write(chunk)) { /* until the buffer is full */ }
      };
      sock.on('drain', pump);
      pump();
    }, /announces 1000000000 bytes, over 4096|the reply is over 4096 bytes/],
    ['sends a line that never ends', (sock: net.Socket) => {
      const chunk = Buffer.alloc(65536, '+');
      const pump = () => {
        while (!sock.destroyed && sock.write(chunk)) { /* until the buffer is full */ }
      };
      sock.on('drain', pump);
      pump();
    }, /the reply is over 4096 bytes/],
  ] as const)("the direct session-name read from a server that %s: Ray's own read, within 0.5 s, one stderr line", async (_name, serve, why) => {
    const server = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.once('data', () => serve(sock)); // after the HGET
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const probe = `
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("warm_head", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
get = m.fast_session_key(lambda *a: b"from-ray")
t0 = time.monotonic()
value = get("127.0.0.1", int(sys.argv[2]), "", "", False, "", b"session_name")
print(json.dumps({"value": value.decode(), "ms": (time.monotonic() - t0) * 1000}))
`;
    try {
      const { stdout, stderr } = await promisify(execFile)('python3', ['-c', probe, path.join(ROOT, 'scripts/warm-head.py'), String(port)], { timeout: 30_000, maxBuffer: 1 << 20 });
      const out = JSON.parse(stdout.trim()) as { value: string; ms: number };
      expect(out.value).toBe('from-ray');
      expect(out.ms).toBeLessThan(800);
      const lines = stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ray-head-ha warm head: session name: Ray's own read \(about 1 s\): the direct read failed: /);
      expect(lines[0]).toMatch(why);
    } finally {
      server.close();
    }
  });

  it('a warm head never outlives its candidate (SIGKILL), and a frozen candidate\'s warm head is fenced, then replaced when it thaws', async () => {
    const a = candidate('a');
    await a.waitForLog(isLeading, 20_000);
    const b = candidate('b');
    const w1 = await warmHead(b);
    b.proc.kill('SIGSTOP');
    try {
      // Nobody refreshes its deadline (now + renewDeadline - commandTimeout): its keeper kills it.
      await waitDead([w1], 10_000);
    } finally {
      b.proc.kill('SIGCONT');
    }
    const w2 = await warmHead(b, [w1]);
    b.proc.kill('SIGKILL');
    await waitDead([w2], 5_000);
  });

  it('a leader started warm: when its orchestrator is SIGKILLed its keeper still releases the lease (its release given at spawn, the token at the go)', async () => {
    const a = candidate('a');
    await a.waitForLog(isLeading, 20_000);
    const b = candidate('b');
    await warmHead(b);
    a.proc.kill('SIGTERM');
    const leading = await b.waitForLog(isLeading, 20_000);
    const started = await b.waitForLog(headStartedLine, 20_000);
    expect(started.warm).toBe(true);
    const events = await recordLeaseEvents(redis, ns);
    b.proc.kill('SIGKILL');
    await waitDead([Number(started.pid)], 5_000);
    await until('the keeper released the lease', () => events.length > 0, 20_000);
    expect(events).toContainEqual({ type: 'released', id: 'b', epoch: leading.epoch, valid: true });
  });

  it("a warm takeover with the system's TLS CA bundle (~220 KB, read into the keeper's release input) starts its head; its keeper still releases after a SIGKILL", async () => {
    const tls = makeTlsFiles();
    const tlsRedis = await startRedis({ tls });
    try {
      // The system's bundle, and the CA that signed this server's certificate.
      const bundle = path.join(dir, 'ca-bundle.crt');
      writeFileSync(bundle, `${readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8')}\n${readFileSync(tls.caCert, 'utf8')}`);
      expect(statSync(bundle).size).toBeGreaterThan(200_000);
      const env = { RAY_REDIS_CA_CERT: bundle, RAY_REDIS_ADDRESS: tlsRedis.address };
      const a = candidate('a', env, undefined, tlsRedis.url);
      await a.waitForLog(isLeading, 20_000);
      const b = candidate('b', env, undefined, tlsRedis.url);
      await warmHead(b);
      a.proc.kill('SIGTERM');
      const leading = await b.waitForLog(isLeading, 20_000);
      // Was: `RangeError: the release command is over 32760 bytes`, exit 1, right after winning.
      const started = await b.waitForLog(headStartedLine, 20_000);
      expect(started).toMatchObject({ warm: true });
      await until('the warm head ran main', () => existsSync(path.join(dir, `main-${started.pid}.json`)), 10_000);
      expect(b.proc.exitCode).toBe(null);
      const events = await recordLeaseEvents(tlsRedis, ns);
      b.proc.kill('SIGKILL');
      await waitDead([Number(started.pid)], 5_000);
      // The release is a node process the keeper starts: seconds on a loaded machine.
      await until('the keeper released the lease', () => events.length > 0, 20_000);
      expect(events).toContainEqual({ type: 'released', id: 'b', epoch: leading.epoch, valid: true });
    } finally {
      await tlsRedis.close();
      rmSync(tls.dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['RAY_HA_WARM_STANDBY=false', { RAY_HA_WARM_STANDBY: 'false' }, null, /RAY_HA_WARM_STANDBY=false/],
    ["a head command that is not Ray's CLI", {}, ['python3', '-c', 'import time; time.sleep(60)'], /python3.* is not Ray's console script|is not a script/],
  ] as const)('%s: every head starts cold, and the log says why', async (_name, env, command, why) => {
    const a = command ? candidate('a', env, [...command]) : candidate('a', env);
    const off = await a.waitForLog((l) => l.msg === 'no warm standby: every head starts cold', 20_000);
    expect(String(off.why)).toMatch(why);
    const started = await a.waitForLog(headStartedLine, 20_000);
    expect(started.warm).toBe(false);
    expect(a.logs.filter(warmWaiting())).toEqual([]);
  });
});
