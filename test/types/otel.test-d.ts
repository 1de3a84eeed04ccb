/** Type tests of permit-pool/otel: every limiter of permits can be registered; nothing else can. */
import { describe, expectTypeOf, test } from "vitest";
import { AdaptiveSemaphore, KeyedSemaphore, Limiter, Lock, RateLimiter, Semaphore } from "../../src/index.js";
import type { LimitedFetch, LimitInterceptor } from "../../src/http/index.js";
import { PermitsMetrics, instrument, type MeteredLimiter } from "../../src/otel/index.js";

describe("permit-pool/otel", () => {
  test("accepts every permits limiter", () => {
    expectTypeOf<Semaphore>().toExtend<MeteredLimiter>();
    expectTypeOf<Lock>().toExtend<MeteredLimiter>();
    expectTypeOf<RateLimiter>().toExtend<MeteredLimiter>();
    expectTypeOf<Limiter>().toExtend<MeteredLimiter>();
    expectTypeOf<KeyedSemaphore<string>>().toExtend<MeteredLimiter>();
    expectTypeOf<KeyedSemaphore<number>>().toExtend<MeteredLimiter>();
    expectTypeOf<AdaptiveSemaphore>().toExtend<MeteredLimiter>();
    expectTypeOf<LimitedFetch>().toExtend<MeteredLimiter>();
    expectTypeOf<LimitInterceptor>().toExtend<MeteredLimiter>();
  });

  test("register chains; instrument returns the bridge", () => {
    const metrics = new PermitsMetrics();
    expectTypeOf(metrics.register("db", new Semaphore(1))).toEqualTypeOf<PermitsMetrics>();
    expectTypeOf(instrument({ db: new Semaphore(1) })).toEqualTypeOf<PermitsMetrics>();
    expectTypeOf<PermitsMetrics>().toExtend<Disposable>();
  });

  test("rejects what is not a limiter and unknown options", () => {
    const metrics = new PermitsMetrics();
    // @ts-expect-error -- a plain object is not a limiter
    metrics.register("x", { size: 1 });
    // @ts-expect-error -- unknown option
    new PermitsMetrics({ prefix: "app" });
  });
});
