/**
 * The leader labels its own pod, as CloudNativePG and Patroni do
 * (docs/design.md, decision 31): a Service that selects
 * `<label>=leader` follows the leader without waiting for a readiness probe,
 * and every candidate can be Ready (rolling updates and disruption budgets
 * work as for any other workload).
 *
 * 1. Before the election (prepareRoleLabel): the candidate checks its pod and
 *    its peers can be read, and labels itself `standby`. A container that
 *    restarted in a pod still labeled `leader` thus never joins the Service
 *    before it leads again. A refusal (RBAC, no such pod, a bad selector)
 *    ends the process with one line; an API server that is slow or away is
 *    given START_ALLOWANCE_MS, each request START_REQUEST_MS, so that a
 *    loaded control plane does not put every candidate in a crash loop.
 * 2. While it runs (startRoleLabeler), every PERIOD_MS: the label follows
 *    the same check as /readyz (leads, its head runs, its GCS accepts
 *    connections). Before labeling itself `leader`, the candidate sets every
 *    other peer still labeled `leader` to `standby`: a leader whose node was
 *    lost cannot take its own label off, and its pod stays Ready until the
 *    node controller notices. While leading it looks again every SWEEP_MS.
 * 3. On stop (close): `standby` again, best effort.
 *
 *    The check answers ready, not ready, or unsure (no answer in time: a
 *    loaded node, a GCS probe or a /readyz question that timed out). A
 *    definite no takes the label off at the next period; an unsure answer
 *    keeps a leader's label for UNSURE_GRACE_MS, so that one slow answer on
 *    a busy node does not drop the Service's only endpoint (clients would
 *    see refused connections while nothing failed).
 *
 * What is not guaranteed: labels are routing, not fencing. A frozen leader
 * that wakes may label itself for one period after a newer leader did; its
 * head is fenced by its keeper regardless (decision 3), and its next check
 * puts the label back. A failed API call is logged and retried next period.
 */
import { ConfigError, HeadHaError } from '../errors.js';
import type { Logger } from '../log.js';
import { K8sApiError, type K8sApi } from './api.js';
import type { RoleLabelConfig } from './role-label-config.js';

export const LEADER = 'leader';
export const STANDBY = 'standby';
type Role = typeof LEADER | typeof STANDBY;

const PERIOD_MS = 200;
const SWEEP_MS = 5_000;
/** How long unsure answers keep a leader's label (a definite no takes it off at once). */
export const UNSURE_GRACE_MS = 1_000;

/** One readiness check, as the labeler reads it. */
export type ReadyAnswer = 'ready' | 'not-ready' | 'unsure';
/** Each request of step 1, and all of step 1 with its retries. */
export const START_REQUEST_MS = 5_000;
export const START_ALLOWANCE_MS = 60_000;
const START_RETRY_MS = 1_000;

/** Step 1: check access and label this pod `standby`. */
export async function prepareRoleLabel(
  api: K8sApi,
  cfg: RoleLabelConfig,
  log: Logger,
  limits: { requestMs: number; allowanceMs: number } = { requestMs: START_REQUEST_MS, allowanceMs: START_ALLOWANCE_MS },
): Promise<void> {
  const where = `pod ${cfg.podName} in namespace ${api.namespace}`;
  const slow = api.withTimeout(limits.requestMs);
  const endMs = performance.now() + limits.allowanceMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await slow.getPod(cfg.podName);
      const peers = await slow.listPods(cfg.peerSelector);
      if (!peers.some((p) => p.name === cfg.podName)) {
        throw new ConfigError(
          `RAY_HA_K8S_PEER_SELECTOR=${JSON.stringify(cfg.peerSelector)} does not select this ${where}: it must select every head candidate of the cluster, this one included`,
        );
      }
      await slow.patchLabels(cfg.podName, { [cfg.label]: STANDBY });
      break;
    } catch (err) {
      const e = startError(err, where);
      // Refusals are final; an unreachable, slow or failing API server is retried within the allowance.
      if (!(err instanceof K8sApiError) || e instanceof ConfigError || performance.now() + START_RETRY_MS >= endMs) throw e;
      if (attempt === 1) log.warn({ err: err.message }, `role label: the Kubernetes API did not answer at start; retrying for up to ${limits.allowanceMs} ms`);
      await new Promise((r) => setTimeout(r, START_RETRY_MS));
    }
  }
  log.info({ pod: cfg.podName, label: cfg.label, peers: cfg.peerSelector }, `role label: ${cfg.label}=${STANDBY}`);
}

function startError(err: unknown, where: string): Error {
  if (!(err instanceof K8sApiError)) return err as Error;
  const rbac = 'the service account needs get, list and patch on the candidate pods of its namespace (deploy/kubernetes/head-candidates.yaml, Role ray-head-ha-labeler)';
  switch (err.status) {
    case 401:
    case 403:
      return new ConfigError(`role label: the Kubernetes API refused: ${err.message}; ${rbac}`);
    case 404:
      return new ConfigError(`role label: no ${where}: RAY_HA_K8S_POD_NAME must be this pod's name (the downward API's metadata.name)`);
    case 400:
    case 422:
      return new ConfigError(`role label: the Kubernetes API refused the request: ${err.message} (check RAY_HA_K8S_ROLE_LABEL and RAY_HA_K8S_PEER_SELECTOR)`);
    default:
      return new HeadHaError(`role label: cannot reach the Kubernetes API: ${err.message}`);
  }
}

export interface RoleLabeler {
  /** Stops the loop and labels the pod `standby` again (best effort). */
  close(): Promise<void>;
}

/** Steps 2 and 3. `ready` is /readyz's check; `leading` is read again just before claiming. */
export function startRoleLabeler(deps: {
  api: K8sApi;
  cfg: RoleLabelConfig;
  ready: () => Promise<ReadyAnswer>;
  leading: () => boolean;
  log: Logger;
}): RoleLabeler {
  const { api, cfg, log } = deps;
  let labeled: Role = STANDBY;
  let lastSweepMs = -Infinity;
  let failures = 0;
  /** Since when every answer was unsure (null after a definite one). */
  let unsureSinceMs: number | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<void> = Promise.resolve();

  async function claim(): Promise<void> {
    const holders = await api.listPods(`${cfg.peerSelector},${cfg.label}=${LEADER}`);
    for (const p of holders) {
      if (p.name === cfg.podName) continue;
      await api.patchLabels(p.name, { [cfg.label]: STANDBY });
      log.warn({ pod: p.name }, `role label: another candidate's pod still said ${LEADER}; set it to ${STANDBY}`);
    }
    // Leadership may have ended while we listed and patched.
    if (!deps.leading()) return;
    if (labeled !== LEADER || !holders.some((p) => p.name === cfg.podName)) {
      await api.patchLabels(cfg.podName, { [cfg.label]: LEADER });
      if (labeled !== LEADER) log.info({ pod: cfg.podName }, `role label: ${cfg.label}=${LEADER}`);
      labeled = LEADER;
    }
    lastSweepMs = performance.now();
  }

  async function tick(): Promise<void> {
    const answer = await deps.ready();
    const now = performance.now();
    if (answer !== 'unsure') unsureSinceMs = null;
    else unsureSinceMs ??= now;
    if (answer === 'ready') {
      if (labeled !== LEADER || now - lastSweepMs >= SWEEP_MS) await claim();
      return;
    }
    if (labeled === STANDBY) return;
    // A leader's label survives unsure answers for the grace; a definite no, or the grace spent, takes it off.
    const unsureMs = unsureSinceMs === null ? null : Math.round(now - unsureSinceMs);
    if (unsureMs !== null && unsureMs < UNSURE_GRACE_MS) return;
    await api.patchLabels(cfg.podName, { [cfg.label]: STANDBY });
    labeled = STANDBY;
    if (unsureMs === null) log.info({ pod: cfg.podName }, `role label: ${cfg.label}=${STANDBY}`);
    else log.warn({ pod: cfg.podName, unsureMs }, `role label: ${cfg.label}=${STANDBY}: no definite readiness answer for ${unsureMs} ms`);
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      current = tick().then(
        () => {
          if (failures > 0) log.info({ failures }, 'role label: the Kubernetes API answers again');
          failures = 0;
        },
        (err: unknown) => {
          // The first failure, then one line per ~10 s: the API may be away for long.
          if (failures++ % 50 === 0) log.warn({ err: (err as Error).message, failures }, 'role label: Kubernetes API call failed; retrying');
        },
      ).finally(schedule);
    }, PERIOD_MS);
  }
  schedule();

  return {
    async close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
      if (labeled === STANDBY) return;
      try {
        await api.patchLabels(cfg.podName, { [cfg.label]: STANDBY });
        log.info({ pod: cfg.podName }, `role label: ${cfg.label}=${STANDBY} (stopping)`);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'role label: could not set standby while stopping');
      }
    },
  };
}
