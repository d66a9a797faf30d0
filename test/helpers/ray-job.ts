/** Ray Job CLI output and the steps job's logs: scripts/lib/ray-job.mjs (one implementation with the scripts), typed. */
import * as impl from '../../scripts/lib/ray-job.mjs';

/** A job's status from `ray job status` output (RUNNING, SUCCEEDED, ...), or null when it cannot tell. */
export const jobStatusOf = impl.jobStatusOf as (output: string) => string | null;

/** The count in the steps job's `done N` line (null without one), and the numbers of 0..N-1 (N: expected, else done) without their step line. */
export const stepsInLogs = impl.stepsInLogs as (logs: string, expected?: number) => { done: number | null; missing: number[] | null };
