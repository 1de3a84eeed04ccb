/**
 * The Lua scripts of the Redis semaphore, and how they are sent.
 *
 * ## Key layout (one semaphore; every key shares the hash tag `{name}`, so a
 * script touches one Redis Cluster slot)
 *
 * | key | type | holds |
 * |---|---|---|
 * | `KEYS[1]` `<prefix>{name}:meta` | hash | `capacity`, `used` (held weight), `token` (fencing counter), `seq` (queue order) |
 * | `KEYS[2]` `<prefix>{name}:leases` | zset | holder id → lease deadline (server ms) |
 * | `KEYS[3]` `<prefix>{name}:held` | hash | holder id → `"weight:token"` |
 * | `KEYS[4]` `<prefix>{name}:queue` | zset | waiter id → arrival sequence number (FIFO order) |
 * | `KEYS[5]` `<prefix>{name}:waiting` | hash | waiter id → `"weight:leaseMs"` |
 * | `KEYS[6]` `<prefix>{name}:beats` | zset | waiter id → heartbeat deadline (server ms) |
 *
 * Wake-ups go to the channel `<prefix>{name}:wake` (same hash tag, so
 * `SPUBLISH` stays in the slot) as `"id:token id:token ..."`: the script that
 * frees permits also grants them to the head of the queue and names who got
 * them, so a woken waiter needs no further round trip.
 *
 * Every script that needs the time reads it with `TIME` (never the client's)
 * and hands freed permits on in FIFO order, stopping at the first waiter that
 * does not fit. Expired leases and silent waiters are dropped when they could
 * matter: before anyone is queued or granted beyond the free capacity, and at
 * every heartbeat. The uncontended paths — an acquire that fits with nobody
 * queued, a release with nobody queued — skip that work (and a release skips
 * the clock): each `redis.call` costs about a microsecond inside Redis, on
 * the path every user pays for.
 *
 * No user string ever reaches the Lua source: names live in KEYS, the rest in ARGV.
 *
 * @internal
 * @module
 */

import { createHash } from "node:crypto";

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Sharded pub/sub where the server has it (Redis/Valkey 7+), classic otherwise.
local function publish(channel, message)
  local ok = redis.pcall('SPUBLISH', channel, message)
  if type(ok) == 'table' and ok.err then redis.call('PUBLISH', channel, message) end
end

-- Tokens pass 2^31 and Lua's default number format (%.14g) would round
-- them; always print them as integers.
local function int(n)
  return string.format('%.0f', n)
end

local function weight_of(v)
  return tonumber(string.match(v, '^(%d+)'))
end

-- The fencing counter, read by load() and written back by save() with the
-- held weight: one call each way instead of one HINCRBY per grant.
local token, token_changed = nil, false

-- The stored capacity (nil if new) and held weight, in one call.
local function load()
  local m = redis.call('HMGET', KEYS[1], 'capacity', 'used', 'token')
  token = tonumber(m[3])
  return tonumber(m[1]), tonumber(m[2] or '0')
end

-- Writes the held weight (and the counter, if a grant moved it).
local function save(used)
  if token_changed then
    redis.call('HSET', KEYS[1], 'used', used, 'token', int(token))
  else
    redis.call('HSET', KEYS[1], 'used', used)
  end
end

-- Drops leases that ran out; returns the held weight afterwards.
local function reap(now, used)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  if #expired > 0 then
    for _, id in ipairs(expired) do
      local v = redis.call('HGET', KEYS[3], id)
      if v then
        used = used - weight_of(v)
        redis.call('HDEL', KEYS[3], id)
      end
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
    if used < 0 then used = 0 end
  end
  return used
end

-- Drops waiters that stopped sending heartbeats (their process died).
local function drop_silent(now)
  local silent = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now)
  if #silent > 0 then
    for _, id in ipairs(silent) do
      redis.call('ZREM', KEYS[4], id)
      redis.call('HDEL', KEYS[5], id)
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
  end
end

-- The fencing counter starts at the server's clock in microseconds, so tokens
-- keep increasing even if Redis loses its data (a restart without
-- persistence) — as long as fewer than a million grants a second were made.
local function next_token()
  if not token then
    -- a new counter (or Redis lost its data): start from the clock
    local t = redis.call('TIME')
    token = tonumber(t[1]) * 1000000 + tonumber(t[2])
  else
    token = token + 1
  end
  token_changed = true
  return token
end

-- Whether anyone is queued: the one check the uncontended paths make before
-- skipping the clock, the reaping and the hand-out.
local function waiting()
  return redis.call('ZRANGE', KEYS[4], 0, 0)[1] ~= nil
end

-- Grants the head of the queue while it fits; the first waiter that does not
-- fit stops the hand-out, so a heavy waiter is never starved by light ones.
-- Call it only when waiting(). Returns the held weight and whether the queue
-- is now empty.
local function grant(now, used, cap, channel)
  drop_silent(now)
  local names = {}
  local empty = false
  while true do
    local head = redis.call('ZRANGE', KEYS[4], 0, 0)
    local id = head[1]
    if not id then
      empty = true
      break
    end
    local v = redis.call('HGET', KEYS[5], id)
    if not v then
      -- an entry without its weight cannot be served: drop it
      redis.call('ZREM', KEYS[4], id)
      redis.call('ZREM', KEYS[6], id)
    else
      local w, lease = string.match(v, '^(%d+):(%d+)')
      w = tonumber(w)
      if used + w > cap then break end
      used = used + w
      local token = next_token()
      redis.call('ZREM', KEYS[4], id)
      redis.call('HDEL', KEYS[5], id)
      redis.call('ZREM', KEYS[6], id)
      redis.call('ZADD', KEYS[2], now + tonumber(lease), id)
      redis.call('HSET', KEYS[3], id, w .. ':' .. int(token))
      names[#names + 1] = id .. ':' .. int(token)
    end
  end
  if #names > 0 then publish(channel, table.concat(names, ' ')) end
  return used, empty
end

-- Frees one holder if it still holds: returns the held weight and whether it did.
local function free_one(used, id)
  local v = redis.call('HGET', KEYS[3], id)
  if not v then return used, false end
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  return used - weight_of(v), true
end

-- Frees the holders named in ARGV[from..]: ids no longer held are skipped,
-- so a second release (or one after the lease ran out) never frees anyone
-- else's permits. Returns the held weight and how many were freed.
local function free(used, from)
  local freed = 0
  for i = from, #ARGV do
    local was
    used, was = free_one(used, ARGV[i])
    if was then freed = freed + 1 end
  end
  if used < 0 then used = 0 end
  return used, freed
end

local function earliest_delay(now)
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if first[2] then return tonumber(first[2]) - now end
  return -1
end
`;

/**
 * ACQUIRE: ARGV = capacity, id, weight, leaseMs, mode ("try" | "wait"), channel,
 * waiterTtlMs, retry ("1" | "0"), then ids of this process's permits to
 * release first (a release followed by an acquire costs one round trip).
 * Returns {1, token, used, capacity} granted now; {0, used, capacity} not free
 * (mode "try"); {2, used, capacity, earliestLeaseDelayMs} queued. With retry
 * "1" it is idempotent per id: a retry finds the grant or the queue place of
 * its first attempt. Or the error "PERMITS_CAPACITY <stored>" when the stored capacity differs.
 */
export const ACQUIRE: string = `${PRELUDE}
local cap = tonumber(ARGV[1])
local stored, used = load()
if stored and stored ~= cap then
  return redis.error_reply('PERMITS_CAPACITY ' .. stored)
end
if not stored then redis.call('HSET', KEYS[1], 'capacity', cap) end
local now = now_ms()
local id, w, lease = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
-- Releases that were waiting to be sent ride along and go first.
used = free(used, 9)
local empty = not waiting()
if not (empty and used + w <= cap) then
  -- Someone waits, or it does not fit: reclaim expired leases, serve the queue.
  used = reap(now, used)
  if not empty then used, empty = grant(now, used, cap, ARGV[6]) end
end
local result
local mine = ARGV[8] == '1' and redis.call('HGET', KEYS[3], id)
if mine then
  -- A retry (the first reply was lost) finds its grant: idempotent.
  result = {1, tonumber(string.match(mine, ':(%d+)$')), used, cap}
elseif ARGV[8] == '1' and redis.call('ZSCORE', KEYS[4], id) then
  -- ... or its place in the queue.
  redis.call('ZADD', KEYS[6], now + tonumber(ARGV[7]), id)
  result = {2, used, cap, earliest_delay(now)}
elseif empty and used + w <= cap then
  used = used + w
  local token = next_token()
  redis.call('ZADD', KEYS[2], now + lease, id)
  redis.call('HSET', KEYS[3], id, w .. ':' .. int(token))
  result = {1, token, used, cap}
elseif ARGV[5] == 'try' then
  result = {0, used, cap}
else
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('ZADD', KEYS[4], seq, id)
  redis.call('HSET', KEYS[5], id, w .. ':' .. lease)
  redis.call('ZADD', KEYS[6], now + tonumber(ARGV[7]), id)
  result = {2, used, cap, earliest_delay(now)}
end
save(used)
return result
`;

/**
 * RELEASE: ARGV = channel, id...
 * Frees the named holders (see free()) and hands the permits on to the head
 * of the queue. Returns {freedCount, used}.
 */
export const RELEASE: string = `${PRELUDE}
local cap, used = load()
local freed
used, freed = free(used, 2)
-- Nobody waits (the uncontended case): no clock, no reaping, no hand-off.
if waiting() then
  local now = now_ms()
  used = grant(now, reap(now, used), cap or 0, ARGV[1])
end
save(used)
return {freed, used}
`;

/**
 * CANCEL: ARGV = channel, id...
 * Takes waiters out of the queue; a waiter that was granted in the meantime
 * (the grant raced the cancellation) gives its permits back instead. Either
 * way the waiters behind it that now fit are granted. Returns {removed, used}.
 */
export const CANCEL: string = `${PRELUDE}
local now = now_ms()
local cap, used = load()
used = reap(now, used)
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[4], id) == 1 then
    redis.call('HDEL', KEYS[5], id)
    redis.call('ZREM', KEYS[6], id)
    removed = removed + 1
  else
    local was
    used, was = free_one(used, id)
    if was then removed = removed + 1 end
  end
end
if used < 0 then used = 0 end
if waiting() then used = grant(now, used, cap or 0, ARGV[1]) end
save(used)
return {removed, used}
`;

/**
 * TICK (one per semaphore per process per interval: renewals and heartbeats
 * are batched): ARGV = channel, leaseMs, waiterTtlMs, nPermits, permit ids...,
 * waiter ids...
 * Extends the leases of the permits still held, refreshes the heartbeats of
 * waiters still queued, and reports what changed behind our back.
 * Returns {used, earliestLeaseDelayMs, lost permit ids, granted waiters as
 * {id, token} pairs flattened, waiter ids the server no longer knows}.
 */
export const TICK: string = `${PRELUDE}
local now = now_ms()
local cap, used = load()
used = reap(now, used)
if waiting() then used = grant(now, used, cap or 0, ARGV[1]) end
save(used)
local lease, ttl, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lost, granted, missing = {}, {}, {}
for i = 5, 4 + n do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[2], id) then
    redis.call('ZADD', KEYS[2], now + lease, id)
  else
    lost[#lost + 1] = id
  end
end
for i = 5 + n, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[6], id) then
    redis.call('ZADD', KEYS[6], now + ttl, id)
  else
    local v = redis.call('HGET', KEYS[3], id)
    if v then
      granted[#granted + 1] = id
      granted[#granted + 1] = tonumber(string.match(v, ':(%d+)$'))
    else
      missing[#missing + 1] = id
    end
  end
end
return {used, earliest_delay(now), lost, granted, missing}
`;

/**
 * INSPECT: ARGV = (none). Read-only view for dashboards and tests:
 * {capacity, used, now, holders flattened as id, "weight:token", deadline,
 * waiters flattened as id, "weight:leaseMs"}.
 * Leases that ran out and waiters that went silent are left out (and their
 * weight out of `used`) even before a script reclaims them: the other scripts
 * do that lazily, only when it could change a grant.
 */
export const INSPECT: string = `${PRELUDE}
local now = now_ms()
local meta = redis.call('HMGET', KEYS[1], 'capacity')
local used = 0
local holders = {}
local leases = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES')
for i = 1, #leases, 2 do
  local id = leases[i]
  local v = redis.call('HGET', KEYS[3], id) or '0:0'
  used = used + weight_of(v)
  holders[#holders + 1] = id
  holders[#holders + 1] = v
  holders[#holders + 1] = leases[i + 1]
end
local waiters = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local beat = tonumber(redis.call('ZSCORE', KEYS[6], id))
  if beat and beat > now then
    waiters[#waiters + 1] = id
    waiters[#waiters + 1] = redis.call('HGET', KEYS[5], id) or '0:0'
  end
end
return {meta[1] or '', used, now, holders, waiters}
`;

/** A Lua script with its SHA1, sent as EVALSHA with an EVAL fallback on NOSCRIPT. */
export interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

export const scripts: {
  readonly acquire: Script;
  readonly release: Script;
  readonly cancel: Script;
  readonly tick: Script;
  readonly inspect: Script;
} = {
  acquire: script(ACQUIRE),
  release: script(RELEASE),
  cancel: script(CANCEL),
  tick: script(TICK),
  inspect: script(INSPECT),
};

export { script as defineScript };
