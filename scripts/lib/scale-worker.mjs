// One process of the scale run: many electors (dist/election) sharing one
// fail-fast Redis connection, each leading with a no-op head. Reports to the
// parent over IPC: terms won and lost, and every renew's duration.
// Env: SCALE_REDIS (host:port), SCALE_NAMESPACES (comma list), SCALE_PER_NS,
//      SCALE_TTL_MS, SCALE_RETRY_MS, SCALE_PREFIX.
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { Elector } from '../../dist/election/elector.js';
import { RedisLease } from '../../dist/election/redis-lease.js';
import { monotonicClock } from '../../dist/clock.js';
import { electionConnection } from '../../dist/redis/connection.js';
import { parseRedisAddress } from '../../dist/redis/address.js';
import { silentLogger } from '../../dist/log.js';

const env = process.env;
const ttlMs = Number(env.SCALE_TTL_MS);
const retryMs = Number(env.SCALE_RETRY_MS);
const renewDeadlineMs = Math.floor((ttlMs * 2) / 3);
const namespaces = env.SCALE_NAMESPACES.split(',');
const perNs = Number(env.SCALE_PER_NS);
const redis = electionConnection(parseRedisAddress(env.SCALE_REDIS, 'SCALE_REDIS'), {
  commandTimeoutMs: Math.floor(renewDeadlineMs / 2),
  connectTimeoutMs: 5_000,
  reconnectMaxMs: 1_000,
});
// Every lease listens for auth errors on the shared connection.
redis.setMaxListeners(0);
await redis.connect();

const stats = { electors: 0, acquired: [], lost: [], renewMs: [] };
let measuring = false;
const shutdown = new AbortController();
// One shutdown signal for every elector of this process.
setMaxListeners(0, shutdown.signal);
const runs = [];
for (const ns of namespaces) {
  for (let i = 0; i < perNs; i++) {
    const id = `${env.SCALE_PREFIX}-${ns}-${i}`;
    // No subscriber: thousands of electors poll (every retry, and just after the holder's PTTL).
    const lease = new RedisLease(redis, null, { namespace: ns, candidateId: id, ttlMs, host: hostname(), gcsAddress: null, dashboardUrl: null });
    const elector = new Elector({ lease, clock: monotonicClock, retryMs, renewDeadlineMs, maxFailures: null, log: silentLogger });
    elector.on('renewed', (e) => measuring && stats.renewMs.push(e.durationMs));
    elector.on('state', (e) => {
      if (!measuring) return;
      if (e.to === 'leading') stats.acquired.push({ id, epoch: e.epoch });
      if (e.to === 'stepping-down') stats.lost.push({ id, epoch: e.epoch, reason: e.reason });
    });
    const lead = (term) =>
      new Promise((resolve) =>
        term.signal.addEventListener('abort', () => resolve({ code: null, signal: null, reason: term.signal.reason, durationMs: 0 }), { once: true }),
      );
    runs.push(elector.runTerm(shutdown.signal, lead));
    stats.electors++;
  }
}
process.on('message', async (m) => {
  if (m === 'measure') measuring = true;
  if (m === 'report') {
    measuring = false;
    process.send(stats);
  }
  if (m === 'stop') {
    shutdown.abort();
    await Promise.allSettled(runs);
    redis.disconnect();
    process.exit(0);
  }
});
process.send('ready');
