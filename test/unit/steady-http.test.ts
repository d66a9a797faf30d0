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
import { spawn } from 'node:child_process';
import { readTrafficFile, steadyGets, steadyGetsOffThread, windowStats, type RequestResult } from '../helpers/steady-http.js';

describe('windowStats', () => {
  const r = (at: number, ok: boolean, why?: string): RequestResult => ({ at, ok, ...(why && { why }) });

  it('counts answered and failed requests inside the window only, and why they failed', () => {
    const xs = [r(5, true), r(8, false, '503'), r(10, true), r(20, false, 'TimeoutError'), r(25, false, '503'), r(28, false, 'TimeoutError'), r(30, true), r(45, false, '502'), r(50, true)];
    expect(windowStats(xs, 10, 40)).toMatchObject({ ok: 2, failed: 3, failedWhy: { TimeoutError: 2, '503': 1 } });
  });

  it('measures the longest time without an answer, from the window start to its end', () => {
    expect(windowStats([r(110, true), r(120, false), r(300, true), r(320, true)], 100, 400).longestGapMs).toBe(190);
    // No answer in the window: the whole window.
    expect(windowStats([r(150, false, 'ECONNREFUSED')], 100, 400)).toEqual({ ok: 0, failed: 1, failedWhy: { ECONNREFUSED: 1 }, longestGapMs: 300 });
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

describe('steadyGetsOffThread', () => {
  /** A server in a process of its own, answering 'ok' at once; its URL. */
  async function serverProcess(): Promise<{ url: string; stop: () => void }> {
    const child = spawn(process.execPath, ['-e', "const s=require('http').createServer((q,r)=>r.end('ok')).listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(String(d).trim())));
    return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill('SIGKILL') };
  }
  /** Keeps this thread busy for `ms`, as a synchronous spawn or a long /proc walk does. */
  const block = (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      // busy
    }
  };

  it("sends and receives on time while the caller's loop is blocked; a client in the blocked loop goes silent", async () => {
    const server = await serverProcess();
    const off: RequestResult[] = [];
    const inLoop: RequestResult[] = [];
    const stopOff = steadyGetsOffThread(server.url, 50, (x) => off.push(x), { timeoutMs: 500, acceptPrefix: 'ok' });
    const stopIn = steadyGets(server.url, 50, (x) => inLoop.push(x), { timeoutMs: 500, accept: (t) => t === 'ok' });
    try {
      await new Promise((r) => setTimeout(r, 600));
      const from = Date.now();
      block(1500);
      const to = Date.now();
      await new Promise((r) => setTimeout(r, 800));
      // The thread's requests ended all through the block, answered.
      const during = off.filter((x) => x.at >= from && x.at <= to);
      expect(during.length).toBeGreaterThanOrEqual(40);
      expect(during.every((x) => x.ok)).toBe(true);
      expect(windowStats(off, from, to).longestGapMs).toBeLessThan(400);
      expect(off.filter((x) => !x.ok)).toEqual([]);
      // A client in the blocked loop sent nothing meanwhile: a gap of the whole block that was not the server's.
      expect(windowStats(inLoop, from, to).longestGapMs).toBeGreaterThanOrEqual(1400);
      const n = off.length;
      stopOff();
      await new Promise((r) => setTimeout(r, 300));
      expect(off.length).toBe(n); // nothing reported after stop()
    } finally {
      stopOff();
      stopIn();
      server.stop();
    }
  });
});
