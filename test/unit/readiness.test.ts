/**
 * /readyz's check (src/http/server.ts, readinessCheck) tells a definite no
 * from an unsure one: only a GCS probe that got no answer in time is unsure,
 * and the role labeler keeps a leader's label through that for a grace
 * (test/integration/role-labeler.test.ts). The probe is the check's own
 * parameter; probePort itself is tried against real sockets.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CandidateView, type ElectorLike } from '../../src/http/candidate-view.js';
import { readinessCheck, readyAnswer } from '../../src/http/server.js';
import { probePort, type PortProbe } from '../../src/port-probe.js';

function leadingView(): CandidateView {
  const elector = Object.assign(new EventEmitter(), { state: 'leading', highestEpoch: 7 }) as unknown as ElectorLike;
  const view = new CandidateView({ candidateId: 'c1', namespace: 'n', ttlMs: 5000, gcsAddress: '127.0.0.1:6379' }, elector);
  view.setHead(4242);
  return view;
}

describe('readinessCheck', () => {
  it.each<[PortProbe, boolean, boolean, string]>([
    ['answered', true, false, 'ready'],
    ['refused', false, false, 'not-ready'],
    ['timeout', false, true, 'unsure'],
  ])('a GCS probe that %s: ready %s, unsure %s (%s for the labeler)', async (found, ready, unsure, answer) => {
    const view = leadingView();
    try {
      const r = await readinessCheck(view, async () => found)();
      expect(r).toMatchObject({ ready, unsure, leading: true, headPid: 4242 });
      expect(readyAnswer(r)).toBe(answer);
    } finally {
      view.close();
    }
  });

  it('not leading, or no head: a definite no, whatever the probe', async () => {
    const view = leadingView();
    try {
      view.setHead(null);
      const r = await readinessCheck(view, async () => 'timeout')();
      expect(r).toMatchObject({ ready: false, unsure: false, reason: 'leading, head not running' });
      expect(readyAnswer(r)).toBe('not-ready');
    } finally {
      view.close();
    }
  });
});

describe('probePort', () => {
  it('answered by a listening port, refused by a closed one, refused for an address it cannot parse', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await probePort(`127.0.0.1:${port}`, 2000)).toBe('answered');
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await probePort(`127.0.0.1:${port}`, 2000)).toBe('refused');
    expect(await probePort('not an address', 2000)).toBe('refused');
  });
});
