/**
 * Property test: random arrivals, weights, aborts and timeouts against the
 * RateLimiter under fake timers. Invariants: the admitted starts never exceed
 * what the rate and burst allow in any window, grants are FIFO, every waiter
 * settles exactly once, and nothing (timer, queue entry) is left at the end.
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RateLimiter } from "../../src/index.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const config = fc.record({
  limit: fc.integer({ min: 1, max: 10 }),
  interval: fc.integer({ min: 50, max: 2_000 }),
  burst: fc.integer({ min: 1, max: 5 }),
});
const op = fc.record({
  gap: fc.integer({ min: 0, max: 300 }),
  weight: fc.integer({ min: 1, max: 5 }),
  abortAfter: fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined }),
  timeout: fc.option(fc.integer({ min: 0, max: 900 }), { nil: undefined }),
});

describe("RateLimiter: property", () => {
  it("conforms to the rate in every window, grants FIFO, settles everyone once, leaves nothing behind", async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.array(op, { maxLength: 25 }), async ({ limit, interval, burst }, ops) => {
        const rate = new RateLimiter({ limit, interval, burst });
        const step = interval / limit;
        const t0 = performance.now();
        const grants: { id: number; t: number; weight: number }[] = [];
        const settled = new Map<number, number>();
        for (const [id, o] of ops.entries()) {
          await vi.advanceTimersByTimeAsync(o.gap);
          const weight = Math.min(o.weight, burst);
          const ac = o.abortAfter === undefined ? undefined : new AbortController();
          if (ac !== undefined) setTimeout(() => ac.abort(new Error("abort")), o.abortAfter);
          rate.acquire({ weight, signal: ac?.signal, timeout: o.timeout }).then(
            (permit) => {
              grants.push({ id, t: performance.now() - t0, weight });
              settled.set(id, (settled.get(id) ?? 0) + 1);
              permit.release();
            },
            () => settled.set(id, (settled.get(id) ?? 0) + 1),
          );
        }
        // Long enough for every waiter: each needs at most burst·step, plus aborts and timeouts.
        await vi.advanceTimersByTimeAsync(Math.ceil(ops.length * burst * step) + 2_000);

        expect([...settled.values()].every((n) => n === 1)).toBe(true);
        expect(settled.size).toBe(ops.length);
        // FIFO: grant order is arrival order among those granted.
        const ids = grants.map((g) => g.id);
        expect(ids).toEqual([...ids].sort((a, b) => a - b));
        // Rate: in every window [t_i, t_j], weights ≤ burst + (t_j − t_i + 1 ms of timer rounding) / step.
        for (let i = 0; i < grants.length; i++) {
          let sum = 0;
          for (let j = i; j < grants.length; j++) {
            sum += grants[j]!.weight;
            expect(sum).toBeLessThanOrEqual(burst + (grants[j]!.t - grants[i]!.t + 1) / step + 1e-9);
          }
        }
        expect(rate.stats()).toMatchObject({ queued: 0, inUse: 0 });
        expect(vi.getTimerCount()).toBe(0);
        await rate.onIdle();
      }),
      { numRuns: 150 },
    );
  });

  it("is work-conserving: a lone waiter is admitted exactly when GCRA says, not later", async () => {
    await fc.assert(
      fc.asyncProperty(config, fc.integer({ min: 0, max: 3_000 }), async ({ limit, interval, burst }, pause) => {
        const rate = new RateLimiter({ limit, interval, burst });
        const step = interval / limit;
        for (let i = 0; i < burst; i++) rate.tryAcquire(); // empty at t0
        const t0 = performance.now();
        await vi.advanceTimersByTimeAsync(pause);
        let at = -1;
        void rate.acquire({ weight: burst }).then(() => (at = performance.now() - t0));
        await vi.advanceTimersByTimeAsync(Math.ceil(burst * step) + 2);
        // burst units are back after burst·step from t0 (rounded up to the ms the timer can fire at)
        expect(at).toBe(Math.max(pause, Math.ceil(burst * step - 1e-3)));
      }),
      { numRuns: 100 },
    );
  });
});
