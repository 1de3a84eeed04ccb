/**
 * The Lua scripts of the Redis semaphore, how their arguments are built and
 * how their replies are read: every positional detail of the wire format
 * lives in this file.
 *
 * ## Key layout (one semaphore; every key shares the hash tag `{name}`, so a
 * script touches one Redis Cluster slot)
 *
 * | key | type | holds |
 * |---|---|---|
 * | `KEYS[1]` `<prefix>{name}:meta` | hash | `capacity`, `token` (fencing counter), `seq` (queue order), `guard` (no grants before this server time, ms); for an adaptive semaphore also `aimd`, `lv`, `lc`, `fence`, `ok`, `peak`, `ss` (see AIMD) |
 * | `KEYS[2]` `<prefix>{name}:leases` | zset | holder id → lease deadline (server ms) |
 * | `KEYS[3]` `<prefix>{name}:held` | hash | holder id → `"weight:token"` |
 * | `KEYS[4]` `<prefix>{name}:queue` | zset | waiter id → arrival sequence number (arrival order: FIFO, and aging) |
 * | `KEYS[5]` `<prefix>{name}:waiting` | hash | waiter id → `"weight:arrival"` (arrival: server ms), or for a scheduled waiter `"weight:arrival:<place><tenant key>"` |
 * | `KEYS[6]` `<prefix>{name}:beats` | zset | waiter id → heartbeat deadline (server ms) |
 * | `KEYS[7]` `<prefix>{name}:order` | zset, all scores 0 | `<place><id>` of each scheduled waiter: lexicographic order is the serving order |
 * | `KEYS[8]` `<prefix>{name}:fair` | hash | per priority level `v<level>` (virtual time) and `n<level>` (waiters); per level and tenant `f<level><tenant key>` (finish tag) and `c<level><tenant key>` (waiters) |
 *
 * ## Scheduling (priority, aging, fair share; docs/scheduling.md)
 * The same discipline as the in-process core (src/core/schedule.ts),
 * decided here so that every process sees one order. While only plain
 * waiters (priority 0, no tenant) are queued the queue is the FIFO of
 * `queue` alone and `order`/`fair` do not exist: that path costs what it
 * did before scheduling. The first scheduled waiter moves the queued plain
 * ones into `order` (priority 0, no tenant, in arrival order: O(n) once);
 * from then on every waiter, plain or not, is placed in `order` until the
 * queue is empty again, when `order` and `fair` are gone.
 * - A waiter's `<place>` is 49 characters that sort as the serving order:
 *   the priority level (17: `0` + 16 digits of 2^53 − 1 − p for p ≥ 0, `1` +
 *   16 digits of −p below 0, so higher sorts first), the start tag (16 hex
 *   digits of its IEEE 754 bits, which sort as the number for tags ≥ 0),
 *   and the arrival sequence number (16 digits). The tenant key is `-` for
 *   no tenant and `=` + the tenant's name otherwise.
 * - **Fair share** is start-time fair queuing per level: a waiter of
 *   tenant t gets the tag S = max(v, f[t]) and f[t] becomes S + weight /
 *   share(t) (the share is computed by the client from its `weights` and
 *   sent with the acquire); a grant sets v to max(v, S). A tenant's f and
 *   count go when it has no waiter left at that level, a level's v and
 *   count when nobody waits at it: the state is O(active tenants).
 * - **Aging** (ms, sent by the client with every command that may grant;
 *   -1: none): if the oldest waiter by arrival has waited that long on the
 *   server clock, it is next; otherwise the head of `order`. The waiter
 *   that is next and does not fit blocks the rest.
 *
 * Wake-ups go to the channel `<prefix>{name}:wake` (same hash tag, so
 * `SPUBLISH` stays in the slot) as `"id:token id:token ..."`: the script that
 * frees permits also grants them to the head of the queue and names who got
 * them, so a woken waiter needs no further round trip.
 *
 * ## Rules every script keeps
 * - **The held weight is derived from the holders** (`HVALS` of `held`),
 *   never kept in a counter that a re-sent or half-applied command could
 *   make drift.
 * - **Idempotent per id.** A client may send a command twice (ioredis
 *   re-sends unanswered commands after a reconnect): an acquire finds the
 *   grant or the queue place of its first execution, a release or cancel of
 *   an id no longer there does nothing.
 * - **Integers are written exactly** (`int()`, `%.0f`): Lua's default number
 *   format (`%.14g`) would turn a weight of 2^53 − 1 into `9.007199254741e+15`.
 * - **Server clock.** Every script that needs the time reads `TIME`.
 * - **Fencing tokens** are `max(last + 1, server time in µs)` at every grant,
 *   so they keep increasing across a restart that lost the counter and a
 *   failover to a replica that had not seen the last grants (as long as the
 *   servers' clocks are sane and fewer than a million grants a second are
 *   made).
 * - **A grant to a queued waiter leases the permits only until that waiter's
 *   heartbeat deadline**, not a full lease from now: a waiter whose process
 *   died keeps no "ghost" permits longer than its heartbeats would have kept
 *   its place. A live waiter renews at its next heartbeat.
 * - **Delayed restart.** When a semaphore's state is new or missing on a
 *   server that has been up for less than a lease, or a heartbeat finds its
 *   permits gone with the state, holders of the lost state may still believe
 *   in their leases: nothing is granted until one lease has passed
 *   (`guard`). See docs/redis.md.
 * - Expired leases and silent waiters are dropped when they could matter:
 *   before anyone is queued or granted beyond the free capacity, and at
 *   every heartbeat. The uncontended paths — an acquire that fits with
 *   nobody queued, a release with nobody queued — skip that work.
 *
 * No user string ever reaches the Lua source: names live in KEYS, the rest in ARGV.
 *
 * Not exported from the package's entry points. (Not tagged internal here:
 * `stripInternal` would drop the first declaration below with the tag.)
 *
 * @module
 */

import { createHash } from "node:crypto";

const PRELUDE = `
local now, now_us
local function clock()
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Sharded pub/sub where the server has it (Redis/Valkey 7+), classic otherwise.
local function publish(channel, message)
  local ok = redis.pcall('SPUBLISH', channel, message)
  if type(ok) == 'table' and ok.err then redis.call('PUBLISH', channel, message) end
end

-- Integers (weights up to 2^53 - 1, tokens, times) always printed exactly:
-- Lua's default %.14g would round them.
local function int(n)
  return string.format('%.0f', n)
end

local function weight_of(v)
  return tonumber(string.match(v, '^(%d+)'))
end

local function token_of(v)
  return tonumber(string.match(v, ':(%d+)$'))
end

-- The fencing counter and the grant guard, read by load(); the counter is
-- written back by save() only if a grant moved it. And the adaptive
-- settings (nil: the semaphore has a fixed capacity; see AIMD).
local token, token_changed, guard, aimd_settings = nil, false, nil, nil

-- The stored capacity (nil if the state is new, or was lost) and the held
-- weight, summed from the holders themselves.
local function load()
  local m = redis.call('HMGET', KEYS[1], 'capacity', 'token', 'guard', 'aimd')
  token = tonumber(m[2])
  guard = tonumber(m[3])
  aimd_settings = m[4]
  local used = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[3])) do used = used + weight_of(v) end
  return tonumber(m[1]), used
end

local function save()
  if token_changed then redis.call('HSET', KEYS[1], 'token', int(token)) end
end

-- Whether grants are held off (see hold_off). Needs clock().
local function guarded()
  return guard ~= nil and now < guard
end

-- Grants nothing before server time until_ms (extends, never shortens).
local function hold_off(until_ms)
  if guard == nil or until_ms > guard then
    guard = until_ms
    redis.call('HSET', KEYS[1], 'guard', int(guard))
  end
end

-- A state that is new, or that Redis lost (a restart without persistence
-- looks the same): if the server started less than a lease ago, holders of
-- a lost state may still believe in leases renewed before the restart, and
-- those run out at most one lease after it. Grant nothing until then.
-- uptime_in_seconds is rounded down, so now - uptime is the latest the
-- server can have started.
local function fresh_state(lease)
  if lease <= 0 then return end
  local up = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)')) or 0
  local until_ms = now - up * 1000 + lease
  if until_ms > now then hold_off(until_ms) end
end

-- Drops leases that ran out; returns the held weight afterwards.
local function reap(used)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now))
  if #expired > 0 then
    for _, id in ipairs(expired) do
      local v = redis.call('HGET', KEYS[3], id)
      if v then
        used = used - weight_of(v)
        redis.call('HDEL', KEYS[3], id)
      end
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now))
  end
  return used
end


-- ---- scheduling (see the module comment): priority, aging, fair share

-- The place of priority 0 (the level of plain waiters).
local P0 = '09007199254740991'

-- The bits of a number >= 0 as 16 hex digits: they sort as the number does.
local function hex(x)
  return (string.gsub(struct.pack('>d', x), '.', function(c) return string.format('%02x', string.byte(c)) end))
end

local function unhex(h)
  return (struct.unpack('>d', (string.gsub(h, '..', function(b) return string.char(tonumber(b, 16)) end))))
end

-- Tags are fractions: printed so that they read back exactly.
local function num(x)
  return string.format('%.17g', x)
end

-- A scheduled waiter's value: weight, arrival (server ms), place, tenant key;
-- nil for a plain (FIFO) one.
local function sched_parts(v)
  local w, a, rest = string.match(v, '^(%d+):(%d+):(.+)$')
  if not w then return nil end
  return tonumber(w), tonumber(a), string.sub(rest, 1, 49), string.sub(rest, 50)
end

-- The place and tenant key of a waiter's value (nil for a plain one).
local function place_of(v)
  local _, _, place, tkey = sched_parts(v)
  return place, tkey
end

-- Places waiter id (already in queue and beats, or about to be) in the
-- serving order: its start tag at its level, its tenant's finish tag moved on.
local function schedule(id, w, level, tkey, share, seq, arrival)
  local fv, ff = 'v' .. level, 'f' .. level .. tkey
  local st = redis.call('HMGET', KEYS[8], fv, ff)
  local s = tonumber(st[1]) or 0
  local f = tonumber(st[2])
  if f and f > s then s = f end
  local place = level .. hex(s) .. string.format('%016.0f', seq)
  redis.call('HSET', KEYS[8], ff, num(s + w / share))
  redis.call('HINCRBY', KEYS[8], 'n' .. level, 1)
  redis.call('HINCRBY', KEYS[8], 'c' .. level .. tkey, 1)
  redis.call('ZADD', KEYS[7], 0, place .. id)
  redis.call('HSET', KEYS[5], id, int(w) .. ':' .. int(arrival) .. ':' .. place .. tkey)
end

-- Takes a scheduled waiter out of the serving order; a grant moves its
-- level's virtual time to its tag. A tenant with no waiter left at the
-- level, and a level with nobody, leave no state behind.
local function unschedule(id, place, tkey, granted)
  redis.call('ZREM', KEYS[7], place .. id)
  local level = string.sub(place, 1, 17)
  if granted then
    local s = unhex(string.sub(place, 18, 33))
    local v = tonumber(redis.call('HGET', KEYS[8], 'v' .. level)) or 0
    if s > v then redis.call('HSET', KEYS[8], 'v' .. level, num(s)) end
  end
  if redis.call('HINCRBY', KEYS[8], 'c' .. level .. tkey, -1) <= 0 then
    redis.call('HDEL', KEYS[8], 'c' .. level .. tkey, 'f' .. level .. tkey)
  end
  if redis.call('HINCRBY', KEYS[8], 'n' .. level, -1) <= 0 then
    redis.call('HDEL', KEYS[8], 'n' .. level, 'v' .. level)
  end
end

-- Takes a waiter out of every structure (place/tkey: from sched_parts, nil if plain).
local function unqueue(id, place, tkey, granted)
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
  if place then unschedule(id, place, tkey, granted) end
end

-- The first scheduled waiter: the plain ones queued before it move into the
-- serving order (priority 0, no tenant), in arrival order.
local function migrate()
  local q = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
  for i = 1, #q, 2 do
    local id = q[i]
    local v = redis.call('HGET', KEYS[5], id)
    if v and not sched_parts(v) then
      schedule(id, weight_of(v), P0, '-', 1, tonumber(q[i + 1]), tonumber(string.match(v, '^%d+:(%d+)')) or now)
    end
  end
end

-- The next waiter to serve: id, value, place, tenant key (place nil for a
-- plain waiter); nil if nobody waits; false if a broken entry was dropped
-- (ask again). The oldest by arrival if the queue is plain or it has waited
-- aging ms (-1: no aging); else the head of the serving order.
local function next_waiter(aging)
  local id = redis.call('ZRANGE', KEYS[4], 0, 0)[1]
  if not id then return nil end
  local v = redis.call('HGET', KEYS[5], id)
  if not v then
    -- an entry without its weight cannot be served: drop it
    unqueue(id, nil, nil, false)
    return false
  end
  local _, a, place, tkey = sched_parts(v)
  if not place or (aging >= 0 and now - a >= aging) then return id, v, place, tkey end
  local m = redis.call('ZRANGE', KEYS[7], 0, 0)[1]
  if not m then return id, v, place, tkey end
  local oid = string.sub(m, 50)
  if oid == id then return id, v, place, tkey end
  local ov = redis.call('HGET', KEYS[5], oid)
  local op, ot
  if ov then op, ot = place_of(ov) end
  if not op or op .. oid ~= m then
    redis.call('ZREM', KEYS[7], m)
    return false
  end
  return oid, ov, op, ot
end

-- Drops waiters that stopped sending heartbeats (their process died).
local function drop_silent()
  local silent = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', int(now))
  for _, id in ipairs(silent) do
    local v = redis.call('HGET', KEYS[5], id)
    local place, tkey
    if v then place, tkey = place_of(v) end
    unqueue(id, place, tkey, false)
  end
end

-- max(last + 1, server time in µs): strictly increasing, and still above
-- every earlier token after the counter was lost (restart) or set back
-- (failover to a lagging replica), with sane clocks. Needs clock().
local function next_token()
  local t = now_us
  if token and token + 1 > t then t = token + 1 end
  token = t
  token_changed = true
  return t
end

-- Whether anyone is queued: the one check the uncontended paths make before
-- skipping the clock, the reaping and the hand-out.
local function waiting()
  return redis.call('ZRANGE', KEYS[4], 0, 0)[1] ~= nil
end

-- Grants the next waiter (next_waiter) while it fits; the first that does
-- not fit stops the hand-out, so a heavy waiter is never starved by light
-- ones. Call it only when waiting(), after clock(). Returns the held weight,
-- whether the queue is now empty, and whether it is scheduled (nil: not
-- looked at, grants are held off).
local function grant(used, cap, channel, aging)
  if guarded() then return used, false, nil end
  drop_silent()
  local names = {}
  local empty = false
  local scheduled = false
  while true do
    local id, v, place, tkey = next_waiter(aging)
    if id == nil then
      empty = true
      break
    end
    if id then
      if place then scheduled = true end
      local beat = redis.call('ZSCORE', KEYS[6], id)
      if not beat then
        -- an entry without its heartbeat cannot be served: drop it
        unqueue(id, place, tkey, false)
      else
        local w = weight_of(v)
        if used + w > cap then break end
        used = used + w
        local t = next_token()
        unqueue(id, place, tkey, true)
        -- Leased until the waiter's heartbeat deadline: if its process died,
        -- these permits come back when its place in the queue would have.
        redis.call('ZADD', KEYS[2], beat, id)
        redis.call('HSET', KEYS[3], id, int(w) .. ':' .. int(t))
        names[#names + 1] = id .. ':' .. int(t)
      end
    end
  end
  -- Nobody waits: whatever scheduling state a broken entry left goes too.
  if empty and scheduled then redis.call('DEL', KEYS[7], KEYS[8]) end
  if #names > 0 then publish(channel, table.concat(names, ' ')) end
  return used, empty, scheduled
end

-- Frees one holder if it still holds: returns the held weight and whether it did.
local function free_one(used, id)
  local v = redis.call('HGET', KEYS[3], id)
  if not v then return used, false end
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  return used - weight_of(v), true
end


-- Ms until something may change without anyone's command: the earliest
-- lease running out, the earliest waiter's heartbeat deadline, the end of
-- the guard; -1 if nothing is due. Needs clock().
local function earliest_delay()
  local e = -1
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if first[2] then e = tonumber(first[2]) - now end
  local beat = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
  if beat[2] then
    local d = tonumber(beat[2]) - now
    if e < 0 or d < e then e = d end
  end
  if guarded() and (e < 0 or guard - now < e) then e = guard - now end
  if e ~= -1 and e < 0 then e = 0 end
  return e
end

-- The reply of a grant: {1, token, used, capacity, lease ms left}.
local function granted(id, v, used, cap)
  local deadline = tonumber(redis.call('ZSCORE', KEYS[2], id) or now)
  return {1, int(token_of(v)), int(used), int(cap), int(deadline - now)}
end
`;


/**
 * The fleet-wide adaptive limit (AIMD), for the scripts that free holders
 * (ACQUIRE's ride-along releases, RELEASE) and report the limit (TICK).
 * Fields of `meta` (only on a semaphore made with `adaptive`):
 * `aimd` (the settings, `aimd:<min>:<max>:<backoff>:<minSamples>:<slowStart 0|1>`,
 * the same in every process), `capacity` (the limit itself: what every
 * script enforces), `lv` (the limit's version: `max(lv + 1, server µs)` at
 * each change, so it keeps increasing across a restart that lost it), `lc`
 * (the cause of the last change), `fence` (the fencing counter at the last
 * decrease: a permit whose token is not above it was granted under the old
 * limit), `ok` and `peak` (the current window: successes counted, and the
 * most units held at one of them), `ss` (1 while in slow start).
 *
 * A release id marked `+` is a success, `-` a drop, `*` neither; unmarked
 * ids (static semaphores, lost permits) are no sample.
 */
const AIMD = `
-- The adaptive state (false: the semaphore is not adaptive), read once.
local A = nil
local function aimd_load()
  if A ~= nil then return A end
  local m = redis.call('HMGET', KEYS[1], 'aimd', 'fence', 'ok', 'peak', 'ss', 'lv', 'lc')
  if not m[1] then
    A = false
    return A
  end
  local lo, hi, b, n = string.match(m[1], '^aimd:(%d+):(%d+):([^:]+):(%d+):')
  A = {
    min = tonumber(lo), max = tonumber(hi), backoff = tonumber(b), samples = tonumber(n),
    fence = tonumber(m[2]) or 0, ok = tonumber(m[3]) or 0, peak = tonumber(m[4]) or 0,
    ss = m[5] == '1', lv = tonumber(m[6]) or 0, lc = m[7] or 'reset', dirty = false,
  }
  return A
end

-- Moves the limit (the stored capacity) and tells every process at once.
local function set_limit(cap, cause, channel)
  if not now_us then clock() end
  local v = now_us
  if A.lv + 1 > v then v = A.lv + 1 end
  A.lv, A.lc = v, cause
  redis.call('HSET', KEYS[1], 'capacity', int(cap), 'lv', int(v), 'lc', cause)
  publish(channel, '=' .. cause .. ',' .. int(cap) .. ',' .. int(v))
end

-- One sample ('+' success, '-' drop) of a holder that was still held (v:
-- its "weight:token"), with \`before\` units held as it ended. Returns the limit.
local function aimd_sample(cap, kind, v, before, channel)
  local a = A
  -- Granted before the last decrease: it ran under the old limit, and its
  -- outcome is part of the congestion event already acted on.
  if token_of(v) <= a.fence then return cap end
  a.dirty = true
  if kind == '-' then
    local lowered = math.floor(math.min(cap * a.backoff, cap - 1) + 0.5)
    if lowered < a.min then lowered = a.min end
    a.fence = token or 0
    a.ok, a.peak, a.ss = 0, 0, false
    if lowered ~= cap then set_limit(lowered, 'drop', channel) end
    return lowered
  end
  if kind ~= '+' then return cap end
  a.ok = a.ok + 1
  if before > a.peak then a.peak = before end
  local n = cap
  if a.samples > n then n = a.samples end
  if a.ok < n then return cap end
  -- A window: max(limit, minSamples) successes since the last one (or the
  -- last decrease). It raises the limit only if it was utilised.
  local utilised = a.peak * 2 >= cap
  a.ok, a.peak = 0, 0
  if not utilised then return cap end
  local raised = cap + 1
  if a.ss then raised = cap * 2 end
  if raised > a.max then raised = a.max end
  if raised ~= cap then set_limit(raised, a.ss and 'slowStart' or 'increase', channel) end
  return raised
end

-- Frees the holders named in ARGV[from..]: ids no longer held are skipped,
-- so a second release (or one after the lease ran out) never frees anyone
-- else's permits, nor samples twice. A marked id is also a sample of the
-- adaptive limit. Returns the held weight, how many were freed and the
-- capacity (the limit) afterwards.
local function settle(used, from, cap, channel)
  local freed = 0
  for i = from, #ARGV do
    local id = ARGV[i]
    local kind = string.sub(id, 1, 1)
    if kind == '+' or kind == '-' or kind == '*' then
      id = string.sub(id, 2)
      aimd_load()
    else
      kind = nil
    end
    local v = redis.call('HGET', KEYS[3], id)
    if v then
      local before = used
      redis.call('HDEL', KEYS[3], id)
      redis.call('ZREM', KEYS[2], id)
      used = used - weight_of(v)
      freed = freed + 1
      if kind and cap and A then cap = aimd_sample(cap, kind, v, before, channel) end
    end
  end
  if A and A.dirty then
    redis.call('HSET', KEYS[1], 'fence', int(A.fence), 'ok', int(A.ok), 'peak', int(A.peak), 'ss', A.ss and '1' or '0')
  end
  return used, freed, cap
end

-- Appends the limit's version and cause to a reply (adaptive only).
local function limit_tail(result)
  if A then
    result[#result + 1] = int(A.lv)
    result[#result + 1] = A.lc
  end
  return result
end
`;

/**
 * ACQUIRE: ARGV = capacity (or, for an adaptive semaphore,
 * `~<initial>:<settings>`: see AIMD), id, weight, leaseMs, mode ("try" | "wait"),
 * channel, waiterTtlMs, guardMs (how long to hold off grants after a
 * restart; 0: not at all), level (the waiter's priority as a place prefix,
 * see the module comment; "" for a plain waiter: priority 0, no tenant),
 * tenant key ("-": none), tenant share, aging (ms; -1: none), then ids of
 * this process's permits to release first (a release followed by an acquire
 * costs one round trip). Idempotent per id. Or the error "PERMITS_CAPACITY
 * <stored>" when the stored capacity differs, "PERMITS_ADAPTIVE <stored
 * settings>" when one side is adaptive and the other is not, or their
 * settings differ. See {@link readAcquire} for the reply.
 */
export const ACQUIRE: string = `${PRELUDE}${AIMD}
clock()
-- "~<initial>:<settings>" for an adaptive semaphore, else the capacity.
local a_init, a_cfg = string.match(ARGV[1], '^~(%d+):(.+)$')
local cap = tonumber(a_init or ARGV[1])
local stored, used = load()
if a_cfg then
  if stored then
    if aimd_settings ~= a_cfg then
      return redis.error_reply('PERMITS_ADAPTIVE ' .. (aimd_settings or ('static ' .. int(stored))))
    end
    cap = stored
  end
elseif stored and stored ~= cap then
  return redis.error_reply('PERMITS_CAPACITY ' .. int(stored))
elseif stored and aimd_settings then
  return redis.error_reply('PERMITS_ADAPTIVE ' .. aimd_settings)
end
local id, w, lease, ttl = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[7])
local level, aging = ARGV[9], tonumber(ARGV[12])
if not stored then
  redis.call('HSET', KEYS[1], 'capacity', int(cap))
  if a_cfg then
    -- New, or lost with the rest of the state (a restart without
    -- persistence): the limit starts over at \`initial\`, in slow start.
    redis.call('HSET', KEYS[1], 'aimd', a_cfg, 'lv', int(now_us), 'lc', 'reset',
      'ss', string.match(a_cfg, ':(%d)$'), 'fence', '0', 'ok', '0', 'peak', '0')
  end
  fresh_state(tonumber(ARGV[8]))
end
-- Releases that were waiting to be sent ride along and go first (their
-- samples may move the limit this acquire is granted against).
local _
used, _, cap = settle(used, 13, cap, ARGV[6])
if a_cfg then aimd_load() end
-- A second execution of the same acquire finds its grant ...
local mine = redis.call('HGET', KEYS[3], id)
local empty = true
-- Whether the queue is scheduled, as grant() saw it (nil: not known).
local scheduled
if not mine then
  empty = not waiting()
  if not (empty and used + w <= cap and not guarded()) then
    -- Someone waits, it does not fit, or grants are held off: reclaim
    -- expired leases, serve the queue (which may grant this very id).
    used = reap(used)
    if not empty then used, empty, scheduled = grant(used, cap, ARGV[6], aging) end
    mine = redis.call('HGET', KEYS[3], id)
  end
end
local result
if mine then
  result = granted(id, mine, used, cap)
elseif not empty and redis.call('ZSCORE', KEYS[4], id) then
  -- ... or its place in the queue.
  redis.call('ZADD', KEYS[6], int(now + ttl), id)
  result = {2, int(used), int(cap), int(earliest_delay())}
elseif empty and used + w <= cap and not guarded() then
  used = used + w
  local t = next_token()
  redis.call('ZADD', KEYS[2], int(now + lease), id)
  redis.call('HSET', KEYS[3], id, int(w) .. ':' .. int(t))
  result = {1, int(t), int(used), int(cap), int(lease)}
elseif ARGV[5] == 'try' and (level == '' or empty) then
  result = {0, int(used), int(cap), int(earliest_delay())}
else
  -- Queued in scheduled order if it asks for it, or if others did (grant()
  -- has seen the next waiter, unless grants are held off).
  if empty then
    scheduled = false
  elseif scheduled == nil then
    scheduled = redis.call('EXISTS', KEYS[7]) == 1
  end
  if level == '' and scheduled then level = P0 end
  local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  if level == '' then
    redis.call('HSET', KEYS[5], id, int(w) .. ':' .. int(now))
  else
    if not scheduled and not empty then migrate() end
    schedule(id, w, level, ARGV[10], tonumber(ARGV[11]), seq, now)
  end
  redis.call('ZADD', KEYS[4], seq, id)
  redis.call('ZADD', KEYS[6], int(now + ttl), id)
  if level ~= '' and not empty then
    -- Served at once if it is next and fits: it passed waiters of lower
    -- priority, or of tenants past their share.
    used = grant(used, cap, ARGV[6], aging)
    mine = redis.call('HGET', KEYS[3], id)
  end
  if mine then
    result = granted(id, mine, used, cap)
  elseif ARGV[5] == 'try' then
    local v = redis.call('HGET', KEYS[5], id)
    local place, tkey = place_of(v)
    unqueue(id, place, tkey, false)
    result = {0, int(used), int(cap), int(earliest_delay())}
  else
    result = {2, int(used), int(cap), int(earliest_delay())}
  end
end
save()
return limit_tail(result)
`;

/**
 * RELEASE: ARGV = channel, aging (ms; -1: none), id... (marked `+`, `-`
 * or `*` by an adaptive semaphore: see AIMD).
 * Frees the named holders (see settle()), moves the adaptive limit, and
 * hands the permits on to the next waiters. Returns {freedCount, used},
 * and for an adaptive semaphore also capacity (the limit), its version and
 * the cause of its last change.
 */
export const RELEASE: string = `${PRELUDE}${AIMD}
local cap, used = load()
local freed
used, freed, cap = settle(used, 3, cap, ARGV[1])
-- Nobody waits (the uncontended case): no clock, no reaping, no hand-off.
-- A raised limit is handed to the waiters here, at once.
if waiting() then
  clock()
  used = grant(reap(used), cap or 0, ARGV[1], tonumber(ARGV[2]))
end
save()
if A then return limit_tail({freed, int(used), int(cap or 0)}) end
return {freed, int(used)}
`;

/**
 * CANCEL: ARGV = channel, aging (ms; -1: none), id...
 * Takes waiters out of the queue (every structure: arrival, serving order,
 * fair-share counts); a waiter that was granted in the meantime (the grant
 * raced the cancellation) gives its permits back instead. Either way the
 * waiters that now fit are granted. Returns {removed, used}.
 */
export const CANCEL: string = `${PRELUDE}
clock()
local cap, used = load()
used = reap(used)
local removed = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local v = redis.call('HGET', KEYS[5], id)
  if redis.call('ZSCORE', KEYS[4], id) then
    local place, tkey
    if v then place, tkey = place_of(v) end
    unqueue(id, place, tkey, false)
    removed = removed + 1
  else
    if v then redis.call('HDEL', KEYS[5], id) end
    local was
    used, was = free_one(used, id)
    if was then removed = removed + 1 end
  end
end
if waiting() then used = grant(used, cap or 0, ARGV[1], tonumber(ARGV[2])) end
save()
return {removed, int(used)}
`;

/**
 * TICK (one per semaphore per process per interval: renewals and heartbeats
 * are batched): ARGV = channel, leaseMs, waiterTtlMs, guardMs, aging (ms;
 * -1: none), nPermits, permit ids..., waiter ids...
 * Extends the leases of the permits still held, refreshes the heartbeats of
 * waiters still queued, renews the lease of waiters found granted (their
 * process is alive: it sent this), and reports what changed behind our back.
 * See {@link readTick} for the reply (the stored capacity, and for an
 * adaptive semaphore the limit's version and cause, come last).
 */
export const TICK: string = `${PRELUDE}${AIMD}
clock()
local stored, used = load()
used = reap(used)
if waiting() then used = grant(used, stored or 0, ARGV[1], tonumber(ARGV[5])) end
local lease, ttl, guard_ms, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6])
local lost, granted_, missing = {}, {}, {}
for i = 7, 6 + n do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[2], id) then
    redis.call('ZADD', KEYS[2], int(now + lease), id)
  else
    lost[#lost + 1] = id
  end
end
if #lost > 0 and guard_ms > 0 then
  if not stored then
    -- The state is gone while these permits were held (a restart without
    -- persistence, a flush): other holders of it may not have heard yet.
    hold_off(now + guard_ms)
  else
    -- The state is back (an acquire re-created it first), but these
    -- permits are not in it: if the server is younger than a lease, it lost
    -- them in a restart, and other holders may still believe theirs.
    fresh_state(guard_ms)
  end
end
for i = 7 + n, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[6], id) then
    redis.call('ZADD', KEYS[6], int(now + ttl), id)
  else
    local v = redis.call('HGET', KEYS[3], id)
    if v then
      redis.call('ZADD', KEYS[2], int(now + lease), id)
      granted_[#granted_ + 1] = id
      granted_[#granted_ + 1] = int(token_of(v))
    else
      missing[#missing + 1] = id
    end
  end
end
save()
aimd_load()
return limit_tail({int(used), int(earliest_delay()), lost, granted_, missing, int(stored or 0)})
`;

/**
 * INSPECT: ARGV = (none). Read-only view for dashboards and tests:
 * {capacity, used, now, holders flattened as id, "weight:token", deadline,
 * waiters flattened as id, weight}.
 * Leases that ran out and waiters that went silent are left out (and their
 * weight out of `used`) even before a script reclaims them: the other scripts
 * do that lazily, only when it could change a grant.
 */
export const INSPECT: string = `${PRELUDE}
clock()
local meta = redis.call('HMGET', KEYS[1], 'capacity')
local used = 0
local holders = {}
local leases = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now), '+inf', 'WITHSCORES')
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
    waiters[#waiters + 1] = redis.call('HGET', KEYS[5], id) or '0'
  end
end
return {meta[1] or '', int(used), int(now), holders, waiters}
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

// ------------------------------------------------------- arguments and replies

/**
 * Where a waiter goes in the serving order: its priority level as the
 * scripts sort it (`""`: a plain waiter, priority 0 and no tenant), its
 * tenant key (`"-"`: none) and its tenant's share (from `weights`).
 */
export interface Placement {
  /** The tenant's name (undefined: none); not sent. */
  readonly tenant: string | undefined;
  readonly level: string;
  readonly tenantKey: string;
  readonly share: number;
}

/** A plain waiter: priority 0, no tenant (FIFO unless others are scheduled). */
export const PLAIN: Placement = { tenant: undefined, level: "", tenantKey: "-", share: 1 };

/**
 * The placement of a waiter of `priority` for `tenant` (weighing `share`).
 * The level is 17 characters that sort higher priorities first: `0` and
 * 16 digits of 2^53 − 1 − p for p ≥ 0, `1` and 16 digits of −p below 0.
 */
export function placement(priority: number, tenant: string | undefined, share: number): Placement {
  if (priority === 0 && tenant === undefined) return PLAIN;
  const level =
    priority >= 0
      ? `0${String(Number.MAX_SAFE_INTEGER - priority).padStart(16, "0")}`
      : `1${String(-priority).padStart(16, "0")}`;
  return { tenant, level, tenantKey: tenant === undefined ? "-" : `=${tenant}`, share };
}

/** The aging argument: ms, or -1 for none (Infinity). */
export function agingArg(aging: number): string {
  return aging === Infinity ? "-1" : String(aging);
}

/** Arguments of ACQUIRE. */
export function acquireArgs(
  capacity: number | string,
  id: string,
  weight: number,
  leaseMs: number,
  mode: "try" | "wait",
  channel: string,
  waiterTtlMs: number,
  guardMs: number,
  releaseIds: readonly string[],
  place: Placement = PLAIN,
  aging = "-1",
): string[] {
  const args = [
    String(capacity),
    id,
    String(weight),
    String(leaseMs),
    mode,
    channel,
    String(waiterTtlMs),
    String(guardMs),
    place.level,
    place.tenantKey,
    String(place.share),
    aging,
  ];
  for (const releaseId of releaseIds) args.push(releaseId);
  return args;
}

/** Arguments of RELEASE and CANCEL: the channel, the aging argument, the ids. */
export function freeArgs(channel: string, aging: string, ids: readonly string[]): string[] {
  return [channel, aging, ...ids];
}

/**
 * The adaptive limit as a reply (or a `=cause,limit,version` message on the
 * wake channel) reports it: the newest version wins.
 */
export interface LimitReport {
  readonly limit: number;
  readonly version: number;
  readonly cause: string;
}

/** The limit at `reply[at]`, its version and cause at `reply[v]`, `reply[v + 1]` (undefined: not adaptive). */
function readLimit(reply: unknown[], at: number, v: number): LimitReport | undefined {
  if (reply.length < v + 2) return undefined;
  return { limit: Number(reply[at]), version: Number(reply[v]), cause: String(reply[v + 1]) };
}

/** A limit message (`=cause,limit,version`), or undefined for a wake-up. */
export function readLimitMessage(message: string): LimitReport | undefined {
  if (message.charCodeAt(0) !== 61 /* = */) return undefined;
  const [cause, limit, version] = message.slice(1).split(",");
  return { limit: Number(limit), version: Number(version), cause: cause ?? "" };
}

/** What ACQUIRE answered. */
export type AcquireReply = (
  /** Granted now (or by an earlier execution of the same acquire): the lease has `leaseLeftMs` left. */
  | { readonly granted: true; readonly token: number; readonly used: number; readonly leaseLeftMs: number }
  /** Not granted: queued (mode "wait") or not free (mode "try"); `delayMs` until something may change unasked (-1: nothing due). */
  | { readonly granted: false; readonly used: number; readonly delayMs: number }
) & { readonly limit?: LimitReport | undefined };

export function readAcquire(raw: unknown): AcquireReply {
  const reply = raw as unknown[];
  if (Number(reply[0]) === 1) {
    return {
      granted: true,
      token: Number(reply[1]),
      used: Number(reply[2]),
      leaseLeftMs: Number(reply[4]),
      limit: readLimit(reply, 3, 5),
    };
  }
  return { granted: false, used: Number(reply[1]), delayMs: Number(reply[3]), limit: readLimit(reply, 2, 4) };
}

/** The held weight that RELEASE and CANCEL answer with. */
export function readUsed(raw: unknown): number {
  return Number((raw as unknown[])[1]);
}

/** RELEASE's report of the adaptive limit (undefined: not adaptive). */
export function readReleaseLimit(raw: unknown): LimitReport | undefined {
  return readLimit(raw as unknown[], 2, 3);
}

/** Arguments of TICK. */
export function tickArgs(
  channel: string,
  leaseMs: number,
  waiterTtlMs: number,
  guardMs: number,
  aging: string,
  permitIds: readonly string[],
  waiterIds: readonly string[],
): string[] {
  return [
    channel,
    String(leaseMs),
    String(waiterTtlMs),
    String(guardMs),
    aging,
    String(permitIds.length),
    ...permitIds,
    ...waiterIds,
  ];
}

/** What TICK answered. */
export interface TickReply {
  readonly used: number;
  /** Ms until something may change unasked (-1: nothing due). */
  readonly delayMs: number;
  /** Permits whose lease Redis no longer has. */
  readonly lost: ReadonlySet<string>;
  /** Waiters that hold permits now (their lease was renewed by this tick), with their tokens. */
  readonly granted: ReadonlyMap<string, number>;
  /** Waiters Redis no longer knows (silent too long, or the state was lost). */
  readonly missing: ReadonlySet<string>;
  /** The adaptive limit (undefined: not adaptive, or the state is gone). */
  readonly limit: LimitReport | undefined;
}

export function readTick(raw: unknown): TickReply {
  const reply = raw as unknown[];
  const [used, delay, lost, granted, missing] = reply as [unknown, unknown, unknown[], unknown[], unknown[]];
  const grants = new Map<string, number>();
  for (let i = 0; i + 1 < granted.length; i += 2) grants.set(String(granted[i]), Number(granted[i + 1]));
  return {
    used: Number(used),
    delayMs: Number(delay),
    lost: new Set(lost.map(String)),
    granted: grants,
    missing: new Set(missing.map(String)),
    limit: readLimit(reply, 5, 6),
  };
}

/** What INSPECT answered, in server terms. */
export interface InspectReply {
  readonly capacity: number | undefined;
  readonly used: number;
  readonly holders: { id: string; weight: number; token: number; expiresInMs: number }[];
  readonly waiters: { id: string; weight: number }[];
}

export function readInspect(raw: unknown): InspectReply {
  const [cap, used, now, holders, waiters] = raw as [unknown, unknown, unknown, unknown[], unknown[]];
  const reply: InspectReply = {
    capacity: String(cap) === "" ? undefined : Number(cap),
    used: Number(used),
    holders: [],
    waiters: [],
  };
  for (let i = 0; i + 2 < holders.length; i += 3) {
    const [w, t] = String(holders[i + 1]).split(":");
    reply.holders.push({
      id: String(holders[i]),
      weight: Number(w),
      token: Number(t),
      expiresInMs: Number(holders[i + 2]) - Number(now),
    });
  }
  for (let i = 0; i + 1 < waiters.length; i += 2) {
    reply.waiters.push({ id: String(waiters[i]), weight: Number(String(waiters[i + 1]).split(":")[0]) });
  }
  return reply;
}

/** A wake-up message: `"id:token id:token ..."`. */
export function readWake(message: string, each: (id: string, token: number) => void): void {
  for (const entry of message.split(" ")) {
    const colon = entry.lastIndexOf(":");
    if (colon > 0) each(entry.slice(0, colon), Number(entry.slice(colon + 1)));
  }
}
