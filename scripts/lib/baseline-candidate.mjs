#!/usr/bin/env node
// The baseline for the benchmark: an elector that behaves like the polling
// selector in Ray's own HA fork. Acquire with SET NX PX; renew with GET then
// PEXPIRE from the client; standbys poll every check interval; no release on
// exit (the lease runs out by its ttl); the elector dies with its head. The head is the same stand-in, in its
// own process group, killed when leadership is lost or on SIGTERM.
// Usage: baseline-candidate.mjs <id> <redisPort> <leaseKey> <ttlMs> <intervalMs> -- <head command...>
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';

const [id, redisPort, key, ttlText, intervalText, sep, ...head] = process.argv.slice(2);
if (sep !== '--' || head.length === 0) throw new Error('usage: baseline-candidate.mjs id port key ttlMs intervalMs -- cmd...');
const ttlMs = Number(ttlText);
const intervalMs = Number(intervalText);
const redis = new Redis({ port: Number(redisPort), maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: intervalMs, retryStrategy: () => 100 });
redis.on('error', () => {});
let child = null;

function startHead() {
  child = spawn(head[0], head.slice(1), { stdio: 'ignore', detached: true, env: { ...process.env, RAY_HA_CANDIDATE_ID: id } });
  // In Ray's fork the selector lives in the GCS: when the head dies, so does the elector,
  // and its lease is left to run out.
  child.once('exit', () => process.exit(1));
}
function killHead() {
  if (!child) return;
  child.removeAllListeners('exit');
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  child = null;
}
process.on('SIGTERM', () => {
  killHead();
  process.exit(0);
});

for (;;) {
  try {
    if (!child) {
      if ((await redis.set(key, id, 'PX', ttlMs, 'NX')) === 'OK') startHead();
    } else if ((await redis.get(key)) === id) {
      await redis.pexpire(key, ttlMs);
    } else {
      killHead();
      process.exit(3);
    }
  } catch {
    /* Redis unreachable: try again next interval */
  }
  await new Promise((r) => setTimeout(r, intervalMs));
}
