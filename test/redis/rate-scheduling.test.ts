/**
 * RedisRateLimiter's scheduling on a real redis-server, in the style of
 * test/contract/scheduling-contract.ts: priority order, FIFO among equal
 * priorities, aging, fair share between tenants (with weights), bad input,
 * and the bookkeeping when a waiter whose units another one took leaves.
 *
 * What holds is per process: the waiters of one limiter instance are served
 * in the discipline's order as the units reserved by this process come due
 * (docs/scheduling.md). Every request is queued in one tick on one
 * connection, so Redis receives them — and the limiter queues them — in call
 * order, well before the first slot (a slot is 100–200 ms on the server
 * clock) comes due.
 */
import { Redis } from "ioredis";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisRateLimiter, type RedisRateLimiterOptions } from "../../src/redis/index.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";

let server: RedisServer;
let redis: Redis;
let n = 0;
const fresh = (): string => `rate-sched-${n++}-${Date.now()}`;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.port, server.host);
});

afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

interface Request {
  label: string;
  priority?: number;
  tenant?: string;
  weight?: number;
}

/**
 * Takes the whole burst free now, then queues `requests` in one tick and
 * returns the labels in the order they were admitted.
 */
async function order(options: RedisRateLimiterOptions, requests: readonly Request[]): Promise<string[]> {
  const rate = new RedisRateLimiter(redis, fresh(), options);
  (await rate.acquire({ weight: options.burst ?? 1 })).release();
  const admitted: string[] = [];
  await Promise.all(
    requests.map(({ label, ...acquire }) =>
      rate.acquire(acquire).then((permit) => {
        admitted.push(label);
        permit.release();
      }),
    ),
  );
  await rate.onIdle();
  expect(rate.stats()).toMatchObject({ queued: 0, inUse: 0, acquired: requests.length + 1 });
  return admitted;
}

/**
 * Checks `admitted` against consecutive groups: within a group the order is
 * free (equal fair-share tags whose arrivals fell in the same millisecond,
 * which the discipline may serve either way), the groups come in order.
 */
function expectGroups(admitted: readonly string[], groups: readonly (readonly string[])[]): void {
  let at = 0;
  const got: string[][] = [];
  for (const group of groups) {
    got.push([...admitted.slice(at, at + group.length)].sort());
    at += group.length;
  }
  expect(got).toEqual(groups.map((group) => [...group].sort()));
  expect(admitted).toHaveLength(at);
}

/** The labels of `tenant`'s requests (named `<prefix><n>`) are admitted in their arrival order. */
function expectFifoWithin(admitted: readonly string[], prefix: string): void {
  const mine = admitted.filter((label) => label.startsWith(prefix));
  expect(mine).toEqual([...mine].sort());
}

describe("RedisRateLimiter: scheduling among one process's waiters", () => {
  it("serves higher priorities first, FIFO among equal priorities (before: FIFO by arrival)", async () => {
    const admitted = await order({ limit: 5, interval: 1_000 }, [
      { label: "a0" },
      { label: "b0" },
      { label: "c5", priority: 5 },
      { label: "d5", priority: 5 },
      { label: "e10", priority: 10 },
      { label: "f-1", priority: -1 },
    ]);
    expect(admitted).toEqual(["e10", "c5", "d5", "a0", "b0", "f-1"]);
  });

  it("plain waiters keep FIFO, heavy ones included (each gets its own slot)", async () => {
    const admitted = await order({ limit: 10, interval: 1_000, burst: 3 }, [
      { label: "a", weight: 3 },
      { label: "b" },
      { label: "c", weight: 2 },
      { label: "d" },
    ]);
    expect(admitted).toEqual(["a", "b", "c", "d"]);
  });

  it("a higher-priority waiter that does not fit the units due holds back lighter ones behind it", async () => {
    // Units come due one at a time (each waiter reserved 1, the heavy one 2):
    // the heavy urgent waiter takes the first two, nobody passes it.
    const admitted = await order({ limit: 10, interval: 1_000, burst: 2 }, [
      { label: "light1" },
      { label: "light2" },
      { label: "heavy", priority: 1, weight: 2 },
    ]);
    expect(admitted).toEqual(["heavy", "light1", "light2"]);
  });

  it("shares the units fairly between tenants: a light tenant does not wait behind a heavy one's backlog", async () => {
    const admitted = await order({ limit: 10, interval: 1_000 }, [
      ...Array.from({ length: 5 }, (_, i) => ({ label: `heavy${i + 1}`, tenant: "heavy" })),
      { label: "light1", tenant: "light" },
      { label: "light2", tenant: "light" },
    ]);
    // Before: light1 was 6th (a shared FIFO).
    expectGroups(admitted, [["heavy1", "light1"], ["heavy2", "light2"], ["heavy3"], ["heavy4"], ["heavy5"]]);
    expectFifoWithin(admitted, "heavy");
    expectFifoWithin(admitted, "light");
  });

  it("weights: a tenant of weight 2 gets two units for each one of a tenant of weight 1", async () => {
    const admitted = await order({ limit: 10, interval: 1_000, weights: (tenant) => (tenant === "gold" ? 2 : 1) }, [
      ...Array.from({ length: 4 }, (_, i) => ({ label: `g${i + 1}`, tenant: "gold" })),
      ...Array.from({ length: 4 }, (_, i) => ({ label: `b${i + 1}`, tenant: "basic" })),
    ]);
    // Start tags: gold 0, ½, 1, 1½; basic 0, 1, 2, 3.
    expectGroups(admitted, [["g1", "b1"], ["g2"], ["g3", "b2"], ["g4"], ["b3"], ["b4"]]);
    expectFifoWithin(admitted, "g");
    expectFifoWithin(admitted, "b");
  });

  it("aging: a waiter that has waited `aging` ms goes before later higher-priority arrivals", async () => {
    // Slots every 200 ms; at the first, the old waiter has waited ~200 ms
    // (< 300: priority wins), at the second ~400 ms (≥ 300: it goes next).
    const admitted = await order({ limit: 5, interval: 1_000, aging: 300 }, [
      { label: "old" },
      { label: "urgent1", priority: 10 },
      { label: "urgent2", priority: 10 },
    ]);
    expect(admitted).toEqual(["urgent1", "old", "urgent2"]);
  });

  it("a waiter that leaves after another took its units neither starves nor delays the rest: the latest reservation is given back", async () => {
    const rate = new RedisRateLimiter(redis, fresh(), { limit: 4, interval: 1_000 }); // a slot every 250 ms
    (await rate.acquire()).release();
    const controller = new AbortController();
    const reason = new Error("gave up");
    const low = rate.acquire({ signal: controller.signal }); // reserves slot 1
    const urgent = rate.acquire({ priority: 1 }); // reserves slot 2, is served at slot 1
    const last = rate.acquire(); // reserves slot 3
    const urgentAt = await urgent.then((permit) => {
      permit.release();
      controller.abort(reason); // its slot was taken; it waits for slot 2 — and gives up
      return performance.now();
    });
    await expect(low).rejects.toBe(reason);
    const lastAt = await last.then((permit) => {
      permit.release();
      return performance.now();
    });
    // `last` starts at slot 2 (250 ms after `urgent`), not slot 3 (500 ms).
    expect(lastAt - urgentAt).toBeLessThan(400);
    await rate.onIdle();
    // Its own slot 3 was refunded: the next request gets slot 3, ~250 ms on (without the refund: slot 4, ~500 ms).
    const t0 = performance.now();
    (await rate.acquire()).release();
    expect(performance.now() - t0).toBeLessThan(400);
    expect(rate.stats()).toMatchObject({ queued: 0, inUse: 0, aborted: 1, acquired: 4 });
  });

  it("stats().tenants: per tenant of this process, inUse falls back on release (an idle tenant can be forgotten)", async () => {
    const rate = new RedisRateLimiter(redis, fresh(), { limit: 4, interval: 1_000, burst: 4 }); // a unit every 250 ms
    expect(rate.stats().tenants).toBeUndefined();
    const one = await rate.acquire({ tenant: "acme", weight: 2 });
    const two = await rate.acquire({ tenant: "globex", weight: 2 }); // the whole burst is spent
    expect(rate.stats().tenants).toMatchObject({
      acme: { queued: 0, inUse: 2, granted: 1 },
      globex: { queued: 0, inUse: 2, granted: 1 },
    });
    one.release();
    two.release();
    // Before: the units stayed "in use" for ever, so no tenant ever went idle (a leak per tenant name).
    expect(rate.stats().tenants).toMatchObject({ acme: { inUse: 0, granted: 1 }, globex: { inUse: 0, granted: 1 } });
    // Released units are not handed out again: the next one waits for its slot, ~250 ms.
    const t0 = performance.now();
    (await rate.acquire({ tenant: "acme" })).release();
    expect(performance.now() - t0).toBeGreaterThan(150);
    await rate.onIdle();
  });

  it("bad input throws at once, naming it, and reserves nothing", async () => {
    const rate = new RedisRateLimiter(redis, fresh(), {
      limit: 1,
      interval: 60_000,
      weights: (tenant) => (tenant === "zero" ? 0 : tenant === "nan" ? Number.NaN : 1),
    });
    expect(() => rate.acquire({ priority: 1.5 })).toThrow(RangeError);
    expect(() => rate.acquire({ priority: 1.5 })).toThrow(/`priority`.*1\.5/);
    expect(() => rate.acquire({ tenant: 5 as never })).toThrow(/`tenant`/);
    expect(() => rate.acquire({ tenant: "zero" })).toThrow(RangeError);
    expect(() => rate.acquire({ tenant: "zero" })).toThrow(/`weights`.*zero/);
    expect(() => rate.acquire({ tenant: "nan" })).toThrow(/`weights`.*NaN/);
    expect(() => new RedisRateLimiter(redis, fresh(), { limit: 1, interval: 1_000, aging: -1 })).toThrow(/`aging`/);
    expect(() => new RedisRateLimiter(redis, fresh(), { limit: 1, interval: 1_000, weights: 3 as never })).toThrow(/`weights`/);
    // The one slot a minute is still free: nothing was reserved.
    const permit = await rate.tryAcquire();
    expect(permit).toBeDefined();
    permit?.release();
    expect(rate.stats()).toMatchObject({ queued: 0, acquired: 1 });
  });
});

describe("RedisRateLimiter: random mixes of priorities, tenants, weights, aborts and timeouts", () => {
  it("every waiter settles exactly once, nothing stays queued or reserved, and no unit is handed out twice", async () => {
    const op = fc.record({
      at: fc.integer({ min: 0, max: 60 }),
      weight: fc.integer({ min: 1, max: 3 }),
      priority: fc.constantFrom(0, 0, 1, 5),
      tenant: fc.constantFrom(undefined, "a", "b"),
      abortAfter: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
      timeout: fc.option(fc.integer({ min: 0, max: 150 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 20 }), async (ops) => {
        // A unit every 20 ms, 3 at once from rest.
        const rate = new RedisRateLimiter(redis, fresh(), { limit: 50, interval: 1_000, burst: 3, aging: 100 });
        const settled = new Array<number>(ops.length).fill(0);
        const runs = ops.map(
          ({ at, weight, priority, tenant, abortAfter, timeout }, i) =>
            new Promise<void>((resolve) => {
              setTimeout(() => {
                const controller = new AbortController();
                if (abortAfter !== undefined) setTimeout(() => controller.abort(new Error("gave up")), abortAfter);
                rate
                  .acquire({
                    weight,
                    priority,
                    signal: controller.signal,
                    ...(tenant === undefined ? {} : { tenant }),
                    ...(timeout === undefined ? {} : { timeout }),
                  })
                  .then(
                    (permit) => permit.release(),
                    () => {},
                  )
                  .finally(() => {
                    settled[i]!++;
                    resolve();
                  });
              }, at);
            }),
        );
        await Promise.all(runs);
        await rate.onIdle();
        expect(settled.every((count) => count === 1)).toBe(true);
        const stats = rate.stats();
        expect(stats).toMatchObject({ queued: 0, inUse: 0 });
        expect(stats.acquired + stats.aborted + stats.timedOut).toBe(ops.length);
        // Rested, the limiter admits exactly the burst at once and the next
        // unit only at its slot: no unit due earlier is left over to be
        // handed out again. A cancelled reservation is given back only while
        // it is the latest (docs/scheduling.md, "Cancellation"); one that is
        // not stays spent until its slot, so the rest is as long as every
        // reserved unit (20 ms each) plus the burst's own recovery (3 × 20 ms).
        const reserved = ops.reduce((sum, o) => sum + o.weight, 0);
        await new Promise((r) => setTimeout(r, reserved * 20 + 80));
        const t0 = performance.now(); // before the burst's slot (same machine, same clock as Redis's TIME)
        const burst = await rate.tryAcquire(3); // no timer: a slow round trip cannot fail it
        expect(burst, `the rested burst; stats ${JSON.stringify(rate.stats())}`).toBeDefined();
        burst?.release();
        (await rate.acquire()).release();
        expect(performance.now() - t0).toBeGreaterThan(15); // its slot is 20 ms after the burst's
        await rate.onIdle();
      }),
      { numRuns: 20 },
    );
  }, 180_000);
});
