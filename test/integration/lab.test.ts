/**
 * The multi-host lab itself (scripts/lab/), without Ray: hosts on a bridge
 * with no uplink, the fault verbs, the balancer following /readyz, and
 * teardown that leaves nothing behind after close, SIGINT, SIGTERM, or an
 * owner killed outright (swept by the next lab). Needs root, iproute2,
 * iptables, haproxy (scripts/setup.sh --lab).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLab, LAB_REGISTRY, startHaproxy, startLabRedis, sweepLabs, waitFor, type Lab } from '../helpers/lab.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures');

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const netnsNames = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
const linkNames = () => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });

interface Owned {
  id: string;
  workDir: string;
  hosts: Array<{ ns: string; address: string }>;
  pids: number[];
}

const owners = new Set<ChildProcess>();
afterEach(() => {
  // A failed assertion must not leave an owner (and its lab) behind: SIGTERM makes it tear down.
  for (const p of owners) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  owners.clear();
});

/** Starts test/fixtures/lab-owner.mjs; resolves with the lab it made and the owner process. */
async function ownedLab() {
  // Whatever the caller keeps (RHHA_LAB_KEEP), this lab's teardown is what is under test.
  const env = { ...process.env };
  delete env['RHHA_LAB_KEEP'];
  const proc = spawn(process.execPath, [path.join(FIXTURES, 'lab-owner.mjs')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  owners.add(proc);
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: proc.stdout! }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`lab-owner exited ${code}`)));
  });
  const lab = JSON.parse(line) as Owned;
  return { proc, lab, exited: new Promise((r) => proc.once('exit', r)) };
}

function expectPresent(lab: Owned): void {
  for (const h of lab.hosts) expect(netnsNames()).toContain(h.ns);
  expect(linkNames()).toContain(lab.id);
  expect(lab.pids.length).toBeGreaterThanOrEqual(6); // per host: unshare, sh/sleep, setsid sleep
  for (const p of lab.pids) expect(isAlive(p)).toBe(true);
}

async function expectGone(lab: Owned): Promise<void> {
  await waitFor('every process of the lab to be gone', () => lab.pids.every((p) => !isAlive(p)), 10_000);
  expect(netnsNames()).not.toContain(lab.id);
  expect(linkNames()).not.toContain(lab.id);
  expect(existsSync(lab.workDir)).toBe(false);
  expect(existsSync(path.join(LAB_REGISTRY, `${lab.id}.json`))).toBe(false);
}

describe('lab teardown', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to the owner: no namespace, link, process or work dir is left`, async () => {
      const { proc, lab, exited } = await ownedLab();
      expectPresent(lab);
      proc.kill(signal);
      await exited;
      await expectGone(lab);
    }, 30_000);
  }

  it('an owner killed outright (SIGKILL) leaves its lab; the next sweep removes all of it, and a live owner\'s lab is kept', async () => {
    const dead = await ownedLab();
    const live = await ownedLab();
    dead.proc.kill('SIGKILL');
    await dead.exited;
    expectPresent(dead.lab);
    expect(sweepLabs()).toEqual([dead.lab.id]);
    await expectGone(dead.lab);
    expectPresent(live.lab);
    live.proc.kill('SIGTERM');
    await live.exited;
    await expectGone(live.lab);
  }, 30_000);
});

describe('lab network and fault verbs', () => {
  let lab: Lab;
  let redisAddress: string;
  beforeAll(async () => {
    lab = createLab({ hosts: ['r', 'x', 's1', 's2', 'lb'] });
    redisAddress = (await startLabRedis(lab.host('r'))).address;
  }, 30_000);
  afterAll(() => lab?.close());

  const ping = (from: string, host = redisAddress.split(':')[0]!) =>
    lab.host(from).exec(['timeout', '1', 'redis-cli', '-h', host, 'ping'], { quiet: true })?.trim() ?? null;

  it('hosts have their own addresses in one /24, reach each other over the bridge, and have no route beyond it', () => {
    const addrs = [...lab.hosts.values()].map((h) => h.address);
    expect(new Set(addrs).size).toBe(addrs.length);
    for (const a of addrs) expect(a.startsWith(`${lab.prefix}.`)).toBe(true);
    expect(ping('x')).toBe('PONG');
    for (const h of lab.hosts.values()) expect(h.exec(['ip', 'route'])).not.toMatch(/default/);
  });

  it('partition drops everything but loopback and keeps the processes running; heal restores it', () => {
    const before = lab.host('r').pids();
    lab.host('r').partition();
    expect(ping('x')).toBe(null);
    expect(lab.host('r').exec(['redis-cli', '-h', '127.0.0.1', 'ping'])?.trim()).toBe('PONG');
    expect(lab.host('r').pids()).toEqual(before);
    lab.host('r').heal();
    expect(ping('x')).toBe('PONG');
  });

  it('a cut link isolates the host; the link back restores it', () => {
    lab.host('r').linkDown();
    expect(ping('x')).toBe(null);
    lab.host('r').linkUp();
    expect(ping('x')).toBe('PONG');
  });

  it('the balancer routes only to the server whose /readyz answers 200, and shuts sessions to a server marked down', async () => {
    const ready = (name: string) => path.join(lab.workDir, `${name}.ready`);
    for (const name of ['s1', 's2']) {
      const h = lab.host(name);
      await h.spawn(`readyz-${name}`, [process.execPath, path.join(FIXTURES, 'readyz-server.mjs'), name, h.address, ready(name)]);
    }
    writeFileSync(ready('s1'), '');
    const lb = await startHaproxy(lab.host('lb'), {
      ports: { gcs: 6379 },
      servers: ['s1', 's2'].map((n) => ({ name: n, address: lab.host(n).address })),
      checkPort: 8088,
      workDir: lab.workDir,
    });
    await waitFor('s1 up, s2 down', async () => JSON.stringify((await lb.serverStates())['gcs']) === '{"s1":"UP","s2":"DOWN"}', 10_000, 50);

    // A session through the balancer lands on s1 and stays open.
    const sock = net.connect({ host: lb.address, port: 6379 });
    const greeting = await new Promise<string>((r) => sock.once('data', (d) => r(String(d).trim())));
    expect(greeting).toBe('s1');
    const closed = new Promise<number>((r) => sock.once('close', () => r(Date.now())));

    const t0 = Date.now();
    rmSync(ready('s1'));
    writeFileSync(ready('s2'), '');
    const closedAt = await closed;
    expect(closedAt - t0).toBeLessThan(5000); // shut when s1 is marked down (checks every 100 ms)
    await waitFor('s2 up, s1 down', async () => JSON.stringify((await lb.serverStates())['gcs']) === '{"s1":"DOWN","s2":"UP"}', 10_000, 50);
    const next = net.connect({ host: lb.address, port: 6379 });
    expect(await new Promise<string>((r) => next.once('data', (d) => r(String(d).trim())))).toBe('s2');
    next.destroy();
  }, 60_000);

  it('killAll ends every process on a host, the link stays', async () => {
    const h = lab.host('s1');
    expect(h.pids().length).toBeGreaterThan(0);
    h.killAll();
    expect(h.pids()).toEqual([]);
    expect(ping('s2', lab.host('s1').address)).toBe(null); // nothing listens there now
    expect(lab.host('s1').exec(['ip', 'link', 'show', 'eth0'])).toContain('state UP');
  });
});
