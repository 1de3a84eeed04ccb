/**
 * RedisRateLimiter on a real redis-server: GCRA on the server clock, FIFO
 * reservations across clients, cancellation refunds, the shared pause.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisCommandError, RedisRateLimiter } from "../../src/redis/index.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";

let server: RedisServer;
let a: Redis;
let b: Redis;
let n = 0;
const fresh = (): string => `rate-${n++}-${Date.now()}`;

beforeAll(async () => {
  server = await startRedisServer();
  a = new Redis(server.port, server.host);
  b = new Redis(server.port, server.host);
});

afterAll(async () => {
  a.disconnect();
  b.disconnect();
  await server.stop();
});

describe("RedisRateLimiter", () => {
  it("never admits more than `limit` in any window of `interval`, across two clients", async () => {
    const name = fresh();
    const one = new RedisRateLimiter(a, name, { limit: 5, interval: 500 });
    const two = new RedisRateLimiter(b, name, { limit: 5, interval: 500 });
    const starts: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? one : two).run(() => {
          starts.push(performance.now());
        }),
      ),
    );
    starts.sort((x, y) => x - y);
    // Slots are 100 ms apart on the server clock; what we observe here can
    // only be later than the slot (timer and scheduling delay), so the slack
    // below is for an early start observed late, on a loaded machine.
    for (let i = 5; i < starts.length; i++) expect(starts[i]! - starts[i - 5]!).toBeGreaterThan(440);
    expect(starts[starts.length - 1]! - starts[0]!).toBeGreaterThan(1_050);
  });

  it("serves waiters in the order Redis received them (FIFO), heavy ones included", async () => {
    const rate = new RedisRateLimiter(a, fresh(), { limit: 10, interval: 200, burst: 3 });
    const order: string[] = [];
    const calls = [
      ["a", 3],
      ["b", 1],
      ["c", 3],
      ["d", 1],
    ] as const;
    const done: Promise<void>[] = [];
    for (const [label, weight] of calls) {
      done.push(
        rate.acquire({ weight }).then((p) => {
          order.push(label);
          p.release();
        }),
      );
      await new Promise((r) => setTimeout(r, 2)); // requests reach Redis in call order
    }
    await Promise.all(done);
    expect(order).toEqual(["a", "b", "c", "d"]);
  });

  it("tryAcquire never takes a slot a waiter reserved", async () => {
    const rate = new RedisRateLimiter(a, fresh(), { limit: 1, interval: 300 });
    (await rate.acquire()).release();
    const waiting = rate.acquire();
    expect(await rate.tryAcquire()).toBeUndefined();
    (await waiting).release();
  });

  it("a timeout shorter than the known wait rejects at once with TimeoutError and reserves nothing", async () => {
    const name = fresh();
    const rate = new RedisRateLimiter(a, name, { limit: 1, interval: 400 });
    (await rate.acquire()).release();
    const started = performance.now();
    await expect(rate.acquire({ timeout: 50 })).rejects.toMatchObject({ name: "TimeoutError" });
    expect(performance.now() - started).toBeLessThan(150);
    // nothing reserved: the next slot is still ~400 ms after the first, not 800
    const t0 = performance.now();
    (await rate.acquire()).release();
    expect(performance.now() - t0).toBeLessThan(450);
  });

  it("an abort while waiting rejects with signal.reason and hands the reservation back", async () => {
    const rate = new RedisRateLimiter(a, fresh(), { limit: 1, interval: 300 });
    (await rate.acquire()).release();
    const controller = new AbortController();
    const aborted = rate.acquire({ signal: controller.signal });
    await new Promise((r) => setTimeout(r, 20));
    const reason = new Error("changed my mind");
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    await rate.onIdle(); // the refund landed
    const t0 = performance.now();
    (await rate.acquire()).release();
    expect(performance.now() - t0).toBeLessThan(330); // the refunded slot, not the one after it
    expect(rate.stats()).toMatchObject({ aborted: 1, acquired: 2, inUse: 0, queued: 0 });
  });

  it("pause(ms) holds every process: a 429 seen by one pauses all", async () => {
    const name = fresh();
    const one = new RedisRateLimiter(a, name, { limit: 100, interval: 1_000, burst: 10 });
    const two = new RedisRateLimiter(b, name, { limit: 100, interval: 1_000, burst: 10 });
    expect(await two.pausedFor()).toBe(0);
    expect(await one.pause(300)).toBeGreaterThan(290);
    expect(await one.pause(100)).toBeGreaterThan(250); // never shortened
    expect(await two.pausedFor()).toBeGreaterThan(200);
    const t0 = performance.now();
    (await two.acquire()).release();
    expect(performance.now() - t0).toBeGreaterThan(230);
  });

  it("processes that disagree on the settings get a clear error", async () => {
    const name = fresh();
    (await new RedisRateLimiter(a, name, { limit: 5, interval: 1_000 }).acquire()).release();
    const other = new RedisRateLimiter(b, name, { limit: 6, interval: 1_000 });
    const error = await other.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisCommandError);
    expect((error as Error).message).toContain("5/1000/1");
  });

  it("bad input throws at once, naming the option and value", () => {
    const rate = new RedisRateLimiter(a, fresh(), { limit: 5, interval: 1_000, burst: 2 });
    expect(() => rate.acquire({ weight: 3 })).toThrow(RangeError);
    expect(() => rate.acquire({ weight: 0 })).toThrow(/weight/);
    expect(() => new RedisRateLimiter(a, "x", { limit: 0, interval: 1_000 })).toThrow(/limit/);
    expect(() => new RedisRateLimiter(a, "x", { limit: 1, interval: 0 })).toThrow(/interval/);
    expect(() => new RedisRateLimiter(a, "a{b}", { limit: 1, interval: 1 })).toThrow(TypeError);
    expect(() => new RedisRateLimiter(a, "x", { limit: 1, interval: 1, bogus: 1 } as never)).toThrow(/bogus/);
  });
});

describe("RedisRateLimiter under the faults of issue 11", () => {
  it("a wait longer than setTimeout's limit is slept in steps: 1 per 30 days admits the second request 30 days later, not at once", async () => {
    const rate = new RedisRateLimiter(a, fresh(), { limit: 1, interval: 30 * 86_400_000 });
    (await rate.acquire()).release();
    const controller = new AbortController();
    let admitted = false;
    const second = rate.acquire({ signal: controller.signal }).then(() => (admitted = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(admitted).toBe(false); // before: admitted after ~3 ms (the timer overflowed)
    const reason = new Error("gave up");
    controller.abort(reason);
    await expect(second).rejects.toBe(reason);
    await rate.onIdle();
  });

  it("an abort while the reservation is on the wire rejects at once, and the reservation is given back when it lands", async () => {
    const name = fresh();
    const rate = new RedisRateLimiter(a, name, { limit: 1, interval: 60_000 });
    const admin = new Redis(server.port, server.host);
    try {
      await admin.call("CLIENT", "PAUSE", "600", "ALL"); // the reservation waits 600 ms for Redis
      const reason = new Error("user left");
      const controller = new AbortController();
      const started = performance.now();
      const pending = rate.acquire({ signal: controller.signal });
      setTimeout(() => controller.abort(reason), 50);
      await expect(pending).rejects.toBe(reason);
      expect(performance.now() - started).toBeLessThan(400); // before: it waited out the round trip and got its permit
      expect(rate.stats().aborted).toBe(1);
      await rate.onIdle(); // the refund has landed
      const again = await rate.tryAcquire(); // the one slot a minute is free again
      expect(again).toBeDefined();
      again?.release();
    } finally {
      admin.disconnect();
    }
  });
});
