/**
 * `ray-head-ha role-labeler` (src/k8s/labeler.ts), the sidecar of decision
 * 37, against a real local HTTPS server that keeps pods' labels as the API
 * server would (get, list by selector, merge patch) and a real HTTP /readyz
 * on loopback: standby at start, leader while /readyz says 200 (taking
 * another peer's stale leader label off), standby as soon as the candidate
 * stops answering (a crashed container), standby again when stopped.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRoleLabeler } from '../../src/k8s/labeler.js';
import { UNSURE_GRACE_MS } from '../../src/k8s/role-label.js';
import { makeTlsFiles, type TlsFiles } from '../helpers/redis.js';

const ROLE = 'ray-head-ha/role';
let tls: TlsFiles;
let saDir: string;
let api: https.Server;
let readyz: http.Server;
let apiPort = 0;
let readyzPort = 0;
/** The pods the fake API server keeps: name → labels. */
const pods: Record<string, Record<string, string>> = {};
/**
 * 'ready' answers 200, 'standby' 503, 'down' drops the connection (a container that is not there),
 * 'slow' answers 200 after SLOW_MS (a loaded node: later than the labeler waits),
 * 'gcs-unsure' 503 with /readyz's `unsure` (its GCS probe timed out).
 */
let candidate: 'ready' | 'standby' | 'down' | 'slow' | 'gcs-unsure' = 'standby';
const SLOW_MS = 700;

function matches(labels: Record<string, string>, selector: string): boolean {
  return selector.split(',').every((t) => {
    const [k, v] = t.split('=');
    return labels[k!] === v;
  });
}

beforeAll(async () => {
  tls = makeTlsFiles();
  saDir = mkdtempSync(path.join(tmpdir(), 'rhha-sa-'));
  copyFileSync(tls.caCert, path.join(saDir, 'ca.crt'));
  writeFileSync(path.join(saDir, 'namespace'), 'ray-ha-demo\n');
  writeFileSync(path.join(saDir, 'token'), 'test-token\n');
  api = https.createServer({ cert: readFileSync(tls.serverCert), key: readFileSync(tls.serverKey) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://x');
      const name = decodeURIComponent(url.pathname.split('/pods/')[1] ?? '');
      res.setHeader('content-type', 'application/json');
      const pod = (n: string) => ({ metadata: { name: n, labels: pods[n] } });
      if (req.method === 'GET' && !name) {
        const selector = url.searchParams.get('labelSelector') ?? '';
        return res.end(JSON.stringify({ items: Object.keys(pods).filter((n) => matches(pods[n]!, selector)).map(pod) }));
      }
      if (!pods[name]) return res.writeHead(404).end(JSON.stringify({ message: `pods "${name}" not found` }));
      if (req.method === 'PATCH') {
        const labels = JSON.parse(Buffer.concat(chunks).toString()).metadata.labels as Record<string, string | null>;
        for (const [k, v] of Object.entries(labels)) {
          if (v === null) delete pods[name]![k];
          else pods[name]![k] = v;
        }
      }
      res.end(JSON.stringify(pod(name)));
    });
  });
  readyz = http.createServer((req, res) => {
    if (candidate === 'down') return req.socket.destroy();
    if (candidate === 'slow') return void setTimeout(() => res.writeHead(200).end(), SLOW_MS);
    if (candidate === 'gcs-unsure') return void res.writeHead(503).end(JSON.stringify({ ready: false, leading: true, unsure: true }));
    res.writeHead(req.url === '/readyz' && candidate === 'ready' ? 200 : 503).end();
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => readyz.listen(0, '127.0.0.1', r));
  apiPort = (api.address() as AddressInfo).port;
  readyzPort = (readyz.address() as AddressInfo).port;
});
afterAll(async () => {
  api.closeAllConnections();
  readyz.closeAllConnections();
  await new Promise((r) => api.close(r));
  await new Promise((r) => readyz.close(r));
  rmSync(saDir, { recursive: true, force: true });
  rmSync(tls.dir, { recursive: true, force: true });
});

async function until(what: string, fn: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!fn()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(pods)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The sidecar's environment as the example gives it, against the test's API server (no readiness address). */
function labelerEnv(): NodeJS.ProcessEnv {
  return {
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: String(apiPort),
    RAY_HA_K8S_ROLE_LABEL: ROLE,
    RAY_HA_K8S_POD_NAME: 'cand-0',
    RAY_external_storage_namespace: 'demo',
  };
}

describe('role-labeler: the role label from a sidecar', () => {
  it('follows the candidate\'s /readyz on loopback: standby, leader (sweeping a stale peer), standby when it is gone, standby when stopped', async () => {
    pods['cand-0'] = { 'ray-head-ha/cluster': 'demo', [ROLE]: 'leader' }; // a pod left labeled leader by a crashed container
    pods['cand-1'] = { 'ray-head-ha/cluster': 'demo', [ROLE]: 'leader' }; // a lost node's pod
    pods['other-0'] = { 'ray-head-ha/cluster': 'other', [ROLE]: 'leader' }; // another cluster in the same namespace
    candidate = 'standby';
    const stop = new AbortController();
    const env = { ...labelerEnv(), RAY_HA_HTTP_ADDRESS: `0.0.0.0:${readyzPort}` };
    const run = runRoleLabeler(env, { signal: stop.signal, serviceAccountDir: saDir, logLevel: 'silent' });
    try {
      await until('standby at start', () => pods['cand-0']![ROLE] === 'standby');
      await new Promise((r) => setTimeout(r, 600));
      expect(pods['cand-0']![ROLE]).toBe('standby'); // /readyz says 503: stays standby

      candidate = 'ready';
      await until('leader', () => pods['cand-0']![ROLE] === 'leader');
      expect(pods['cand-1']![ROLE]).toBe('standby'); // the stale peer was set standby first
      expect(pods['other-0']![ROLE]).toBe('leader'); // never another cluster's pod

      candidate = 'down'; // the candidate's container crashed: its pod must leave the Service
      const t0 = performance.now();
      await until('standby once the candidate is gone', () => pods['cand-0']![ROLE] === 'standby', 2_000);
      expect(performance.now() - t0).toBeLessThan(1_500);

      candidate = 'ready';
      await until('leader again', () => pods['cand-0']![ROLE] === 'leader');
    } finally {
      stop.abort();
      expect(await run).toBe(0);
    }
    expect(pods['cand-0']![ROLE]).toBe('standby');
  });

  it('keeps a leader labeled through an answer that comes late (a loaded node), not through one that keeps coming late', async () => {
    pods['cand-0'] = { 'ray-head-ha/cluster': 'demo', [ROLE]: 'standby' };
    delete pods['cand-1'];
    candidate = 'ready';
    const stop = new AbortController();
    const run = runRoleLabeler({ ...labelerEnv(), RAY_HA_HTTP_ADDRESS: `0.0.0.0:${readyzPort}` }, { signal: stop.signal, serviceAccountDir: saDir, logLevel: 'silent' });
    // Every label cand-0 had, sampled every 20 ms.
    const seen: string[] = [];
    const sampler = setInterval(() => seen.push(pods['cand-0']![ROLE]!), 20);
    try {
      await until('leader', () => pods['cand-0']![ROLE] === 'leader');
      seen.length = 0;
      // One late answer, as when the node is busy for a moment: the Service must keep its endpoint.
      candidate = 'slow';
      await new Promise((r) => setTimeout(r, SLOW_MS / 2));
      candidate = 'ready';
      await new Promise((r) => setTimeout(r, SLOW_MS + 600));
      expect(seen.filter((l) => l !== 'leader'), 'labels while one /readyz answer came late').toEqual([]);

      /** From leader, how long until `answer` (kept up) gets cand-0 labeled standby. */
      const msUntilStandby = async (answer: typeof candidate, timeoutMs: number): Promise<number> => {
        candidate = 'ready';
        await until('leader again', () => pods['cand-0']![ROLE] === 'leader');
        candidate = answer;
        const t0 = performance.now();
        await until(`standby once /readyz answers ${answer}`, () => pods['cand-0']![ROLE] === 'standby', timeoutMs);
        return performance.now() - t0;
      };
      // Late answers that go on (a candidate whose loop hangs): standby after the grace.
      expect(await msUntilStandby('slow', 5_000)).toBeGreaterThanOrEqual(UNSURE_GRACE_MS);
      // The candidate's own GCS probe timed out (it says unsure): the same grace.
      expect(await msUntilStandby('gcs-unsure', 5_000)).toBeGreaterThanOrEqual(UNSURE_GRACE_MS);
      // A definite no (503) takes the label off within a period or two, grace or not.
      expect(await msUntilStandby('standby', 2_000)).toBeLessThan(UNSURE_GRACE_MS);
    } finally {
      clearInterval(sampler);
      stop.abort();
      expect(await run).toBe(0);
    }
  });

  it('refuses at start, with one line, a selector of another cluster and a missing readiness address', async () => {
    const env = labelerEnv();
    await expect(runRoleLabeler({ ...env, RAY_HA_HTTP_ADDRESS: '0.0.0.0:8088', RAY_HA_K8S_PEER_SELECTOR: 'app=ray' }, { serviceAccountDir: saDir }))
      .rejects.toThrow(/must contain ray-head-ha\/cluster=demo/);
    await expect(runRoleLabeler(env, { serviceAccountDir: saDir })).rejects.toThrow(/role-labeler needs RAY_HA_HTTP_ADDRESS/);
  });
});
