/**
 * One JSON line per event (pino) on stderr, or `--log-format pretty` for
 * people. Passwords never reach a log line: the Redis target is logged through
 * describeRedis() and known secret fields are redacted as a second guard.
 */
import { pino, type Logger } from 'pino';
import type { LogFormat } from './config.js';

export type { Logger };

export function createLogger(opts: { format: LogFormat; level: string; candidateId: string }): Logger {
  const destination = pino.destination({ fd: 2, sync: true });
  const base = { id: opts.candidateId };
  const redact = { paths: ['password', '*.password', 'redis.password', 'token.password'], censor: '***' };
  if (opts.format === 'json') {
    return pino({ level: opts.level, base, redact, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  }
  return pino(
    {
      level: opts.level,
      base,
      redact,
      timestamp: false,
      formatters: { level: (label) => ({ level: label }) },
    },
    prettyStream(),
  );
}

/** A small human format: `HH:MM:SS.mmm LEVEL msg key=value ...` (no extra dependency). */
function prettyStream(): { write(line: string): void } {
  return {
    write(line: string) {
      const rec = JSON.parse(line) as Record<string, unknown>;
      const { level, msg, id, ...rest } = rec;
      const time = new Date().toISOString().slice(11, 23);
      const extras = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      process.stderr.write(`${time} ${String(level).toUpperCase().padEnd(5)} [${String(id)}] ${String(msg)}${extras ? ` ${extras}` : ''}\n`);
    },
  };
}

/** A logger that drops everything: for unit tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
