/**
 * `ray-head-ha role-labeler`: the role label (decision 31) from a sidecar
 * container, so that the service account token is not where Ray jobs run
 * (docs/design.md, decision 37). The candidate's container, where the head,
 * its dashboard and every job entrypoint run, mounts no token; this
 * container does, and runs nothing else.
 *
 * It asks the candidate next to it, over the pod's loopback, the question the
 * in-process labeler asks: `GET /readyz` (200 only while the candidate leads,
 * its head runs and its GCS accepts connections). Everything else is
 * src/k8s/role-label.ts, unchanged: `standby` at start, `leader` with the
 * sweep of other peers while /readyz says 200, `standby` when it stops saying
 * so and on SIGTERM. An unreachable candidate (its container restarting)
 * reads as not ready, so a crashed leader's pod loses its label within one
 * period, before its restarted container can be Ready. A question that gets
 * no answer in time reads as unsure: a busy node keeps its leader labeled
 * for the grace of role-label.ts, a hung candidate does not.
 *
 * What a process in the candidate's container can still do: answer /readyz
 * itself if it kills the candidate and binds its port (same user), which
 * keeps this pod labeled `leader` while another pod leads; the other pod's
 * labeler takes the label off again every 5 s (the sweep). It cannot label
 * or change any pod itself: it has no token.
 */
import http from 'node:http';
import { ConfigError, ExitCode } from '../errors.js';
import { splitHostPort } from '../host-port.js';
import { createLogger } from '../log.js';
import { OPTIONS, lookup } from '../options.js';
import { SERVICE_ACCOUNT_DIR, inClusterApi } from './api.js';
import { type ReadyAnswer, prepareRoleLabel, startRoleLabeler } from './role-label.js';
import { loadRoleLabel } from './role-label-config.js';

/** Each Kubernetes API call of the loop (it runs every 200 ms). */
export const K8S_LOOP_REQUEST_MS = 400;
/** One /readyz question to the candidate on loopback. */
const READYZ_TIMEOUT_MS = 300;

/**
 * GET http://127.0.0.1:<port>/readyz: 'ready' for a 200; 'unsure' when no
 * answer came within READYZ_TIMEOUT_MS, or /readyz itself said so (its GCS
 * probe timed out); 'not-ready' for any other answer and for a candidate
 * that is not there (refused, reset: its container is gone).
 */
export function askReadyz(port: number): Promise<ReadyAnswer> {
  return new Promise((resolve) => {
    let timedOut = false;
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body = (body + c).slice(0, 4096)));
      res.on('end', () => resolve(res.statusCode === 200 ? 'ready' : readyzSaysUnsure(body) ? 'unsure' : 'not-ready'));
      res.on('error', () => resolve(timedOut ? 'unsure' : 'not-ready'));
    });
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy();
    }, READYZ_TIMEOUT_MS);
    req.on('close', () => clearTimeout(timer));
    req.on('error', () => resolve(timedOut ? 'unsure' : 'not-ready'));
  });
}

/** A 503 from /readyz whose JSON (src/http/server.ts, Readiness) says only the GCS probe timed out. */
function readyzSaysUnsure(body: string): boolean {
  try {
    return (JSON.parse(body) as { unsure?: unknown }).unsure === true;
  } catch {
    return false;
  }
}

/**
 * Runs until SIGTERM/SIGINT (or `opts.signal`), then labels the pod standby
 * and returns 0. `serviceAccountDir` is for tests.
 */
export async function runRoleLabeler(env: NodeJS.ProcessEnv, opts: { signal?: AbortSignal; serviceAccountDir?: string; logLevel?: string } = {}): Promise<number> {
  const namespace = lookup(OPTIONS.namespace, {}, env)?.value ?? 'default';
  const cfg = loadRoleLabel({}, env, namespace);
  if (!cfg) throw new ConfigError('role-labeler needs RAY_HA_K8S_ROLE_LABEL (and RAY_HA_K8S_POD_NAME)');
  const http = lookup(OPTIONS.httpAddress, {}, env);
  const port = http ? splitHostPort(http.value)?.port : undefined;
  if (!port) throw new ConfigError('role-labeler needs RAY_HA_HTTP_ADDRESS, the candidate\'s host:port for /readyz (it asks 127.0.0.1 on that port)');
  const log = createLogger({ format: 'json', level: opts.logLevel ?? 'info', candidateId: cfg.podName });

  const api = inClusterApi(env, K8S_LOOP_REQUEST_MS, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  opts.signal?.addEventListener('abort', onSignal, { once: true });
  if (opts.signal?.aborted) stop.abort();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await prepareRoleLabel(api, cfg, log);
    const ready = () => askReadyz(port);
    // `leading` is asked synchronously just before a claim; the last answer stands for it.
    let lastReady = false;
    const labeler = startRoleLabeler({
      api,
      cfg,
      ready: async () => {
        const answer = await ready();
        lastReady = answer === 'ready';
        return answer;
      },
      leading: () => lastReady,
      log,
    });
    log.info({ readyz: `http://127.0.0.1:${port}/readyz` }, 'role labeler: following the candidate\'s /readyz');
    if (!stop.signal.aborted) await new Promise((r) => stop.signal.addEventListener('abort', r, { once: true }));
    await labeler.close();
    return ExitCode.ok;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
