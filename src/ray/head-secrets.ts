/**
 * Secrets on their way to the head, kept out of what other local users can
 * read. /proc/PID/cmdline is world-readable; /proc/PID/environ only by the
 * process's user and root.
 *
 * - Ray's --redis-password: the shim takes it off `ray start --head` and hands
 *   it over in HEAD_PASSWORD_ENV, so it is not in the orchestrator's argv; the
 *   orchestrator puts it back as the head's last argument (click: the last
 *   value wins), and the keeper gets the head command on a pipe, not argv. The
 *   head's own argv is Ray's business: Ray wants the flag (README "Secrets").
 * - The head's environment loses our secret-bearing variables (the head and
 *   every Ray job on it inherit it). Ray's own RAY_REDIS_ADDRESS and
 *   REDIS_PASSWORD stay: Ray reads them.
 */
import { ConfigError } from '../errors.js';
import { OPTIONS } from '../options.js';
import { isRayHeadStart } from './head-command.js';

/** Set by the shim: the value of the --redis-password it took off `ray start --head`. */
export const HEAD_PASSWORD_ENV = OPTIONS.headRedisPassword.env[0];

/** Removed from the head's environment whatever they hold. */
const SECRET_VARIABLES = [
  HEAD_PASSWORD_ENV,
  ...OPTIONS.redisPasswordFile.env,
  ...OPTIONS.sentinelPassword.env,
  ...OPTIONS.sentinelPasswordFile.env,
];

/** Removed when they carry credentials (user:password@ in the URL). */
const ADDRESS_VARIABLES = ['RAY_HA_REDIS_ADDRESS'];

/** The head command with the shim's --redis-password back on it (last, so it wins). */
export function restoreRayPassword(command: string[], env: NodeJS.ProcessEnv): string[] {
  const password = env[HEAD_PASSWORD_ENV];
  if (password === undefined) return command;
  if (!isRayHeadStart(command)) {
    throw new ConfigError(`${HEAD_PASSWORD_ENV} is set, but the head command is not \`ray start --head\` (the shim sets it only for that)`);
  }
  if (password === '') throw new ConfigError(`${HEAD_PASSWORD_ENV} is set but empty`);
  return [...command, `--redis-password=${password}`];
}

/** The environment for the head: `env` without our secret-bearing variables. */
export function headEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of SECRET_VARIABLES) delete out[name];
  // '@' appears in our address forms only between credentials and hosts.
  for (const name of ADDRESS_VARIABLES) if (out[name]?.includes('@')) delete out[name];
  return out;
}
