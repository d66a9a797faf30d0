/**
 * Before the suite and after it: remove every lab (scripts/lab/) whose owner
 * process is gone, e.g. a test worker killed mid-test. A lab normally tears
 * itself down on close(), exit, SIGINT and SIGTERM; this is the net under it.
 */
import { sweepLabs } from './helpers/lab.js';

function sweep(when: string): void {
  if (process.getuid?.() !== 0) return; // labs need root; without it none was made
  const swept = sweepLabs();
  if (swept.length) console.log(`[lab] ${when}: removed labs left by dead owners: ${swept.join(' ')}`);
}

export function setup(): void {
  sweep('before the suite');
}

export function teardown(): void {
  sweep('after the suite');
}
