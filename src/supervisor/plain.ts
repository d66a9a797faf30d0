/**
 * A HeadSupervisor in plain Node: the head in its own session and process
 * group (spawn with `detached`), TERM then KILL to the group, and the fencing
 * deadline on a Node timer. It cannot fence a frozen orchestrator nor catch a
 * daemon that leaves the group; the keeper (keeper.ts) can. Kept for
 * platforms without the native part, chosen only explicitly.
 */
import { spawn } from 'node:child_process';
import { HeadStartError } from '../errors.js';
import { monotonicClock } from '../election/clock.js';
import type { HeadExit, HeadHandle, HeadSpec, HeadSupervisor, StopReason } from './types.js';

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export class PlainSupervisor implements HeadSupervisor {
  async start(spec: HeadSpec): Promise<HeadHandle> {
    const [file, ...args] = spec.command;
    if (!file) throw new HeadStartError('the head command is empty');
    const startedMs = monotonicClock.nowMs();
    const child = spawn(file, args, { env: spec.env, detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new HeadStartError(`cannot start ${file}: ${err.message}`)));
    });
    const pid = child.pid!;
    let reason: StopReason = 'head-exit';
    let deadlineTimer: NodeJS.Timeout | undefined;
    let stopping: Promise<HeadExit> | undefined;

    const exited = new Promise<HeadExit>((resolve) => {
      child.once('exit', (code, signal) => {
        clearTimeout(deadlineTimer);
        // Whatever the head left in its group goes with it.
        killGroup(pid, 'SIGKILL');
        resolve({ code, signal, reason, durationMs: monotonicClock.nowMs() - startedMs });
      });
    });

    const stop = (why: StopReason): Promise<HeadExit> => {
      if (!stopping) {
        reason = why;
        killGroup(pid, 'SIGTERM');
        const kill = setTimeout(() => killGroup(pid, 'SIGKILL'), spec.killGraceMs);
        stopping = exited.finally(() => clearTimeout(kill));
      }
      return stopping;
    };
    const setDeadline = (deadlineMs: number) => {
      clearTimeout(deadlineTimer);
      deadlineTimer = setTimeout(() => void stop('fenced'), Math.max(0, deadlineMs - monotonicClock.nowMs()));
    };
    setDeadline(spec.deadlineMs);
    return { pid, exited, setDeadline, stop };
  }
}
