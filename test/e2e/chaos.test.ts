/**
 * The short fault campaign CI runs (about 30 trials; the long one is
 * `npm run chaos -- --trials 500`). The campaign itself checks every trial
 * (split-brain, epochs, orphans, takeover bounds); this asserts its verdict.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/candidates.js';

describe('fault campaign', () => {
  it('30 random faults: no split-brain, epochs only grow, no orphan, every takeover within its bound', async () => {
    const seed = process.env.CHAOS_SEED ?? String(Date.now() % 1_000_000);
    const out = mkdtempSync(path.join(tmpdir(), 'rhha-chaos-'));
    // Asynchronously: a worker blocked in spawnSync for a minute misses vitest's own RPC deadline.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(ROOT, 'scripts/fault-campaign.mjs'), '--trials', '30', '--seed', seed, '--out', out, '--quiet'],
        { encoding: 'utf8', timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    const report = `seed ${seed} (replay: CHAOS_SEED=${seed})\n${r.stdout}\n${r.stderr}`;
    expect(r.status, report).toBe(0);
    const summary = JSON.parse(readFileSync(path.join(out, 'chaos.json'), 'utf8')) as {
      trials: number;
      failed: number;
      splitBrainMs: number;
      byFault: Record<string, { orphans: number }>;
    };
    expect(summary.trials, report).toBe(30);
    expect(summary.failed, report).toBe(0);
    expect(summary.splitBrainMs, report).toBe(0);
    expect(Object.values(summary.byFault).reduce((a, f) => a + f.orphans, 0), report).toBe(0);
    // A campaign that drew only one kind of fault would prove little.
    expect(Object.keys(summary.byFault).length, report).toBeGreaterThanOrEqual(5);
  }, 900_000);
});
