/**
 * RedisSemaphore specifics on a real redis-server, beyond the shared contract:
 * stored capacity, input checks, fencing tokens, push wake-ups (no polling),
 * one subscriber per client, lost wake-ups, inspect(), RedisLock.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CapacityMismatchError,
  ClosedError,
  PermitsError,
  RedisLock,
  RedisSemaphore,
} from "../../src/redis/index.js";
import { ClosedError as CoreClosedError } from "../../src/index.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/until.js";

let server: RedisServer;
let redis: Redis;
let other: Redis;
let n = 0;
const fresh = (): string => `sem-${n++}-${Date.now()}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.port, server.host);
  other = new Redis(server.port, server.host);
});

afterAll(async () => {
  redis.disconnect();
  other.disconnect();
  await server.stop();
});

async function evalshaCalls(): Promise<number> {
  const stats = await redis.info("commandstats");
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe("RedisSemaphore", () => {
  it("stores the capacity with the semaphore: a process with another capacity gets CapacityMismatchError", async () => {
    const name = fresh();
    await (await new RedisSemaphore(redis, name, 3).acquire()).release();
    const error = await new RedisSemaphore(other, name, 5).acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CapacityMismatchError);
    expect(error).toBeInstanceOf(PermitsError);
    expect(error).toMatchObject({ code: "ERR_PERMITS_CAPACITY_MISMATCH", stored: 3, requested: 5 });
    expect((error as Error).message).toContain(name);
  });

  it("rejects names, prefixes, options and clients that would break the key layout, naming them", () => {
    expect(() => new RedisSemaphore(redis, "a{b}", 1)).toThrow(/name/);
    expect(() => new RedisSemaphore(redis, "", 1)).toThrow(TypeError);
    expect(() => new RedisSemaphore(redis, "has space", 1)).toThrow(TypeError);
    expect(() => new RedisSemaphore(redis, "ok", 1, { prefix: "p{" })).toThrow(/prefix/);
    expect(() => new RedisSemaphore(redis, "ok", 0)).toThrow(RangeError);
    expect(() => new RedisSemaphore(redis, "ok", 1.5)).toThrow(/capacity/);
    expect(() => new RedisSemaphore(redis, "ok", 1, { leaseMs: 5 })).toThrow(/leaseMs/);
    expect(() => new RedisSemaphore(redis, "ok", 1, { lease: 5 } as never)).toThrow(/lease/);
    expect(() => new RedisSemaphore({} as never, "ok", 1)).toThrow(/client/);
  });

  it("ClosedError is the core's class: instanceof holds across the two entry points", async () => {
    const sem = new RedisSemaphore(redis, fresh(), 1);
    await sem.close();
    const error = await sem.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClosedError);
    expect(error).toBeInstanceOf(CoreClosedError);
  });

  it("fencing tokens strictly increase across instances and clients, and are never below the server clock in µs", async () => {
    const name = fresh();
    const sems = [new RedisSemaphore(redis, name, 2), new RedisSemaphore(other, name, 2)];
    const serverMicros = async (): Promise<number> => {
      const [s, us] = await redis.time();
      return Number(s) * 1_000_000 + Number(us);
    };
    const tokens: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = await serverMicros();
      const permit = await sems[i % 2]!.acquire();
      // max(last + 1, server µs): a counter that a restart or a lagging
      // replica set back still issues tokens above every earlier one.
      expect(permit.token).toBeGreaterThanOrEqual(before);
      tokens.push(permit.token);
      await permit.release();
    }
    // Two granted by one script (a release handing on to two queued waiters) get two tokens.
    const both = await sems[0]!.acquire({ weight: 2 });
    const queued = [sems[1]!.acquire(), sems[0]!.acquire()];
    await until("two waiters queued", async () => (await sems[0]!.inspect()).waiters.length === 2);
    await both.release();
    const granted = await Promise.all(queued);
    tokens.push(both.token, ...granted.map((p) => p.token).sort((x, y) => x - y));
    for (const p of granted) await p.release();
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
    for (const token of tokens) expect(Number.isSafeInteger(token)).toBe(true);
  });

  it("wake-ups are pushed, not polled: a waiter costs a handful of scripts however long it waits", async () => {
    const name = fresh();
    const holderSem = new RedisSemaphore(redis, name, 1);
    const waiterSem = new RedisSemaphore(other, name, 1);
    const held = await holderSem.acquire();
    const before = await evalshaCalls();
    const waiting = waiterSem.acquire();
    await sleep(1_000); // redis-semaphore would have run its script ~100 times by now
    await held.release();
    const permit = await waiting;
    const calls = (await evalshaCalls()) - before;
    expect(calls).toBeLessThanOrEqual(4); // acquire, release (+ at most a heartbeat or two)
    await permit.release();
  });

  it("one subscriber connection per client per process, shared by every semaphore", async () => {
    const client = new Redis(server.port, server.host);
    try {
      const sems = [fresh(), fresh(), fresh()].map((name) => new RedisSemaphore(client, name, 1));
      const held = await Promise.all(sems.map((s) => s.acquire()));
      const waiting = sems.map((s) => s.acquire());
      await sleep(100);
      const list = await redis.call("CLIENT", "LIST", "TYPE", "pubsub");
      // our other tests' clients may be subscribed too; count this client's subscriber by its channels
      const subscribers = String(list)
        .split("\n")
        .filter((line) => line.includes("ssub=3"));
      expect(subscribers).toHaveLength(1);
      for (const p of held) await p.release();
      for (const p of await Promise.all(waiting)) await p.release();
    } finally {
      client.disconnect();
    }
  });

  it("a wake-up lost while the subscriber reconnects is recovered at once, not at the next heartbeat", async () => {
    const name = fresh();
    const client = new Redis(server.port, server.host);
    try {
      const holder = new RedisSemaphore(redis, name, 1);
      const waiter = new RedisSemaphore(client, name, 1, { leaseMs: 60_000 }); // heartbeats every 20 s
      const held = await holder.acquire();
      const waiting = waiter.acquire();
      await sleep(50);
      await redis.call("CLIENT", "KILL", "TYPE", "pubsub"); // drop every subscriber connection
      await held.release(); // the wake-up is published to nobody
      const started = Date.now();
      const permit = await waiting;
      expect(Date.now() - started).toBeLessThan(5_000);
      await permit.release();
    } finally {
      client.disconnect();
    }
  });

  it("AsyncLocalStorage context survives a wait that ends with a pushed wake-up", async () => {
    const name = fresh();
    const als = new AsyncLocalStorage<string>();
    const sem = new RedisSemaphore(redis, name, 1);
    const held = await sem.acquire();
    const seen = als.run("request-42", async () => {
      const permit = await sem.acquire();
      const value = als.getStore();
      await permit.release();
      return value;
    });
    await sleep(30);
    await held.release();
    expect(await seen).toBe("request-42");
  });

  it("inspect() shows who holds what (tokens, lease left) and who waits, in order", async () => {
    const name = fresh();
    const sem = new RedisSemaphore(redis, name, 3, { leaseMs: 5_000 });
    const big = await sem.acquire({ weight: 2 });
    const heavy = sem.acquire({ weight: 3 });
    await sleep(30);
    const light = sem.acquire();
    await sleep(30);
    const snapshot = await sem.inspect();
    expect(snapshot.capacity).toBe(3);
    expect(snapshot.inUse).toBe(2);
    expect(snapshot.holders).toEqual([
      { id: big.id, weight: 2, token: big.token, expiresInMs: expect.any(Number) as number },
    ]);
    expect(snapshot.holders[0]!.expiresInMs).toBeGreaterThan(4_000);
    expect(snapshot.waiters.map((w) => w.weight)).toEqual([3, 1]);
    expect(sem.stats()).toMatchObject({ inUse: 2, queued: 2, capacity: 3 });
    await big.release();
    await (await heavy).release();
    await (await light).release();
    await sem.onIdle();
    expect(sem.stats()).toMatchObject({ inUse: 0, queued: 0, acquired: 3, released: 3 });
  });

  it("a timeout of 0 means only if free now", async () => {
    const sem = new RedisSemaphore(redis, fresh(), 1);
    const p = await sem.acquire({ timeout: 0 });
    await expect(sem.acquire({ timeout: 0 })).rejects.toMatchObject({ name: "TimeoutError" });
    await p.release();
    expect((await sem.inspect()).waiters).toEqual([]);
  });
});

describe("RedisLock", () => {
  it("is a semaphore of one with isLocked()", async () => {
    const name = fresh();
    const lock = new RedisLock(redis, name);
    const elsewhere = new RedisLock(other, name);
    expect(lock.capacity).toBe(1);
    expect(await elsewhere.isLocked()).toBe(false);
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3].map((i) =>
        (i % 2 ? lock : elsewhere).run(async () => {
          order.push(i);
          expect(await lock.isLocked()).toBe(true);
          await sleep(5);
        }),
      ),
    );
    expect(order.sort()).toEqual([1, 2, 3]);
    expect(await lock.isLocked()).toBe(false);
  });
});
