/**
 * Before the suite and after it: remove every lab (scripts/lab/) whose owner
 * process is gone, e.g. a test worker killed mid-test. A lab normally tears
 * itself down on close(), exit, SIGINT and SIGTERM; this is the net under it.
 * The same for the Kubernetes lab (scripts/k8s-lab/) of a test process that died.
 */
import { sweepLabs } from './helpers/lab.js';
import { sweepDeadK8sLab } from './e2e/k8s-lab.js';

function sweep(when: string): void {
  if (process.getuid?.() !== 0) return; // labs need root; without it none was made
  const swept = sweepLabs();
  if (swept.length) console.log(`[lab] ${when}: removed labs left by dead owners: ${swept.join(' ')}`);
  const k8s = sweepDeadK8sLab();
  if (k8s) console.log(`[k8s-lab] ${when}: ${k8s}`);
}

export function setup(): void {
  sweep('before the suite');
}

export function teardown(): void {
  sweep('after the suite');
}
