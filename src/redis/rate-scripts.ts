/**
 * The Lua scripts of the Redis rate limiter, how their arguments are built
 * and how their replies are read: every positional detail of the rate
 * limiter's wire format lives in this file, as the semaphore's lives in
 * ./scripts.ts (kept apart so that the two can change independently; both
 * define their scripts with the same `defineScript`).
 *
 * ## Key layout (one limiter; the hash tag `{name}` keeps it in one slot)
 *
 * | key | type | holds |
 * |---|---|---|
 * | `KEYS[1]` `<prefix>{name}:rate` | hash | `tat` (GCRA's theoretical arrival time, server ms, `%.3f`), `settings` (`limit/interval/burst`), `blocked` (shared pause until, server ms) |
 *
 * ## Rules every script keeps
 * - **Server clock.** Every script that needs the time reads `TIME` (µs
 *   precision, written with three decimals of a millisecond).
 * - **A reservation is named by the `tat` it wrote**, so a refund can tell
 *   whether it is still the last one (`REFUND` gives it back only then).
 * - **The hash expires** once the rate has recovered (and the pause is
 *   over), plus a minute: an idle limiter leaves nothing behind.
 *
 * @module
 */

import { defineScript, type Script } from "./scripts.js";

/** Reads the server clock into `now` (ms, fractional) and defines `f` (`%.3f`). */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function f(n) return string.format('%.3f', n) end
`;

/**
 * RESERVE. KEYS[1] = the state hash. ARGV: step ms, tau ms, weight, mode
 * (`"try"` | `"reserve"`), maxWait ms (-1: any), settings signature.
 * Replies `{1, waitMs, reservedTat}` (reserved: start after waitMs) or
 * `{0, waitMs}` (refused: not now, or longer than maxWait); an error
 * `PERMITS_RATE_SETTINGS <stored>` when the stored settings differ.
 */
const RESERVE = `${NOW}
local sig = redis.call('HGET', KEYS[1], 'settings')
if sig and sig ~= ARGV[6] then return redis.error_reply('PERMITS_RATE_SETTINGS ' .. sig) end
local step, tau, w = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
local arrival = math.max(now, blocked)
local newtat = math.max(tat, arrival) + w * step
local wait = math.max(arrival, newtat - tau) - now
if wait < 0.001 then wait = 0 end
if wait > 0 and (ARGV[4] == 'try' or (tonumber(ARGV[5]) >= 0 and wait > tonumber(ARGV[5]))) then
  return {0, f(wait)}
end
local stored = f(newtat)
redis.call('HSET', KEYS[1], 'tat', stored, 'settings', ARGV[6])
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(newtat, blocked) - now + tau) + 60000)
return {1, f(wait), stored}
`;

/**
 * REFUND. ARGV: weight × step ms, the reservation's tat. Gives the
 * reservation back if it is still the last one. Replies 1 (given back) or 0.
 */
const REFUND = `
if redis.call('HGET', KEYS[1], 'tat') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'tat', string.format('%.3f', tonumber(ARGV[2]) - tonumber(ARGV[1])))
  return 1
end
return 0
`;

/**
 * PAUSE. ARGV: ms (0: only read). Extends the shared pause, never shortens
 * it. Replies the ms left of the pause (`%.3f`).
 */
const PAUSE = `${NOW}
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
local ms = tonumber(ARGV[1])
if ms > 0 and now + ms > blocked then
  blocked = now + ms
  redis.call('HSET', KEYS[1], 'blocked', f(blocked))
  if redis.call('PTTL', KEYS[1]) < ms + 60000 then redis.call('PEXPIRE', KEYS[1], math.ceil(ms) + 60000) end
end
return f(math.max(0, blocked - now))
`;

/** The rate limiter's scripts. */
export const rateScripts: {
  readonly reserve: Script;
  readonly refund: Script;
  readonly pause: Script;
} = {
  reserve: defineScript(RESERVE),
  refund: defineScript(REFUND),
  pause: defineScript(PAUSE),
};

// ------------------------------------------------------- arguments and replies

/** The rate's constants, as RESERVE and REFUND take them. */
export interface RateShape {
  /** Emission interval: ms per unit (`interval / limit`). */
  readonly step: number;
  /** Burst tolerance: ms (`burst × step`). */
  readonly tau: number;
  /** `limit/interval/burst`: every process of one limiter must send the same. */
  readonly settings: string;
}

/**
 * Arguments of RESERVE: `"reserve"` takes the next slot (refused only if its
 * wait exceeds `maxWaitMs`; -1: any wait), `"try"` only a slot free now.
 */
export function reserveArgs(rate: RateShape, weight: number, mode: "try" | "reserve", maxWaitMs: number): string[] {
  return [String(rate.step), String(rate.tau), String(weight), mode, String(maxWaitMs), rate.settings];
}

/** What RESERVE answered. */
export type ReserveReply =
  /** Reserved: start after `waitMs`; `tat` names the reservation (for a refund). */
  | { readonly reserved: true; readonly waitMs: number; readonly tat: string }
  /** Refused: the wait would have been `waitMs` (mode "try", or longer than maxWait). */
  | { readonly reserved: false; readonly waitMs: number };

export function readReserve(raw: unknown): ReserveReply {
  const reply = raw as unknown[];
  const waitMs = Number(reply[1]);
  return Number(reply[0]) === 1 ? { reserved: true, waitMs, tat: String(reply[2]) } : { reserved: false, waitMs };
}

/** The settings a RESERVE found stored, from its error reply, or undefined for any other error. */
export function readSettingsMismatch(message: string): string | undefined {
  return /PERMITS_RATE_SETTINGS (\S+)/.exec(message)?.[1];
}

/** Arguments of REFUND: the reservation's weight and the tat it wrote. */
export function refundArgs(rate: RateShape, weight: number, tat: string): string[] {
  return [String(weight * rate.step), tat];
}

/** What REFUND answered: whether the reservation was given back. */
export function readRefund(raw: unknown): boolean {
  return Number(raw) === 1;
}

/** Arguments of PAUSE: extend the pause to `ms` from now (0: only read it). */
export function pauseArgs(ms: number): string[] {
  return [String(ms)];
}

/** What PAUSE answered: the ms left of the shared pause. */
export function readPause(raw: unknown): number {
  return Number(raw);
}
