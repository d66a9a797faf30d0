/**
 * The candidate's HTTP endpoints (node:http, no framework):
 *   GET /healthz  200 while the event loop ticked within the ttl, else 503 (liveness)
 *   GET /readyz   200 only while this candidate leads, its head runs and the GCS
 *                 address accepts connections, else 503 (a Service routes to the leader only)
 *   GET /leader   JSON: the leader as this candidate sees it, and its own role
 *   GET /metrics  Prometheus text (prom-client)
 * Every answer is computed from the CandidateView; only /readyz does I/O (a TCP
 * probe of the GCS, cached for PROBE_CACHE_MS so a scrape storm costs one connect).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, errorText } from '../errors.js';
import { buildAddress, splitHostPort } from '../host-port.js';
import type { Logger } from '../log.js';
import { type PortProbe, probePort } from '../port-probe.js';
import type { ReadyAnswer } from '../k8s/role-label.js';
import type { CandidateView } from './candidate-view.js';

const PROBE_CACHE_MS = 250;
const PROBE_TIMEOUT_MS = 200;
/** Does the GCS at `address` accept a connection (within PROBE_TIMEOUT_MS)? What /readyz asks. */
export const probeGcs = (address: string): Promise<PortProbe> => probePort(address, PROBE_TIMEOUT_MS);
/** Whole request headers must arrive within this (a probe sends them at once). */
export const HEADERS_TIMEOUT_MS = 5_000;
/** The whole request within this. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** How often Node checks the two timeouts above. */
export const CHECK_INTERVAL_MS = 1_000;
/** An idle keep-alive connection is closed after this. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Open connections at most; kubelet and a Prometheus scrape need a handful. */
export const MAX_CONNECTIONS = 64;

export interface HttpServerOptions {
  /** `host:port` (port 0 picks a free one: see the returned port). */
  address: string;
  candidate: CandidateView;
  log: Logger;
  /** Whether something accepts connections at a GCS address (tests swap it). */
  probe?: (address: string) => Promise<PortProbe>;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export interface Readiness {
  ready: boolean;
  leading: boolean;
  headPid: number | null;
  /** true/false from the probe; null when not probed (not leading, no head, or no GCS address configured). */
  gcsAnswers: boolean | null;
  /**
   * Not ready only because the GCS probe got no answer in time (a loaded
   * node, or a GCS that hangs): a role labeler keeps a leader's label
   * through this for a grace period, not through a definite no.
   */
  unsure: boolean;
  reason: string;
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { host, port } = httpHostPort(options.address);
  const view = options.candidate;
  const readiness = readinessCheck(view, options.probe ?? probeGcs);

  // Timeouts given at creation (set afterwards, the header timer of the first connections is
  // already armed with the defaults): a client that sends nothing is dropped within about
  // HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS, one that trickles a request within REQUEST_TIMEOUT_MS.
  const server = http.createServer({
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: CHECK_INTERVAL_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  }, (req, res) => {
    route(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!).then(
      ({ status, type, body }) => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        options.log.warn({ err: errorText(err), url: req.url }, 'http handler failed');
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      },
    );
  });
  // Slow or idle clients cost one descriptor each until the timeouts drop them: above the cap,
  // new connections are closed at once, so a flood cannot exhaust the process's descriptors.
  server.maxConnections = MAX_CONNECTIONS;

  async function route(method: string, path: string): Promise<{ status: number; type: string; body: string }> {
    if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed\n');
    switch (path) {
      case '/healthz': {
        const ok = view.healthy();
        const sinceMs = Math.round(view.sinceLastTickMs());
        return text(ok ? 200 : 503, ok ? 'ok\n' : `event loop stalled: last tick ${sinceMs} ms ago (ttl ${view.config.ttlMs} ms)\n`);
      }
      case '/readyz': {
        const r = await readiness();
        return json(r.ready ? 200 : 503, r);
      }
      case '/leader':
        return json(200, view.snapshot());
      case '/metrics':
        return { status: 200, type: view.metrics.contentType, body: await view.metrics.text() };
      default:
        return text(404, 'not found: try /healthz /readyz /leader /metrics\n');
    }
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new ConfigError(`cannot serve HTTP on ${options.address} (--http / RAY_HA_HTTP_ADDRESS): ${err.code ?? err.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => options.log.warn({ err: err.message }, 'http server error'));
  const bound = (server.address() as AddressInfo).port;
  options.log.info({ address: buildAddress(host, bound) }, 'http endpoints listening');
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Readiness, cheap to ask often: role and head are read live; the GCS probe is
 * shared by concurrent requests and reused for PROBE_CACHE_MS, but only for the
 * same head (a new head is probed afresh).
 */
export function readinessCheck(view: CandidateView, probe: (address: string) => Promise<PortProbe>): () => Promise<Readiness> {
  let cached: { pid: number; atMs: number; answer: Promise<PortProbe> } | null = null;
  return async () => {
    const leading = view.isLeader();
    const headPid = view.head();
    const gcsAddress = view.config.gcsAddress;
    if (!leading) return { ready: false, leading, headPid, gcsAnswers: null, unsure: false, reason: `not leading (${view.state()})` };
    if (headPid === null) return { ready: false, leading, headPid, gcsAnswers: null, unsure: false, reason: 'leading, head not running' };
    if (gcsAddress === null) {
      return { ready: true, leading, headPid, gcsAnswers: null, unsure: false, reason: 'leading with a running head (no GCS address to probe)' };
    }
    const now = performance.now();
    if (!cached || cached.pid !== headPid || now - cached.atMs > PROBE_CACHE_MS) {
      cached = { pid: headPid, atMs: now, answer: probe(gcsAddress) };
    }
    const found = await cached.answer;
    const answers = found === 'answered';
    // Leadership may have ended while we probed: the answer must hold for now.
    if (!view.isLeader() || view.head() !== headPid) {
      return { ready: false, leading: view.isLeader(), headPid: view.head(), gcsAnswers: answers, unsure: false, reason: 'term ended while probing' };
    }
    if (answers) return { ready: true, leading, headPid, gcsAnswers: true, unsure: false, reason: `leading; GCS ${gcsAddress} accepts connections` };
    return found === 'timeout'
      ? { ready: false, leading, headPid, gcsAnswers: false, unsure: true, reason: `leading; GCS ${gcsAddress} did not answer within ${PROBE_TIMEOUT_MS} ms` }
      : { ready: false, leading, headPid, gcsAnswers: false, unsure: false, reason: `leading; GCS ${gcsAddress} does not accept connections yet` };
  };
}

/** A readiness result as the role labeler reads it (src/k8s/role-label.ts). */
export function readyAnswer(r: Pick<Readiness, 'ready' | 'unsure'>): ReadyAnswer {
  return r.ready ? 'ready' : r.unsure ? 'unsure' : 'not-ready';
}

function httpHostPort(address: string): { host: string; port: number } {
  const hp = splitHostPort(address);
  if (!hp) throw new ConfigError(`HTTP address ${JSON.stringify(address)}: expected host:port`);
  return hp;
}

function text(status: number, body: string) {
  return { status, type: 'text/plain; charset=utf-8', body };
}

function json(status: number, value: unknown) {
  return { status, type: 'application/json', body: `${JSON.stringify(value)}\n` };
}
