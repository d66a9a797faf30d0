/**
 * `ray-head-ha run`: one candidate. Loops over terms (standby → leading →
 * stepping down) and turns the way the last term ended into an exit code.
 */
import { constants, hostname } from 'node:os';
import type { Config } from './config.js';
import { monotonicClock, type Clock } from './clock.js';
import { Elector, type TermResult } from './election/elector.js';
import { RedisLease } from './election/redis-lease.js';
import { ExitCode } from './errors.js';
import type { Logger } from './log.js';
import type { PreviousHeads } from './ray/previous-heads.js';
import { describeRedis } from './redis/address.js';
import { electionConnection, subscriberConnection, type ElectionConnectionOptions } from './redis/connection.js';
import { explainTlsFailure } from './redis/refusals.js';
import { leadTerm } from './supervisor/lead-term.js';
import type { HeadSupervisor } from './supervisor/types.js';
import type { HeadExit, Term } from './term.js';
import { orphanRelease } from './release-orphaned.js';
import { recordTerms, releasePreviousIncarnation, type Instance } from './ray/instance.js';
import { ORPHAN_GRACE_MS } from './supervisor/lead-term.js';
import { WarmStandby } from './supervisor/warm-standby.js';

export interface RunDeps {
  config: Config;
  command: string[];
  env: NodeJS.ProcessEnv;
  log: Logger;
  supervisor: HeadSupervisor;
  /** Aborted on SIGTERM / SIGINT. */
  shutdown: AbortSignal;
  clock?: Clock;
  /** Gets the elector before the first term, for status and metrics. */
  onElector?: (elector: Elector) => void;
  onHead?: (pid: number | null) => void;
  /** See LeadOptions.watchHead. */
  watchHead?: (headPid: number, signal: AbortSignal) => Promise<string | null>;
  /** Marks the previous leaders' head nodes dead beside each head (Ray heads; previous-heads.ts). */
  previousHeads?: PreviousHeads;
  /**
   * How to run this CLI (node and its script): the keeper runs it with
   * `release-orphaned` after this process died (docs/design.md, decision 29).
   * Absent: the lease of a dead orchestrator expires by its ttl.
   */
  cliCommand?: string[];
  /** RAY_HA_INSTANCE_DIR: restart in place (src/ray/instance.ts); null: off. */
  instance?: Instance | null;
  /** The warm head's command (src/ray/warm-command.ts); absent: every head starts cold. */
  warmCommand?: string[];
}

export async function runCandidate(deps: RunDeps): Promise<number> {
  const { config, log } = deps;
  const clock = deps.clock ?? monotonicClock;
  const connOpts = electionTimeouts(config);
  const lease = new RedisLease(electionConnection(config.redis, connOpts), subscriberConnection(config.redis, connOpts), {
    namespace: config.namespace,
    candidateId: config.candidateId,
    ttlMs: config.ttlMs,
    host: hostname(),
    gcsAddress: config.gcsAddress,
    dashboardUrl: config.dashboardUrl,
    minReplicas: config.minReplicas,
    // WAIT must answer before the command timeout cuts it off: half of it.
    replicaWaitMs: Math.max(1, Math.floor(connOpts.commandTimeoutMs / 2)),
    viaSentinel: config.redis.sentinel !== undefined,
    explainConnectFailure: () => explainTlsFailure(config.redis, config.connectTimeoutMs),
  });
  const elector = new Elector({
    lease,
    clock,
    retryMs: config.retryMs,
    renewDeadlineMs: config.renewDeadlineMs,
    maxFailures: config.maxFailures,
    unknownStateHoldMs: config.ttlMs,
    log,
  });
  deps.onElector?.(elector);
  log.info(
    {
      redis: describeRedis(config.redis),
      ...(config.minReplicas > 0 && { minReplicas: config.minReplicas }),
      ...(config.redis.tls && { tlsCaFile: config.redisCaFile ?? config.redisCaPath ?? 'system', tlsClientCert: config.redisCertFile }),
      namespace: config.namespace,
      ttlMs: config.ttlMs,
      retryMs: config.retryMs,
      renewDeadlineMs: config.renewDeadlineMs,
      commandTimeoutMs: connOpts.commandTimeoutMs,
      killGraceMs: config.killGraceMs,
      gcsAddress: config.gcsAddress,
      onLoss: config.onLoss,
    },
    'candidate starting',
  );
  const { instance } = deps;
  const warm = warmStandby(deps, connOpts.commandTimeoutMs);
  const { previousHeads } = deps;
  const stopRecording = instance ? recordTerms(instance, elector, config.candidateId, log) : undefined;
  try {
    await lease.connect();
    if (instance) await releasePreviousIncarnation(instance, config.candidateId, lease, log);
    for (;;) {
      warm?.ensure();
      previousHeads?.ensure();
      const result = await elector.runTerm(deps.shutdown, (term) =>
        leadTerm(term, {
          supervisor: deps.supervisor,
          clock,
          log,
          candidateId: config.candidateId,
          command: deps.command,
          env: deps.env,
          killGraceMs: config.killGraceMs,
          waitAfterElectedMs: config.waitAfterElectedMs,
          waitPreviousMaxMs: config.waitPreviousMaxMs,
          gcsAddress: config.gcsAddress,
          ...(deps.onHead ? { onHead: deps.onHead } : {}),
          ...(deps.watchHead ? { watchHead: deps.watchHead } : {}),
          ...(previousHeads && config.gcsAddress && { afterStart: (pid: number, signal: AbortSignal) => previousHeads.run(pid, config.gcsAddress!, log, signal) }),
          ...(deps.cliCommand && { onOrphaned: (term: Term) => orphanRelease(deps.cliCommand!, config, term) }),
          ...(warm && { warm }),
        }),
      );
      const code = exitCodeOf(result);
      if (code === ExitCode.fenced && config.onLoss === 'standby' && !deps.shutdown.aborted) {
        log.info({ reason: result?.reason }, 're-entering as a standby (--on-loss standby)');
        continue;
      }
      return code;
    }
  } finally {
    await warm?.close();
    await previousHeads?.close();
    stopRecording?.();
    await lease.close();
  }
}

/** The warm standby when there is a warm command and the supervisor can start one (decision 32). */
function warmStandby(deps: RunDeps, commandTimeoutMs: number): WarmStandby | null {
  const { config } = deps;
  const startWarm = deps.supervisor.startWarm?.bind(deps.supervisor);
  if (!deps.warmCommand || !startWarm) return null;
  const aheadMs = config.renewDeadlineMs - commandTimeoutMs;
  return new WarmStandby({
    startWarm,
    // The release's static part now (its Redis TLS CA may be hundreds of KB); the term's token comes at the go.
    spec: {
      command: deps.warmCommand,
      env: deps.env,
      killGraceMs: config.killGraceMs,
      ...(deps.cliCommand && { onOrphaned: orphanRelease(deps.cliCommand, config), orphanGraceMs: ORPHAN_GRACE_MS }),
    },
    aheadMs,
    refreshMs: Math.max(10, Math.min(config.retryMs, Math.floor(aheadMs / 3))),
    clock: deps.clock ?? monotonicClock,
    log: deps.log,
  });
}

/**
 * The election connection's timeouts. RAY_HA_CONNECT_TIMEOUT_MS bounds the
 * connect and every command, as ant-ray's socket timeouts do; the command
 * timeout never exceeds half the renew deadline (the design's rule: a renew
 * is never applied long after it was sent).
 */
export function electionTimeouts(config: Pick<Config, 'connectTimeoutMs' | 'renewDeadlineMs' | 'retryMs'>): ElectionConnectionOptions {
  return {
    commandTimeoutMs: Math.max(1, Math.min(config.connectTimeoutMs, Math.floor(config.renewDeadlineMs / 2))),
    connectTimeoutMs: config.connectTimeoutMs,
    reconnectMaxMs: Math.min(config.retryMs, 1_000),
  };
}

/** How a term ended → the process's exit code (see README "Exit codes"). */
export function exitCodeOf(result: TermResult | null): number {
  if (!result) return ExitCode.ok;
  switch (result.reason) {
    case 'shutdown':
      return ExitCode.ok;
    case 'start-failed':
      return ExitCode.cannotStart;
    case 'head-exit':
      return headExitCode(result.exit);
    case 'gcs-exit':
      return ExitCode.failure;
    case 'lost-lease':
    case 'deadline':
    case 'fenced':
    case 'previous-gcs':
      return ExitCode.fenced;
  }
}

export function headExitCode(exit: HeadExit): number {
  if (exit.code !== null) return exit.code;
  if (exit.signal) {
    const signo = SIGNAL_NUMBERS[exit.signal];
    if (signo !== undefined) return 128 + signo;
  }
  return ExitCode.failure;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = constants.signals;
