/**
 * Every error the package creates for bad input carries a stable `code`, as
 * the README promises, and stays the `TypeError`/`RangeError` it always was:
 * a wrong type or an unknown option is `ERR_PERMITS_INVALID_ARGUMENT`, a
 * number outside what is allowed `ERR_PERMITS_OUT_OF_RANGE`. The messages are
 * unchanged (other tests match them), except `interval`'s, which now says
 * "above 0" as the docs do.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { limitFetch, limitInterceptor } from "../../src/http/index.js";
import {
  ClosedError,
  KeyedSemaphore,
  Limiter,
  Lock,
  RateLimiter,
  Semaphore,
  limit,
  limitFunction,
  map,
} from "../../src/index.js";
import { PermitsMetrics } from "../../src/otel/index.js";
import { RedisLock, RedisRateLimiter, RedisSemaphore } from "../../src/redis/index.js";

const INVALID = "ERR_PERMITS_INVALID_ARGUMENT";
const RANGE = "ERR_PERMITS_OUT_OF_RANGE";

/** What `fn` throws synchronously, or what the promise it returns rejects with. */
async function failure(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure, got none");
}

type Case = [what: string, fn: () => unknown, kind: typeof TypeError | typeof RangeError, code: string];

const sem = (): Semaphore => new Semaphore(3);

const core: Case[] = [
  ["Semaphore capacity 0", () => new Semaphore(0), RangeError, RANGE],
  ["Semaphore capacity '3'", () => new Semaphore("3" as never), TypeError, INVALID],
  ["Semaphore unknown option", () => new Semaphore(1, { bogus: 1 } as never), TypeError, INVALID],
  ["Semaphore name 5", () => new Semaphore(1, { name: 5 } as never), TypeError, INVALID],
  ["acquire weight 1.5", () => sem().acquire({ weight: 1.5 }), RangeError, RANGE],
  ["acquire weight above capacity", () => sem().acquire({ weight: 4 }), RangeError, RANGE],
  ["acquire unknown option", () => sem().acquire({ bogus: 1 } as never), TypeError, INVALID],
  ["acquire timeout -1", () => sem().acquire({ timeout: -1 }), RangeError, RANGE],
  ["acquire timeout '1'", () => sem().acquire({ timeout: "1" as never }), TypeError, INVALID],
  ["acquire signal {}", () => sem().acquire({ signal: {} as never }), TypeError, INVALID],
  ["run without a function", () => sem().run(5 as never), TypeError, INVALID],
  ["tryAcquire weight 0", () => sem().tryAcquire(0), RangeError, RANGE],
  ["resize to 0", () => sem().resize(0), RangeError, RANGE],
  ["Lock resize", () => new Lock().resize(2), TypeError, INVALID],
  ["limit(0)", () => limit(0), RangeError, RANGE],
  ["limit('2')", () => limit("2" as never), TypeError, INVALID],
  ["limit rejectOnClear 'no'", () => limit({ concurrency: 1, rejectOnClear: "no" as never }), TypeError, INVALID],
  ["limitFunction without a function", () => limitFunction(5 as never, { concurrency: 1 }), TypeError, INVALID],
  ["map over a number", () => map(5 as never, async () => 1), TypeError, INVALID],
  ["KeyedSemaphore capacity 0", () => new KeyedSemaphore(0), RangeError, RANGE],
  ["KeyedSemaphore name 5", () => new KeyedSemaphore(1, { name: 5 } as never), TypeError, INVALID],
  ["RateLimiter limit 0", () => new RateLimiter({ limit: 0, interval: 1_000 }), RangeError, RANGE],
  ["RateLimiter interval 0", () => new RateLimiter({ limit: 1, interval: 0 }), RangeError, RANGE],
  ["RateLimiter interval -1", () => new RateLimiter({ limit: 1, interval: -1 }), RangeError, RANGE],
  ["RateLimiter interval '1'", () => new RateLimiter({ limit: 1, interval: "1" as never }), TypeError, INVALID],
  ["RateLimiter weight above burst", () => new RateLimiter({ limit: 1, interval: 1 }).acquire({ weight: 2 }), RangeError, RANGE],
  ["Limiter rate interval -5", () => new Limiter({ concurrency: 1, rate: { limit: 1, interval: -5 } }), RangeError, RANGE],
  ["Limiter unknown option", () => new Limiter({ concurrency: 1, rate: { limit: 1, interval: 1 }, x: 1 } as never), TypeError, INVALID],
];

const http: Case[] = [
  ["limitFetch concurrency 0", () => limitFetch({ concurrency: 0 }), RangeError, RANGE],
  ["limitFetch rateLimitHeaders 1", () => limitFetch({ rateLimitHeaders: 1 as never }), TypeError, INVALID],
  ["limitFetch fetch 5", () => limitFetch({ fetch: 5 as never }), TypeError, INVALID],
  ["limitFetch of a URL that does not parse", () => limitFetch({ concurrency: 1 })("not a url"), TypeError, INVALID],
  ["limitFetch rate 5", () => limitFetch({ rate: 5 as never }), TypeError, INVALID],
  ["limitInterceptor unknown option", () => limitInterceptor({ bogus: 1 } as never), TypeError, INVALID],
];

const otel: Case[] = [
  ["PermitsMetrics unknown option", () => new PermitsMetrics({ bogus: 1 } as never), TypeError, INVALID],
  ["register with no name", () => new PermitsMetrics().register("", new Semaphore(1)), TypeError, INVALID],
  ["register a non-limiter", () => new PermitsMetrics().register("x", {} as never), TypeError, INVALID],
  ["register a name twice", () => new PermitsMetrics().register("x", new Semaphore(1)).register("x", new Semaphore(1)), TypeError, INVALID],
];

// The checks that run before anything talks to Redis (a client that never connects).
const client = new Redis({ lazyConnect: true });
const redis: Case[] = [
  ["RedisSemaphore client {}", () => new RedisSemaphore({} as never, "jobs", 1), TypeError, INVALID],
  ["RedisSemaphore client null", () => new RedisSemaphore(null as never, "jobs", 1), TypeError, INVALID],
  ["RedisSemaphore capacity 0", () => new RedisSemaphore(client, "jobs", 0), RangeError, RANGE],
  ["RedisSemaphore unknown option", () => new RedisSemaphore(client, "jobs", 1, { lease: 5 } as never), TypeError, INVALID],
  ["RedisLock client {}", () => new RedisLock({} as never, "jobs"), TypeError, INVALID],
  ["RedisRateLimiter limit 0", () => new RedisRateLimiter(client, "jobs", { limit: 0, interval: 1 }), RangeError, RANGE],
  ["RedisRateLimiter unknown option", () => new RedisRateLimiter(client, "jobs", { limit: 1, interval: 1, x: 1 } as never), TypeError, INVALID],
  ["RedisSemaphore name with braces", () => new RedisSemaphore(client, "a{b}", 1), TypeError, INVALID],
  ["RedisSemaphore prefix with braces", () => new RedisSemaphore(client, "jobs", 1, { prefix: "p{" }), TypeError, INVALID],
  ["RedisSemaphore whenUnavailable 'later'", () => new RedisSemaphore(client, "jobs", 1, { whenUnavailable: "later" as never }), TypeError, INVALID],
  ["RedisSemaphore restartGuard 'no'", () => new RedisSemaphore(client, "jobs", 1, { restartGuard: "no" as never }), TypeError, INVALID],
  ["RedisSemaphore leaseMs 2**33", () => new RedisSemaphore(client, "jobs", 1, { leaseMs: 2 ** 33 }), RangeError, RANGE],
  ["RedisSemaphore commandTimeoutMs 2**31", () => new RedisSemaphore(client, "jobs", 1, { commandTimeoutMs: 2 ** 31 }), RangeError, RANGE],
  ["RedisSemaphore weight above capacity", () => new RedisSemaphore(client, "jobs", 1).acquire({ weight: 2 }), RangeError, RANGE],
  ["RedisRateLimiter interval -1", () => new RedisRateLimiter(client, "jobs", { limit: 1, interval: -1 }), RangeError, RANGE],
  ["RedisRateLimiter prefix with braces", () => new RedisRateLimiter(client, "jobs", { limit: 1, interval: 1, prefix: "{" }), TypeError, INVALID],
  ["RedisRateLimiter commandTimeoutMs 2**31", () => new RedisRateLimiter(client, "jobs", { limit: 1, interval: 1, commandTimeoutMs: 2 ** 31 }), RangeError, RANGE],
  ["RedisRateLimiter weight above burst", () => new RedisRateLimiter(client, "jobs", { limit: 1, interval: 1 }).acquire({ weight: 2 }), RangeError, RANGE],
];

describe("bad input: TypeError/RangeError with a stable code", () => {
  for (const [group, cases] of Object.entries({ core, http, otel, redis })) {
    describe(group, () => {
      it.each(cases)("%s", async (_what, fn, kind, code) => {
        const error = await failure(fn);
        expect(error).toBeInstanceOf(kind);
        expect((error as Error).name).toBe(kind.name);
        expect((error as { code?: unknown }).code).toBe(code);
      });
    });
  }
});

describe("interval messages agree with the docs (> 0)", () => {
  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, "1"])("interval %s", async (interval) => {
    for (const fn of [
      () => new RateLimiter({ limit: 1, interval: interval as number }),
      () => new Limiter({ concurrency: 1, rate: { limit: 1, interval: interval as number } }),
    ]) {
      const error = (await failure(fn)) as Error;
      expect(error.message).toMatch(/^Expected `interval` to be a finite number of milliseconds above 0, got /);
    }
  });
});

describe("errors that are not about input", () => {
  it("a closed PermitsMetrics throws a ClosedError, which has a code", async () => {
    const metrics = new PermitsMetrics();
    metrics.close();
    const error = await failure(() => metrics.register("x", new Semaphore(1)));
    expect(error).toBeInstanceOf(ClosedError);
    expect(error).toBeInstanceOf(Error);
    expect((error as ClosedError).code).toBe("ERR_PERMITS_CLOSED");
    expect((error as Error).message).toBe("PermitsMetrics is closed");
  });
});
