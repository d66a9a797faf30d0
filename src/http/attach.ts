/**
 * Wires what follows the candidate's view into `ray-head-ha run`: the HTTP
 * endpoints (started before the election, so a bad --http address fails at
 * once, as a ConfigError) and, on Kubernetes, the role label (the pod is
 * labeled standby before the election; src/k8s/role-label.ts). Returns the
 * hooks runCandidate takes.
 */
import type { Config } from '../config.js';
import type { Elector } from '../election/elector.js';
import type { Logger } from '../log.js';
import { inClusterApi } from '../k8s/api.js';
import { K8S_LOOP_REQUEST_MS } from '../k8s/labeler.js';
import { prepareRoleLabel, startRoleLabeler } from '../k8s/role-label.js';
import { CandidateView } from './candidate-view.js';
import { probeGcs, readinessCheck, readyAnswer, startHttpServer } from './server.js';

export interface ViewHooks {
  onElector(elector: Elector): void;
  onHead(pid: number | null): void;
  close(): Promise<void>;
  /** The HTTP port actually bound (useful with port 0); null without --http. */
  port: number | null;
}

/** null when neither --http nor the role label is configured. */
export async function attachView(deps: { config: Config; env: NodeJS.ProcessEnv; log: Logger }): Promise<ViewHooks | null> {
  const { config, log } = deps;
  if (!config.httpAddress && !config.roleLabel) return null;
  const view = new CandidateView(config);
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
    view.close();
  };
  try {
    if (config.roleLabel) {
      const api = inClusterApi(deps.env, K8S_LOOP_REQUEST_MS);
      await prepareRoleLabel(api, config.roleLabel, log);
      // Its own readiness check: the one /readyz uses caches answers across requests.
      const ready = readinessCheck(view, probeGcs);
      const labeler = startRoleLabeler({ api, cfg: config.roleLabel, ready: async () => readyAnswer(await ready()), leading: () => view.isLeader(), log });
      closers.push(() => labeler.close());
    }
    let port: number | null = null;
    if (config.httpAddress) {
      const server = await startHttpServer({ address: config.httpAddress, candidate: view, log });
      port = server.port;
      closers.push(() => server.close());
    }
    return { port, onElector: (elector) => view.attach(elector), onHead: (pid) => view.setHead(pid), close };
  } catch (err) {
    await close();
    throw err;
  }
}
