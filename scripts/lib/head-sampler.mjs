// The checker for stand-in heads (test/fixtures/stand-in-head.mjs writes
// <dir>/<pid>.json once it listens: { pid, grandchild, daemon, candidate, port }).
// Sampled every few ms, it records every moment two heads were alive at once.
// One implementation for the scripts and the tests (test/helpers/candidates.ts types it).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isAlive, killQuietly, nowMs, procState } from './procs.mjs';

export class HeadSampler {
  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'rhha-heads-'));
    /** pid -> record, with firstSeenMs and (once seen dead) diedMs on the monotonic clock */
    this.known = new Map();
    this.samples = 0;
    this.maxAlive = 0;
    /** Every sample with two or more heads alive: { atMs (monotonic), pids, candidates }. */
    this.overlaps = [];
    /** Time covered by such samples, in ms. */
    this.overlapMs = 0;
    this.lastSampleMs = null;
    this.timer = null;
  }

  /** Every head that ever recorded itself. */
  records() {
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      const pid = Number(f.slice(0, -5));
      if (this.known.has(pid)) continue;
      try {
        const rec = JSON.parse(readFileSync(path.join(this.dir, f), 'utf8'));
        this.known.set(pid, { ...rec, firstSeenMs: nowMs() });
      } catch {
        /* being written: next time */
      }
    }
    return [...this.known.values()];
  }

  /** The heads alive now (a head once seen dead is not looked at again). */
  alive() {
    const alive = [];
    for (const r of this.records()) {
      if (r.diedMs !== undefined) continue;
      if (isAlive(r.pid)) alive.push(r);
      else r.diedMs = nowMs();
    }
    return alive;
  }

  start(periodMs = 5) {
    this.timer = setInterval(() => {
      const t = nowMs();
      const alive = this.alive();
      this.samples++;
      this.maxAlive = Math.max(this.maxAlive, alive.length);
      if (alive.length > 1) {
        if (this.lastSampleMs !== null) this.overlapMs += t - this.lastSampleMs;
        this.overlaps.push({ atMs: t, pids: alive.map((r) => r.pid), candidates: alive.map((r) => r.candidate) });
      }
      this.lastSampleMs = t;
    }, periodMs);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Every recorded head, grandchild and daemon still present (alive or zombie): none once every head should be gone. */
  leftovers() {
    return this.records().flatMap((r) => [r.pid, r.grandchild, r.daemon]).filter((pid) => procState(pid) !== null);
  }

  /** What dead heads left behind: the pids (head, grandchild, daemon) of heads no longer alive that are still present. */
  orphans() {
    this.alive();
    return this.records()
      .filter((r) => r.diedMs !== undefined)
      .flatMap((r) => [r.pid, r.grandchild, r.daemon])
      .filter((pid) => procState(pid) !== null);
  }

  close() {
    this.stop();
    for (const r of this.records()) for (const pid of [r.pid, r.grandchild, r.daemon]) killQuietly(pid);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
