/**
 * The one seam between the election and the head's processes. The election
 * starts a head through a HeadSupervisor and never learns how it is spawned:
 * the native keeper (src/supervisor/keeper.ts) is the production
 * implementation; a plain-spawn one exists for platforms tests and debugging.
 */

/** Why a head stopped, in one spelling everywhere (logs, metrics, exit codes). */
export type StopReason =
  | 'head-exit' // the head exited by itself
  | 'gcs-exit' // the head's GCS process died while the head's main process still ran (Ray: see src/ray/gcs-process.ts)
  | 'shutdown' // SIGTERM / SIGINT to the orchestrator
  | 'lost-lease' // a renew found the lease held by someone else (or gone)
  | 'deadline' // no renew succeeded within renewDeadlineMs
  | 'fenced' // the keeper's own deadline passed before the orchestrator acted
  | 'previous-gcs' // the previous leader's GCS kept answering past the bound
  | 'start-failed'; // the head command could not be started

/** One shape for every end of a head, success or failure. */
export interface HeadExit {
  /** Exit code of the head's main process, or null when a signal ended it. */
  code: number | null;
  /** Signal name that ended the head's main process, or null. */
  signal: NodeJS.Signals | null;
  reason: StopReason;
  /** Milliseconds from start to the moment the whole tree was gone. */
  durationMs: number;
  /** When reason is 'start-failed': what went wrong. */
  error?: string;
}

export interface HeadSpec {
  /** argv[0] is looked up on PATH. */
  command: string[];
  env: NodeJS.ProcessEnv;
  /** TERM to the head's group, then KILL after this long. */
  killGraceMs: number;
  /**
   * The first fencing deadline (absolute, CLOCK_MONOTONIC ms). The head tree
   * is killed when it passes without being moved forward by setDeadline().
   */
  deadlineMs: number;
}

export interface HeadHandle {
  readonly pid: number;
  /** Resolves once the head and every process of its tree are gone and reaped. */
  readonly exited: Promise<HeadExit>;
  /** Moves the fencing deadline (absolute CLOCK_MONOTONIC ms); never backwards. */
  setDeadline(deadlineMs: number): void;
  /** TERM the group, KILL after the grace, kill escaped descendants, reap; resolves with the exit. */
  stop(reason: StopReason): Promise<HeadExit>;
  /** While stopping: KILL what is left now instead of at the end of the grace. */
  hurry(): void;
}

export interface HeadSupervisor {
  /** Rejects with HeadStartError when the command cannot be started at all, and with FencedBeforeStartError when the deadline in `spec` has already passed. */
  start(spec: HeadSpec): Promise<HeadHandle>;
}
