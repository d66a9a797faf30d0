/**
 * What a leader does with its term: after a previous leader, pause if
 * configured and wait for its GCS to stop, start the head through the HeadSupervisor, feed it
 * each new fencing deadline, and stop it when the term is aborted. Returns
 * only when the head and its whole tree are gone.
 */
import type { Clock } from '../clock.js';
import { FencedBeforeStartError, HeadStartError } from '../errors.js';
import type { Logger } from '../log.js';
import { TERM_ENV, termValue } from '../ray/nested-candidate.js';
import { waitUntilGcsStops } from './previous-gcs.js';
import type { HeadExit, StopReason, Term } from '../term.js';
import type { HeadHandle, HeadSupervisor, OrphanedRelease } from './types.js';
import type { WarmHead, WarmStandby } from './warm-standby.js';

export interface LeadOptions {
  supervisor: HeadSupervisor;
  clock: Clock;
  log: Logger;
  candidateId: string;
  command: string[];
  env: NodeJS.ProcessEnv;
  killGraceMs: number;
  waitAfterElectedMs: number;
  waitPreviousMaxMs: number;
  /**
   * The keeper's release command for this term, with its token, run only
   * after this process died (HeadSpec.onOrphaned). A warm head's keeper holds
   * the same command without the token and gets the token at the go.
   */
  onOrphaned?: (term: Term) => OrphanedRelease;
  /** Called with the live handle's pid, or null when the head is gone. */
  onHead?: (pid: number | null) => void;
  /**
   * Watches a started head for a failure its main process does not report at
   * once (Ray: the GCS process died). Resolves with what failed, or null when
   * `signal` aborts; the head is then stopped as 'gcs-exit'.
   */
  watchHead?: (headPid: number, signal: AbortSignal) => Promise<string | null>;
  /**
   * Runs beside a started head until `signal` aborts, once the head stops
   * (Ray: marks the previous leaders' head nodes dead, previous-heads.ts).
   * Its outcome is its own to log; it never ends the term.
   */
  afterStart?: (headPid: number, signal: AbortSignal) => Promise<unknown>;
  /**
   * This head's GCS address: while a stop is under way, once it no longer
   * accepts connections the rest of the tree is KILLed at once (decision 21).
   */
  gcsAddress?: string | null;
  /** A warm head to start instead of a cold one, when one is ready (decision 32). */
  warm?: Pick<WarmStandby, 'take'>;
}

/**
 * The kill grace once this process died and its keeper releases the lease
 * (decision 29): none. Ray's SIGTERM drain on a head only winds down that
 * node's own processes; the cluster's state is in Redis and the workers keep
 * their actors, so a KILL loses nothing a head crash would not, while every
 * standby waits for the release.
 */
export const ORPHAN_GRACE_MS = 0;

export async function leadTerm(term: Term, options: LeadOptions): Promise<HeadExit> {
  const ended = (reason: StopReason, error?: string): HeadExit => ({ code: null, signal: null, reason, durationMs: 0, ...(error ? { error } : {}) });
  // 0. The warm head, if one is ready: taken now, so nothing refreshes its deadline during the term.
  const taken = options.warm?.take();
  const warm = taken && 'handle' in taken ? taken : null;
  const notWarm = async (exit: HeadExit) => {
    if (warm) await warm.handle.stop('shutdown');
    return exit;
  };
  // 1. Pause and wait for the previous GCS (every one the term names); an abort here means no head was ever started.
  try {
    const previous = term.previousGcsAddresses;
    // ant-ray's RAY_HA_WAIT_TIME_AFTER_BE_ACTIVE_MS: only when someone led before (a first term has no one to wait for).
    const hadLeader = term.previousId !== null || previous.length > 0;
    if (options.waitAfterElectedMs > 0 && hadLeader) await options.clock.sleep(options.waitAfterElectedMs, term.signal);
    if (previous.length > 0) {
      const t0 = options.clock.nowMs();
      const stopped = await Promise.all(previous.map((a) => waitUntilGcsStops(a, options.waitPreviousMaxMs, options.clock, term.signal)));
      const answering = previous.filter((_, i) => !stopped[i]);
      if (answering.length > 0) {
        options.log.error(
          { previousGcsAddresses: answering, previousId: term.previousId, waitedMs: options.waitPreviousMaxMs },
          'the previous GCS still answers; stepping down rather than risk two heads',
        );
        return notWarm(ended('previous-gcs'));
      }
      options.log.info({ previousGcsAddresses: previous, waitedMs: Math.round(options.clock.nowMs() - t0) }, 'previous GCS is down');
    }
    // From here on the next leader waits on this term's GCS, not the previous one (decision 35).
    if (!(await term.serving())) return notWarm(ended(term.signal.reason as StopReason));
  } catch {
    return notWarm(ended(term.signal.reason as StopReason));
  }
  if (term.signal.aborted) return notWarm(ended(term.signal.reason as StopReason));

  // 2. Start the head with the current fencing deadline: the warm one, or cold.
  // The head learns who started it and in which term (Ray ignores these; scripts and tests use them).
  // TERM_ENV also tells the shim and `ray-head-ha run` in this tree that they run inside a head.
  const termEnv = { RAY_HA_CANDIDATE_ID: options.candidateId, RAY_HA_EPOCH: String(term.epoch), [TERM_ENV]: termValue(options.candidateId, term.epoch) };
  let handle: HeadHandle | null = null;
  if (warm) {
    try {
      handle = goWarm(warm, term, termEnv, options);
    } catch (err) {
      // Whatever went wrong in the hand-over, the term still gets a head: cold, once the warm one is gone.
      options.log.warn({ epoch: term.epoch, pid: warm.handle.pid, err: (err as Error).message }, 'starting the head cold: the warm go failed');
      await warm.handle.stop('shutdown');
    }
  }
  if (!handle && taken && 'reason' in taken) options.log.info({ epoch: term.epoch, why: taken.reason }, 'starting the head cold');
  try {
    handle ??= await options.supervisor.start({
      command: options.command,
      env: { ...options.env, ...termEnv },
      killGraceMs: options.killGraceMs,
      deadlineMs: term.deadlineMs(),
      ...(options.onOrphaned && { onOrphaned: options.onOrphaned(term), orphanGraceMs: ORPHAN_GRACE_MS }),
    });
  } catch (err) {
    if (err instanceof FencedBeforeStartError) {
      options.log.warn({ epoch: term.epoch }, err.message);
      return ended('fenced');
    }
    if (err instanceof HeadStartError) {
      options.log.error({ command: options.command[0], err: err.message }, 'cannot start the head');
      return ended('start-failed', err.message);
    }
    throw err;
  }
  const head: HeadHandle = handle;
  options.log.info({ pid: head.pid, epoch: term.epoch, warm: head === warm?.handle }, 'head started');
  options.onHead?.(head.pid);
  term.onRenewed((d) => head.setDeadline(d));

  // 3. Run until the head exits or the term is aborted; then stop it and wait for the whole tree.
  const aborted = new Promise<null>((resolve) => {
    if (term.signal.aborted) resolve(null);
    term.signal.addEventListener('abort', () => resolve(null), { once: true });
  });
  //    The watcher (Ray: the GCS process) goes on while the head is stopped.
  const watching = new AbortController();
  const beside = options.afterStart?.(head.pid, watching.signal).catch(() => null);
  const failed = options.watchHead ? options.watchHead(head.pid, watching.signal) : new Promise<null>(() => {});
  const first = await Promise.race([head.exited, aborted, failed.then((what) => (what ? { failed: what } : new Promise<never>(() => {})))]);
  let exit: HeadExit;
  if (first && 'failed' in first) {
    options.log.warn({ epoch: term.epoch, failed: first.failed }, 'the head failed; stopping the rest of its tree');
    const stopped = head.stop('gcs-exit');
    head.hurry();
    exit = await stopped;
  } else if (first) {
    exit = first;
  } else {
    const reason = term.signal.reason as StopReason;
    //    A lost lease is already someone else's, whose head may be starting: no grace.
    const stopped = head.stop(reason, reason === 'lost-lease' ? 0 : undefined);
    //    What is left of a head whose GCS serves no one serves no one: once its gcs_server has
    //    exited or its port refuses (Ray's gcs_server closes it at once on SIGTERM but takes
    //    up to ~30 s more to exit), the rest goes now, not at the end of the grace.
    void gcsServesNoOne(failed, options, watching.signal).then((why) => {
      if (why === null || watching.signal.aborted) return;
      options.log.info({ epoch: term.epoch, why }, 'stopping: the GCS serves no one; killing the rest of the head now');
      head.hurry();
    });
    exit = await stopped;
  }
  watching.abort();
  await beside;
  options.onHead?.(null);
  options.log.info({ ...exit, epoch: term.epoch }, 'head stopped');
  return exit;
}

/**
 * Why the head's GCS serves no one any more, whichever comes first: the
 * watcher saw gcs_server exit, or its address refuses connections; null when
 * `signal` aborts first.
 */
function gcsServesNoOne(failed: Promise<string | null>, options: LeadOptions, signal: AbortSignal): Promise<string | null> {
  const address = options.gcsAddress;
  const refused = address
    ? waitUntilGcsStops(address, Number.POSITIVE_INFINITY, options.clock, signal).then(() => `${address} accepts no connections`, () => null)
    : new Promise<null>(() => {});
  return Promise.race([failed.then((what) => what ?? new Promise<never>(() => {})), refused]);
}

/**
 * Hands the term to the warm head: its deadline, its term's token (the
 * keeper already holds the release command's static part), then the go. Null when its keeper already holds a deadline later than the
 * term's (it could then outlive the lease): that head is stopped and the
 * term starts cold.
 */
function goWarm(warm: WarmHead, term: Term, termEnv: Record<string, string>, options: LeadOptions): HeadHandle | null {
  const deadlineMs = term.deadlineMs();
  if (warm.handle.ended) {
    // Taken at the term's start, it died while the term waited (for the previous GCS, say): a go would end the term at once.
    options.log.warn({ epoch: term.epoch, pid: warm.handle.pid }, 'starting the head cold: the warm head ended before its go');
    return null;
  }
  if (warm.deadlineMs > deadlineMs) {
    options.log.error({ epoch: term.epoch, warmDeadlineMs: warm.deadlineMs, deadlineMs }, "starting the head cold: the warm head's deadline is later than the term's");
    void warm.handle.stop('fenced');
    return null;
  }
  warm.handle.setDeadline(deadlineMs);
  if (options.onOrphaned) warm.handle.setTerm(term.token);
  warm.handle.go(`${JSON.stringify({ env: termEnv })}\n`);
  return warm.handle;
}
