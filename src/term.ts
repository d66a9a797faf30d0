/**
 * What a term is, shared by the election (which ends terms) and the
 * supervisor (which runs a head through one), so neither imports the other:
 * the reasons a term ends, the one shape of a head's end, and the handle the
 * elector gives the leader for its term.
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

/** The leader's handle on its term, given by the elector to the code that runs the head. */
export interface Term {
  epoch: number;
  token: string;
  previousId: string | null;
  /**
   * Every GCS address that must refuse connections before this term's head starts:
   * the last one that served, and, when Redis lost writes, every one the candidate knew.
   */
  previousGcsAddresses: string[];
  /**
   * Records in Redis that this term's head is coming up, just before it starts
   * (decision 35). Retries until it is recorded (true) or the term ends (false).
   */
  serving(): Promise<boolean>;
  /** Aborted, with a StopReason as its reason, when this term must end. */
  signal: AbortSignal;
  /** The fencing deadline now (absolute monotonic ms). */
  deadlineMs(): number;
  /** Called after every renew that succeeded, with the new deadline. */
  onRenewed(listener: (deadlineMs: number) => void): void;
}
