// "Pods" on one machine, for scripts/bench-ray.mjs and (typed by
// test/helpers/pods.ts) the real-Ray e2e test. Each pod is a command in its own PID namespace (`unshare --pid --fork
// --mount-proc`): SIGKILL to the namespace's init kills every process in it
// at once (the kernel does it), as when a pod dies; and Ray's "already
// running" check only sees the pod's own processes. The network is shared.
// Redis, ports and sleep come from harness.mjs, re-exported for bench-ray.mjs.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cmdline, freePort, isAlive, isListening, sleep, startRedis } from './harness.mjs';
import { parseLogText } from './timeline.mjs';

export { cmdline, freePort, isListening, sleep, startRedis };

function pidNamespace(pid) {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

const allPids = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);

/** Starts argv in a new PID namespace; output (stdout and stderr) appended to logFile. */
export async function startPod(name, argv, env, logFile) {
  const fd = openSync(logFile, 'a');
  const proc = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', ...argv], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const selfNs = pidNamespace(process.pid);
  let initPid = 0;
  const deadline = Date.now() + 10_000;
  while (!initPid) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`pod ${name}: unshare did not start (see ${logFile})`);
    let children = '';
    try {
      children = readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim();
    } catch {
      /* not there yet */
    }
    const child = Number(children.split(' ')[0]);
    if (child && pidNamespace(child) && pidNamespace(child) !== selfNs) initPid = child;
    else await sleep(10);
  }
  const ns = pidNamespace(initPid);
  const pod = {
    name,
    proc,
    initPid,
    logFile,
    exited,
    pids: () => allPids().filter((p) => pidNamespace(p) === ns && isAlive(p)),
    commands: () => pod.pids().map(cmdline),
    signalInit(signal) {
      process.kill(initPid, signal);
    },
    /** SIGKILL the init (the kernel kills the rest); resolves when no process of the pod is left. */
    async kill() {
      try {
        process.kill(initPid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      const until = Date.now() + 10_000;
      while (pod.pids().length > 0) {
        if (Date.now() > until) throw new Error(`pod ${name}: processes left after SIGKILL: ${pod.commands().join(' | ')}`);
        await sleep(10);
      }
      await exited;
    },
  };
  return pod;
}


/** Polls fn every stepMs until it returns something truthy; returns that value. */
export async function waitFor(what, fn, timeoutMs, stepMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}


/** The orchestrator's JSON log lines (pino, ISO `time`) in a pod's log, with epoch-ms `at`. */
export function orchestratorEvents(logFile) {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  return parseLogText(text, logFile).map((e) => ({ ...e, at: e.t }));
}

/**
 * Watches a file for a text; resolves with the epoch-ms of the line that has it:
 * the line's own leading timestamp when it has one (Ray's logging format,
 * `YYYY-MM-DD HH:MM:SS,mmm`, local time), else when it was first seen (polled).
 */
export function watchText(file, needle, fromOffset = 0, stepMs = 20) {
  let stopped = false;
  const seen = new Promise((resolve) => {
    const tick = () => {
      if (stopped) return resolve(null);
      let text = '';
      try {
        text = readFileSync(file, 'utf8').slice(fromOffset);
      } catch {
        /* not yet */
      }
      const i = text.indexOf(needle);
      if (i >= 0) {
        const line = text.slice(text.lastIndexOf('\n', i) + 1, i);
        const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3})/.exec(line);
        return resolve(m ? new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]).getTime() : Date.now());
      }
      setTimeout(tick, stepMs);
    };
    tick();
  });
  return { seen, stop: () => (stopped = true) };
}

/** The file's length in characters (watchText slices the text, not the bytes). */
export function fileSize(file) {
  try {
    return readFileSync(file, 'utf8').length;
  } catch {
    return 0;
  }
}

const RAY_TIME = /^\[?(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3})/;

/**
 * The epoch-ms of the first line of a Ray log (C++ `[YYYY-MM-DD HH:MM:SS,mmm ...`
 * or Python `YYYY-MM-DD HH:MM:SS,mmm ...`, local time) that contains `needle`
 * and is not older than sinceMs; null when there is none.
 */
export function rayLogTime(file, needle, sinceMs) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    if (!line.includes(needle)) continue;
    const m = RAY_TIME.exec(line);
    if (!m) continue;
    const at = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]).getTime();
    if (at >= sinceMs) return at;
  }
  return null;
}
