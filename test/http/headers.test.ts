import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "../../src/http/index.js";
import { parseRateLimitExhausted } from "../../src/http/headers.js";

const NOW = Date.parse("2026-11-25T12:00:00Z");
const h = (record: Record<string, string>): Headers => new Headers(record);

describe("parseRetryAfter", () => {
  it.each([
    ["120", 120_000],
    [" 3 ", 3_000],
    ["0", 0],
    ["1.5", 1_500],
    ["Wed, 25 Nov 2026 12:00:30 GMT", 30_000],
    ["Wed, 25 Nov 2026 11:59:00 GMT", 0], // in the past
  ])("%j → %d ms", (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });

  it.each([null, undefined, "", "soon", "-5"])("%j → undefined", (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });
});

describe("parseRateLimitExhausted", () => {
  it("reads the structured IETF RateLimit header (r=remaining, t=seconds)", () => {
    expect(parseRateLimitExhausted(h({ ratelimit: '"default";r=0;t=30' }), NOW)).toBe(30_000);
    expect(parseRateLimitExhausted(h({ ratelimit: '"default";r=5;t=30' }), NOW)).toBeUndefined();
  });

  it("reads the older dictionary RateLimit header and RateLimit-Remaining/-Reset", () => {
    expect(parseRateLimitExhausted(h({ ratelimit: "limit=100, remaining=0, reset=12" }), NOW)).toBe(12_000);
    expect(parseRateLimitExhausted(h({ "ratelimit-remaining": "0", "ratelimit-reset": "7" }), NOW)).toBe(7_000);
  });

  it("reads X-RateLimit-Remaining with a delta, an epoch reset, or Reset-After", () => {
    expect(parseRateLimitExhausted(h({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": "5" }), NOW)).toBe(5_000);
    const epoch = String(NOW / 1000 + 60);
    expect(parseRateLimitExhausted(h({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": epoch }), NOW)).toBe(60_000);
    expect(
      parseRateLimitExhausted(h({ "x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "2.5" }), NOW),
    ).toBe(2_500);
  });

  it("ignores quotas that are not used up and headers that are absent or garbled", () => {
    expect(parseRateLimitExhausted(h({ "x-ratelimit-remaining": "3", "x-ratelimit-reset": "5" }), NOW)).toBeUndefined();
    expect(parseRateLimitExhausted(h({}), NOW)).toBeUndefined();
    expect(parseRateLimitExhausted(h({ "x-ratelimit-remaining": "zero" }), NOW)).toBeUndefined();
  });
});
