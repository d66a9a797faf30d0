/**
 * The role report for the shim's non-blocking `ray start --head`
 * (scripts/ray-shim.py): when RAY_HA_STATE_FILE is set, every role change is
 * written there atomically as one JSON object with our pid, so the shim can
 * tell a stale file from ours. The default place is Ray's temp dir, which
 * anyone may write to: the new file is created exclusively under an unguessable
 * name and renamed over the old one, so a planted link is replaced, never
 * written through (safe-files.ts).
 */
import { replaceAtomically } from '../safe-files.js';
import type { Elector } from '../election/elector.js';
import type { Logger } from '../log.js';

export interface RoleReport {
  pid: number;
  id: string;
  role: 'standby' | 'leader' | 'stopped';
  epoch: number | null;
  leaderId?: string | null;
  gcsAddress?: string | null;
}

export function writeRoleReport(file: string, report: RoleReport): void {
  replaceAtomically(file, `${JSON.stringify(report)}\n`, 0o644);
}

/** Follows the elector and reports standby (once a holder is known), leader, and stopped. */
export function reportRoles(file: string, elector: Elector, me: { id: string; gcsAddress: string | null }, log: Logger): () => void {
  let last = '';
  const write = (r: Omit<RoleReport, 'pid' | 'id'>) => {
    const report: RoleReport = { pid: process.pid, id: me.id, ...r };
    const text = JSON.stringify(report);
    if (text === last) return;
    last = text;
    try {
      writeRoleReport(file, report);
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, 'cannot write the role report');
    }
  };
  elector.on('holder', (h) => {
    if (elector.state === 'standby') write({ role: 'standby', epoch: h.epoch, leaderId: h.id });
  });
  elector.on('state', (e) => {
    if (e.to === 'leading') write({ role: 'leader', epoch: e.epoch, gcsAddress: me.gcsAddress });
  });
  return () => write({ role: 'stopped', epoch: elector.highestEpoch || null });
}
