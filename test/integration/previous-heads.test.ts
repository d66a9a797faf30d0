/**
 * How a leader finds its own head's node ID (src/ray/previous-heads.ts): the
 * process named `raylet` in the head's tree, and the `--node_id=` on its
 * command line. Real processes: a script named `raylet` (its comm) started
 * under a shell that stands in for the head, and one outside the tree that
 * must not be taken for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findInHeadTree } from '../../src/ray/gcs-process.js';
import { rayletNodeId } from '../../src/ray/previous-heads.js';
import { until } from '../helpers/candidates.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rhha-raylet-'));
const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const raylet = path.join(dir, 'raylet');
// Not `exec sleep`, which would change the comm: the script stays the process and sleeps in a child.
writeFileSync(raylet, '#!/bin/sh\nsleep 30\n');
chmodSync(raylet, 0o755);

function start(argv: string[]): ChildProcess {
  const p = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  procs.push(p);
  return p;
}

describe('the head\'s own node ID', () => {
  it('is the --node_id of the raylet in the head tree, not of a raylet elsewhere', async () => {
    const own = 'ab'.repeat(28);
    const other = 'cd'.repeat(28);
    // The head: a shell whose child is the raylet (as `ray start` starts it).
    const head = start(['/bin/sh', '-c', `${raylet} --node_id=${own} --other=1; sleep 30`]);
    const stranger = start([raylet, `--node_id=${other}`]);
    let found: { pid: number } | null = null;
    await until('the raylet in the head tree', () => (found = findInHeadTree(head.pid!, 'raylet')) !== null);
    expect(rayletNodeId(found!.pid)).toBe(own);
    expect(findInHeadTree(stranger.pid!, 'raylet')).toBeNull();
    expect(rayletNodeId(stranger.pid!)).toBe(other);
  });

  it('is null for a process without --node_id, or one that is gone', () => {
    expect(rayletNodeId(process.pid)).toBeNull();
    expect(rayletNodeId(2 ** 22 + 17)).toBeNull();
  });
});
