/**
 * The rules that keep a fleet limit true under faults (issue 11), each on a
 * real redis-server and named after what it protects:
 * - a holder never believes in its lease past its local deadline, which is
 *   taken from when the renewing command was sent — whatever is on the wire,
 *   and even right after a blocked event loop;
 * - every script is idempotent per id, so a re-sent command never loses or
 *   doubles a permit;
 * - a dead process's queued waiter keeps no "ghost" grant past its
 *   heartbeat deadline;
 * - after Redis loses its data, grants are held off for one lease, and
 *   holders hear of the loss as soon as their client reconnects;
 * - weights up to 2^53 − 1 survive Lua, and option bounds are checked.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseLostError } from "../../src/core/errors.js";
import { RedisSemaphore } from "../../src/redis/index.js";
import { acquireArgs, readAcquire, scripts } from "../../src/redis/scripts.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/until.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let n = 0;
const fresh = (): string => `lease-${n++}-${Date.now()}`;

/** The eight keys of a semaphore (default prefix), as the scripts take them. */
function keysOf(name: string): string[] {
  return ["meta", "leases", "held", "queue", "waiting", "beats", "order", "fair"].map((k) => `permits:{${name}}:${k}`);
}

/** Runs ACQUIRE by hand, as a client that re-sends a command (or a process that then dies) would. */
async function rawAcquire(redis: Redis, name: string, id: string, capacity: number, weight: number, leaseMs: number) {
  const args = acquireArgs(capacity, id, weight, leaseMs, "wait", `permits:{${name}}:wake`, leaseMs, 0, []);
  return readAcquire(await redis.eval(scripts.acquire.source, 8, ...keysOf(name), ...args));
}

function ownRedis(): { readonly server: RedisServer; readonly redis: Redis; readonly admin: Redis } {
  const own = {} as { server: RedisServer; redis: Redis; admin: Redis };
  beforeAll(async () => {
    own.server = await startRedisServer();
    own.redis = new Redis(own.server.port, own.server.host, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    own.redis.on("error", () => {});
    own.admin = new Redis(own.server.port, own.server.host, { retryStrategy: () => 50 });
    own.admin.on("error", () => {});
    await own.redis.ping();
  });
  afterAll(async () => {
    own.redis.disconnect();
    own.admin.disconnect();
    await own.server.stop();
  });
  return own;
}

describe("a holder never believes in its lease past its deadline", () => {
  const own = ownRedis();

  it("permit.signal aborts at the local lease deadline while a renewal is stuck on the wire, not commandTimeoutMs later", async () => {
    const { redis, admin } = own;
    // A long command timeout: before, the loss was declared only when the
    // stuck renewal failed, commandTimeoutMs after it was sent.
    const sem = new RedisSemaphore(redis, fresh(), 1, { leaseMs: 600, commandTimeoutMs: 5_000, restartGuard: false });
    const asked = performance.now();
    const permit = await sem.acquire();
    const lost = new Promise<number>((resolve) => permit.signal.addEventListener("abort", () => resolve(performance.now())));
    await admin.call("CLIENT", "PAUSE", "2000", "ALL"); // every renewal now waits 2 s for an answer
    // The server ends the lease no earlier than 600 ms after the acquire was
    // sent. The abort comes from the deadline's timer (give or take a late
    // timer), not from the renewal's reply at the end of the pause (~2 s) or
    // its failure (~5 s).
    const at = await lost;
    expect(at - asked).toBeLessThan(900);
    expect(permit.valid).toBe(false);
    expect(permit.signal.reason).toBeInstanceOf(LeaseLostError);
    await until("pause over", async () => (await admin.ping()) === "PONG", 5_000);
    await permit.release();
    await sem.onIdle();
  });

  it("signal.aborted and permit.valid are right at once after a blocked event loop, before any timer has run", async () => {
    const { redis } = own;
    const sem = new RedisSemaphore(redis, fresh(), 1, { leaseMs: 300, restartGuard: false });
    const permit = await sem.acquire();
    const signal = permit.signal; // taken early, read late: the read itself checks the clock
    expect(signal.aborted).toBe(false);
    expect(permit.valid).toBe(true);
    const until = performance.now() + 500;
    while (performance.now() < until) {
      // the event loop is blocked past the lease: no timer, no reply can run
    }
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeInstanceOf(LeaseLostError);
    expect(() => signal.throwIfAborted()).toThrow(LeaseLostError);
    expect(permit.valid).toBe(false);
    expect(sem.inUse).toBe(0);
    expect(sem.stats().leaseLost).toBe(1);
    await permit.release();
    await sem.onIdle();
    // Given back to Redis: the next holder need not wait for the server's lease to end.
    expect((await sem.inspect()).inUse).toBe(0);
  });

  it("a renewed permit stays valid across many leases (renewals move the deadline)", async () => {
    const { redis } = own;
    const sem = new RedisSemaphore(redis, fresh(), 1, { leaseMs: 600, restartGuard: false });
    const permit = await sem.acquire();
    await sleep(2_000); // more than three leases
    expect(permit.valid).toBe(true);
    expect(permit.signal.aborted).toBe(false);
    await permit.release();
    expect(permit.valid).toBe(false); // released: no longer held
    expect(permit.signal.aborted).toBe(false); // but never aborted by release()
    await sem.onIdle();
  });
});

describe("every script is idempotent per id", () => {
  const own = ownRedis();

  it("an acquire executed twice (a re-sent command) holds its weight once: the capacity stays whole", async () => {
    const { redis } = own;
    const name = fresh();
    const first = await rawAcquire(redis, name, "resent-1", 3, 1, 10_000);
    const again = await rawAcquire(redis, name, "resent-1", 3, 1, 10_000);
    expect(first.granted && again.granted && again.token === first.token).toBe(true);
    const sem = new RedisSemaphore(redis, name, 3, { restartGuard: false });
    expect((await sem.inspect()).inUse).toBe(1);
    const two = await sem.tryAcquire(2); // before: the ghost weight left only 1 free, for good
    expect(two).toBeDefined();
    await two?.release();
  });

  it("a queued acquire executed twice keeps one place and is granted once", async () => {
    const { redis } = own;
    const name = fresh();
    const sem = new RedisSemaphore(redis, name, 1, { restartGuard: false });
    const holder = await sem.acquire();
    expect((await rawAcquire(redis, name, "resent-2", 1, 1, 10_000)).granted).toBe(false);
    expect((await rawAcquire(redis, name, "resent-2", 1, 1, 10_000)).granted).toBe(false);
    const snapshot = await sem.inspect();
    expect(snapshot.waiters.map((w) => w.id)).toEqual(["resent-2"]);
    await holder.release();
    await until("granted to the queued id", async () => (await sem.inspect()).holders.some((h) => h.id === "resent-2"));
    // With capacity 1, a re-send after the grant finds it instead of queueing behind its own ghost.
    expect((await rawAcquire(redis, name, "resent-2", 1, 1, 10_000)).granted).toBe(true);
    expect((await sem.inspect()).inUse).toBe(1);
  });
});

describe("a dead process's waiter keeps no ghost grant", () => {
  const own = ownRedis();

  it("a permit granted to a waiter that stopped sending heartbeats comes back at its heartbeat deadline, not a lease after the grant", async () => {
    const { redis } = own;
    const name = fresh();
    const leaseMs = 1_000;
    const sem = new RedisSemaphore(redis, name, 1, { leaseMs, restartGuard: false });
    const holder = await sem.acquire();
    const queuedAt = performance.now();
    // A waiter queued by a process that is then killed: it never sends a heartbeat again.
    expect((await rawAcquire(redis, name, "ghost", 1, 1, leaseMs)).granted).toBe(false);
    await sleep(600);
    await holder.release(); // hands the permit to the dead waiter
    await until("granted to the ghost", async () => (await sem.inspect()).holders.some((h) => h.id === "ghost"));
    const ghost = (await sem.inspect()).holders.find((h) => h.id === "ghost");
    // Leased until its heartbeat deadline (~1 s after it queued), not 1 s from the grant.
    expect(ghost!.expiresInMs).toBeLessThan(leaseMs - 400);
    const back = await sem.acquire({ timeout: 3_000 });
    expect(performance.now() - queuedAt).toBeLessThan(1.2 * leaseMs);
    await back.release();
    await sem.onIdle();
  });
});

describe("after Redis loses its data", () => {
  const own = ownRedis();

  it("a holder hears of the loss as soon as its client reconnects, not at its next heartbeat", async () => {
    const { server, redis } = own;
    // Heartbeats every 3 s. (The guard is the next test's subject.)
    const sem = new RedisSemaphore(redis, fresh(), 1, { leaseMs: 9_000, restartGuard: false });
    const permit = await sem.acquire({ timeout: 15_000 });
    const lost = new Promise<number>((resolve) => permit.signal.addEventListener("abort", () => resolve(performance.now())));
    await server.restart(); // no persistence: the lease is gone
    const restarted = performance.now();
    await until("client reconnected", () => redis.status === "ready");
    const at = await lost;
    expect(at - restarted).toBeLessThan(1_500);
    expect(permit.signal.reason).toBeInstanceOf(LeaseLostError);
    await permit.release();
    await sem.onIdle();
  }, 30_000);

  it("grants nothing for one lease after a restart that lost the state, so old holders cannot overlap new ones", async () => {
    const { server, redis } = own;
    const leaseMs = 1_500;
    const name = fresh();
    await server.restart();
    await until("client reconnected", () => redis.status === "ready");
    const startedBefore = performance.now();
    const sem = new RedisSemaphore(redis, name, 2, { leaseMs });
    expect(await sem.tryAcquire()).toBeUndefined(); // held off: the server is younger than a lease
    const permit = await sem.acquire({ timeout: 5_000 });
    // Granted only once the server has been up a lease (uptime is read in whole seconds).
    expect(performance.now() - startedBefore).toBeGreaterThan(leaseMs - 1_000 - 50);
    await permit.release();
    // Off, for servers that keep their data: granted at once.
    const loose = new RedisSemaphore(redis, fresh(), 2, { leaseMs: 60_000, restartGuard: false });
    const quick = await loose.tryAcquire();
    expect(quick).toBeDefined();
    await quick?.release();
    await sem.onIdle();
  }, 30_000);

  it("an acquire sent while the connection is coming back (ioredis flushes it before its 'ready') is held off too", async () => {
    const { server } = own;
    const leaseMs = 1_500;
    // Its own client, so that it alone sees this outage; offline commands wait for the connection.
    const redis = new Redis(server.port, server.host, { retryStrategy: () => 20, maxRetriesPerRequest: null });
    redis.on("error", () => {});
    try {
      const sem = new RedisSemaphore(redis, fresh(), 1, { leaseMs });
      await redis.ping();
      await server.stop();
      await until("the client saw the loss", () => redis.status !== "ready");
      // Sent the moment the socket is back, before ioredis's ready check
      // ends: it waits in the offline queue and reaches the new server first.
      const sent = new Promise<{ at: number; permit: Promise<Awaited<ReturnType<typeof sem.acquire>>> }>((resolve) => {
        redis.once("connect", () => {
          expect(redis.status).toBe("connect");
          resolve({ at: performance.now(), permit: sem.acquire({ timeout: 5_000 }) });
        });
      });
      // The server starts after this instant, and grants nothing before it
      // is a lease old (its uptime is rounded down, so never earlier). Timed
      // from here, not from when start() returns: on a busy machine that can
      // be a second after the server came up and answered.
      const beforeStart = performance.now();
      await server.start();
      const { permit: pending } = await sent;
      const permit = await pending;
      // Not granted on arrival: the server is younger than a lease, and this
      // client's connection was lost (holders of the old state may remain).
      expect(performance.now() - beforeStart).toBeGreaterThan(leaseMs - 100);
      await permit.release();
      await sem.onIdle();
    } finally {
      redis.disconnect();
    }
  }, 30_000);

  it("an acquire on the wire when the server dies, re-sent by ioredis to the restarted server, is held off too", async () => {
    const { server } = own;
    const leaseMs = 1_500;
    const redis = new Redis(server.port, server.host, { retryStrategy: () => 20, maxRetriesPerRequest: null });
    redis.on("error", () => {});
    try {
      const sem = new RedisSemaphore(redis, fresh(), 1, { leaseMs, commandTimeoutMs: 10_000 });
      await (await sem.acquire()).release(); // Redis has answered this semaphore: its state existed
      await sem.onIdle();
      process.kill(server.pid!, "SIGSTOP"); // the next command is sent, never answered
      const pending = sem.acquire({ timeout: 10_000 });
      await sleep(50);
      await server.kill(); // its state is gone; ioredis re-sends the acquire, built before, to the new server
      // As above: the new server starts after this instant and grants
      // nothing before it is a lease old.
      const beforeStart = performance.now();
      await server.start();
      const permit = await pending;
      expect(performance.now() - beforeStart).toBeGreaterThan(leaseMs - 100);
      await permit.release();
      await sem.onIdle();
    } finally {
      redis.disconnect();
    }
  }, 30_000);
});

describe("numbers and bounds", () => {
  const own = ownRedis();

  it("weights up to 2^53 - 1 are stored exactly: the semaphore keeps working", async () => {
    const { redis } = own;
    const max = Number.MAX_SAFE_INTEGER;
    const sem = new RedisSemaphore(redis, fresh(), max, { restartGuard: false });
    const all = await sem.acquire({ weight: max });
    const snapshot = await sem.inspect();
    expect(snapshot.inUse).toBe(max);
    expect(snapshot.holders[0]!.weight).toBe(max);
    expect(await sem.tryAcquire(1)).toBeUndefined();
    await all.release();
    const big = await sem.acquire({ weight: 1e14 + 1 });
    const rest = await sem.tryAcquire(max - (1e14 + 1));
    expect(rest).toBeDefined();
    expect((await sem.inspect()).inUse).toBe(max);
    await big.release();
    await rest?.release();
    expect((await sem.inspect()).inUse).toBe(0);
  });

  it("rejects leaseMs and commandTimeoutMs past setTimeout's limit (2^31 - 1 ms), and a non-boolean restartGuard, naming them", () => {
    const { redis } = own;
    expect(() => new RedisSemaphore(redis, "bounds", 1, { leaseMs: 2 ** 33 })).toThrow(RangeError);
    expect(() => new RedisSemaphore(redis, "bounds", 1, { leaseMs: 2 ** 33 })).toThrow(/leaseMs.*2147483647/);
    expect(() => new RedisSemaphore(redis, "bounds", 1, { commandTimeoutMs: 2 ** 31 })).toThrow(/commandTimeoutMs/);
    expect(() => new RedisSemaphore(redis, "bounds", 1, { restartGuard: "no" as never })).toThrow(/restartGuard/);
    expect(new RedisSemaphore(redis, "bounds", 1, { leaseMs: 2 ** 31 - 1 }).leaseMs).toBe(2 ** 31 - 1);
  });
});
