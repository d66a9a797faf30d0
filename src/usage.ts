/**
 * The one usage text: `--help` of every command prints it, a missing command
 * quotes it, and the README's "Commands" block is its first lines (a test
 * holds them equal). The settings part is generated from the option table,
 * so a setting cannot be missing from it.
 */
import { OPTIONS, flagsOf, type Option } from './options.js';

/** The settings of run that say how to reach Redis and which cluster: status and watch take them too. */
const REDIS_OPTIONS: readonly Option[] = [
  OPTIONS.redis,
  OPTIONS.namespace,
  OPTIONS.connectTimeoutMs,
  OPTIONS.redisPasswordFile,
  OPTIONS.redisCaFile,
  OPTIONS.redisCaPath,
  OPTIONS.redisCertFile,
  OPTIONS.redisKeyFile,
  OPTIONS.redisServerName,
  OPTIONS.redisPassword,
  OPTIONS.redisUsername,
  OPTIONS.sentinelUsername,
  OPTIONS.sentinelPassword,
  OPTIONS.sentinelPasswordFile,
];

/** The flags among REDIS_OPTIONS. */
export const REDIS_FLAGS: readonly string[] = flagsOf(REDIS_OPTIONS);

/** The command lines, as the README's "Commands" block shows them. */
export const COMMANDS = [
  'ray-head-ha run [flags] -- <head command> [args...]',
  'ray-head-ha status [--json] [--redis ADDR] [--namespace NS] [Redis flags]',
  'ray-head-ha watch [--json] [--once] [--duration-ms N] [--redis ADDR] [--namespace NS] [Redis flags]',
  'ray-head-ha install-shim --bin-dir DIR [--ray PATH]',
  'ray-head-ha role-labeler',
];

function row(o: Option): string {
  const name = o.flag === null ? o.env.join(', ') : `--${o.flag} [${o.env.join(', ')}]`;
  return `  ${name}\n      ${o.help}`;
}

const options: Option[] = Object.values(OPTIONS);

export const USAGE = `Usage:
${COMMANDS.map((c) => `  ${c}`).join('\n')}
  ray-head-ha --help          (every command also takes --help)

Settings of run: a flag, or the first environment variable in brackets that is set; a flag wins:
${options.filter((o) => o.flag !== null).map(row).join('\n')}

Read from the environment only (secrets never go on a command line, which every user can read in /proc):
${options.filter((o) => o.flag === null).map(row).join('\n')}

Redis flags (status and watch take these settings of run, flags and environment alike): ${REDIS_FLAGS.map((f) => `--${f}`).join(' ')}

Exit codes: 0 clean shutdown, 2 bad configuration or credentials, 3 lost leadership,
127 head command cannot be started (checked before joining the election), otherwise the head's own exit code.`;
