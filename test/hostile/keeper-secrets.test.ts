/**
 * Hostile inputs for the keeper (issue 14, item 12) and for secrets (item 8),
 * on real processes: the real keeper binaries, a real redis-server with a
 * password, the real orchestrator and shim in front of a stand-in `ray`.
 *
 * Keeper: numbers are decimal integers in range or a usage error (exit 2,
 * nothing started); a pid reused between the keeper's /proc scan and its
 * signal is never hit; the production binary has no test hooks.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keeperPath, testKeeperPath } from '../helpers/keeper.js';
import { Started, fixtures, isDead, nowMs, readPids, sleep, waitDead } from '../helpers/process-tree.js';

const started = new Started();
let dir: string;
let n = 0;
const file = (name: string) => path.join(dir, `${name}-${++n}`);

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rhha-hostile-keeper-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => started.killAll());

/** A keeper with its status fd (3) and control pipe; status lines as they come. */
function keeperWithStatus(binary: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const proc = spawn(binary, args, { stdio: ['pipe', 'inherit', 'pipe', 'pipe'], detached: true, env });
  started.group(proc.pid);
  const lines: string[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdio[3] as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const waitLine = async (prefix: string, timeoutMs = 5000): Promise<string> => {
    const t0 = nowMs();
    for (;;) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found !== undefined) return found.slice(prefix.length);
      if (nowMs() - t0 > timeoutMs) throw new Error(`no status line "${prefix}"; got ${JSON.stringify(lines)}; stderr ${stderr}`);
      await sleep(5);
    }
  };
  return { proc, lines, exited, waitLine, stderr: () => stderr };
}

describe('keeper: numbers are decimal integers in range, or a usage error', () => {
  const parent = String(process.pid);
  const cases: Array<[string, string[]]> = [
    ['--parent 0x10 (was read as 16)', ['--parent', '0x10']],
    ['--parent 1.9 (was read as 1)', ['--parent', '1.9']],
    ['--parent 1e3 (was read as 1000)', ['--parent', '1e3']],
    ['--parent -5', ['--parent', '-5']],
    ['--parent +5', ['--parent', '+5']],
    ['--parent " 5"', ['--parent', ' 5']],
    ['--parent 0', ['--parent', '0']],
    ['--parent 4194305 (over PID_MAX_LIMIT)', ['--parent', '4194305']],
    ['--parent 99999999999999999999 (overflow)', ['--parent', '99999999999999999999']],
    ['--parent "" (empty)', ['--parent', '']],
    ['--status-fd 1e12 (turned status off)', ['--parent', parent, '--status-fd', '1e12']],
    ['--status-fd -1', ['--parent', parent, '--status-fd', '-1']],
    ['--grace-ms 1.5', ['--parent', parent, '--grace-ms', '1.5']],
    ['--grace-ms 2147483648 (over poll\'s int)', ['--parent', parent, '--grace-ms', '2147483648']],
    ['--deadline-ms 1e300', ['--parent', parent, '--deadline-ms', '1e300']],
    ['--deadline-ms 9007199254740992 (2^53)', ['--parent', parent, '--deadline-ms', '9007199254740992']],
    ['--deadline-ms 12.5', ['--parent', parent, '--deadline-ms', '12.5']],
    ['--command-fd 0 (stdin is the control pipe)', ['--parent', parent, '--command-fd', '0']],
  ];
  it.each(cases)('%s: exit 2, the usage line, nothing started', (_name, args) => {
    const marker = file('parse');
    const r = spawnSync(keeperPath, [...args, '--', 'sh', '-c', 'touch "$0"', marker], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(2);
    const [problem, usage, ...rest] = r.stderr.trim().split('\n');
    expect(problem).toMatch(/^ray-head-ha-keeper: (bad option --[a-z-]+ |missing value)/);
    expect(usage).toMatch(/^usage: ray-head-ha-keeper --parent PID /);
    expect(rest).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('the largest values in range are taken (control for the cases above)', async () => {
    const marker = file('in-range');
    const k = keeperWithStatus(keeperPath, [
      '--parent', parent, '--grace-ms', '2147483647', '--deadline-ms', '9007199254740991', '--status-fd', '3',
      '--', 'sh', '-c', 'touch "$0"; exec sleep 1000', marker,
    ]);
    await k.waitLine('started ');
    k.proc.stdin!.write('stop 0\n');
    expect(await k.exited).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });

  it('control lines too: `deadline 1e300` and `stop 0x10` are refused and change nothing', async () => {
    const deadlineMs = Math.floor(nowMs() + 800);
    const k = keeperWithStatus(keeperPath, ['--parent', parent, '--grace-ms', '100', '--deadline-ms', String(deadlineMs), '--', 'sleep', '1000']);
    await k.waitLine('started ');
    // Read as floats before: 1e300 moved the deadline out of reach, 0x10 stopped the head.
    for (const line of ['deadline 1e300', 'deadline 1.5e12', 'deadline -1', 'stop 0x10', 'stop 1e3', 'stop -1']) k.proc.stdin!.write(`${line}\n`);
    expect(await k.exited).toBe(3); // fenced at the deadline given at start: nothing above moved or stopped it
    expect(nowMs()).toBeGreaterThanOrEqual(deadlineMs);
    expect(k.lines.filter((l) => l.startsWith('error '))).toEqual([
      'error unknown command: deadline 1e300',
      'error unknown command: deadline 1.5e12',
      'error unknown command: deadline -1',
      'error unknown command: stop 0x10',
      'error unknown command: stop 1e3',
      'error unknown command: stop -1',
    ]);
    expect(k.lines.at(-1)).toMatch(/^exit fenced /);
  });
});

describe('keeper: the production binary has no test hooks', () => {
  const hooks = ['RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS', 'RAY_HEAD_HA_KEEPER_TEST_DELAY_CHILD_MS', 'RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS'];

  it('names none of the delay variables; the test build names all of them', () => {
    const production = readFileSync(keeperPath, 'latin1');
    const test = readFileSync(testKeeperPath, 'latin1');
    for (const name of hooks) {
      expect(production.includes(name), `${name} in ${keeperPath}`).toBe(false);
      expect(test.includes(name), `${name} in ${testKeeperPath}`).toBe(true);
    }
  });

  it('ignores the delay variables: the head starts at once (the test build waits them out)', async () => {
    const env = { ...process.env, RAY_HEAD_HA_KEEPER_TEST_DELAY_PDEATHSIG_MS: '1500', RAY_HEAD_HA_KEEPER_TEST_DELAY_CHILD_MS: '1500' };
    const timeToStart = async (binary: string): Promise<number> => {
      const t0 = nowMs();
      const k = keeperWithStatus(binary, ['--parent', String(process.pid), '--', 'sleep', '1000'], env);
      await k.waitLine('started ', 10_000);
      const tookMs = nowMs() - t0;
      k.proc.stdin!.end(); // EOF: the keeper ends the head
      await k.exited;
      return tookMs;
    };
    expect(await timeToStart(keeperPath)).toBeLessThan(1000);
    expect(await timeToStart(testKeeperPath)).toBeGreaterThanOrEqual(1500);
  });
});

describe('keeper: a pid reused between the /proc scan and the KILL is not signalled', () => {
  it('the stranger that got a dead descendant\'s pid survives the keeper\'s last KILL round', async () => {
    const pidFile = file('victim');
    // The test build pauses 1.5 s between its scan and the signals of the KILL round.
    const k = keeperWithStatus(
      testKeeperPath,
      ['--parent', String(process.pid), '--grace-ms', '0', '--', path.join(fixtures, 'spawn-reaped-victim.sh'), pidFile],
      { ...process.env, RAY_HEAD_HA_KEEPER_TEST_DELAY_KILL_MS: '1500' },
    );
    await k.waitLine('started ');
    const [daemon, victim] = await readPids(pidFile);
    started.pid(daemon, victim);
    k.proc.stdin!.write('stop 0\n');
    // The scan saw the victim (it ignores TERM, so it is alive and in the KILL round).
    const scanned = (await k.waitLine('test kill-scan')).trim().split(' ').map(Number);
    expect(scanned).toContain(victim);
    // Now, inside the pause: the victim dies, its parent reaps it, and a stranger takes its pid.
    process.kill(victim!, 'SIGKILL');
    await waitDead([victim!], 1000);
    const t0 = nowMs();
    while (existsSync(`/proc/${victim}`) && nowMs() - t0 < 1000) await sleep(2); // reaped, the pid is free
    const taken = spawnSync('python3', [path.join(fixtures, 'take-pid.py'), String(victim)], { encoding: 'utf8', timeout: 10_000 });
    expect(taken.stderr).toBe('');
    expect(taken.status).toBe(0);
    const stranger = Number(taken.stdout.trim());
    started.pid(stranger);
    expect(stranger).toBe(victim);
    expect(k.lines.some((l) => l.startsWith('exit '))).toBe(false); // still inside the pause
    expect(await k.exited).toBe(0);
    expect(isDead(stranger)).toBe(false);
  });
});
