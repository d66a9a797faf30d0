/**
 * scripts/head-site/sitecustomize.py (decision 41), with the real Ray from
 * .venv: first on an HA head's PYTHONPATH, it changes Ray's job manager only
 * when told to (RAY_HA_JOBS_OFF_HEAD=1 with RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES=1),
 * only once that module is imported, and it still runs the sitecustomize it
 * hides. Where jobs then run is the lab e2e's (test/e2e/lab-failover.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
const ON = { RAY_HA_JOBS_OFF_HEAD: '1', RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES: '1' };

describe("the head's sitecustomize", () => {
  it("replaces Ray's job placement for jobs without resources when told to, and runs the sitecustomize it hides", () => {
    const r = py(SELECTOR, ON);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toEqual(['patch.<locals>._get_label_selector', 'yes']);
  });

  it('changes nothing with RAY_HA_JOBS_OFF_HEAD other than 1, or with Ray pinning jobs to the head', () => {
    for (const env of [{ ...ON, RAY_HA_JOBS_OFF_HEAD: 'false' }, { ...ON, RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES: '0' }, {}]) {
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

  it("a Ray whose job manager cannot be changed: unchanged, one line on stderr saying jobs may run on the head", () => {
    const code = [
      'import sys, types, sitecustomize',
      'm = types.ModuleType("job_manager")',
      'class JobManager:',
      '    async def _get_scheduling_strategy(self, resources_specified): return None',
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
});
