/**
 * Priority, aging and fair share on RedisSemaphore, decided in the scripts
 * across processes (two clients, two instances of one semaphore), on a real
 * redis-server. The rules every backend shares are in the scheduling
 * contract (test/redis/contract.test.ts); here what is Redis's own: the
 * order across processes, aging on the server clock, the key layout left
 * clean, idempotent re-sends, and input checked before anything is sent.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLock, RedisSemaphore, type RedisPermit } from "../../src/redis/index.js";
import { acquireArgs, freeArgs, placement, readAcquire, scripts } from "../../src/redis/scripts.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/until.js";

let server: RedisServer;
let redis: Redis;
let other: Redis;
let n = 0;
const fresh = (): string => `sched-${n++}-${Date.now()}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const keysOf = (name: string): string[] =>
  ["meta", "leases", "held", "queue", "waiting", "beats", "order", "fair"].map((k) => `permits:{${name}}:${k}`);

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

/** Two instances of one semaphore on two clients: two "processes". */
function pair(capacity: number, options: ConstructorParameters<typeof RedisSemaphore>[3] = {}) {
  const name = fresh();
  return {
    name,
    a: new RedisSemaphore(redis, name, capacity, { leaseMs: 5_000, ...options }),
    b: new RedisSemaphore(other, name, capacity, { leaseMs: 5_000, ...options }),
  };
}

async function queuedInRedis(name: string): Promise<number> {
  return redis.zcard(`permits:{${name}}:queue`);
}

/** Waits until `count` waiters are queued in Redis. */
async function queued(name: string, count: number): Promise<void> {
  await until(`${count} queued`, async () => (await queuedInRedis(name)) === count, 5_000);
}

/** Grants are recorded in order; each permit is released as soon as it is granted (capacity 1: one at a time). */
function recorder() {
  const served: string[] = [];
  const take = (label: string) => async (permit: RedisPermit) => {
    served.push(label);
    await permit.release();
  };
  return { served, take };
}

describe("RedisSemaphore scheduling", () => {
  it("priority order across processes: higher first, equal priorities in arrival order", async () => {
    const { name, a, b } = pair(1);
    const held = await a.acquire();
    const { served, take } = recorder();
    const done: Promise<void>[] = [];
    const plan: [RedisSemaphore, string, number][] = [
      [a, "a0", 0],
      [b, "b5", 5],
      [a, "a1", 1],
      [b, "b0", 0],
      [a, "a5", 5],
      [b, "b-2", -2],
    ];
    for (const [sem, label, priority] of plan) {
      done.push(sem.acquire({ priority }).then(take(label)));
      await queued(name, done.length);
    }
    await held.release();
    await Promise.all(done);
    expect(served).toEqual(["b5", "a5", "a1", "a0", "b0", "b-2"]);
  });

  it("no barging: a newcomer of equal priority queues behind a waiter of another process even with room, one of higher priority that fits is granted at once (also with timeout 0)", async () => {
    const { name, a, b } = pair(3);
    const one = await a.acquire();
    const heavy = a.acquire({ weight: 3, priority: 1 });
    await queued(name, 1);
    // Two units free, but the heavy waiter (priority 1) is ahead of an equal one.
    const equal = b.acquire({ priority: 1, timeout: 0 }).catch((e: unknown) => e);
    expect(await equal).toMatchObject({ name: "TimeoutError" });
    // A higher priority than every waiter, fitting in the free units: granted now.
    const urgent = await b.acquire({ priority: 2, timeout: 0 });
    expect(urgent.token).toBeGreaterThan(0);
    expect(await queuedInRedis(name)).toBe(1);
    await urgent.release();
    await one.release();
    await (await heavy).release();
  });

  it("HOL blocking across processes: a heavy high-priority waiter blocks lighter lower ones of another process until it fits", async () => {
    const { name, a, b } = pair(2);
    const first = await a.acquire();
    const { served, take } = recorder();
    const heavy = a.acquire({ weight: 2, priority: 5 }).then(take("heavy"));
    await queued(name, 1);
    const light = b.acquire({ priority: 0 }).then(take("light"));
    await queued(name, 2);
    await sleep(30);
    expect(served).toEqual([]); // one unit is free, but the heavy waiter is next
    await first.release();
    await Promise.all([heavy, light]);
    expect(served).toEqual(["heavy", "light"]);
  });

  it("plain waiters queued before the first scheduled one keep their order, and it goes ahead of them", async () => {
    const { name, a, b } = pair(1);
    const held = await a.acquire();
    const { served, take } = recorder();
    const done = [a.acquire().then(take("p1"))];
    await queued(name, 1);
    done.push(b.acquire().then(take("p2")));
    await queued(name, 2);
    done.push(b.acquire({ priority: 3 }).then(take("high")));
    await queued(name, 3);
    done.push(a.acquire().then(take("p3")));
    await queued(name, 4);
    await held.release();
    await Promise.all(done);
    expect(served).toEqual(["high", "p1", "p2", "p3"]);
  });

  it("aging bound (server clock): a waiter that has waited `aging` ms goes before every later arrival, whatever its priority", async () => {
    const run = async (aging: number | undefined): Promise<string[]> => {
      const { name, a, b } = pair(1, aging === undefined ? {} : { aging });
      const held = await a.acquire();
      const { served, take } = recorder();
      const done = [a.acquire({ priority: 0 }).then(take("old-low"))];
      await queued(name, 1);
      done.push(b.acquire({ priority: 10 }).then(take("high-1")));
      await queued(name, 2);
      await sleep(250); // the low waiter is now 250 ms old on the server
      done.push(b.acquire({ priority: 10 }).then(take("high-2")));
      await queued(name, 3);
      await held.release();
      await Promise.all(done);
      return served;
    };
    // Aged: the old low waiter goes first; the aged ones are served in arrival order.
    expect(await run(200)).toEqual(["old-low", "high-1", "high-2"]);
    // Not yet aged (aging far away) and no aging: strict priority.
    expect(await run(60_000)).toEqual(["high-1", "high-2", "old-low"]);
    expect(await run(undefined)).toEqual(["high-1", "high-2", "old-low"]);
  });

  it("shares 1:2:4 across two processes: while all three tenants wait, grants go 1/7, 2/7, 4/7", async () => {
    const weights = (tenant: string): number => ({ one: 1, two: 2, four: 4 })[tenant] ?? 1;
    const { name, a, b } = pair(1, { weights });
    const held = await a.acquire();
    const counts: Record<string, number> = { one: 0, two: 0, four: 0 };
    let grants = 0;
    const firstRounds: Record<string, number> = { one: 0, two: 0, four: 0 };
    const done: Promise<void>[] = [];
    const per = 40;
    for (let i = 0; i < per; i++) {
      for (const tenant of ["one", "two", "four"]) {
        // Each tenant's waiters come from both processes.
        const sem = (i + tenant.length) % 2 === 0 ? a : b;
        done.push(
          sem.acquire({ tenant }).then(async (permit) => {
            counts[tenant]!++;
            if (grants++ < 35) firstRounds[tenant]!++;
            await permit.release();
          }),
        );
      }
    }
    await queued(name, per * 3);
    await held.release();
    await Promise.all(done);
    // The first 35 grants (every tenant still has waiters): 5, 10, 20 (±1).
    expect(firstRounds.one).toBeGreaterThanOrEqual(4);
    expect(firstRounds.one).toBeLessThanOrEqual(6);
    expect(firstRounds.two).toBeGreaterThanOrEqual(9);
    expect(firstRounds.two).toBeLessThanOrEqual(11);
    expect(firstRounds.four).toBeGreaterThanOrEqual(19);
    expect(firstRounds.four).toBeLessThanOrEqual(21);
    expect(counts).toEqual({ one: per, two: per, four: per });
  });

  it("a light tenant beside a heavy one: its one waiter is served within a grant or two, not behind the heavy backlog", async () => {
    const { name, a, b } = pair(1);
    const held = await a.acquire();
    const order: string[] = [];
    const done: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      done.push(
        a.acquire({ tenant: "heavy" }).then(async (permit) => {
          order.push("heavy");
          await permit.release();
        }),
      );
    }
    await queued(name, 200);
    done.push(
      b.acquire({ tenant: "light" }).then(async (permit) => {
        order.push("light");
        await permit.release();
      }),
    );
    await queued(name, 201);
    await held.release();
    await Promise.all(done);
    expect(order.indexOf("light")).toBeLessThanOrEqual(1);
  });

  it("cancellation removes the waiter from every structure: arrival, serving order, fair-share counts", async () => {
    const { name, a, b } = pair(1, { weights: () => 3 });
    const [, , , queue, waiting, beats, order, fair] = keysOf(name) as [string, string, string, string, string, string, string, string];
    const held = await a.acquire();
    const aborts = Array.from({ length: 3 }, () => new AbortController());
    const waiters = [
      a.acquire({ tenant: "x", signal: aborts[0]!.signal }),
      b.acquire({ tenant: "x", priority: 2, signal: aborts[1]!.signal }),
      b.acquire({ tenant: "y", signal: aborts[2]!.signal }),
      a.acquire({ tenant: "y", timeout: 300 }),
    ];
    for (const w of waiters) w.catch(() => {});
    await queued(name, 4);
    expect(await redis.zcard(order)).toBe(4);
    // Tenant x's waiter at level 0 goes: x has no waiter left there, so its
    // count and finish tag at that level go too; its waiter at level 2 stays.
    aborts[0]!.abort();
    await until("x at 0 cancelled", async () => (await redis.zcard(order)) === 3);
    const fields = await redis.hkeys(fair);
    expect(fields.filter((f) => f.startsWith("c") && f.endsWith("=x"))).toHaveLength(1); // only x at level 2
    aborts[1]!.abort();
    aborts[2]!.abort();
    // The last one leaves by its timeout.
    await expect(waiters[3]).rejects.toMatchObject({ name: "TimeoutError" });
    await until("all cancelled", async () => (await queuedInRedis(name)) === 0);
    for (const key of [queue, waiting, beats, order, fair]) expect(await redis.exists(key)).toBe(0);
    await held.release();
    await a.close();
    await b.close();
  });

  it("a waiter whose process went silent leaves every structure at its heartbeat deadline", async () => {
    const name = fresh();
    const keys = keysOf(name);
    const sem = new RedisSemaphore(redis, name, 1, { leaseMs: 5_000 });
    const held = await sem.acquire();
    // A process that queued a scheduled waiter with a 60 ms heartbeat and died.
    const args = acquireArgs(1, "ghost", 1, 5_000, "wait", `permits:{${name}}:wake`, 60, 0, [], placement(4, "t", 1));
    expect(readAcquire(await redis.eval(scripts.acquire.source, 8, ...keys, ...args)).granted).toBe(false);
    expect(await redis.zcard(keys[6]!)).toBe(1);
    await sleep(120);
    await held.release();
    const next = await sem.acquire({ timeout: 2_000 }); // served, not blocked by the ghost
    for (const key of [keys[3]!, keys[4]!, keys[5]!, keys[6]!, keys[7]!]) expect(await redis.exists(key)).toBe(0);
    await next.release();
  });

  it("a re-sent ACQUIRE keeps one place: one member in the serving order, counted once", async () => {
    const name = fresh();
    const keys = keysOf(name);
    const sem = new RedisSemaphore(redis, name, 1, { leaseMs: 5_000 });
    const held = await sem.acquire();
    const args = acquireArgs(1, "twice", 1, 5_000, "wait", `permits:{${name}}:wake`, 5_000, 0, [], placement(1, "t", 2));
    for (let i = 0; i < 3; i++) {
      expect(readAcquire(await redis.eval(scripts.acquire.source, 8, ...keys, ...args)).granted).toBe(false);
    }
    expect(await redis.zcard(keys[3]!)).toBe(1);
    expect(await redis.zcard(keys[6]!)).toBe(1);
    const fair = await redis.hgetall(keys[7]!);
    const counts = Object.entries(fair).filter(([f]) => f.startsWith("c") || f.startsWith("n"));
    expect(counts.map(([, v]) => v)).toEqual(["1", "1"]);
    // Granted on release; a re-send then finds the grant, and nothing is left queued.
    await held.release();
    await until("granted", async () => (await redis.hexists(keys[2]!, "twice")) === 1);
    expect(readAcquire(await redis.eval(scripts.acquire.source, 8, ...keys, ...args)).granted).toBe(true);
    for (const key of [keys[3]!, keys[6]!, keys[7]!]) expect(await redis.exists(key)).toBe(0);
    await redis.eval(scripts.release.source, 8, ...keys, ...freeArgs(`permits:{${name}}:wake`, "-1", ["twice"]));
  });

  it("bad input throws synchronously naming the option, before anything is sent or queued", async () => {
    const name = fresh();
    expect(() => new RedisSemaphore(redis, name, 1, { aging: 0 })).toThrow(RangeError);
    expect(() => new RedisSemaphore(redis, name, 1, { aging: 0 })).toThrow(/aging/);
    expect(() => new RedisSemaphore(redis, name, 1, { aging: "1s" as never })).toThrow(TypeError);
    expect(() => new RedisSemaphore(redis, name, 1, { weights: 2 as never })).toThrow(/weights/);
    expect(() => new RedisLock(redis, name, { aging: -5 })).toThrow(/aging/);
    const answers: Record<string, unknown> = { zero: 0, neg: -1, nan: Number.NaN, inf: Infinity, str: "2" };
    const sem = new RedisSemaphore(redis, name, 1, {
      leaseMs: 30_000, // no heartbeat within the test
      weights: (t) => (t in answers ? (answers[t] as number) : 1),
    });
    const held = await sem.acquire();
    const queuedOne = sem.acquire({ tenant: "fine", priority: 1 });
    queuedOne.catch(() => {});
    await queued(name, 1);
    // Watch every command the server runs that names this semaphore's keys
    // (INFO's server-wide counters also count other tests' heartbeats).
    // The semaphore's own background commands (a tick for the queued waiter
    // once its subscription is in place) name the holder's and the waiter's
    // ids; a bad call that got through would send an id of its own.
    const before = await sem.inspect();
    const known = [...before.holders, ...before.waiters].map((entry) => entry.id);
    expect(known).toHaveLength(2);
    const monitor = await redis.monitor();
    const seen: string[] = [];
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      if (source === "lua") return; // commands run inside a script
      if (args.some((arg) => arg.includes(name))) seen.push(args.join(" "));
    });
    for (const [tenant, answer] of Object.entries(answers)) {
      const expected = typeof answer === "number" ? RangeError : TypeError;
      expect(() => sem.acquire({ tenant })).toThrow(expected);
      expect(() => sem.acquire({ tenant })).toThrow(/weights/);
      expect(() => sem.run(() => 1, { tenant })).toThrow(/weights/);
    }
    expect(() => sem.acquire({ priority: 0.5 })).toThrow(/priority/);
    expect(() => sem.acquire({ tenant: 7 as never })).toThrow(/tenant/);
    // Nothing was sent: a marker sent after the throws, on the same
    // connection, is the first command naming the semaphore that the server saw.
    await new Promise((resolve) => setImmediate(resolve));
    const marker = `${name}-marker`;
    await redis.echo(marker);
    await until("the marker is seen", () => seen.some((line) => line.includes(marker)));
    monitor.disconnect();
    expect(seen.filter((line) => !known.some((id) => line.includes(id)))).toEqual([`echo ${marker}`]);
    expect(sem.queued).toBe(1);
    expect(await queuedInRedis(name)).toBe(1);
    await held.release();
    await (await queuedOne).release();
    await sem.close();
  });

  it("stats().tenants counts this process's waiters, holdings and grants per tenant (and is absent until a tenant is named)", async () => {
    const { name, a, b } = pair(2);
    expect(a.stats().tenants).toBeUndefined();
    const first = await a.acquire({ tenant: "acme", weight: 2 });
    const waiting = a.acquire({ tenant: "beta" });
    const elsewhere = b.acquire({ tenant: "acme" });
    await queued(name, 2);
    expect(a.stats().tenants).toMatchObject({
      acme: { queued: 0, inUse: 2, granted: 1 },
      beta: { queued: 1, inUse: 0, granted: 0 },
    });
    // The other process counts its own.
    expect(b.stats().tenants).toMatchObject({ acme: { queued: 1, inUse: 0, granted: 0 } });
    await first.release();
    const [p1, p2] = await Promise.all([waiting, elsewhere]);
    expect(a.stats().tenants).toMatchObject({ acme: { inUse: 0, granted: 1 }, beta: { queued: 0, inUse: 1, granted: 1 } });
    expect(a.stats().tenants?.beta?.wait.p50).toBeGreaterThan(0);
    await p1.release();
    await p2.release();
    expect(b.stats().tenants).toMatchObject({ acme: { queued: 0, inUse: 0, granted: 1 } });
  });
});
