import { AsyncLocalStorage } from "node:async_hooks";
import { describe, expect, it } from "vitest";
import { Limiter, RateLimiter } from "../../src/index.js";

describe("AsyncLocalStorage context survives the rate queue", () => {
  it("after acquire() and inside run(), also when the caller had to wait for its time", async () => {
    const als = new AsyncLocalStorage<string>();
    const rate = new RateLimiter({ limit: 1, interval: 30 });
    const limiter = new Limiter({ concurrency: 1, rate: { limit: 1, interval: 30 } });
    const seen = await Promise.all(
      ["a", "b", "c"].map((id) =>
        als.run(id, async () => {
          (await rate.acquire()).release();
          const afterAcquire = als.getStore();
          const inRun = await rate.run(() => als.getStore());
          const inLimiter = await limiter.run(() => als.getStore());
          return [afterAcquire, inRun, inLimiter];
        }),
      ),
    );
    expect(seen).toEqual([
      ["a", "a", "a"],
      ["b", "b", "b"],
      ["c", "c", "c"],
    ]);
  });
});
