/**
 * Property test of limitFetch's admission logic with a stub fetch under fake
 * timers: random origins, durations, aborts, 429s with Retry-After and bodies
 * that are read or cancelled. Invariants: never more in flight than
 * `concurrency` overall or `perOrigin` per origin (counting until the body is
 * done), nothing starts on an origin while it is paused, every call settles
 * exactly once, and nothing is left at the end (slots, origins, timers).
 * The same with adaptive limits (and 503s, 404s, 429s, resets): never more
 * than `max` in flight, the limits within bounds, the gate's capacity equal to
 * the controller's, nothing held at the end.
 */
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { limitFetch } from "../../src/http/index.js";

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date", "performance"] });
});
afterEach(() => {
  vi.useRealTimers();
});

const call = fc.record({
  gap: fc.integer({ min: 0, max: 50 }),
  origin: fc.integer({ min: 0, max: 2 }),
  duration: fc.integer({ min: 0, max: 100 }),
  abortAfter: fc.option(fc.integer({ min: 0, max: 150 }), { nil: undefined }),
  refuse: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }), // 429 with Retry-After: n s
  cancelBody: fc.boolean(),
});

describe("limitFetch: property (stub fetch, fake timers)", () => {
  it("bounds in-flight requests, honours pauses, settles every call once, leaves nothing", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(call, { maxLength: 20 }),
        async (concurrency, perOrigin, calls) => {
          let active = 0;
          const activeBy = new Map<string, number>();
          let violations = 0;
          const pausedUntil = new Map<string, number>();
          const plans = new Map<string, (typeof calls)[number]>();
          const refusedOnce = new Set<string>();
          const stub = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
            const url = new URL(input as string);
            const plan = plans.get(url.href)!;
            if (performance.now() < (pausedUntil.get(url.origin) ?? 0)) violations++;
            active++;
            activeBy.set(url.origin, (activeBy.get(url.origin) ?? 0) + 1);
            if (active > concurrency || activeBy.get(url.origin)! > perOrigin) violations++;
            let open = true;
            const done = (): void => {
              if (!open) return;
              open = false;
              active--;
              activeBy.set(url.origin, activeBy.get(url.origin)! - 1);
            };
            try {
              await new Promise<void>((resolve, reject) => {
                const timer = setTimeout(resolve, plan.duration);
                init?.signal?.addEventListener("abort", () => {
                  clearTimeout(timer);
                  reject(init.signal!.reason);
                });
              });
            } catch (error) {
              done();
              throw error;
            }
            if (plan.refuse !== undefined && !refusedOnce.has(url.href)) {
              refusedOnce.add(url.href);
              pausedUntil.set(url.origin, performance.now() + plan.refuse * 1000);
              done();
              return new Response(null, { status: 429, headers: { "retry-after": String(plan.refuse) } });
            }
            // The body ends (or is cancelled) when the reader is done with it.
            const body = new ReadableStream<Uint8Array>({
              pull(c) {
                c.enqueue(new TextEncoder().encode("ok"));
                c.close();
                done();
              },
              cancel() {
                done();
              },
            });
            return new Response(body);
          };
          const f = limitFetch({ concurrency, perOrigin, fetch: stub, retries: 1, retryDelay: 0 });
          const settled = new Map<number, number>();
          for (const [i, c] of calls.entries()) {
            await vi.advanceTimersByTimeAsync(c.gap);
            const url = `http://o${c.origin}.test/${i}`;
            plans.set(url, c);
            const ac = new AbortController();
            if (c.abortAfter !== undefined) setTimeout(() => ac.abort(new Error("abort")), c.abortAfter);
            f(url, { signal: ac.signal })
              .then(async (res): Promise<unknown> => (c.cancelBody ? res.body?.cancel() : res.text()))
              .then(
                () => settled.set(i, (settled.get(i) ?? 0) + 1),
                () => settled.set(i, (settled.get(i) ?? 0) + 1),
              );
          }
          // Each call may pause its origin once (Retry-After: refuse s), and
          // a retry waits at the back of the queue: the pauses can add up.
          const pauses = calls.reduce((sum, c) => sum + (c.refuse ?? 0) * 1000, 0);
          await vi.advanceTimersByTimeAsync(calls.length * 200 + pauses + 5_000);
          expect(violations).toBe(0);
          expect(settled.size).toBe(calls.length);
          expect([...settled.values()].every((n) => n === 1)).toBe(true);
          expect(active).toBe(0);
          const stats = f.stats();
          expect(stats).toMatchObject({ inFlight: 0, queued: 0 });
          expect(stats.origins).toEqual({});
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});

const adaptiveCall = fc.record({
  gap: fc.integer({ min: 0, max: 30 }),
  origin: fc.integer({ min: 0, max: 2 }),
  duration: fc.integer({ min: 0, max: 80 }),
  outcome: fc.constantFrom("ok", "ok", "ok", "busy", "missing", "reset", "refuse"),
  abortAfter: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
  cancelBody: fc.boolean(),
});

describe("limitFetch adaptive: property (stub fetch, fake timers)", () => {
  it("never more in flight than max, every call settles once, the limits stay in [min, max], nothing is left", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.array(adaptiveCall, { maxLength: 30 }),
        async (max, originMax, both, calls) => {
          let active = 0;
          const activeBy = new Map<string, number>();
          let violations = 0;
          const plans = new Map<string, (typeof calls)[number]>();
          const stub = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
            const url = new URL(input as string);
            const plan = plans.get(url.href)!;
            active++;
            activeBy.set(url.origin, (activeBy.get(url.origin) ?? 0) + 1);
            if (active > max || (both && activeBy.get(url.origin)! > originMax)) violations++;
            let open = true;
            const done = (): void => {
              if (!open) return;
              open = false;
              active--;
              activeBy.set(url.origin, activeBy.get(url.origin)! - 1);
            };
            try {
              await new Promise<void>((resolve, reject) => {
                const timer = setTimeout(resolve, plan.duration);
                init?.signal?.addEventListener("abort", () => {
                  clearTimeout(timer);
                  reject(init.signal!.reason);
                });
              });
            } catch (error) {
              done();
              throw error;
            }
            if (plan.outcome === "reset") {
              done();
              throw new TypeError("fetch failed", { cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }) });
            }
            const status = { ok: 200, busy: 503, missing: 404, refuse: 429 }[plan.outcome];
            const headers: Record<string, string> = plan.outcome === "refuse" ? { "retry-after": "1" } : {};
            const body = new ReadableStream<Uint8Array>({
              pull(c) {
                c.enqueue(new TextEncoder().encode("ok"));
                c.close();
                done();
              },
              cancel() {
                done();
              },
            });
            return new Response(body, { status, headers });
          };
          const f = limitFetch({
            concurrency: { algorithm: "aimd", initial: Math.min(2, max), min: 1, max, minSamples: 2 },
            ...(both ? { perOrigin: { algorithm: "aimd", initial: 1, min: 1, max: originMax, minSamples: 2 } } : {}),
            fetch: stub,
            retries: 1,
            retryDelay: 0,
          });
          const settled = new Map<number, number>();
          for (const [i, c] of calls.entries()) {
            await vi.advanceTimersByTimeAsync(c.gap);
            const url = `http://o${c.origin}.test/${i}`;
            plans.set(url, c);
            const ac = new AbortController();
            if (c.abortAfter !== undefined) setTimeout(() => ac.abort(new Error("abort")), c.abortAfter);
            f(url, { signal: ac.signal })
              .then(async (res): Promise<unknown> => (c.cancelBody ? res.body?.cancel() : res.text()))
              .then(
                () => settled.set(i, (settled.get(i) ?? 0) + 1),
                () => settled.set(i, (settled.get(i) ?? 0) + 1),
              );
          }
          await vi.advanceTimersByTimeAsync(calls.length * 2_200 + 5_000);
          expect(violations).toBe(0);
          expect(settled.size).toBe(calls.length);
          expect([...settled.values()].every((n) => n === 1)).toBe(true);
          expect(active).toBe(0);
          const stats = f.stats();
          expect(stats).toMatchObject({ inFlight: 0, queued: 0, global: { inUse: 0, queued: 0 } });
          const limits = [stats.adaptive!, ...Object.values(stats.origins).flatMap((o) => (o.adaptive === undefined ? [] : [o.adaptive]))];
          for (const limit of limits) {
            expect(limit.limit).toBeGreaterThanOrEqual(1);
            expect(limit.capacity).toBeGreaterThanOrEqual(1);
          }
          expect(stats.adaptive!.limit).toBeLessThanOrEqual(max);
          expect(stats.global!.capacity).toBe(stats.adaptive!.capacity);
          for (const o of Object.values(stats.origins)) {
            expect(o).toMatchObject({ inFlight: 0, queued: 0 });
            if (both) expect(o.adaptive!.limit).toBeLessThanOrEqual(originMax);
            else expect(o.adaptive).toBeUndefined();
          }
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
