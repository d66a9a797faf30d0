/**
 * The lease's Lua scripts (DESIGN.md, "Scripts"), one named constant each with
 * its keys, arguments and reply. RedisLease registers them with defineCommand
 * and type-checks every reply.
 */

/**
 * KEYS: lease, epoch, leader.
 * ARGV: id, ttlMs, minEpoch, host, gcsAddress, dashboardUrl, channel, knownGcsAddress.
 * Reply: {1, token, epoch, previousId, previousGcs} or {0, holderToken, pttl, storedEpoch, gcsAddress}.
 */
export const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder then
  -- 1. Taken: tell the caller who holds it, for how long, and what it published.
  local gcs = redis.call('HGET', KEYS[3], 'gcsAddress') or ''
  return {0, holder, redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[2]) or '0', gcs}
end
-- 2. A new term: the epoch goes above the stored counter and above every epoch
--    the candidate has seen, so it never goes backwards when Redis lost its data.
--    A counter that does not exist (first term ever, or lost with Redis's data)
--    starts at the server's time in ms: above every earlier epoch even when no
--    candidate remembers one (all were restarted too), as long as terms came
--    less often than one per millisecond.
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local floor = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 and floor < nowMs then floor = nowMs end
local epoch = redis.call('INCR', KEYS[2])
if epoch <= floor then
  epoch = floor + 1
  redis.call('SET', KEYS[2], string.format('%d', epoch))
end
local token = ARGV[1] .. '#' .. string.format('%d', epoch)
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
-- 3. Remember who led before (its GCS must stop answering before ours starts),
--    falling back to what the candidate last saw when the hash was lost.
local prevId = redis.call('HGET', KEYS[3], 'id') or ''
local prevGcs = redis.call('HGET', KEYS[3], 'gcsAddress') or ARGV[8]
-- 4. Publish the new leader, with the server's time.
local since = string.format('%d', nowMs)
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'id', ARGV[1], 'epoch', string.format('%d', epoch), 'host', ARGV[4],
  'gcsAddress', ARGV[5], 'dashboardUrl', ARGV[6], 'since', since)
redis.call('PUBLISH', ARGV[7], cjson.encode({type = 'acquired', id = ARGV[1], epoch = epoch}))
return {1, token, epoch, prevId, prevGcs}
`;

/** KEYS: lease. ARGV: token, ttlMs. Reply: 1 renewed, 0 lost. Never GET-then-PEXPIRE from the client. */
export const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/**
 * KEYS: lease. ARGV: token, channel, kind, id, epoch. Reply: 1 released, 0 not ours.
 * An empty kind releases quietly: a lease that never started a head wakes no one.
 */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if ARGV[3] ~= '' then
    redis.call('PUBLISH', ARGV[2], cjson.encode({type = ARGV[3], id = ARGV[4], epoch = tonumber(ARGV[5])}))
  end
  return 1
end
return 0
`;
