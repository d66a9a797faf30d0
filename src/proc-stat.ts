/**
 * /proc/PID/stat, read once and split safely: the command name is in
 * parentheses and may hold spaces or parentheses itself, so the fields are
 * counted from the last ')'. See: man proc (fields 2 comm, 3 state, 4 ppid,
 * 22 starttime).
 */
import { readFileSync } from 'node:fs';

export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  /** Clock ticks since boot: with the pid, the identity of a process. */
  startTime: string;
}

/** The process's stat fields, or null when there is no such process. */
export function readProcStat(pid: number | 'self'): ProcStat | null {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const close = s.lastIndexOf(')');
  const rest = s.slice(close + 2).split(' ');
  if (rest[19] === undefined) return null;
  return { comm: s.slice(s.indexOf('(') + 1, close), state: rest[0]!, ppid: Number(rest[1]), startTime: rest[19] };
}
