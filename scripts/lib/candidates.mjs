// `ray-head-ha run` candidates as real processes, for the scripts and the
// tests (test/helpers/candidates.ts types it): the command line, the stand-in
// head, and each candidate's JSON log lines parsed as they arrive.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'bin/ray-head-ha.js');
export const STAND_IN = path.join(ROOT, 'test/fixtures/stand-in-head.mjs');

/** The stand-in head serving its "GCS" on gcsPort, recording itself in headsDir (a HeadSampler's dir) when given. */
export const standInCommand = (gcsPort, headsDir) => [process.execPath, STAND_IN, String(gcsPort), ...(headsDir ? [headsDir] : [])];

const started = new Set();

/**
 * Starts `ray-head-ha run --id ID --redis REDIS --namespace NS ARGS -- COMMAND`.
 * With stdio 'pipe' (the default) stderr is read: `logs` holds the parsed JSON
 * lines, `stderr` every line, and waitForLog(match) waits for a line; other
 * stdio (a file, 'ignore') leaves the output there. `exit` is set once it exited.
 */
export function startCandidate({ id, redis, namespace, args = [], env = {}, command, stdio = 'pipe' }) {
  const proc = spawn(process.execPath, [CLI, 'run', '--id', id, '--redis', redis, '--namespace', namespace, ...args, '--', ...command], {
    env: { ...process.env, ...env },
    stdio: stdio === 'pipe' ? ['ignore', 'inherit', 'pipe'] : stdio,
  });
  const logs = [];
  const stderr = [];
  const listeners = new Set();
  if (stdio === 'pipe') {
    let buf = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        stderr.push(line);
        try {
          logs.push(JSON.parse(line));
        } catch {
          /* not a log line (a plain error, or the head's own output) */
        }
        for (const l of listeners) l();
      }
    });
  }
  const c = {
    id,
    proc,
    logs,
    stderr,
    exit: null,
    exited: null,
    /** Resolves with the first log line matching, waiting up to timeoutMs. */
    waitForLog(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = logs.find(match);
          if (hit) {
            cleanup();
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${id}: no matching log line within ${timeoutMs} ms; stderr:\n${stderr.join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
  c.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve((c.exit = { code, signal }))));
  started.add(c);
  c.exited.then(() => started.delete(c));
  return c;
}

/** SIGKILL every candidate started here that still runs (their heads' groups are the keeper's job). */
export async function killAllCandidates() {
  for (const c of [...started]) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await c.exited;
    }
  }
  started.clear();
}
