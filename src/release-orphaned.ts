/**
 * Release on provable death (docs/design.md, decision 29). A leader's keeper
 * runs `ray-head-ha release-orphaned` once the orchestrator that started it
 * is dead (the keeper was re-parented) and the keeper has killed and reaped
 * the head's whole tree. It releases that term's lease with the token-checked
 * release script, so standbys take over at once instead of after the ttl. A
 * lease that is no longer that term's is left alone.
 *
 * What it needs comes on stdin from the orchestrator, through the keeper
 * (never argv: it holds the Redis credentials): one JSON line with the Redis
 * target (TLS CA contents included: a system bundle is over 200 KB), the
 * namespace and the candidate id, the part known before any term; then the
 * term's token (`<id>#<epoch>`) on a line of its own. A cold head's keeper
 * gets both at once; a warm head's keeper gets the JSON when it is spawned
 * and appends the token from a `term` control line when its term begins
 * (keeper_protocol.h, --warm-release-fd).
 */
import type { Config, LogFormat } from './config.js';
import { ConfigError, ExitCode } from './errors.js';
import { createLogger } from './log.js';
import type { RedisTarget } from './redis/address.js';
import { oneShotConnection } from './redis/connection.js';
import { formatToken, leaseKeys, parseToken } from './redis/keys.js';
import { registerScripts } from './redis/scripts.js';
import { isName } from './redis/values.js';
import type { Term } from './term.js';

/** The part of the release known before any term: the first line of the input, as JSON. */
export interface OrphanReleaseStatic {
  redis: RedisTarget;
  namespace: string;
  candidateId: string;
  connectTimeoutMs: number;
  logFormat: LogFormat;
  logLevel: string;
}

/** What release-orphaned works with: the static part and the term from the token line. */
export interface OrphanRelease extends OrphanReleaseStatic {
  epoch: number;
  token: string;
}

const MAX_INPUT_BYTES = 1 << 20;

/**
 * The keeper's release command: this CLI's `release-orphaned` and the static
 * part of its input (one JSON line), with the term's token when `term` is
 * given (a cold head); without it, the token comes later (a warm head's
 * `term` line) and the keeper appends it.
 */
export function orphanRelease(cliCommand: string[], config: Config, term?: Pick<Term, 'token'>): { command: string[]; input: string; token?: string } {
  const spec: OrphanReleaseStatic = {
    redis: config.redis,
    namespace: config.namespace,
    candidateId: config.candidateId,
    connectTimeoutMs: config.connectTimeoutMs,
    logFormat: config.logFormat,
    logLevel: config.logLevel,
  };
  // JSON.stringify escapes every newline: the JSON is one line.
  return { command: [...cliCommand, 'release-orphaned'], input: `${JSON.stringify(spec)}\n`, ...(term && { token: term.token }) };
}

const NOT_A_TERM = 'release-orphaned: stdin does not describe a term (it is run by the keeper, not by hand)';

/** Exactly two lines: the static JSON, then this candidate's token with an epoch of 1 or more. */
export function parseSpec(text: string): OrphanRelease {
  const lines = text.split('\n');
  if (lines.length !== 3 || lines[2] !== '') throw new ConfigError(`${NOT_A_TERM}: expected a JSON line and a term line`);
  let spec: Partial<OrphanReleaseStatic>;
  try {
    spec = JSON.parse(lines[0]!) as Partial<OrphanReleaseStatic>;
  } catch {
    throw new ConfigError('release-orphaned: its first line is not JSON (it is run by the keeper, not by hand)');
  }
  const ok =
    typeof spec === 'object' && spec !== null && !Array.isArray(spec) &&
    typeof spec.redis === 'object' && spec.redis !== null &&
    typeof spec.namespace === 'string' && isName(spec.namespace) &&
    typeof spec.candidateId === 'string' && isName(spec.candidateId) &&
    Number.isSafeInteger(spec.connectTimeoutMs) && (spec.connectTimeoutMs ?? 0) > 0;
  if (!ok) throw new ConfigError(NOT_A_TERM);
  const token = lines[1]!;
  const term = parseToken(token);
  if (!term || term.id !== spec.candidateId || term.epoch < 1 || formatToken(term.id, term.epoch) !== token) {
    throw new ConfigError(`${NOT_A_TERM}: the term line is not this candidate's token`);
  }
  return { ...(spec as OrphanReleaseStatic), epoch: term.epoch, token };
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
