/**
 * The Kubernetes API client of the role label (src/k8s/api.ts) against a real
 * local HTTPS server that plays a slow API server: the per-request timeout is
 * a total deadline (a server that trickles its answer cannot stretch it), and
 * the start (prepareRoleLabel) allows a slow or briefly failing API server
 * more than the 200 ms loop does, while a refusal still ends it at once.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { inClusterApi, type K8sApi } from '../../src/k8s/api.js';
import { prepareRoleLabel } from '../../src/k8s/role-label.js';
import { silentLogger } from '../../src/log.js';
import { makeTlsFiles, type TlsFiles } from '../helpers/redis.js';

const POD = { metadata: { name: 'cand-0', labels: { 'ray-head-ha/cluster': 'demo' } } };
const cfg = { label: 'ray-head-ha/role', podName: 'cand-0', peerSelector: 'ray-head-ha/cluster=demo' };

let tls: TlsFiles;
let saDir: string;
let server: https.Server | null = null;
/** What the server saw: method, path and body of each request. */
let seen: { method: string; url: string; body: string }[] = [];

beforeAll(() => {
  tls = makeTlsFiles();
  saDir = mkdtempSync(path.join(tmpdir(), 'rhha-sa-'));
  copyFileSync(tls.caCert, path.join(saDir, 'ca.crt'));
  writeFileSync(path.join(saDir, 'namespace'), 'ray-ha-demo\n');
  writeFileSync(path.join(saDir, 'token'), 'test-token\n');
});
afterAll(() => {
  rmSync(saDir, { recursive: true, force: true });
  rmSync(tls.dir, { recursive: true, force: true });
});
afterEach(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server!.close(r));
  }
  server = null;
  seen = [];
});

type Handler = (req: { method: string; url: string; body: string }, res: import('node:http').ServerResponse) => void;

/** A real HTTPS server on 127.0.0.1 (certificate for 127.0.0.1 from the test CA) and a client of it. */
async function apiServer(handler: Handler): Promise<K8sApi> {
  server = https.createServer({ cert: readFileSync(tls.serverCert), key: readFileSync(tls.serverKey) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      handler(r, res);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return inClusterApi({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port) }, 400, saDir);
}

/** A well-behaved API server's answer to the role label's three calls. */
function answer(r: { method: string; url: string }, res: import('node:http').ServerResponse): void {
  res.setHeader('content-type', 'application/json');
  if (r.method === 'GET' && r.url.includes('labelSelector=')) res.end(JSON.stringify({ items: [POD] }));
  else res.end(JSON.stringify(POD));
}

async function elapsed<T>(p: Promise<T>): Promise<{ ms: number; result: T | Error }> {
  const t0 = performance.now();
  const result = await p.catch((e: Error) => e);
  return { ms: performance.now() - t0, result };
}

describe('the Kubernetes API client: deadlines', () => {
  it('a request\'s timeout is a total deadline: an answer trickled a byte every 50 ms fails at 400 ms', async () => {
    const api = await apiServer((_r, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const body = JSON.stringify(POD);
      let i = 0;
      const t = setInterval(() => {
        if (res.destroyed || i >= body.length) {
          clearInterval(t);
          if (!res.destroyed) res.end();
          return;
        }
        res.write(body[i++]);
      }, 50);
      res.on('close', () => clearInterval(t));
    });
    const { ms, result } = await elapsed(api.getPod('cand-0'));
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toMatch(/GET .*cand-0: no complete answer within 400 ms/);
    // Every byte arrives well within an idle timeout of 400 ms; only a total deadline ends it here.
    expect(ms).toBeGreaterThanOrEqual(390);
    expect(ms).toBeLessThan(1_500);
  });

  it('the start allows a slow API server more: every answer 1.5 s late fails the loop\'s request, yet the pod is labeled standby', async () => {
    const api = await apiServer((r, res) => setTimeout(() => answer(r, res), 1_500));
    const loop = await elapsed(api.getPod('cand-0'));
    expect((loop.result as Error).message).toMatch(/no complete answer within 400 ms/);
    seen = [];
    const start = await elapsed(prepareRoleLabel(api, cfg, silentLogger));
    expect(start.result).toBeUndefined();
    expect(start.ms).toBeGreaterThanOrEqual(4_400);
    expect(seen.map((r) => r.method)).toEqual(['GET', 'GET', 'PATCH']);
    expect(JSON.parse(seen[2]!.body)).toEqual({ metadata: { labels: { 'ray-head-ha/role': 'standby' } } });
  });

  it('an API server failing at start (503 for 2.5 s) is retried within the allowance', async () => {
    const t0 = performance.now();
    const api = await apiServer((r, res) => {
      if (performance.now() - t0 < 2_500) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'etcd is slow' }));
      } else answer(r, res);
    });
    const start = await elapsed(prepareRoleLabel(api, cfg, silentLogger));
    expect(start.result).toBeUndefined();
    expect(seen.at(-1)?.method).toBe('PATCH');
    expect(seen.filter((r) => r.method === 'GET').length).toBeGreaterThanOrEqual(3);
  });

  it('a refusal at start is final: a 403 ends it at once with one ConfigError line, and a deadline with no answer ends within the allowance', async () => {
    const api = await apiServer((_r, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'pods "cand-0" is forbidden' }));
    });
    const refused = await elapsed(prepareRoleLabel(api, cfg, silentLogger));
    expect(refused.result).toBeInstanceOf(ConfigError);
    expect((refused.result as Error).message).toMatch(/the Kubernetes API refused: .*forbidden/);
    expect(seen).toHaveLength(1);
    expect(refused.ms).toBeLessThan(1_000);

    // Never an answer: each request ends at its deadline, the whole start at the allowance.
    server!.removeAllListeners('request');
    server!.on('request', () => {});
    const silent = await elapsed(prepareRoleLabel(api, cfg, silentLogger, { requestMs: 300, allowanceMs: 2_000 }));
    expect(silent.result).toBeInstanceOf(Error);
    expect(silent.result).not.toBeInstanceOf(ConfigError);
    expect((silent.result as Error).message).toMatch(/cannot reach the Kubernetes API: .*no complete answer within 300 ms/);
    expect(silent.ms).toBeGreaterThanOrEqual(1_000);
    expect(silent.ms).toBeLessThan(3_500);
  });
});
