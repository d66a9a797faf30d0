/**
 * Lua shared by every script (scripts.ts): bounded reads and the shape
 * checks, the Lua twins of src/redis/values.ts and src/host-port.ts. A value
 * read from Redis is used or returned only when it has the shape a candidate
 * writes: whoever can write the namespace's keys chooses what is in them.
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
 * Shape checks shared by the scripts, the Lua twins of src/redis/values.ts and
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
