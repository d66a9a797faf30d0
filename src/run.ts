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
import { describeRedis } from './redis/address.js';
import { electionConnection, subscriberConnection, type ElectionConnectionOptions } from './redis/connection.js';
import { explainTlsFailure } from './redis/refusals.js';
import { leadTerm } from './supervisor/lead-term.js';
import type { HeadSupervisor } from './supervisor/types.js';
import type { HeadExit } from './term.js';

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
}

export async function runCandidate(d: RunDeps): Promise<number> {
  const { config: c, log } = d;
  const clock = d.clock ?? monotonicClock;
  const connOpts = electionTimeouts(c);
  const lease = new RedisLease(electionConnection(c.redis, connOpts), subscriberConnection(c.redis, connOpts), {
    namespace: c.namespace,
    candidateId: c.candidateId,
    ttlMs: c.ttlMs,
    host: hostname(),
    gcsAddress: c.gcsAddress,
    dashboardUrl: c.dashboardUrl,
    minReplicas: c.minReplicas,
    // WAIT must answer before the command timeout cuts it off: half of it.
    replicaWaitMs: Math.max(1, Math.floor(connOpts.commandTimeoutMs / 2)),
    viaSentinel: c.redis.sentinel !== undefined,
    explainConnectFailure: () => explainTlsFailure(c.redis, c.connectTimeoutMs),
  });
  const elector = new Elector({
    lease,
    clock,
    retryMs: c.retryMs,
    renewDeadlineMs: c.renewDeadlineMs,
    maxFailures: c.maxFailures,
    log,
  });
  d.onElector?.(elector);
  log.info(
    {
      redis: describeRedis(c.redis),
      ...(c.minReplicas > 0 && { minReplicas: c.minReplicas }),
      ...(c.redis.tls && { tlsCaFile: c.redisCaFile ?? c.redisCaPath ?? 'system', tlsClientCert: c.redisCertFile }),
      namespace: c.namespace,
      ttlMs: c.ttlMs,
      retryMs: c.retryMs,
      renewDeadlineMs: c.renewDeadlineMs,
      commandTimeoutMs: connOpts.commandTimeoutMs,
      killGraceMs: c.killGraceMs,
      gcsAddress: c.gcsAddress,
      onLoss: c.onLoss,
    },
    'candidate starting',
  );
  try {
    await lease.connect();
    for (;;) {
      const result = await elector.runTerm(d.shutdown, (term) =>
        leadTerm(term, {
          supervisor: d.supervisor,
          clock,
          log,
          candidateId: c.candidateId,
          command: d.command,
          env: d.env,
          killGraceMs: c.killGraceMs,
          waitAfterElectedMs: c.waitAfterElectedMs,
          waitPreviousMaxMs: c.waitPreviousMaxMs,
          ...(d.onHead ? { onHead: d.onHead } : {}),
          ...(d.watchHead ? { watchHead: d.watchHead } : {}),
        }),
      );
      const code = exitCodeOf(result);
      if (code === ExitCode.fenced && c.onLoss === 'standby' && !d.shutdown.aborted) {
        log.info({ reason: result?.reason }, 're-entering as a standby (--on-loss standby)');
        continue;
      }
      return code;
    }
  } finally {
    await lease.close();
  }
}

/**
 * The election connection's timeouts. RAY_HA_CONNECT_TIMEOUT_MS bounds the
 * connect and every command, as ant-ray's socket timeouts do; the command
 * timeout never exceeds half the renew deadline (the design's rule: a renew
 * is never applied long after it was sent).
 */
export function electionTimeouts(c: Pick<Config, 'connectTimeoutMs' | 'renewDeadlineMs' | 'retryMs'>): ElectionConnectionOptions {
  return {
    commandTimeoutMs: Math.max(1, Math.min(c.connectTimeoutMs, Math.floor(c.renewDeadlineMs / 2))),
    connectTimeoutMs: c.connectTimeoutMs,
    reconnectMaxMs: Math.min(c.retryMs, 1_000),
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
