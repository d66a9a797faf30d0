/**
 * Release on provable death (docs/design.md, decision 29). A leader's keeper
 * runs `ray-head-ha release-orphaned` once the orchestrator that started it
 * is dead (the keeper was re-parented) and the keeper has killed and reaped
 * the head's whole tree. It releases that term's lease with the token-checked
 * release script, so standbys take over at once instead of after the ttl. A
 * lease that is no longer that term's is left alone.
 *
 * What it needs comes on stdin from the orchestrator, through the keeper
 * (never argv: it holds the Redis credentials): the Redis target, the
 * namespace, the term's token.
 */
import type { Config, LogFormat } from './config.js';
import { ConfigError, ExitCode } from './errors.js';
import { createLogger } from './log.js';
import type { RedisTarget } from './redis/address.js';
import { oneShotConnection } from './redis/connection.js';
import { formatToken, leaseKeys } from './redis/keys.js';
import { registerScripts } from './redis/scripts.js';
import { isName } from './redis/values.js';
import type { Term } from './term.js';

/** What the orchestrator hands its keeper for the release. */
export interface OrphanRelease {
  redis: RedisTarget;
  namespace: string;
  candidateId: string;
  epoch: number;
  token: string;
  connectTimeoutMs: number;
  logFormat: LogFormat;
  logLevel: string;
}

const MAX_INPUT_BYTES = 1 << 20;

/** The keeper's release command for one term: this CLI's `release-orphaned`, and its input. */
export function orphanRelease(cliCommand: string[], config: Config, term: Pick<Term, 'epoch' | 'token'>): { command: string[]; input: string } {
  const spec: OrphanRelease = {
    redis: config.redis,
    namespace: config.namespace,
    candidateId: config.candidateId,
    epoch: term.epoch,
    token: term.token,
    connectTimeoutMs: config.connectTimeoutMs,
    logFormat: config.logFormat,
    logLevel: config.logLevel,
  };
  return { command: [...cliCommand, 'release-orphaned'], input: JSON.stringify(spec) };
}

function parseSpec(text: string): OrphanRelease {
  let spec: Partial<OrphanRelease>;
  try {
    spec = JSON.parse(text) as Partial<OrphanRelease>;
  } catch {
    throw new ConfigError('release-orphaned: stdin is not JSON (it is run by the keeper, not by hand)');
  }
  const ok =
    typeof spec === 'object' && spec !== null &&
    typeof spec.redis === 'object' && spec.redis !== null &&
    typeof spec.namespace === 'string' && isName(spec.namespace) &&
    typeof spec.candidateId === 'string' && isName(spec.candidateId) &&
    Number.isSafeInteger(spec.epoch) && (spec.epoch ?? 0) > 0 &&
    spec.token === formatToken(spec.candidateId, spec.epoch ?? 0) &&
    Number.isSafeInteger(spec.connectTimeoutMs) && (spec.connectTimeoutMs ?? 0) > 0;
  if (!ok) throw new ConfigError('release-orphaned: stdin does not describe a term (it is run by the keeper, not by hand)');
  return spec as OrphanRelease;
}

async function readInput(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > MAX_INPUT_BYTES) throw new ConfigError('release-orphaned: stdin is over 1 MiB');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The command: 0 when Redis answered (released, or the lease was no longer this term's), 1 when it did not. */
export async function releaseOrphaned(input: NodeJS.ReadableStream): Promise<number> {
  const spec = parseSpec(await readInput(input));
  const log = createLogger({ format: spec.logFormat === 'pretty' ? 'pretty' : 'json', level: spec.logLevel || 'info', candidateId: spec.candidateId });
  const redis = oneShotConnection(spec.redis, spec.connectTimeoutMs);
  redis.on('error', () => {});
  try {
    const released = await registerScripts(redis).release(leaseKeys(spec.namespace), spec.token, 'released', { id: spec.candidateId, epoch: spec.epoch });
    log.info(
      { epoch: spec.epoch, released: released === 1 },
      released === 1
        ? 'released the lease: the orchestrator died and its keeper reaped the whole head tree'
        : 'the orchestrator died; the lease was no longer this term\'s, nothing released',
    );
    return ExitCode.ok;
  } catch (err) {
    log.warn({ epoch: spec.epoch, err: (err as Error).message }, 'the orchestrator died; could not release the lease, it expires by its ttl');
    return ExitCode.failure;
  } finally {
    redis.disconnect();
  }
}
