/**
 * Keeps ioredis's debug output off for our connections. ioredis logs through
 * the `debug` package under `ioredis:*`, and with DEBUG=ioredis:* (or DEBUG=*)
 * it prints every command it writes, AUTH and its password included. We add
 * `-ioredis:*` (debug's "skip" syntax, checked before any enabled name) to
 * whatever DEBUG asks for, so other namespaces print as asked. The `debug`
 * instance is the one ioredis itself resolves; debug re-checks its settings on
 * every call, so this holds for connections made before or after.
 * See: https://github.com/debug-js/debug#wildcards
 */
import { createRequire } from 'node:module';

interface DebugModule {
  enable(namespaces: string): void;
  namespaces: string;
}

const SKIP_IOREDIS = '-ioredis:*';

export function silenceIoredisDebug(): void {
  const require = createRequire(import.meta.url);
  const debug = createRequire(require.resolve('ioredis'))('debug') as DebugModule;
  const current = debug.namespaces ?? '';
  if (current.split(/[\s,]+/).includes(SKIP_IOREDIS)) return;
  // enable() also writes DEBUG into process.env (which the head inherits): put the user's value back.
  const had = Object.prototype.hasOwnProperty.call(process.env, 'DEBUG');
  const before = process.env.DEBUG;
  debug.enable(current ? `${current},${SKIP_IOREDIS}` : SKIP_IOREDIS);
  if (had) process.env.DEBUG = before;
  else delete process.env.DEBUG;
}
