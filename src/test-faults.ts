/**
 * A fault switch for the project's own fault tests, off unless
 * RAY_HEAD_HA_TEST_FAULTS=1: on SIGUSR2 the event loop is blocked for
 * RAY_HEAD_HA_TEST_BLOCK_MS (default 10 s), the way a stuck callback or a swap
 * storm would block it. The keeper must fence the head meanwhile.
 */
import type { Logger } from './log.js';

export function installFaultSwitch(env: NodeJS.ProcessEnv, log: Logger): void {
  if (env.RAY_HEAD_HA_TEST_FAULTS !== '1') return;
  const blockMs = Number(env.RAY_HEAD_HA_TEST_BLOCK_MS ?? 10_000);
  process.on('SIGUSR2', () => {
    log.warn({ blockMs }, 'test fault: blocking the event loop');
    const end = Date.now() + blockMs;
    while (Date.now() < end) {
      /* busy: nothing else runs */
    }
    log.warn('test fault: event loop unblocked');
  });
}
