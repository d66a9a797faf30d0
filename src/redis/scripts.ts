/**
 * Every Lua script of the schema (docs/design.md, "Scripts"), each with its
 * keys, arguments and reply, the function that builds its arguments and the
 * one that reads its reply into named fields. registerScripts() defines them
 * on a connection once (EVALSHA, with ioredis's fallback to EVAL on NOSCRIPT
 * after SCRIPT FLUSH or a restart). Every reply is shape-checked here; what
 * the values mean is checked by the caller (values.ts).
 */
import type { Redis } from 'ioredis';
import { UnexpectedReplyError } from '../errors.js';
import { MAX_HOST_PORT_BYTES } from '../host-port.js';
import type { LeaseKeys } from './keys.js';
import { BOUNDED_READS_LUA, CHECKS_LUA } from './lua-checks.js';

/**
 * The longest ttl read back from a leader hash (1 hour): a candidate holds back
 * the longest ttl any candidate published (decision 34), so a value someone
 * else wrote must not make it hold for days.
 */
export const MAX_PUBLISHED_TTL_MS = 3_600_000;

/**
 * KEYS: lease, epoch, leader.
 * ARGV: id, ttlMs, minEpoch, host, gcsAddress, dashboardUrl, channel, knownGcsAddress, takeUnknown, unseen.
 * Reply: {1, token, epoch, previousId, previousGcs, dropped, previousEpoch, previousTtlMs}
 *     or {0, holderToken, pttl, storedEpoch, gcsAddress, dropped, hashEpoch, hashTtlMs}
 *     or {2, why, 0, '0', '', dropped, '', ''}: vacant, but the epoch counter is missing
 *        (why 'missing'), below minEpoch (why 'behind': Redis lost its latest writes), or
 *        the candidate has seen no term since it started (unseen '1', why 'unseen': it could
 *        not tell lost writes), and takeUnknown is not '1' (docs/design.md decisions 28 and 34).
 * `dropped` names the stored values that failed their check and were not used
 * ('lease', 'epoch', 'id', 'gcsAddress', 'servedGcs', 'ttlMs'); a dropped holder token comes back as ''.
 * previousGcs is the last address where a head came up (the hash's servedGcs, moved only by
 * the serving script), not the last acquirer's: a chain of step-downs keeps waiting on the
 * last GCS that really ran (decision 35).
 */
const ACQUIRE = `${CHECKS_LUA}
local dropped = {}
local function keep(value, check, field)
  if not value then return nil end
  if check(value) then return value end
  table.insert(dropped, field)
  return nil
end
local function ttlOf(s)
  local n = epochOf(s)
  if n and n >= 1 and n <= ${MAX_PUBLISHED_TTL_MS} then return s end
  return nil
end
local holder = getBounded(KEYS[1], 300)
local stored = keep(getBounded(KEYS[2], 32), epochOf, 'epoch')
local hashEpoch = keep(hgetBounded(KEYS[3], 'epoch', 32), epochOf, 'epoch') or ''
local hashTtl = keep(hgetBounded(KEYS[3], 'ttlMs', 32), ttlOf, 'ttlMs') or ''
if holder then
  -- 1. Taken: tell the caller who holds it, for how long, and what it published.
  local gcs = keep(hgetBounded(KEYS[3], 'gcsAddress', ${MAX_HOST_PORT_BYTES}), hostPortOf, 'gcsAddress') or ''
  holder = keep(holder, tokenOf, 'lease') or ''
  return {0, holder, redis.call('PTTL', KEYS[1]), stored or '0', gcs, dropped, hashEpoch, hashTtl}
end
local floor = epochOf(ARGV[3])
if not floor then return redis.error_reply('ERR minEpoch must be a safe integer') end
-- 2. Vacant, and no counter, or a counter below an epoch the candidate has seen,
--    or a candidate that has seen no term since it started (it cannot tell): a new
--    namespace, or one whose data (or only its latest writes) Redis lost, with a
--    lease that may still be running a head. Only a candidate that has seen it so
--    for a ttl takes it (it says so with takeUnknown).
local why = nil
if not stored then why = 'missing' elseif tonumber(stored) < floor then why = 'behind' elseif ARGV[10] == '1' then why = 'unseen' end
if why and ARGV[9] ~= '1' then
  -- A no-op write (the lease key does not exist): a read-only replica answers
  -- READONLY here, so a candidate never counts a hold on a server that cannot be the primary.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {2, why, 0, '0', '', dropped, '', ''}
end
-- 3. A new term: the epoch goes above the stored counter and above every epoch
--    the candidate has seen, so it never goes backwards when Redis lost its data.
--    A counter that does not exist (first term ever, or lost with Redis's data),
--    that is not a safe integer (written by someone else), or that may have lost
--    its latest writes (taken after a hold), starts at the server's time in ms:
--    above every earlier epoch even when no candidate remembers one (all were
--    restarted too), as long as terms came less often than one per millisecond.
--    Nothing is written before the checks pass.
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if why and floor < nowMs then floor = nowMs end
local epoch = (stored and tonumber(stored) or 0) + 1
if epoch <= floor then epoch = floor + 1 end
if epoch > MAX_EPOCH then return redis.error_reply('ERR the epoch counter is at 2^53-1; no new term can start') end
redis.call('SET', KEYS[2], string.format('%d', epoch))
local token = ARGV[1] .. '#' .. string.format('%d', epoch)
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
-- 4. Remember who led before, and the last GCS that served (it must stop answering
--    before ours starts). servedGcs moves only when a head comes up (SERVING);
--    a hash without the field (lost, or written by an older version) falls back
--    to its gcsAddress, then to what the candidate last saw. Never probe an
--    address of a writer's choosing: each must be a host:port.
local prevId = keep(hgetBounded(KEYS[3], 'id', 300), nameOf, 'id') or ''
local served = hgetBounded(KEYS[3], 'servedGcs', ${MAX_HOST_PORT_BYTES})
local prevGcs
if served then
  prevGcs = (served ~= '' and keep(served, hostPortOf, 'servedGcs')) or hostPortOf(ARGV[8]) or ''
else
  prevGcs = keep(hgetBounded(KEYS[3], 'gcsAddress', ${MAX_HOST_PORT_BYTES}), hostPortOf, 'gcsAddress') or hostPortOf(ARGV[8]) or ''
end
-- 5. Publish the new leader, with the server's time and its ttl; the last GCS that
--    served stays until this term's head comes up.
local since = string.format('%d', nowMs)
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'id', ARGV[1], 'epoch', string.format('%d', epoch), 'host', ARGV[4],
  'gcsAddress', ARGV[5], 'dashboardUrl', ARGV[6], 'since', since, 'ttlMs', ARGV[2], 'servedGcs', prevGcs)
redis.call('PUBLISH', ARGV[7], cjson.encode({type = 'acquired', id = ARGV[1], epoch = epoch}))
return {1, token, epoch, prevId, prevGcs, dropped, hashEpoch, hashTtl}
`;

export interface AcquireArgs {
  candidateId: string;
  ttlMs: number;
  /** The new epoch goes above this (the highest the candidate has seen). */
  minEpoch: number;
  host: string;
  gcsAddress: string | null;
  dashboardUrl: string | null;
  /** Used as the previous GCS address when Redis lost the leader hash. */
  knownGcsAddress: string | null;
  /** Take the lease even when the namespace has no epoch counter (the candidate held back a ttl). */
  takeUnknown: boolean;
  /** The candidate has seen no term since it started: a vacancy is held back on (decision 34). */
  unseen?: boolean;
}

function acquireArgs(k: LeaseKeys, a: AcquireArgs): (string | number)[] {
  return [
    k.lease, k.epoch, k.leader,
    a.candidateId, a.ttlMs, a.minEpoch, a.host, a.gcsAddress ?? '', a.dashboardUrl ?? '', k.events, a.knownGcsAddress ?? '',
    a.takeUnknown ? '1' : '0', a.unseen ? '1' : '0',
  ];
}

/** The acquire reply by name; values as Redis sent them (the caller checks their shape). */
export type AcquireReply =
  | {
      won: true; token: unknown; epoch: unknown; previousId: unknown; previousGcsAddress: unknown;
      /** The epoch and ttl the replaced leader hash named ('' when absent). */
      previousEpoch: unknown; previousTtlMs: unknown; dropped: string[];
    }
  | {
      won: false; holderToken: unknown; pttlMs: unknown; storedEpoch: unknown; gcsAddress: unknown;
      /** The epoch and ttl the leader hash names ('' when absent). */
      hashEpoch: unknown; hashTtlMs: unknown; dropped: string[];
    }
  | { won: 'unknown-state'; why: unknown; dropped: string[] };

function readAcquireReply(reply: unknown): AcquireReply {
  if (!Array.isArray(reply) || reply.length !== 8 || !Array.isArray(reply[5]) || (reply[0] !== 1 && reply[0] !== 0 && reply[0] !== 2)) {
    throw new UnexpectedReplyError('acquire', reply);
  }
  const [won, a, b, c, d, dropped, e, f] = reply as [0 | 1 | 2, unknown, unknown, unknown, unknown, unknown[], unknown, unknown];
  const names = dropped.map(String);
  if (won === 2) return { won: 'unknown-state', why: a, dropped: names };
  return won === 1
    ? { won: true, token: a, epoch: b, previousId: c, previousGcsAddress: d, previousEpoch: e, previousTtlMs: f, dropped: names }
    : { won: false, holderToken: a, pttlMs: b, storedEpoch: c, gcsAddress: d, hashEpoch: e, hashTtlMs: f, dropped: names };
}

/**
 * KEYS: lease. ARGV: token, ttlMs. Reply: 1 renewed, 0 lost. Never GET-then-PEXPIRE from the client.
 * (getBounded: a lease someone replaced with a huge value is not read.)
 */
const RENEW = `${BOUNDED_READS_LUA}
if getBounded(KEYS[1], #ARGV[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/**
 * KEYS: lease. ARGV: token, channel, kind, id, epoch. Reply: 1 released, 0 not ours.
 * An empty kind releases quietly: a lease that never started a head wakes no one.
 */
const RELEASE = `${BOUNDED_READS_LUA}
if getBounded(KEYS[1], #ARGV[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[3] ~= '' then
    redis.call('PUBLISH', ARGV[2], cjson.encode({type = ARGV[3], id = ARGV[4], epoch = tonumber(ARGV[5])}))
  end
  return 1
end
return 0
`;

/**
 * KEYS: lease, leader. ARGV: token, gcsAddress. Reply: 1 recorded, 0 not ours.
 * The term's head is about to come up at gcsAddress: from now on that is the GCS
 * the next leader waits on (decision 35). Token-checked, so only the holder moves it.
 */
const SERVING = `${BOUNDED_READS_LUA}
if getBounded(KEYS[1], #ARGV[1]) == ARGV[1] then
  redis.call('HSET', KEYS[2], 'servedGcs', ARGV[2])
  return 1
end
return 0
`;

/** Release kinds as published; '' releases quietly (no event). */
export type ReleaseEventKind = 'released' | 'stepped-down' | '';

function releaseArgs(k: LeaseKeys, token: string, kind: ReleaseEventKind, holder: { id: string; epoch: number } | null): (string | number)[] {
  return [k.lease, token, k.events, kind, holder?.id ?? '', holder?.epoch ?? 0];
}

/** Longest value the status script reads of any field: above every valid one, never a megabyte read or echoed back. */
const MAX_STATUS_FIELD_BYTES = 512;

/** The leader hash's fields, in the order the status script returns them. */
const LEADER_FIELDS = ['id', 'epoch', 'since', 'host', 'gcsAddress', 'dashboardUrl', 'ttlMs', 'servedGcs'] as const;

/**
 * `status` and `watch`, in one atomic read so the lease, its ttl and the
 * leader hash belong to the same instant.
 * KEYS: lease, epoch, leader. ARGV: the longest value to return.
 * Reply: {lease, pttl, epoch, {id, epoch, since, host, gcsAddress, dashboardUrl, ttlMs, servedGcs}}: each value
 * false when absent, or its length instead of a value over ARGV[1] bytes (which then fails its check).
 */
const STATUS = `${BOUNDED_READS_LUA}
local max = tonumber(ARGV[1])
local fields = {${LEADER_FIELDS.map((f) => `'${f}'`).join(', ')}}
local hash = {}
for i, f in ipairs(fields) do hash[i] = hgetBounded(KEYS[3], f, max) end
return {getBounded(KEYS[1], max), redis.call('PTTL', KEYS[1]), getBounded(KEYS[2], max), hash}
`;

export interface StatusReply {
  token: unknown;
  pttlMs: unknown;
  storedEpoch: unknown;
  leader: Record<(typeof LEADER_FIELDS)[number], unknown>;
}

function readStatusReply(reply: unknown): StatusReply {
  if (!Array.isArray(reply) || reply.length !== 4 || !Array.isArray(reply[3])) throw new UnexpectedReplyError('status', reply);
  const [token, pttlMs, storedEpoch, fields] = reply as [unknown, unknown, unknown, unknown[]];
  const leader = Object.fromEntries(LEADER_FIELDS.map((f, i) => [f, fields[i]])) as StatusReply['leader'];
  return { token, pttlMs, storedEpoch, leader };
}

interface ScriptCommands {
  rhhaAcquire(...args: (string | number)[]): Promise<unknown>;
  rhhaRenew(...args: (string | number)[]): Promise<unknown>;
  rhhaRelease(...args: (string | number)[]): Promise<unknown>;
  rhhaServing(...args: (string | number)[]): Promise<unknown>;
  rhhaStatus(...args: (string | number)[]): Promise<unknown>;
}

/** The schema's scripts on one connection, each taking named arguments and answering named fields. */
export interface LeaseScripts {
  acquire(k: LeaseKeys, a: AcquireArgs): Promise<AcquireReply>;
  /** 1 renewed, 0 lost. */
  renew(k: LeaseKeys, token: string, ttlMs: number): Promise<0 | 1>;
  /** 1 released, 0 not ours. */
  release(k: LeaseKeys, token: string, kind: ReleaseEventKind, holder: { id: string; epoch: number } | null): Promise<0 | 1>;
  /** 1 recorded gcsAddress as the GCS that serves, 0 not ours. */
  serving(k: LeaseKeys, token: string, gcsAddress: string): Promise<0 | 1>;
  status(k: LeaseKeys): Promise<StatusReply>;
}

const registered = new WeakMap<Redis, LeaseScripts>();

/** Defines the scripts on `redis` once (later calls return the same object). Errors of the calls reach the caller as they are. */
export function registerScripts(redis: Redis): LeaseScripts {
  const known = registered.get(redis);
  if (known) return known;
  redis.defineCommand('rhhaAcquire', { numberOfKeys: 3, lua: ACQUIRE });
  redis.defineCommand('rhhaRenew', { numberOfKeys: 1, lua: RENEW });
  redis.defineCommand('rhhaRelease', { numberOfKeys: 1, lua: RELEASE });
  redis.defineCommand('rhhaServing', { numberOfKeys: 2, lua: SERVING });
  redis.defineCommand('rhhaStatus', { numberOfKeys: 3, lua: STATUS });
  const r = redis as Redis & ScriptCommands;
  const zeroOrOne = (what: string) => (reply: unknown): 0 | 1 => {
    if (reply !== 0 && reply !== 1) throw new UnexpectedReplyError(what, reply);
    return reply;
  };
  const scripts: LeaseScripts = {
    acquire: async (k, a) => readAcquireReply(await r.rhhaAcquire(...acquireArgs(k, a))),
    renew: async (k, token, ttlMs) => zeroOrOne('renew')(await r.rhhaRenew(k.lease, token, ttlMs)),
    release: async (k, token, kind, holder) => zeroOrOne('release')(await r.rhhaRelease(...releaseArgs(k, token, kind, holder))),
    serving: async (k, token, gcsAddress) => zeroOrOne('serving')(await r.rhhaServing(k.lease, k.leader, token, gcsAddress)),
    status: async (k) => readStatusReply(await r.rhhaStatus(k.lease, k.epoch, k.leader, MAX_STATUS_FIELD_BYTES)),
  };
  registered.set(redis, scripts);
  return scripts;
}
