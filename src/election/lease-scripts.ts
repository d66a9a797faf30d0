/**
 * The lease's Lua scripts (DESIGN.md, "Scripts"), one named constant each with
 * its keys, arguments and reply. RedisLease registers them with defineCommand
 * and type-checks every reply.
 */
import { MAX_HOST_PORT_BYTES } from '../host-port.js';

/**
 * Reads that never load an oversized value into Lua: a 30 MB string costs
 * Redis about half a second to hand to a script (every client waits), so the
 * length is asked first (STRLEN, HSTRLEN: O(1), nothing copied). A value over
 * `max` bytes comes back as the number of its bytes instead, which no check
 * below accepts; an absent one as false.
 */
export const BOUNDED_READS_LUA = `
local function getBounded(key, max)
  local n = redis.call('STRLEN', key)
  if n > max then return n end
  return redis.call('GET', key)
end
local function hgetBounded(key, field, max)
  local n = redis.call('HSTRLEN', key, field)
  if n > max then return n end
  return redis.call('HGET', key, field)
end
`;

/**
 * Shape checks shared by the scripts, the Lua twins of src/redis-values.ts and
 * src/host-port.ts: whoever can write the namespace's keys chooses what is in
 * them, so a value is used or returned only when it has the shape a candidate
 * writes. Each returns the value, or nil. MAX_EPOCH is 2^53-1: above it Lua's
 * numbers (doubles) and string.format('%d') stop being exact.
 */
export const CHECKS_LUA = `${BOUNDED_READS_LUA}
local MAX_EPOCH = 9007199254740991
local function epochOf(s)
  if type(s) ~= 'string' or #s > 16 or not string.match(s, '^%d+$') then return nil end
  local n = tonumber(s)
  if n > MAX_EPOCH then return nil end
  return n
end
local function nameOf(s)
  if type(s) ~= 'string' or #s > 200 or not string.match(s, '^[%w._:@-]+$') then return nil end
  return s
end
local function hostPortOf(s)
  if type(s) ~= 'string' or #s > ${MAX_HOST_PORT_BYTES} then return nil end
  local port = string.match(s, '^[%w._-]+:(%d+)$')
  if not port then
    local host
    host, port = string.match(s, '^%[([%x:.]+)%]:(%d+)$')
    if not host then host, port = string.match(s, '^%[([%x:.]+)%%[%w._-]+%]:(%d+)$') end
    if not host or not string.find(host, ':', 1, true) then return nil end
  end
  if #port > 5 or tonumber(port) < 1 or tonumber(port) > 65535 then return nil end
  return s
end
local function tokenOf(s)
  if type(s) ~= 'string' then return nil end
  local id, e = string.match(s, '^(.*)#(%d+)$')
  if nameOf(id) and epochOf(e) then return s end
  return nil
end
`;

/**
 * KEYS: lease, epoch, leader.
 * ARGV: id, ttlMs, minEpoch, host, gcsAddress, dashboardUrl, channel, knownGcsAddress.
 * Reply: {1, token, epoch, previousId, previousGcs, dropped}
 *     or {0, holderToken, pttl, storedEpoch, gcsAddress, dropped};
 * `dropped` names the stored values that failed their check and were not used
 * ('lease', 'epoch', 'id', 'gcsAddress'); a dropped holder token comes back as ''.
 */
export const ACQUIRE = `${CHECKS_LUA}
local dropped = {}
local function keep(value, check, field)
  if not value then return nil end
  if check(value) then return value end
  table.insert(dropped, field)
  return nil
end
local holder = getBounded(KEYS[1], 300)
local stored = keep(getBounded(KEYS[2], 32), epochOf, 'epoch')
if holder then
  -- 1. Taken: tell the caller who holds it, for how long, and what it published.
  local gcs = keep(hgetBounded(KEYS[3], 'gcsAddress', ${MAX_HOST_PORT_BYTES}), hostPortOf, 'gcsAddress') or ''
  holder = keep(holder, tokenOf, 'lease') or ''
  return {0, holder, redis.call('PTTL', KEYS[1]), stored or '0', gcs, dropped}
end
-- 2. A new term: the epoch goes above the stored counter and above every epoch
--    the candidate has seen, so it never goes backwards when Redis lost its data.
--    A counter that does not exist (first term ever, or lost with Redis's data),
--    or that is not a safe integer (written by someone else), starts at the
--    server's time in ms: above every earlier epoch even when no candidate
--    remembers one (all were restarted too), as long as terms came less often
--    than one per millisecond. Nothing is written before the checks pass.
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local floor = epochOf(ARGV[3])
if not floor then return redis.error_reply('ERR minEpoch must be a safe integer') end
if not stored and floor < nowMs then floor = nowMs end
local epoch = (stored and tonumber(stored) or 0) + 1
if epoch <= floor then epoch = floor + 1 end
if epoch > MAX_EPOCH then return redis.error_reply('ERR the epoch counter is at 2^53-1; no new term can start') end
redis.call('SET', KEYS[2], string.format('%d', epoch))
local token = ARGV[1] .. '#' .. string.format('%d', epoch)
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
-- 3. Remember who led before (its GCS must stop answering before ours starts),
--    falling back to what the candidate last saw when the hash was lost or its
--    address is not a host:port (never probe an address of a writer's choosing).
local prevId = keep(hgetBounded(KEYS[3], 'id', 300), nameOf, 'id') or ''
local prevGcs = keep(hgetBounded(KEYS[3], 'gcsAddress', ${MAX_HOST_PORT_BYTES}), hostPortOf, 'gcsAddress') or hostPortOf(ARGV[8]) or ''
-- 4. Publish the new leader, with the server's time.
local since = string.format('%d', nowMs)
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'id', ARGV[1], 'epoch', string.format('%d', epoch), 'host', ARGV[4],
  'gcsAddress', ARGV[5], 'dashboardUrl', ARGV[6], 'since', since)
redis.call('PUBLISH', ARGV[7], cjson.encode({type = 'acquired', id = ARGV[1], epoch = epoch}))
return {1, token, epoch, prevId, prevGcs, dropped}
`;

/**
 * KEYS: lease. ARGV: token, ttlMs. Reply: 1 renewed, 0 lost. Never GET-then-PEXPIRE from the client.
 * (getBounded: a lease someone replaced with a huge value is not read.)
 */
export const RENEW = `${BOUNDED_READS_LUA}
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
export const RELEASE = `${BOUNDED_READS_LUA}
if getBounded(KEYS[1], #ARGV[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[3] ~= '' then
    redis.call('PUBLISH', ARGV[2], cjson.encode({type = ARGV[3], id = ARGV[4], epoch = tonumber(ARGV[5])}))
  end
  return 1
end
return 0
`;
