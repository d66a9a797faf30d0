/**
 * scripts/head-site/sitecustomize.py (decision 41), with the real Ray from
 * .venv: first on an HA head's PYTHONPATH, it changes Ray's job manager only
 * when told to (RAY_HA_HEAD_SITE=1 with RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES=1),
 * only once that module is imported, and it still runs the sitecustomize it
 * hides. Where jobs then run is the lab e2e's (test/e2e/lab-failover.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/candidates.js';

const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const SITE = path.join(ROOT, 'scripts', 'head-site');
const hidden = mkdtempSync(path.join(tmpdir(), 'rhha-hidden-site-'));
// A sitecustomize of the user's, later on the path: it must still run.
writeFileSync(path.join(hidden, 'sitecustomize.py'), 'import os\nos.environ["HIDDEN_SITECUSTOMIZE_RAN"] = "yes"\n');
afterAll(() => rmSync(hidden, { recursive: true, force: true }));

/** Runs `code` in Ray's Python with the head's site dir first; returns its stdout lines and stderr. */
function py(code: string, env: Record<string, string>): { out: string[]; err: string; status: number | null } {
  const r = spawnSync(PYTHON, ['-c', code], {
    env: { PATH: process.env.PATH ?? '', PYTHONPATH: [SITE, hidden].join(':'), ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { out: r.stdout.trim().split('\n'), err: r.stderr, status: r.status };
}

const SELECTOR = [
  'import os',
  'from ray.dashboard.modules.job import job_manager as m',
  'print(m.JobManager._get_label_selector.__qualname__)',
  'print(os.environ.get("HIDDEN_SITECUSTOMIZE_RAN"))',
].join('\n');
const ON = { RAY_HA_HEAD_SITE: '1', RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES: '1' };

describe("the head's sitecustomize", () => {
  it("replaces Ray's job placement for jobs without resources when told to, and runs the sitecustomize it hides", () => {
    const r = py(SELECTOR, ON);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toEqual(['patch.<locals>._get_label_selector', 'yes']);
  });

  it('changes nothing with RAY_HA_HEAD_SITE other than 1, or with Ray pinning jobs to the head', () => {
    for (const env of [{ ...ON, RAY_HA_HEAD_SITE: 'true' }, { ...ON, RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES: '0' }, {}]) {
      const r = py(SELECTOR, env);
      expect(r.status, r.err).toBe(0);
      expect(r.out, JSON.stringify(env)).toEqual(['JobManager._get_label_selector', 'yes']);
    }
  });

  it("imports nothing of Ray's until the job manager is imported", () => {
    const r = py('import sys\nprint(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))', ON);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toEqual(['[]']);
  });

  // What the replacement returns, given a job manager module shaped as Ray 2.60's (its own
  // selector and head lookup answer without a GCS here; the real module is patched above).
  const SHAPED = (head: string) => [
    'import asyncio, types, sitecustomize',
    'm = types.ModuleType("job_manager")',
    'class JobManager:',
    '    _gcs_client = None',
    '    async def _get_label_selector(self, resources_specified): return {"ray": resources_specified}',
    'm.JobManager = JobManager',
    `async def get_head_node_id(client): return ${head}`,
    'm.get_head_node_id = get_head_node_id',
    'sitecustomize.patch(m)',
    'sitecustomize.patch(m)  # twice: once in effect',
    'print(asyncio.run(m.JobManager()._get_label_selector(False)))',
    'print(asyncio.run(m.JobManager()._get_label_selector(True)))',
  ].join('\n');

  it("gives a job without resources the selector 'not the head's node'; one with resources goes to Ray's own", () => {
    const r = py(SHAPED('"abc123"'), ON);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toEqual(["{'ray.io/node-id': '!abc123'}", "{'ray': True}"]);
  });

  it("leaves the job to Ray's placement when no head is known yet, or reading it fails", () => {
    expect(py(SHAPED('None'), ON).out).toEqual(["{'ray': False}", "{'ray': True}"]);
    const failing = py(SHAPED('None').replace('return None', 'raise RuntimeError("GCS away")'), ON);
    expect(failing.status, failing.err).toBe(0);
    expect(failing.out).toEqual(["{'ray': False}", "{'ray': True}"]);
  });

  it("a Ray whose job manager cannot be changed: unchanged, one line on stderr saying jobs may run on the head", () => {
    const code = [
      'import sys, types, sitecustomize',
      'm = types.ModuleType("job_manager")',
      'class JobManager:',
      '    async def _get_scheduling_strategy(self, resources_specified): return None',
      '    def _get_label_selector_sync(self, resources_specified): return None',
      'm.JobManager = JobManager',
      'm.get_head_node_id = lambda client: None',
      'print(sitecustomize.why_not_patchable(m))',
      'sitecustomize.patch(m)',
      'print(hasattr(m.JobManager, "_get_label_selector"))',
    ].join('\n');
    const r = py(code, ON);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toEqual(["this Ray's job manager has no _get_label_selector", 'False']);
    expect(r.err.trim()).toBe(
      "ray-head-ha: this Ray's job manager has no _get_label_selector: a Ray Job submitted without resources may run on the head and die with the leader",
    );
  });

  it('a _get_label_selector of another shape (not a coroutine, other parameters) is left alone', () => {
    for (const [def, why] of [
      ['    def _get_label_selector(self, resources_specified): return {}', "this Ray's JobManager._get_label_selector is not a coroutine"],
      ['    async def _get_label_selector(self, resources_specified, head_only): return {}', "this Ray's JobManager._get_label_selector takes (self, resources_specified, head_only), not (self, resources_specified)"],
    ]) {
      const code = ['import types, sitecustomize', 'm = types.ModuleType("job_manager")', 'class JobManager:', def!, 'm.JobManager = JobManager',
        'async def get_head_node_id(client): return "abc"', 'm.get_head_node_id = get_head_node_id', 'print(sitecustomize.why_not_patchable(m))'].join('\n');
      const r = py(code, ON);
      expect(r.status, r.err).toBe(0);
      expect(r.out).toEqual([why]);
    }
  });

  it('a second copy of this directory on the path is skipped, not chained to (no loop); the hidden one still runs', () => {
    const copy = mkdtempSync(path.join(tmpdir(), 'rhha-site-copy-'));
    try {
      writeFileSync(path.join(copy, 'sitecustomize.py'), readFileSync(path.join(SITE, 'sitecustomize.py'), 'utf8'));
      const r = spawnSync(PYTHON, ['-c', 'import os; print(os.environ.get("HIDDEN_SITECUSTOMIZE_RAN"))'], {
        env: { PATH: process.env.PATH ?? '', PYTHONPATH: [SITE, copy, hidden].join(':'), ...ON },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('yes');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
