/**
 * `ray-head-ha watch`: the live view of a namespace, as JSON lines (for
 * scripts), as plain lines (pipes), and as a redrawn frame (terminals).
 */
import { spawn, spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CLI, until } from '../helpers/candidates.js';
import { freePort } from '../helpers/ports.js';
import { useStandInCluster } from '../helpers/cluster.js';
import { parseRedisAddress } from '../../src/redis/address.js';
import { watch } from '../../src/watch.js';

const cluster = useStandInCluster('watch', { sample: false });
const { leaderAmong } = cluster;
const candidate = (id: string) => cluster.candidate(id);

/** `ray-head-ha watch ...` as a child; resolves with its output when it exits. */
function watchCli(args: string[]) {
  const proc = spawn(process.execPath, [CLI, 'watch', '--redis', cluster.redis.address, '--namespace', cluster.ns, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, exited, out: () => stdout, err: () => stderr };
}

describe('ray-head-ha watch', () => {
  it('--json: status lines with a ttl counting down, and the events of a failover as they arrive', async () => {
    const cs = [candidate('a'), candidate('b')];
    const first = await leaderAmong(cs);
    const w = watchCli(['--json', '--duration-ms', '4000']);
    await until('watch printed the leader', () => w.out().includes(`"id":"${first.id}"`), 5_000);
    first.proc.kill('SIGTERM');
    const second = await leaderAmong(cs.filter((c) => c !== first));
    expect(await w.exited).toBe(0);

    const lines = w.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    const statuses = lines.filter((l) => l.type === 'status');
    const events = lines.filter((l) => l.type === 'event').map((e) => `${e.event} ${e.id} ${e.epoch}`);
    const epoch1 = statuses[0]!.leader.epoch as number;
    expect(statuses[0]!.leader).toMatchObject({ id: first.id, gcsAddress: `127.0.0.1:${cluster.gcsPort}` });
    expect(events).toEqual([`released ${first.id} ${epoch1}`, `acquired ${second.id} ${epoch1 + 1}`]);
    // The status follows the lease to the new leader, and says how long the lease has left.
    const last = statuses.at(-1)!;
    expect(last.leader).toMatchObject({ id: second.id, epoch: epoch1 + 1 });
    for (const s of statuses.filter((s) => s.leader)) {
      expect(s.leader.ttlMs).toBeGreaterThan(0);
      expect(s.leader.ttlMs).toBeLessThanOrEqual(1500);
    }
    // About one status line a second while nothing changes: the ttl counts down in the output too.
    expect(statuses.length).toBeGreaterThanOrEqual(4);
    expect(statuses.length).toBeLessThan(10);
    expect(w.err()).toBe('');
  });

  /** The namespace's epoch counter: epochs start at the server's time in ms. */
  async function currentEpoch(): Promise<number> {
    return Number(await cluster.redis.client().get(`ray-head-ha:{${cluster.ns}}:epoch`));
  }

  it('--once prints the leader in one line; with no leader it says so', async () => {
    const none = spawnSync(process.execPath, [CLI, 'watch', '--once', '--redis', cluster.redis.address, '--namespace', cluster.ns], { encoding: 'utf8' });
    expect(none.status).toBe(0);
    expect(none.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} no leader \(last epoch 0\)\n$/);

    const c = candidate('solo');
    await leaderAmong([c]);
    const epoch = await currentEpoch();
    const one = spawnSync(process.execPath, [CLI, 'watch', '--once', '--redis', cluster.redis.address, '--namespace', cluster.ns], { encoding: 'utf8' });
    expect(one.status).toBe(0);
    expect(one.stdout).toMatch(new RegExp(`^\\S+ leader solo epoch ${epoch} ttl 1\\.\\d s gcs 127\\.0\\.0\\.1:${cluster.gcsPort} since \\S+Z\\n$`));
  });

  it('plain lines in a pipe: events and status changes, one per line', async () => {
    const c = candidate('p');
    await leaderAmong([c]);
    const epoch = await currentEpoch();
    const w = watchCli(['--duration-ms', '2000']);
    await until('watch printed the leader', () => w.out().includes('leader p '), 5_000);
    c.proc.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    const lines = w.out().trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^\\S+ leader p epoch ${epoch} ttl `));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^\\S+ event released p epoch ${epoch}$`)));
    expect(lines.at(-1)).toMatch(new RegExp(`^\\S+ no leader \\(last epoch ${epoch}\\)$`));
  });

  it('on a terminal: one frame redrawn in place, the ttl counting down', async () => {
    const c = candidate('t');
    await leaderAmong([c]);
    const epoch = await currentEpoch();
    const out = Object.assign(new PassThrough(), { isTTY: true });
    let text = '';
    out.setEncoding('utf8').on('data', (d: string) => (text += d));
    await watch({ redis: parseRedisAddress(cluster.redis.address, 'test'), namespace: cluster.ns, out, connectTimeoutMs: 1_000, durationMs: 600, intervalMs: 50 });
    const frames = text.split('\x1b[H').slice(1);
    expect(frames.length).toBeGreaterThan(5);
    const last = frames.at(-1)!.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    expect(last).toMatch(/leader {7}t\n/);
    expect(last).toMatch(new RegExp(`epoch {8}${epoch}\n`));
    expect(last).toContain('events\n(none yet)');
    const ttls = frames.map((f) => Number(/ttl left\s+([\d.]+) s/.exec(f)?.[1])).filter((x) => !Number.isNaN(x));
    expect(ttls.length).toBeGreaterThan(5);
    expect(Math.min(...ttls)).toBeLessThan(Math.max(...ttls));
    expect(text.endsWith('\x1b[?25h')).toBe(true); // cursor shown again
  });

  it('Redis unreachable: --once fails with one line; a live watch keeps going and says so', async () => {
    const port = await freePort();
    const once = spawnSync(process.execPath, [CLI, 'watch', '--once', '--redis', `127.0.0.1:${port}`], { encoding: 'utf8' });
    expect(once.status).toBe(1);
    expect(once.stderr).toMatch(/^ray-head-ha: cannot read status from redis:\/\/127\.0\.0\.1:\d+: Redis unreachable \(.*ECONNREFUSED.*\)\n$/);

    const live = spawnSync(process.execPath, [CLI, 'watch', '--duration-ms', '500', '--redis', `127.0.0.1:${port}`], { encoding: 'utf8' });
    expect(live.status).toBe(0);
    expect(live.stdout).toMatch(/Redis unreachable/);
  });
});
