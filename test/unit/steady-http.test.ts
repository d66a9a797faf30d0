/**
 * The steady HTTP client behind the Serve figures of the campaign and the
 * Kubernetes e2e (scripts/lib/steady-http.mjs): the window arithmetic, and
 * the client against a real HTTP server that stops answering for a while.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTrafficFile, steadyGets, windowStats, type RequestResult } from '../helpers/steady-http.js';

describe('windowStats', () => {
  const r = (at: number, ok: boolean): RequestResult => ({ at, ok });

  it('counts answered and failed requests inside the window only', () => {
    const xs = [r(5, true), r(10, true), r(20, false), r(30, true), r(50, true)];
    expect(windowStats(xs, 10, 40)).toMatchObject({ ok: 2, failed: 1 });
  });

  it('measures the longest time without an answer, from the window start to its end', () => {
    expect(windowStats([r(110, true), r(120, false), r(300, true), r(320, true)], 100, 400).longestGapMs).toBe(190);
    // No answer in the window: the whole window.
    expect(windowStats([r(150, false)], 100, 400)).toEqual({ ok: 0, failed: 1, longestGapMs: 300 });
    // The gap after the last answer counts too.
    expect(windowStats([r(110, true)], 100, 400).longestGapMs).toBe(290);
  });
});

describe('readTrafficFile', () => {
  it("reads the traffic process's lines, and nothing from a file not written yet", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rhha-traffic-'));
    try {
      const file = path.join(dir, 'requests');
      expect(readTrafficFile(file)).toEqual([]);
      writeFileSync(file, '1000 1 200\n1020 0 ECONNREFUSED\n');
      expect(readTrafficFile(file)).toEqual([{ at: 1000, ok: true, why: '200' }, { at: 1020, ok: false, why: 'ECONNREFUSED' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('steadyGets against a real server', () => {
  it('keeps sending on time while the server hangs, and reports the hang as failures and a gap', async () => {
    let hang = false;
    const held: http.ServerResponse[] = [];
    const server = http.createServer((_req, res) => {
      if (hang) held.push(res);
      else res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const results: RequestResult[] = [];
    const stop = steadyGets(url, 50, (x) => results.push(x), { timeoutMs: 300, accept: (t) => t === 'ok' });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const hangFrom = Date.now();
      hang = true;
      await new Promise((r) => setTimeout(r, 700));
      hang = false;
      const hangTo = Date.now();
      await new Promise((r) => setTimeout(r, 700));
      const all = windowStats(results, 0, Date.now());
      // Requests sent during the hang timed out (on time, not one after the other).
      expect(all.failed).toBeGreaterThanOrEqual(10);
      expect(all.ok).toBeGreaterThanOrEqual(20);
      // The longest time without an answer spans at least the hang.
      expect(all.longestGapMs).toBeGreaterThanOrEqual(hangTo - hangFrom - 50);
      const n = results.length;
      stop();
      await new Promise((r) => setTimeout(r, 400));
      expect(results.length).toBe(n); // nothing reported after stop()
      // Why each failed: the client's timeout; each answer: its status.
      expect(new Set(results.filter((x) => !x.ok).map((x) => x.why))).toEqual(new Set(['TimeoutError']));
      expect(new Set(results.filter((x) => x.ok).map((x) => x.why))).toEqual(new Set(['200']));
    } finally {
      stop();
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close();
    }
  });
});
