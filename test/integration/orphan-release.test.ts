/**
 * Release on provable death (docs/design.md, decision 29): when the
 * orchestrator dies, its keeper kills and reaps the head's whole tree and only
 * then runs the release command, so standbys need not wait out the ttl. Never
 * while the orchestrator lives: not on a stop, a fence, an EOF from a parent
 * that lives on, or a frozen (SIGSTOPped) orchestrator. The orchestrator's
 * own releases (a graceful stop, a head that exited) come after the tree is
 * gone too (decision 21).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KeeperSupervisor } from '../../src/supervisor/keeper.js';
import { leaseKeys } from '../../src/redis/keys.js';
import { isLeading, until, type Candidate } from '../helpers/candidates.js';
import { useStandInCluster } from '../helpers/cluster.js';
import { keeperPath } from '../helpers/keeper.js';
import { recordLeaseEvents } from '../helpers/redis.js';
import { Started, fixtures, nowMs, procState, readPids, sleep, waitDead } from '../helpers/process-tree.js';

const started = new Started();
let dir: string;
let n = 0;
const file = (name: string) => path.join(dir, `${name}-${++n}`);

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rhha-orphan-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => started.killAll());

const FAMILY = path.join(fixtures, 'spawn-setsid-grandchild.sh');
const PROBE = path.join(fixtures, 'release-probe.sh');

/** The stand-in orchestrator (fixtures/spawn-keeper.mjs) with a release command, and its output. */
function standIn(args: string[], release: { command: string[]; input: string }, env: NodeJS.ProcessEnv = {}) {
  const proc = spawn(process.execPath, [path.join(fixtures, 'spawn-keeper.mjs'), keeperPath, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true,
    env: { ...process.env, SPAWN_KEEPER_RELEASE: JSON.stringify(release), ...env },
  });
  started.group(proc.pid!);
  const lines: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    if (line.startsWith('keeper ')) started.group(Number(line.slice(7)));
  });
  const waitLine = async (prefix: string, timeoutMs = 5000): Promise<string> => {
    await until(`a "${prefix}" line (got ${JSON.stringify(lines)})`, () => lines.some((l) => l.startsWith(prefix)), timeoutMs, 10);
    return lines.find((l) => l.startsWith(prefix))!.slice(prefix.length);
  };
  return { proc, waitLine, lines };
}

/**
 * FAMILY (a head, its child, a setsid daemon) under the stand-in orchestrator
 * with a release command that writes `input` and "done" to a file; once the
 * head started (and `between` ran), the orchestrator is SIGKILLed. Returns
 * what the release command wrote, once it ran and the keeper is gone.
 */
async function releasedAfterKill(input: string, env: NodeJS.ProcessEnv = {}, between?: (waitLine: (prefix: string) => Promise<string>, lines: string[]) => Promise<void>): Promise<string> {
  const pidFile = file('family');
  const out = file('released');
  const { proc, waitLine, lines } = standIn(['300', '60000', '--', FAMILY, pidFile], { command: [PROBE, out, pidFile], input }, env);
  const keeperPid = Number(await waitLine('keeper '));
  await waitLine('status started ');
  started.pid(...(await readPids(pidFile)));
  await between?.(waitLine, lines);
  proc.kill('SIGKILL');
  await until('the release command ran', () => existsSync(out), 5_000, 10);
  await waitDead([keeperPid], 2_000);
  return readFileSync(out, 'utf8');
}

describe('keeper: the release command', () => {
  it('runs once its orchestrator is SIGKILLed and the whole tree (head, child, setsid daemon) is reaped, with its input on stdin', async () => {
    // The probe looked for every process of the family when it started: none was left, not even a zombie.
    expect(await releasedAfterKill('the input\nsecond line')).toBe('the input\nsecond line\ndone\n');
  });

  it('a warm head\'s keeper (--warm-release-fd): the static part at spawn, the term\'s token from a `term` line, appended as a line', async () => {
    const released = await releasedAfterKill('{"static":1}\n', { SPAWN_KEEPER_WARM: '1', SPAWN_KEEPER_LINES: JSON.stringify(['term cand-b.1:x@y_z#1700000000123']) }, async (waitLine) => {
      await waitLine('status started ');
      await sleep(100); // the line is on its way right after `started`
    });
    expect(released).toBe('{"static":1}\ncand-b.1:x@y_z#1700000000123\n\ndone\n'); // the probe adds a newline after its input
  });

  it('a warm head\'s keeper that never got its term (its orchestrator died while it stood by) runs no release', async () => {
    const pidFile = file('family-warm');
    const out = file('released-warm');
    const { proc, waitLine, lines } = standIn(['300', '60000', '--', FAMILY, pidFile], { command: [PROBE, out, pidFile], input: '{"static":1}\n' }, { SPAWN_KEEPER_WARM: '1' });
    const keeperPid = Number(await waitLine('keeper '));
    await waitLine('status started ');
    const pids = await readPids(pidFile);
    started.pid(...pids);
    proc.kill('SIGKILL');
    await waitDead([...pids, keeperPid], 3_000);
    expect(existsSync(out)).toBe(false);
    expect(lines.filter((l) => l.startsWith('status release'))).toEqual([]);
  });

  it('`term` lines are checked: a bad token, one too long, a second term, each refused with an error line; the first good one is what the release gets', async () => {
    const bad = [
      'term a#0', 'term a#1.5', 'term a#0x10', 'term a#1e3', 'term a#-1', 'term a#+1', 'term #5', 'term a#', 'term a', 'term a b#5', 'term a#5 ',
      'term a/b#5', 'term a#b#5', 'term a#9007199254740992', `term ${'x'.repeat(201)}#5`, 'term', 'term ',
    ];
    const good = `term ${'x'.repeat(200)}#9007199254740991`;
    const sent = [...bad, `term ${'y'.repeat(2000)}#5`, good, 'term again#7'];
    let errors: string[] = [];
    const released = await releasedAfterKill('static\n', { SPAWN_KEEPER_WARM: '1', SPAWN_KEEPER_LINES: JSON.stringify(sent) }, async (waitLine, seen) => {
      await waitLine('status error term: already given');
      errors = seen.filter((l) => l.startsWith('status error ')).map((l) => l.slice('status error '.length));
    });
    // The keeper reports an over-long line after the lines read with it: the order depends on the pipe's chunks.
    const expected = [...bad.map((l) => `unknown command: ${l.slice(0, 80)}`), 'control line too long', 'term: already given'];
    expect([...errors].sort()).toEqual(expected.sort());
    expect(released).toBe(`static\n${'x'.repeat(200)}#9007199254740991\n\ndone\n`);
  });

  it('a `term` line to a keeper without --warm-release-fd is refused; its release from --release-fd runs unchanged', async () => {
    const released = await releasedAfterKill('whole input\nme#3\n', { SPAWN_KEEPER_LINES: JSON.stringify(['term other#9']) }, async (waitLine) => {
      expect(await waitLine('status error ')).toBe('term: no release awaits a term (no --warm-release-fd)');
    });
    expect(released).toBe('whole input\nme#3\n\ndone\n');
  });

  it('--orphan-grace-ms: once its orchestrator is dead, a head that ignores TERM is KILLed without the (long) grace, then released', async () => {
    const pidFile = file('stubborn');
    const out = file('released');
    const { proc, waitLine } = standIn(['10000', '60000', '--', path.join(fixtures, 'ignore-term.sh'), pidFile], { command: [PROBE, out, pidFile], input: 'x' }, {
      SPAWN_KEEPER_ORPHAN_GRACE_MS: '0',
    });
    await waitLine('status started ');
    const pids = await readPids(pidFile);
    started.pid(...pids);
    const t0 = nowMs();
    proc.kill('SIGKILL');
    await until('the release command ran', () => existsSync(out), 5_000, 10);
    const tookMs = nowMs() - t0;
    console.log(`[orphan-release] orchestrator SIGKILL -> stubborn head KILLed, tree reaped, release ran: ${tookMs.toFixed(0)} ms`);
    // Well inside the 10 s grace a stop or a fence would give it.
    expect(tookMs).toBeLessThan(5_000);
    expect(readFileSync(out, 'utf8')).toBe('x\ndone\n');
  });

  it('a TERM to the keeper from elsewhere while its orchestrator lives: the tree is stopped, nothing is released', async () => {
    const pidFile = file('family-term');
    const out = file('released-term');
    const { proc, waitLine, lines } = standIn(['300', '60000', '--', FAMILY, pidFile], { command: [PROBE, out, pidFile], input: 'never' });
    const keeperPid = Number(await waitLine('keeper '));
    await waitLine('status started ');
    const pids = await readPids(pidFile);
    started.pid(...pids);
    process.kill(keeperPid, 'SIGTERM');
    expect(await waitLine('keeper-exit ')).toBe('8 null'); // `signal`: ended by a TERM from elsewhere
    await waitDead(pids, 2_000);
    await sleep(300);
    expect(existsSync(out)).toBe(false); // its parent lives: no proof of death, no release
    expect(lines.filter((l) => l.startsWith('status release'))).toEqual([]);
    expect(proc.exitCode).toBe(0); // the stand-in orchestrator lived on, then exited as the keeper did
  });

  it('a release command that hangs is killed after 5 s, and the keeper still exits having reaped everything', async () => {
    const pidFile = file('family');
    const marker = file('hang');
    const hang = ['sh', '-c', 'echo $$ > "$0"; exec sleep 1000', marker];
    const { proc, waitLine } = standIn(['100', '60000', '--', FAMILY, pidFile], { command: hang, input: '' });
    const keeperPid = Number(await waitLine('keeper '));
    await waitLine('status started ');
    started.pid(...(await readPids(pidFile)));
    proc.kill('SIGKILL');
    const [hanging] = await readPids(marker);
    started.pid(hanging!);
    const t0 = nowMs();
    await waitDead([hanging!, keeperPid], 8_000);
    console.log(`[orphan-release] a hanging release command and its keeper were gone ${(nowMs() - t0).toFixed(0)} ms after it started`);
  });

  it('never runs while the orchestrator lives: not on a stop, a fence, nor an EOF from a parent that lives on', async () => {
    const sup = new KeeperSupervisor();
    const outs: string[] = [];
    const release = () => {
      const out = file('never');
      outs.push(out);
      return { command: [PROBE, out, '/dev/null'], input: 'x' };
    };
    // stop
    const stopped = await sup.start({ command: ['sleep', '1000'], env: process.env, killGraceMs: 200, deadlineMs: nowMs() + 60_000, onOrphaned: release() });
    started.group(stopped.keeperPid);
    expect((await stopped.stop('shutdown')).reason).toBe('shutdown');
    // fence
    const fenced = await sup.start({ command: ['sleep', '1000'], env: process.env, killGraceMs: 100, deadlineMs: nowMs() + 300, onOrphaned: release() });
    started.group(fenced.keeperPid);
    expect((await fenced.exited).reason).toBe('fenced');
    // EOF from a parent that lives on (this process): the keeper waits up to 1 s for a proof, then exits without it.
    const out = file('eof');
    const keeper = spawn(keeperPath, ['--parent', String(process.pid), '--grace-ms', '100', '--release-fd', '4', '--', 'sleep', '1000'], {
      stdio: ['pipe', 'inherit', 'inherit', 'pipe', 'pipe'],
      detached: true,
    });
    started.group(keeper.pid!);
    (keeper.stdio[4] as NodeJS.WritableStream).end(Buffer.from(`${PROBE}\0${out}\0/dev/null\0\0x`));
    const exited = new Promise<number | null>((resolve) => keeper.once('exit', (code) => resolve(code)));
    await sleep(300);
    keeper.stdin!.end();
    expect(await exited).toBe(4);
    await sleep(200);
    for (const o of [...outs, out]) expect(existsSync(o), o).toBe(false);
  });

  it.each([
    ['the same fd as --status-fd', ['--release-fd', '3'], /--release-fd .*must differ/],
    ['--warm-release-fd the same as --status-fd', ['--warm-release-fd', '3'], /--release-fd \(--warm-release-fd\) must differ/],
    ['both --release-fd and --warm-release-fd', ['--release-fd', '4', '--warm-release-fd', '5'], /bad option --warm-release-fd 5/],
    ['--stdin-fd (a warm head\'s go pipe) the same as --status-fd', ['--stdin-fd', '3'], /--stdin-fd must differ/],
    ['no empty argument after the command', null, /--release-fd: expected NUL-terminated arguments and an empty one/],
    ['an empty command', '\0input', /--release-fd: the command is empty/],
  ])('%s: exit 2, nothing started', async (_name, how, message) => {
    const marker = file('not-started');
    const args = Array.isArray(how) ? how : ['--release-fd', '4'];
    const keeper = spawn(keeperPath, ['--parent', String(process.pid), ...args, '--', 'sh', '-c', 'touch "$0"; exec sleep 1000', marker], {
      stdio: ['pipe', 'inherit', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    started.group(keeper.pid!);
    if (!Array.isArray(how)) (keeper.stdio[4] as NodeJS.WritableStream).end(Buffer.from(how ?? 'cmd\0arg'));
    let stderr = '';
    keeper.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => keeper.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('candidates: a lease is released only after its head tree is gone', () => {
  const cluster = useStandInCluster('orphan');
  const releasedLine = (l: Record<string, unknown>) => l.msg === 'released the lease: the orchestrator died and its keeper reaped the whole head tree';

  /** Every lease event of this test's namespace, parsed, from now on. */
  const recordEvents = () => recordLeaseEvents(cluster.redis, cluster.ns);

  /** The live head of a leading candidate and its term's epoch. */
  async function leading(c: Candidate) {
    const head = cluster.sampler.alive().find((h) => h.candidate === c.id)!;
    return { head, epoch: Number((await c.waitForLog(isLeading)).epoch) };
  }

  /** Watches the lease key and the head's family together: a sample with the lease gone and a process of the family still there is a violation. */
  function watchLeaseAndFamily(pids: number[]) {
    const raw = cluster.redis.client();
    const key = leaseKeys(cluster.ns).lease;
    const violations: { atMs: number; alive: number[] }[] = [];
    let goneAtMs: number | null = null;
    let stop = false;
    const done = (async () => {
      while (!stop) {
        const lease = await raw.get(key);
        // Checked after the reply: a process seen now was alive after the lease was read as gone.
        const alive = pids.filter((p) => procState(p) !== null);
        if (lease === null || !lease.startsWith('a#')) {
          goneAtMs ??= nowMs();
          if (alive.length > 0) violations.push({ atMs: nowMs(), alive });
        }
        if (goneAtMs !== null && alive.length === 0) break;
        await sleep(2);
      }
    })();
    return {
      violations,
      stop: async () => {
        stop = true;
        await done;
        return goneAtMs;
      },
    };
  }

  it('SIGKILL of the leading orchestrator: its keeper releases the lease (an event, not the ttl) only after the whole tree is gone; a standby takes over', async () => {
    const a = cluster.candidate('a');
    const leader = await cluster.leaderAmong([a]);
    expect(leader).toBe(a);
    const b = cluster.candidate('b');
    await b.waitForLog((l) => l.msg === 'candidate starting');
    const { head, epoch } = await leading(a);
    const events = await recordEvents();
    const watcher = watchLeaseAndFamily([head.pid, head.grandchild, head.daemon]);
    a.proc.kill('SIGKILL');
    await cluster.leaderAmong([b]);
    await watcher.stop();
    expect(watcher.violations).toEqual([]);
    expect(events).toContainEqual({ type: 'released', id: 'a', epoch, valid: true });
    expect(a.logs.filter(releasedLine)).toEqual([expect.objectContaining({ epoch, released: true })]);
    expect(cluster.sampler.overlaps).toEqual([]);
  });

  it.each([
    ['a graceful stop (SIGTERM)', (a: { proc: { kill: (s: NodeJS.Signals) => boolean } }) => a.proc.kill('SIGTERM'), 'released'],
    ['the head exiting by itself', null, 'released'],
  ] as const)('%s: the orchestrator releases the lease only after the whole head tree is gone (decision 21)', async (_name, fault, kind) => {
    const a = cluster.candidate('a', fault ? {} : { env: { STAND_IN_EXIT_AFTER_MS: '2500' } });
    await cluster.leaderAmong([a]);
    const { head, epoch } = await leading(a);
    const events = await recordEvents();
    const watcher = watchLeaseAndFamily([head.pid, head.grandchild, head.daemon]);
    if (fault) fault(a);
    await a.exited;
    await watcher.stop();
    expect(watcher.violations).toEqual([]);
    await until('the release event', () => events.length > 0, 2_000, 10);
    expect(events).toContainEqual({ type: kind, id: 'a', epoch, valid: true });
  });

  it('a frozen (SIGSTOPped) leader is not dead: its keeper fences the head but never releases; the lease runs out by its ttl', async () => {
    const a = cluster.candidate('a');
    await cluster.leaderAmong([a]);
    const b = cluster.candidate('b');
    await b.waitForLog((l) => l.msg === 'candidate starting');
    const events = await recordEvents();
    a.proc.kill('SIGSTOP');
    try {
      await cluster.leaderAmong([b]);
    } finally {
      a.proc.kill('SIGCONT');
    }
    expect((await a.exited).code).toBe(3);
    expect(a.logs.filter(releasedLine)).toEqual([]);
    expect(events.filter((e) => (e as { id?: string }).id === 'a' && (e as { type?: string }).type !== 'acquired')).toEqual([]);
    expect(cluster.sampler.overlaps).toEqual([]);
  });
});

