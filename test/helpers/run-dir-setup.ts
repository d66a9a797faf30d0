/**
 * vitest globalSetup: every candidate the suite starts registers its pidfile
 * (src/ray/candidate-registry.ts) in one private directory of this run, not in
 * the machine's /tmp/ray-head-ha-<uid>, and the directory goes when the run
 * ends. Tests that need their own (RAY_HA_RUN_DIR in a test's env) still win.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'rhha-run-'));
  // Set before the workers start: they and every process they spawn inherit it.
  process.env['RAY_HA_RUN_DIR'] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
