/**
 * Wires the HTTP endpoints into `ray-head-ha run`: starts the server before
 * the election (a bad --http address fails at once, as a ConfigError), and
 * returns the hooks runCandidate takes.
 */
import type { Config } from '../config.js';
import type { Elector } from '../election/elector.js';
import type { Logger } from '../log.js';
import { CandidateView } from './candidate-view.js';
import { startHttpServer } from './server.js';

export interface HttpHooks {
  onElector(elector: Elector): void;
  onHead(pid: number | null): void;
  close(): Promise<void>;
  /** The port actually bound (useful with port 0). */
  port: number;
}

export async function attachHttp(deps: { config: Config; log: Logger }): Promise<HttpHooks> {
  if (!deps.config.httpAddress) throw new Error('attachHttp needs config.httpAddress');
  const view = new CandidateView(deps.config);
  let server;
  try {
    server = await startHttpServer({ address: deps.config.httpAddress, candidate: view, log: deps.log });
  } catch (err) {
    view.close();
    throw err;
  }
  return {
    port: server.port,
    onElector: (elector) => view.attach(elector),
    onHead: (pid) => view.setHead(pid),
    async close() {
      await server.close();
      view.close();
    },
  };
}
