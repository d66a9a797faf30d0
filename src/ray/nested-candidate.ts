/**
 * One orchestrator per candidate. A head runs with RAY_HA_TERM=<id>#<epoch> in
 * its environment (lead-term.ts), and so does everything it starts: Ray's
 * daemons, the jobs on the head, and the head command itself when it goes
 * through the `ray` shim. Inside a term the shim runs Ray's own `ray`
 * (scripts/ray-shim.py), and `ray-head-ha run` refuses to start: a candidate
 * under a candidate would hold or renew the lease while no Ray head runs, and
 * with the same candidate id no one else could take over.
 */
import { ConfigError } from '../errors.js';

export const TERM_ENV = 'RAY_HA_TERM';

export function termValue(candidateId: string, epoch: number): string {
  return `${candidateId}#${epoch}`;
}

export function refuseNestedCandidate(env: NodeJS.ProcessEnv): void {
  const term = env[TERM_ENV];
  if (!term) return;
  throw new ConfigError(
    `run: started inside the term of candidate ${JSON.stringify(term)} (${TERM_ENV} is set: this is a head's process tree); ` +
      'a candidate there would hold the lease with no Ray head. Run Ray\'s own `ray` here (the shim does so by itself)',
  );
}
