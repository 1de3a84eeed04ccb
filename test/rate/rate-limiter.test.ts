import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClosedError, RateLimiter, RatePermit } from "../../src/index.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Queue `n` acquires at t=0 and record the fake time each is admitted at. */
function startAll(rate: RateLimiter, n: number, weight = 1): { times: number[]; order: number[] } {
  const times: number[] = [];
  const order: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    rate.acquire({ weight }).then(
      (permit) => {
        times.push(performance.now() - t0);
        order.push(i);
        permit.release();
      },
      () => {}, // closed at the end of a test
    );
  }
  return { times, order };
}

/** GCRA with a backlog from t=0: the k-th unit starts at ceil((k + 1 − burst) × interval / limit) ms. */
function expectedTimes(n: number, limit: number, interval: number, burst: number): number[] {
  return Array.from({ length: n }, (_, k) => Math.max(0, Math.ceil(((k + 1 - burst) * interval) / limit - 1e-3)));
}

describe("RateLimiter: exactness (fake timers)", () => {
  const configs = [
    { limit: 10, interval: 1_000, burst: 1 },
    { limit: 3, interval: 1_000, burst: 1 }, // fractional step 333.33 ms: no drift
    { limit: 7, interval: 1_000, burst: 3 },
    { limit: 100, interval: 60_000, burst: 10 },
    { limit: 5, interval: 100, burst: 5 },
  ];
  for (const { limit, interval, burst } of configs) {
    it(`admits exactly at GCRA times: ${limit}/${interval}ms burst ${burst}`, async () => {
      const rate = new RateLimiter({ limit, interval, burst });
      const n = 3 * limit + burst;
      const { times, order } = startAll(rate, n);
      await vi.advanceTimersByTimeAsync(4 * interval);
      expect(times).toEqual(expectedTimes(n, limit, interval, burst));
      expect(order).toEqual([...Array(n).keys()]); // FIFO
      expect(vi.getTimerCount()).toBe(0);
    });
  }

  it("never admits more than `limit` in any window of `interval` with the default burst", async () => {
    const rate = new RateLimiter({ limit: 100, interval: 60_000 });
    const { times } = startAll(rate, 350);
    await vi.advanceTimersByTimeAsync(4 * 60_000);
    expect(times).toHaveLength(350);
    for (let i = 0; i + 100 < times.length; i++) {
      // the (i+100)-th start is at least a full interval after the i-th
      expect(times[i + 100]! - times[i]!).toBeGreaterThanOrEqual(60_000);
    }
  });

  it("N requests over T ms admit burst + floor(T / step) and no more", async () => {
    const rate = new RateLimiter({ limit: 10, interval: 1_000, burst: 4 });
    const { times } = startAll(rate, 100);
    await vi.advanceTimersByTimeAsync(2_999);
    // burst 4 at t=0, then one every 100 ms: t=100..2900 → 29 more
    expect(times).toHaveLength(4 + 29);
    await vi.advanceTimersByTimeAsync(1);
    expect(times).toHaveLength(4 + 30);
    rate.close();
    await vi.runAllTimersAsync();
  });

  it("a rested limiter refills at the rate, up to burst", async () => {
    const rate = new RateLimiter({ limit: 4, interval: 1_000, burst: 4 });
    for (let i = 0; i < 4; i++) expect(rate.tryAcquire()).toBeInstanceOf(RatePermit);
    expect(rate.tryAcquire()).toBeUndefined();
    expect(rate.available).toBe(0);
    expect(rate.stats().nextIn).toBe(250);
    vi.advanceTimersByTime(250);
    expect(rate.available).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(rate.available).toBe(4); // never more than burst
    expect(rate.tryAcquire(4)).toBeDefined();
  });

  it("weights: a weight-w request costs w units", async () => {
    const rate = new RateLimiter({ limit: 10, interval: 1_000, burst: 5 });
    const t: number[] = [];
    void rate.acquire({ weight: 5 }).then(() => t.push(performance.now()));
    void rate.acquire({ weight: 5 }).then(() => t.push(performance.now()));
    void rate.acquire({ weight: 1 }).then(() => t.push(performance.now()));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(t).toEqual([0, 500, 600]);
  });
});

describe("RateLimiter: FIFO and cancellation", () => {
  it("a light waiter never overtakes a heavy head (no starvation)", async () => {
    const rate = new RateLimiter({ limit: 10, interval: 1_000, burst: 3 });
    rate.tryAcquire(3);
    const order: string[] = [];
    void rate.acquire({ weight: 3 }).then(() => order.push("heavy"));
    void rate.acquire({ weight: 1 }).then(() => order.push("light"));
    expect(rate.tryAcquire(1)).toBeUndefined(); // no barging while queued
    await vi.advanceTimersByTimeAsync(1_000);
    expect(order).toEqual(["heavy", "light"]);
  });

  it("aborting the head reschedules the timer for the next waiter's earlier time", async () => {
    const rate = new RateLimiter({ limit: 10, interval: 1_000, burst: 3 });
    rate.tryAcquire(3); // empty at t=0; 3 units need 300 ms, 1 unit 100 ms
    const ac = new AbortController();
    const heavy = rate.acquire({ weight: 3, signal: ac.signal });
    let lightAt = -1;
    void rate.acquire().then(() => (lightAt = performance.now()));
    await vi.advanceTimersByTimeAsync(50);
    expect(vi.getTimerCount()).toBe(1); // only the head sleeps
    const reason = new Error("changed my mind");
    ac.abort(reason);
    await expect(heavy).rejects.toBe(reason);
    await vi.advanceTimersByTimeAsync(100);
    expect(lightAt).toBe(100); // not 300 + 100
    expect(vi.getTimerCount()).toBe(0);
    expect(rate.stats().aborted).toBe(1);
  });

  it("a timeout of the head rejects with a TimeoutError at its deadline and the next goes on", async () => {
    const rate = new RateLimiter({ limit: 1, interval: 1_000 });
    rate.tryAcquire();
    const first = rate.acquire({ timeout: 400 });
    const second = rate.acquire();
    const rejected = expect(first).rejects.toMatchObject({ name: "TimeoutError" });
    await vi.advanceTimersByTimeAsync(399);
    expect(rate.queued).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    await rejected;
    expect(rate.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(600);
    await expect(second).resolves.toBeInstanceOf(RatePermit);
    expect(rate.stats().timedOut).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a timeout of a waiter behind the head leaves the queue", async () => {
    const rate = new RateLimiter({ limit: 1, interval: 1_000 });
    rate.tryAcquire();
    const head = rate.acquire();
    const behind = rate.acquire({ timeout: 100 });
    const rejected = expect(behind).rejects.toMatchObject({ name: "TimeoutError" });
    await vi.advanceTimersByTimeAsync(100);
    await rejected;
    await vi.advanceTimersByTimeAsync(900);
    (await head).release();
    expect(rate.stats()).toMatchObject({ queued: 0, timedOut: 1, acquired: 2 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an already-aborted signal rejects even when the rate would admit now", async () => {
    const rate = new RateLimiter({ limit: 1, interval: 1_000 });
    const reason = new Error("no");
    await expect(rate.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(rate.available).toBe(1); // nothing spent
  });

  it("timeout 0 means only if admissible now", async () => {
    const rate = new RateLimiter({ limit: 1, interval: 1_000 });
    await expect(rate.acquire({ timeout: 0 })).resolves.toBeDefined();
    await expect(rate.acquire({ timeout: 0 })).rejects.toMatchObject({ name: "TimeoutError" });
  });

  it("close rejects the head and the queue with new ClosedErrors (or the reason) and clears the timer", async () => {
    const rate = new RateLimiter({ limit: 1, interval: 1_000, name: "api" });
    rate.tryAcquire();
    const a = rate.acquire();
    const b = rate.acquire();
    await vi.advanceTimersByTimeAsync(10);
    rate.close();
    const [ea, eb] = await Promise.all([a.catch((e: unknown) => e), b.catch((e: unknown) => e)]);
    expect(ea).toBeInstanceOf(ClosedError);
    expect(eb).toBeInstanceOf(ClosedError);
    expect(ea).not.toBe(eb);
    expect((ea as Error).message).toContain('"api"');
    expect(vi.getTimerCount()).toBe(0);
    await expect(rate.acquire()).rejects.toBeInstanceOf(ClosedError);
    const other = new RateLimiter({ limit: 1, interval: 1_000 });
    other.tryAcquire();
    const c = other.acquire();
    const reason = new Error("shutdown");
    other.close(reason);
    await expect(c).rejects.toBe(reason);
  });

  it("run releases however fn ends, and onIdle waits for running work", async () => {
    const rate = new RateLimiter({ limit: 10, interval: 1_000, burst: 2 });
    const boom = new Error("boom");
    const p1 = rate.run(() => {
      throw boom;
    });
    await expect(p1).rejects.toBe(boom);
    let done = false;
    void rate.run(async () => {
      await new Promise((r) => setTimeout(r, 500));
      done = true;
    });
    const idle = rate.onIdle().then(() => expect(done).toBe(true));
    await vi.advanceTimersByTimeAsync(500);
    await idle;
    expect(rate.inUse).toBe(0);
    expect(rate.stats()).toMatchObject({ acquired: 2, released: 2 });
  });

  it("run does not call fn when the signal aborts in the same tick as the admission", async () => {
    const rate = new RateLimiter({ limit: 10, interval: 1_000 });
    rate.tryAcquire();
    const ac = new AbortController();
    const fn = vi.fn();
    const p = rate.run(fn, { signal: ac.signal });
    const rejected = expect(p).rejects.toBe("late");
    // admit and abort in the same macrotask
    setTimeout(() => ac.abort("late"), 100);
    await vi.advanceTimersByTimeAsync(100);
    await rejected;
    expect(fn).not.toHaveBeenCalled();
  });

  it("permits are disposable and release once", async () => {
    const rate = new RateLimiter({ limit: 10, interval: 1_000 });
    {
      using permit = await rate.acquire();
      expect(rate.inUse).toBe(1);
      permit.release();
      expect(permit.released).toBe(true);
    }
    expect(rate.inUse).toBe(0);
    expect(rate.stats().released).toBe(1);
  });
});

describe("RateLimiter: bad input fails loudly", () => {
  it.each([
    [{ limit: 0, interval: 1_000 }, RangeError, "limit"],
    [{ limit: 1.5, interval: 1_000 }, RangeError, "limit"],
    [{ limit: "10", interval: 1_000 }, TypeError, "limit"],
    [{ limit: 10, interval: 0 }, RangeError, "interval"],
    [{ limit: 10, interval: Infinity }, RangeError, "interval"],
    [{ limit: 10, interval: Number.NaN }, RangeError, "interval"],
    [{ limit: 10, interval: 1_000, burst: 0 }, RangeError, "burst"],
    [{ limit: 10, interval: 1_000, brust: 2 }, TypeError, "brust"],
    [{ limit: 10 }, TypeError, "interval"],
  ])("new RateLimiter(%j) throws", (options, type, word) => {
    expect(() => new RateLimiter(options as never)).toThrow(type);
    expect(() => new RateLimiter(options as never)).toThrow(word);
  });

  it("weights above burst, bad weights and unknown options throw synchronously without changing anything", () => {
    const rate = new RateLimiter({ limit: 10, interval: 1_000, burst: 2 });
    expect(() => rate.acquire({ weight: 3 })).toThrow(/at most the burst \(2\), got `3`/);
    expect(() => rate.tryAcquire(3)).toThrow(RangeError);
    expect(() => rate.acquire({ weight: 0 })).toThrow(RangeError);
    expect(() => rate.acquire({ timeout: -1 })).toThrow(RangeError);
    expect(() => rate.acquire({ wieght: 1 } as never)).toThrow(/Unknown option `wieght`/);
    expect(() => rate.run("nope" as never)).toThrow(TypeError);
    expect(rate.stats()).toMatchObject({ available: 2, queued: 0, acquired: 0 });
  });
});
