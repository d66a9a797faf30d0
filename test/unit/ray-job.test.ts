/**
 * How the lab, the campaign and the Kubernetes e2e read a Ray Job's status
 * and the steps job's logs (scripts/lib/ray-job.mjs). The outputs are the
 * shapes Ray 2.60's `ray job status` and scripts/lab/steps-job.py print.
 */
import { describe, expect, it } from 'vitest';
import { jobStatusOf, stepsInLogs } from '../helpers/ray-job.js';

describe('jobStatusOf', () => {
  it('reads the status line of a running job and the final line of an ended one', () => {
    expect(jobStatusOf("Job submission server address: http://10.0.0.2:8265\nStatus for job 'a': RUNNING\nStatus message: Job is currently running.")).toBe('RUNNING');
    expect(jobStatusOf("------------------------------------------\nJob 'b' succeeded\n------------------------------------------")).toBe('SUCCEEDED');
    expect(jobStatusOf("Job 'c' failed\nStatus message: ...")).toBe('FAILED');
  });

  it('says null when the CLI printed no status (the dashboard did not answer)', () => {
    expect(jobStatusOf('ConnectionError: Failed to connect to Ray at address: http://ray-head:8265.')).toBeNull();
    expect(jobStatusOf('')).toBeNull();
  });
});

describe('stepsInLogs', () => {
  const logs = (steps: number[], done?: number) => [...steps.map((i) => `step ${i} (0.01 s)`), ...(done === undefined ? [] : [`done ${done}`])].join('\n');

  it('finds every step and the done line of a complete log', () => {
    expect(stepsInLogs(logs([0, 1, 2], 3))).toEqual({ done: 3, missing: [] });
    expect(stepsInLogs(logs([0, 1, 2], 3), 3)).toEqual({ done: 3, missing: [] });
  });

  it('names the steps a log lacks, by the done count or by the count expected', () => {
    expect(stepsInLogs(logs([0, 2], 3))).toEqual({ done: 3, missing: [1] });
    expect(stepsInLogs(logs([0, 1], 2), 4)).toEqual({ done: 2, missing: [2, 3] });
  });

  it('does not take step 1 for step 10, nor a done inside another line', () => {
    expect(stepsInLogs('step 10 (0.01 s)\nnot done 1', 2)).toEqual({ done: null, missing: [0, 1] });
  });

  it('has no missing list when neither a done line nor a count says how many', () => {
    expect(stepsInLogs(logs([0, 1]))).toEqual({ done: null, missing: null });
  });
});
