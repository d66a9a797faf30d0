/**
 * The role report for the shim's non-blocking `ray start --head`
 * (scripts/ray-shim.py): when RAY_HA_STATE_FILE is set, every role change is
 * written there atomically (tmp file + rename) as one JSON object with our
 * pid, so the shim can tell a stale file from ours.
 */
import { renameSync, writeFileSync } from 'node:fs';
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
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(report)}\n`);
  renameSync(tmp, file);
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
