// Steady HTTP traffic, as a load balancer's client sees a service: a GET
// every 1000/rps ms, each sent on time whether the previous one answered or
// not. Used for Serve traffic by the campaign (scripts/chaos-ray.mjs) and,
// in a process of its own (scripts/k8s-lab/serve-traffic.mjs), by the
// Kubernetes e2e.
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/**
 * Starts the traffic; onResult({ at, ok, why }) once per request when it ends
 * (`at` epoch ms; ok: a 2xx answer whose body passes `accept`, within
 * timeoutMs; why: the HTTP status, `body` when `accept` refused it, or the
 * error's code or name: ECONNREFUSED, TimeoutError, ...). Returns stop(): no
 * request is sent and no result reported after it.
 */
export function steadyGets(url, rps, onResult, { timeoutMs = 2000, accept = () => true } = {}) {
  let running = true;
  const timer = setInterval(async () => {
    let ok = false;
    let why;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      ok = res.ok && accept(await res.text());
      why = res.ok && !ok ? 'body' : String(res.status);
    } catch (err) {
      why = err?.cause?.code ?? err?.name ?? 'error';
    }
    if (running) onResult({ at: Date.now(), ok, why });
  }, 1000 / rps);
  return () => {
    running = false;
    clearInterval(timer);
  };
}

/**
 * steadyGets on a thread of its own (worker_threads): from a caller whose
 * event loop is busy (spawning, reading /proc) it would send nothing for a
 * while, a gap that is not the server's. `acceptPrefix`: a body must start with it (a
 * function cannot cross threads). Results arrive through onResult as from
 * steadyGets, with `at` taken on the traffic's thread. Returns stop().
 */
export function steadyGetsOffThread(url, rps, onResult, { timeoutMs = 2000, acceptPrefix = '' } = {}) {
  let running = true;
  const worker = new Worker(new URL(import.meta.url), { workerData: { steadyGets: { url, rps, timeoutMs, acceptPrefix } } });
  worker.on('message', (r) => running && onResult(r));
  worker.on('error', (err) => running && onResult({ at: Date.now(), ok: false, why: `thread: ${err.message}` }));
  return () => {
    running = false;
    void worker.terminate();
  };
}

if (!isMainThread && workerData?.steadyGets) {
  const { url, rps, timeoutMs, acceptPrefix } = workerData.steadyGets;
  steadyGets(url, rps, (r) => parentPort.postMessage(r), { timeoutMs, accept: (text) => text.startsWith(acceptPrefix) });
}

/** The results a traffic process (scripts/k8s-lab/serve-traffic.mjs) wrote to `file`: [] before its first. */
export function readTrafficFile(file) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((l) => {
    const [at, ok, why] = l.split(' ');
    return { at: Number(at), ok: ok === '1', why };
  });
}

/**
 * Over the results that ended in [from, to]: how many answered and failed,
 * why they failed (counted by status or error: { TimeoutError: 3, 503: 1 }),
 * and the longest time without an answer (from `from` to the first answer,
 * between answers, from the last to `to`; ms).
 */
export function windowStats(results, from, to) {
  let ok = 0;
  let failed = 0;
  const failedWhy = {};
  let last = from;
  let longestGapMs = 0;
  for (const r of results) {
    if (r.at < from || r.at > to) continue;
    if (!r.ok) {
      failed++;
      failedWhy[r.why] = (failedWhy[r.why] ?? 0) + 1;
      continue;
    }
    ok++;
    longestGapMs = Math.max(longestGapMs, r.at - last);
    last = r.at;
  }
  return { ok, failed, failedWhy, longestGapMs: Math.max(longestGapMs, to - last) };
}
