/**
 * The one seam between the election and the head's processes. The election
 * starts a head through a HeadSupervisor and never learns how it is spawned:
 * the native keeper (src/supervisor/keeper.ts) is the production
 * implementation; tests use fakes.
 */
import type { HeadExit, StopReason } from '../term.js';

/** The keeper's release command (src/release-orphaned.ts): its static input, and the term's token when known. */
export interface OrphanedRelease {
  command: string[];
  input: string;
  token?: string;
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
  /**
   * Run by the keeper, with `input` and then the term's `token` as a line on
   * its stdin, once it has reaped the whole tree after this process died
   * (docs/design.md, decision 29). Never run while this process lives.
   * Without `token` (a warm head, started before its term), the keeper
   * releases only once WarmHeadHandle.setTerm gave it one.
   */
  onOrphaned?: OrphanedRelease;
  /** TERM to KILL once this process died (no one waits for a drain then); default killGraceMs. */
  orphanGraceMs?: number;
}

export interface HeadHandle {
  readonly pid: number;
  /** Resolves once the head and every process of its tree are gone and reaped. */
  readonly exited: Promise<HeadExit>;
  /** Moves the fencing deadline (absolute CLOCK_MONOTONIC ms); never backwards. */
  setDeadline(deadlineMs: number): void;
  /**
   * TERM the group, KILL after the grace (graceMs, default the spec's
   * killGraceMs; 0: KILL at once), kill escaped descendants, reap; resolves with the exit.
   */
  stop(reason: StopReason, graceMs?: number): Promise<HeadExit>;
  /** While stopping: KILL what is left now instead of at the end of the grace. */
  hurry(): void;
}

/**
 * A head started before its term (a warm standby, src/supervisor/warm-standby.ts):
 * its stdin is a pipe this side holds, and it waits for one line there.
 */
export interface WarmHeadHandle extends HeadHandle {
  /** Writes `line` to the head's stdin and closes it: the go. */
  go(line: string): void;
  /** The term it now serves, before the go: its keeper's release (HeadSpec.onOrphaned without a token) gets the token. */
  setTerm(token: string): void;
  /** True once its keeper reported the head's exit or is itself gone: a go would reach no one. */
  readonly ended: boolean;
}

export interface HeadSupervisor {
  /** Rejects with HeadStartError when the command cannot be started at all, and with FencedBeforeStartError when the deadline in `spec` has already passed. */
  start(spec: HeadSpec): Promise<HeadHandle>;
  /** As start, with the head's stdin a pipe for its go (absent: no warm standby). */
  startWarm?(spec: HeadSpec): Promise<WarmHeadHandle>;
}
