/**
 * Reading the headers servers use to say "slow down": `Retry-After`, the IETF
 * `RateLimit` draft (both the structured `RateLimit: "name";r=0;t=30` form and
 * the older `RateLimit: limit=100, remaining=0, reset=30` /
 * `RateLimit-Remaining` + `RateLimit-Reset` forms) and the common
 * `X-RateLimit-Remaining` + `X-RateLimit-Reset` pair.
 *
 * Not exported from the package's entry points. (Not tagged internal here:
 * `stripInternal` would drop the first declaration below with the tag.)
 *
 * @module
 */

/** Anything with `get(name)`: a `Headers` object, or undici's plain header record adapted. */
export interface HeaderGetter {
  get(name: string): string | null;
}

/**
 * Parses `Retry-After`: a number of seconds or an HTTP-date. Returns
 * milliseconds from now (0 for a date in the past), or `undefined` when absent
 * or unreadable.
 *
 * @example
 * ```ts
 * import { parseRetryAfter } from "permit-pool/http";
 * console.log(parseRetryAfter("120")); // 120000
 * console.log(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT")); // 0: in the past
 * console.log(parseRetryAfter("soon")); // undefined
 * ```
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  // An HTTP-date always names its day and month; this keeps "-5" from parsing as a year.
  if (!/[a-z]/i.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** A reset given in seconds: a delta, or (for values that can only be epochs) a Unix time. */
function resetToMs(seconds: number, nowMs: number): number {
  // GitHub and others send epoch seconds; the drafts send a delta. No delta is 30+ years.
  if (seconds > 1e9) return Math.max(0, seconds * 1000 - nowMs);
  return Math.max(0, seconds * 1000);
}

function num(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const n = Number(value.trim());
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * When the server reports no requests left in its window, returns how many
 * milliseconds until the window resets; otherwise `undefined`.
 */
export function parseRateLimitExhausted(headers: HeaderGetter, nowMs: number = Date.now()): number | undefined {
  const combined = headers.get("ratelimit");
  if (combined !== null) {
    // Structured form (draft-ietf-httpapi-ratelimit-headers-07 and later): "policy";r=0;t=30
    const r = /(?:^|;)\s*r\s*=\s*(\d+)/.exec(combined);
    const t = /(?:^|;)\s*t\s*=\s*(\d+)/.exec(combined);
    if (r?.[1] !== undefined && t?.[1] !== undefined) return Number(r[1]) === 0 ? Number(t[1]) * 1000 : undefined;
    // Older dictionary form: limit=100, remaining=0, reset=30
    const remaining = /remaining\s*=\s*(\d+)/.exec(combined);
    const reset = /reset\s*=\s*(\d+)/.exec(combined);
    if (remaining?.[1] !== undefined && reset?.[1] !== undefined) {
      return Number(remaining[1]) === 0 ? Number(reset[1]) * 1000 : undefined;
    }
  }
  for (const prefix of ["ratelimit-", "x-ratelimit-"]) {
    const remaining = num(headers.get(`${prefix}remaining`));
    if (remaining === undefined) continue;
    if (remaining > 0) return undefined;
    const after = num(headers.get(`${prefix}reset-after`));
    if (after !== undefined) return after * 1000;
    const reset = num(headers.get(`${prefix}reset`));
    if (reset !== undefined) return prefix === "ratelimit-" ? reset * 1000 : resetToMs(reset, nowMs);
  }
  return undefined;
}
