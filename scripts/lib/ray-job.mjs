// What the Ray Job CLI and the lab's steps job (scripts/lab/steps-job.py)
// print, read in one place for the lab, the campaign and the Kubernetes e2e.

/** A job's status from `ray job status` output (RUNNING, SUCCEEDED, ...), or null when it cannot tell. */
export function jobStatusOf(output) {
  return /Status for job '[^']+': (\w+)/.exec(output)?.[1] ?? (/Job '[^']+' (succeeded|failed|stopped)/.exec(output)?.[1]?.toUpperCase() ?? null);
}

/**
 * The steps in a steps job's logs: `done` is the count its last line gives
 * (`done N`; null when it has none), `missing` the step numbers among 0..N-1
 * without their `step I (` line (N: `expected`, else `done`; null when neither).
 */
export function stepsInLogs(logs, expected) {
  const m = /^done (\d+)$/m.exec(logs);
  const done = m ? Number(m[1]) : null;
  const n = expected ?? done;
  const missing = n === null ? null : [...Array(n).keys()].filter((i) => !logs.includes(`step ${i} (`));
  return { done, missing };
}
