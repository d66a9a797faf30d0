/**
 * The zx scripts operators debug with: trace.mjs on the logs of real
 * candidates (the terms table, an SVG with one lane per candidate),
 * chaos.mjs against a running local-cluster.mjs (kill and black-hole the
 * leader: another one leads), and the demo with --trace.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { freePort } from '../helpers/ports.js';
import { HeadSampler, ROOT, STAND_IN, isAlive, isLeading, killAllCandidates, startCandidate, until } from '../helpers/candidates.js';
import { FAST_TIMING } from '../helpers/cluster.js';

const run = promisify(execFile);
const script = (name: string) => path.join(ROOT, 'scripts', name);
const node = (name: string, args: string[], timeout = 30_000) => run(process.execPath, [script(name), ...args], { cwd: ROOT, timeout });

interface Term { id: string; epoch: number; ended: string; durationMs: number; endKnown: boolean }
interface Trace { candidates: string[]; terms: Term[]; faults: { fault: string; target: string | null }[] }

/** The SVG through a real XML parser (Python's ElementTree): its lanes and state bars. */
async function svgLanes(file: string): Promise<{ lanes: string[]; leadingBars: number }> {
  const py = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
lanes = [g.get('data-candidate') for g in root.iter(ns + 'g') if g.get('class') == 'lane']
leading = [r for r in root.iter(ns + 'rect') if (r.get('class') or '') == 'state leading']
print(json.dumps({'lanes': lanes, 'leadingBars': len(leading)}))`;
  return JSON.parse((await run('python3', ['-c', py, file])).stdout);
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'rhha-scripts-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('trace.mjs', () => {
  let redis: RedisServer;
  let sampler: HeadSampler;
  beforeAll(async () => {
    redis = await startRedis();
    sampler = new HeadSampler();
  });
  afterAll(async () => {
    await killAllCandidates();
    sampler.close();
    await redis.close();
  });

  it('reads real candidates\' logs: a terms table and an SVG with one lane per candidate', async () => {
    const gcsPort = await freePort();
    const cand = (id: string) =>
      startCandidate({
        id, redis: redis.address, namespace: 'trace', args: [...FAST_TIMING, '--gcs-address', `127.0.0.1:${gcsPort}`],
        command: [process.execPath, STAND_IN, String(gcsPort), sampler.dir],
      });
    const a = cand('alpha');
    const first = await a.waitForLog(isLeading);
    const headUp = (id: string) => until(`${id}'s head listening`, () => sampler.alive().some((r) => r.candidate === id));
    await headUp('alpha');
    const b = cand('beta');
    await b.waitForLog((l) => l.to === 'standby');
    a.proc.kill('SIGTERM'); // graceful: alpha releases, beta takes over at once
    const second = await b.waitForLog(isLeading);
    await a.exited;
    await headUp('beta');
    b.proc.kill('SIGTERM');
    await b.exited;
    const files = [a, b].map((c) => {
      const f = path.join(work, `${c.id}.log`);
      writeFileSync(f, `${c.stderr.join('\n')}\nnot a JSON line: skipped\n`);
      return f;
    });
    const svg = path.join(work, 'trace.svg');

    const text = (await node('trace.mjs', [...files, '--svg', svg])).stdout;
    const rows = text.split('\n').filter((l) => /^(alpha|beta) /.test(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`^alpha\\s+${first.epoch}\\s+\\d+\\.\\d{3} s\\s+\\d+\\.\\d{3} s\\s+\\d+ ms\\s+-\\s+shutdown · head exit 0$`));
    expect(rows[1]).toMatch(new RegExp(`^beta\\s+${second.epoch}\\s+.*\\d+ ms\\s+shutdown · head exit 0$`));
    expect(text).toMatch(/^candidate\s+epoch\s+from\s+to\s+duration\s+no leader before\s+ended$/m);

    const json = JSON.parse((await node('trace.mjs', [...files, '--json'])).stdout) as Trace;
    expect(json.candidates).toEqual(['alpha', 'beta']);
    expect(json.terms.map((t) => [t.id, t.epoch, t.endKnown])).toEqual([['alpha', first.epoch, true], ['beta', second.epoch, true]]);
    expect(second.epoch as number).toBeGreaterThan(first.epoch as number);

    const pic = await svgLanes(svg);
    expect(pic.lanes).toEqual(['alpha', 'beta']);
    expect(pic.leadingBars).toBe(2);
  });
});

describe('local-cluster.mjs and chaos.mjs', () => {
  let cluster: ChildProcess | null = null;
  let out = '';
  afterEach(async () => {
    // local-cluster stops its candidates, heads and Redis on SIGTERM; SIGKILL only if it hangs.
    if (cluster && cluster.exitCode === null && cluster.signalCode === null) {
      const gone = new Promise((r) => cluster!.once('exit', r));
      cluster.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (cluster.exitCode === null && cluster.signalCode === null) cluster.kill('SIGKILL');
    }
  });

  it('chaos.mjs kills and black-holes the leader of a running cluster: another one leads; trace.mjs reads the workdir', async () => {
    const dir = path.join(work, 'cluster');
    cluster = spawn(process.execPath, [script('local-cluster.mjs'), '--candidates', '2', '--ttl-ms', '1500', '--http', '--quiet', '--keep', '--workdir', dir], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    cluster.stdout!.on('data', (d) => (out += d));
    cluster.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => cluster!.once('exit', (code) => r(code)));
    const clusterJson = path.join(dir, 'cluster.json');
    const chaos = async (...args: string[]) => JSON.parse((await node('chaos.mjs', [...args, '--cluster', clusterJson, '--json'])).stdout);

    await until('cluster.json', () => existsSync(clusterJson), 15_000);
    let leader: { id: string; epoch: number; pid: number } | null = null;
    await until('a leader', async () => {
      leader = await chaos('leader').catch(() => null);
      return leader !== null;
    }, 15_000, 100);
    const first = leader!;
    const doc = JSON.parse(readFileSync(clusterJson, 'utf8'));
    expect(doc.candidates.map((c: { id: string }) => c.id)).toEqual(['candidate-1', 'candidate-2']);
    expect(doc.candidates.find((c: { id: string }) => c.id === first.id).pid).toBe(first.pid);
    expect(doc.control).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // SIGKILL the leader's orchestrator: a new term begins once the lease runs out (local-cluster
    // restarts the killed candidate after a second, so it may be the one that wins it).
    const killed = await chaos('kill', '--wait');
    expect(killed.target).toBe(first.id);
    expect(killed.pid).toBe(first.pid);
    expect(killed.next.epoch).toBeGreaterThan(first.epoch);
    expect(killed.next.afterMs).toBeLessThan(3000);
    await until('the killed candidate restarted', () => {
      const c = JSON.parse(readFileSync(clusterJson, 'utf8')).candidates.find((x: { id: string }) => x.id === first.id);
      return c.pid !== null && c.pid !== first.pid;
    }, 10_000);
    // The new leader's /readyz answers 200 (the view's readiness comes from there).
    const second = killed.next as { id: string; epoch: number };
    const httpOf = (id: string) => JSON.parse(readFileSync(clusterJson, 'utf8')).candidates.find((x: { id: string }) => x.id === id).http;
    await until('the new leader ready', async () => (await fetch(`http://${httpOf(second.id)}/readyz`).catch(() => null))?.status === 200, 5000);

    // Black-hole the new leader's Redis link (through local-cluster's control endpoint): it steps down, the other leads.
    const other = second.id === 'candidate-1' ? 'candidate-2' : 'candidate-1';
    const holed = await chaos('blackhole', '--wait');
    expect(holed.targets).toEqual([second.id]);
    expect(holed.next.id).toBe(other);
    expect(holed.next.epoch).toBeGreaterThan(second.epoch);
    expect((await chaos('heal')).targets).toEqual([second.id]);

    cluster.kill('SIGTERM');
    expect(await exited).toBe(0);
    const pids = JSON.parse(readFileSync(clusterJson, 'utf8')).candidates.map((c: { pid: number | null }) => c.pid);
    expect(pids).toEqual([null, null]);
    expect([first.pid].filter(isAlive)).toEqual([]);

    const trace = JSON.parse((await node('trace.mjs', [dir, '--json'])).stdout) as Trace;
    expect(trace.candidates).toEqual(['candidate-1', 'candidate-2']);
    expect(trace.faults.map((f) => [f.fault, f.target])).toEqual([['kill', first.id], ['blackhole', second.id], ['heal', second.id]]);
    const terms = trace.terms.map((t) => [t.id, t.epoch, t.ended.split(' · ')[0]]);
    expect(terms.slice(0, 3)).toEqual([
      [first.id, first.epoch, 'killed (SIGKILL)'],
      [second.id, second.epoch, expect.stringMatching(/deadline|max-failures|lost-lease/)],
      [other, holed.next.epoch, 'shutdown'],
    ]);
  });

  it('the demo exits 0, prints the timeline and writes the picture with --trace', async () => {
    const svg = path.join(work, 'demo.svg');
    const { stdout } = await node('local-cluster.mjs', ['--demo', '--quiet', '--ttl-ms', '1500', '--trace', svg], 45_000);
    expect(stdout).toMatch(/\nTimeline\n/);
    expect(stdout).toMatch(/SIGKILL candidate-\d's orchestrator/);
    expect(stdout).toMatch(/never two heads alive at once/);
    expect(stdout.split('\n').filter((l) => /^candidate-\d\s+\d+\s/.test(l))).toHaveLength(4);
    const pic = await svgLanes(svg);
    expect(pic.lanes).toEqual(['candidate-1', 'candidate-2', 'candidate-3']);
    expect(pic.leadingBars).toBe(4);
  });
});
