import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ClosedError, Limiter, Permit } from "../../src/index.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Limiter: concurrency and rate together (fake timers)", () => {
  it("a request counts against the rate when it starts: starts never bunch after a concurrency wait", async () => {
    // 2 at once, 10 per second (one start per 100 ms), each job takes 250 ms
    const limiter = new Limiter({ concurrency: 2, rate: { limit: 10, interval: 1_000 } });
    const starts: number[] = [];
    let running = 0;
    let peak = 0;
    const jobs = Array.from({ length: 10 }, () =>
      limiter.run(async () => {
        starts.push(performance.now());
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 250));
        running--;
      }),
    );
    await vi.advanceTimersByTimeAsync(5_000);
    await Promise.all(jobs);
    expect(peak).toBe(2);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(100);
    // exact schedule: the rate allows 0,100; then slots free at 250,350 → 250,350; then 500,600; ...
    expect(starts).toEqual([0, 100, 250, 350, 500, 600, 750, 850, 1000, 1100]);
    expect(vi.getTimerCount()).toBe(0);
    await limiter.onIdle();
    expect(limiter.stats().concurrency).toMatchObject({ inUse: 0, queued: 0, acquired: 10 });
    expect(limiter.stats().rate).toMatchObject({ queued: 0, acquired: 10 });
  });

  it("when the rate is the bottleneck, starts follow the rate exactly", async () => {
    const limiter = new Limiter({ concurrency: 5, rate: { limit: 4, interval: 1_000, burst: 2 } });
    const starts: number[] = [];
    for (let i = 0; i < 8; i++) void limiter.run(() => void starts.push(performance.now()));
    await vi.advanceTimersByTimeAsync(3_000);
    expect(starts).toEqual([0, 0, 250, 500, 750, 1000, 1250, 1500]);
  });

  it("acquire returns the concurrency Permit; release frees the slot", async () => {
    const limiter = new Limiter({ concurrency: 1, rate: { limit: 100, interval: 1_000, burst: 10 } });
    const permit = await limiter.acquire();
    expect(permit).toBeInstanceOf(Permit);
    expect(limiter.tryAcquire()).toBeUndefined();
    permit.release();
    const next = limiter.tryAcquire();
    expect(next).toBeDefined();
    next?.release();
  });

  it("aborting while waiting for the rate gives the concurrency slot back", async () => {
    const limiter = new Limiter({ concurrency: 2, rate: { limit: 1, interval: 1_000 } });
    (await limiter.acquire()).release(); // rate now empty for 1 s
    const ac = new AbortController();
    const waiting = limiter.acquire({ signal: ac.signal });
    await vi.advanceTimersByTimeAsync(10);
    expect(limiter.concurrency.inUse).toBe(1); // held while waiting for the rate
    ac.abort("stop");
    await expect(waiting).rejects.toBe("stop");
    expect(limiter.concurrency.inUse).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("timeout covers both waits", async () => {
    const limiter = new Limiter({ concurrency: 1, rate: { limit: 1, interval: 1_000 } });
    const held = await limiter.acquire();
    const waiting = limiter.acquire({ timeout: 600 });
    const rejected = expect(waiting).rejects.toMatchObject({ name: "TimeoutError" });
    await vi.advanceTimersByTimeAsync(300);
    held.release(); // slot now, but the rate needs until t=1000 > deadline 600
    await vi.advanceTimersByTimeAsync(299);
    expect(limiter.concurrency.inUse).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await rejected;
    expect(limiter.concurrency.inUse).toBe(0);
  });

  it("close rejects waiters of both halves", async () => {
    const limiter = new Limiter({ concurrency: 1, rate: { limit: 1, interval: 1_000 } });
    const held = await limiter.acquire();
    const waiting = limiter.acquire();
    limiter.close();
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    held.release();
    await expect(limiter.acquire()).rejects.toBeInstanceOf(ClosedError);
  });

  it("bad input throws synchronously, before queueing anywhere", () => {
    expect(() => new Limiter({ concurrency: 0, rate: { limit: 1, interval: 1 } })).toThrow(/`concurrency`/);
    expect(() => new Limiter({ concurrency: 1, rate: { limit: 1, interval: -5 } })).toThrow(/`interval`/);
    expect(() => new Limiter({ concurrency: 1 } as never)).toThrow(TypeError);
    expect(() => new Limiter({ concurrency: 1, rate: { limit: 1, interval: 1, name: "x" } } as never)).toThrow(
      /Unknown option `name` in `rate`/,
    );
    expect(() => new Limiter({ concurrency: 1, rate: { limit: 1, interval: 1 }, extra: 1 } as never)).toThrow(
      /Unknown option `extra`/,
    );
    const limiter = new Limiter({ concurrency: 4, rate: { limit: 10, interval: 1_000, burst: 2 } });
    expect(() => limiter.acquire({ weight: 3 })).toThrow(/burst \(2\)/);
    const wide = new Limiter({ concurrency: 4, rate: { limit: 10, interval: 1_000, burst: 10 } });
    expect(() => wide.acquire({ weight: 5 })).toThrow(/capacity \(4\)/);
    expect(() => limiter.tryAcquire(3)).toThrow(RangeError);
    expect(limiter.stats().concurrency).toMatchObject({ inUse: 0, queued: 0 });
  });
});
