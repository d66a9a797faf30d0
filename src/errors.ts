/**
 * The error hierarchy. Each error that ends the process carries the exit code
 * it maps to; src/cli.ts is the only place that turns errors into exit codes.
 */

export const ExitCode = {
  ok: 0,
  failure: 1,
  config: 2,
  fenced: 3,
  cannotStart: 127,
} as const;

export class HeadHaError extends Error {
  readonly exitCode: number = ExitCode.failure;
}

/** Bad configuration or usage: one line naming the input, the value and the rule. */
export class ConfigError extends HeadHaError {
  override readonly exitCode: number = ExitCode.config;
}

/**
 * Redis refuses what the election needs and retrying cannot help: our
 * credentials, an ACL without a command we use, EVAL disabled, a read-only
 * replica, a TLS certificate that does not verify.
 */
export class RedisRefusedError extends ConfigError {}

/** Redis refused our credentials (WRONGPASS, NOAUTH) or permissions (NOPERM). */
export class RedisAuthError extends RedisRefusedError {}

/** The head command could not be started at all (not found, not executable). */
export class HeadStartError extends HeadHaError {
  override readonly exitCode: number = ExitCode.cannotStart;
}

/**
 * Redis answered, but the attempt did not count (too few replicas acknowledged
 * it, OOM, LOADING, a failover in progress): unlike an unreachable Redis, it is
 * there; unlike a RedisRefusedError, the next attempt may succeed.
 */
export class AttemptRefusedError extends HeadHaError {}

/**
 * The fencing deadline passed before the head could start (the keeper refuses
 * to start it): the term is over, as if the lease had been lost, so exit 3.
 */
export class FencedBeforeStartError extends HeadHaError {
  override readonly exitCode: number = ExitCode.fenced;
}

/** A reply from Redis that does not have the shape a script promises. */
export class UnexpectedReplyError extends HeadHaError {
  constructor(what: string, reply: unknown) {
    // Cut short: a reply can carry a value of anyone's choosing, of any size.
    const text = JSON.stringify(reply) ?? String(reply);
    super(`unexpected reply to ${what}: ${text.length > 200 ? `${text.slice(0, 200)}... (${text.length} chars)` : text}`);
  }
}

/** An error's message for a log field (anything thrown, not only Errors). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
