/**
 * Faults with a real redis-server: stopped and restarted mid-run, and a real
 * 3-master Redis Cluster.
 */
import { Cluster, Redis } from "ioredis";
import { createCluster } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaseLostError } from "../../src/core/errors.js";
import { RedisSemaphore, RedisUnavailableError } from "../../src/redis/index.js";
import { startRedisCluster, startRedisServer, type RedisCluster, type RedisServer } from "../helpers/redis-server.js";
import { until } from "../helpers/until.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A redis-server of this describe block's own (it gets stopped and restarted)
 * and an ioredis client that retries every 50 ms and fails a command after
 * one retry, so an outage shows instead of queueing.
 */
function ownRedis(): { readonly server: RedisServer; readonly redis: Redis } {
  const own = {} as { server: RedisServer; redis: Redis };
  beforeAll(async () => {
    own.server = await startRedisServer();
    own.redis = new Redis(own.server.port, own.server.host, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    own.redis.on("error", () => {}); // the outage is the point of these tests
    await own.redis.ping();
  });
  afterAll(async () => {
    own.redis.disconnect();
    await own.server.stop();
  });
  return own;
}

describe("Redis stopped and restarted during a run", () => {
  const own = ownRedis();

  it("rejects with a clear error naming the server, never hangs, loses held leases, and works again once Redis is back", async () => {
    const { server, redis } = own;
    const sem = new RedisSemaphore(redis, "outage", 1, { leaseMs: 600, commandTimeoutMs: 1_000 });
    const holder = await sem.acquire();
    const lost = new Promise<unknown>((resolve) => holder.signal.addEventListener("abort", () => resolve(holder.signal.reason)));
    const waiter = sem.acquire();
    const waiterOutcome = waiter.then(
      () => "granted",
      (error: unknown) => error,
    );
    await until("queued in Redis", async () => (await sem.inspect()).waiters.length === 1);

    await server.stop();
    const started = Date.now();
    const error = await sem.acquire().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as Error).message).toContain(`127.0.0.1:${server.port}`);
    expect(Date.now() - started).toBeLessThan(1_500);

    // The queued waiter learns at its next heartbeat instead of hanging.
    const waited = await waiterOutcome;
    expect(waited).toBeInstanceOf(RedisUnavailableError);
    // The held permit's lease cannot be renewed: its signal aborts once the lease has run out.
    const reason = await lost;
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect((reason as Error).cause).toBeInstanceOf(RedisUnavailableError);
    await holder.release(); // never rejects, even with Redis down

    await server.start();
    await until("client reconnected", () => redis.status === "ready");
    const again = await sem.acquire({ timeout: 2_000 });
    // Redis lost everything (no persistence), yet fencing tokens still go up:
    // the counter restarts from the server clock.
    expect(again.token).toBeGreaterThan(holder.token);
    await again.release();
    await sem.onIdle();
  }, 30_000);
});

describe("Redis unavailable with whenUnavailable: \"wait\"", () => {
  const own = ownRedis();

  it("waits through an outage (bounded by timeout and signal) and is granted once Redis is back", async () => {
    const { server, redis } = own;
    const sem = new RedisSemaphore(redis, "outage-wait", 1, { leaseMs: 3_000, whenUnavailable: "wait" });
    const held = await sem.acquire();
    const queued = sem.acquire(); // queued before the outage
    await until("queued in Redis", async () => (await sem.inspect()).waiters.length === 1);
    await server.stop();
    const during = sem.acquire(); // asked during the outage
    const bounded = sem.acquire({ timeout: 300 });
    await expect(bounded).rejects.toMatchObject({ name: "TimeoutError" });
    await expect(sem.tryAcquire()).rejects.toBeInstanceOf(RedisUnavailableError);
    await sleep(300);
    await server.start(); // empty: no persistence
    await until("client reconnected", () => redis.status === "ready");
    await held.release(); // its lease is gone with the data; nothing to free
    const first = await queued;
    await first.release();
    const second = await during;
    expect(second.token).toBeGreaterThan(first.token);
    await second.release();
    await sem.onIdle();
  }, 30_000);
});

describe("the subscriber connection across a restart", () => {
  const own = ownRedis();

  it("subscribes again after Redis restarts: a release still wakes the next waiter by push, not at the next heartbeat", async () => {
    // leaseMs 30 s: heartbeats every 10 s, so a grant within 2 s was pushed.
    // The restart guard would hold off grants for that lease after the
    // restart; this test is about wake-ups, so it is off here.
    const { server, redis } = own;
    const sem = new RedisSemaphore(redis, "resubscribe", 1, { leaseMs: 30_000, whenUnavailable: "wait", restartGuard: false });
    const held = await sem.acquire();
    const waiting = [sem.acquire(), sem.acquire()];
    await until("both queued", async () => (await sem.inspect()).waiters.length === 2);

    await server.stop();
    await sleep(100);
    await server.start(); // empty: no persistence, so both waiters are queued again
    await until("client reconnected", () => redis.status === "ready");
    await held.release();

    const tagged = waiting.map((p, i) => p.then((permit) => ({ permit, i })));
    const first = await Promise.race(tagged);
    await until("the other one queued again", async () => (await sem.inspect()).waiters.length === 1);
    const released = Date.now();
    await first.permit.release();
    const second = await tagged[1 - first.i]!;
    expect(Date.now() - released).toBeLessThan(2_000);
    expect(second.permit.token).toBeGreaterThan(first.permit.token);
    await second.permit.release();
    await sem.onIdle();
  }, 30_000);
});

describe("a subscription that cannot be renewed at once", () => {
  const own = ownRedis();

  it("is subscribed again once it can be: a failed resubscription does not leave wake-ups to the heartbeat for good", async () => {
    // The client's user loses its channel permissions: Redis closes the
    // subscriber connection, whose resubscription then fails (NOPERM). Once
    // the permissions are back, the next release must wake the waiter by
    // push — with leaseMs 30 s the heartbeat would come only after 10 s.
    const { server } = own;
    await server.cli("ACL", "SETUSER", "app", "on", "nopass", "~*", "&*", "+@all");
    const redis = new Redis(server.port, server.host, { username: "app", password: "x", retryStrategy: () => 50 });
    redis.on("error", () => {});
    try {
      const sem = new RedisSemaphore(redis, "resubscribe-acl", 1, { leaseMs: 30_000, restartGuard: false });
      const held = await sem.acquire();
      const waiting = sem.acquire();
      const subscribers = async (): Promise<number> =>
        Number((await server.cli("PUBSUB", "SHARDNUMSUB", "permits:{resubscribe-acl}:wake")).trim().split(/\s+/)[1]);
      await until("the waiter's subscription is in place", async () => (await subscribers()) === 1);

      await server.cli("ACL", "LOG", "RESET");
      await server.cli("ACL", "SETUSER", "app", "resetchannels");
      await until("a resubscription was refused", async () => (await server.cli("ACL", "LOG")).includes("resubscribe-acl"));
      expect(await subscribers()).toBe(0);
      await server.cli("ACL", "SETUSER", "app", "allchannels");
      await until("subscribed again", async () => (await subscribers()) === 1, 8_000);

      const released = Date.now();
      await held.release();
      const next = await waiting;
      expect(Date.now() - released).toBeLessThan(2_000);
      await next.release();
      await sem.onIdle();
    } finally {
      redis.disconnect();
    }
  }, 30_000);
});

describe("Redis Cluster (3 masters on loopback)", () => {
  let cluster: RedisCluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);

  afterAll(async () => {
    await cluster.stop();
  });

  /** Two names whose hash tags land on different masters. */
  async function namesOnDifferentNodes(): Promise<[string, string]> {
    const node = cluster.nodes[0]!;
    const owner = (slot: number): number => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);
    const found = new Map<number, string>();
    for (let i = 0; found.size < 2 && i < 100; i++) {
      const name = `cluster-sem-${i}`;
      const slot = Number((await node.cli("CLUSTER", "KEYSLOT", `{${name}}`)).trim());
      if (!found.has(owner(slot))) found.set(owner(slot), name);
    }
    const [a, b] = [...found.values()];
    return [a!, b!];
  }

  it("two semaphores in different slots work side by side with ioredis Cluster: no CROSSSLOT, wake-ups delivered", async () => {
    const [nameA, nameB] = await namesOnDifferentNodes();
    const one = new Cluster([...cluster.startupNodes]);
    const two = new Cluster([...cluster.startupNodes]);
    try {
      const holders = [new RedisSemaphore(one, nameA, 1), new RedisSemaphore(one, nameB, 1)];
      const waiters = [new RedisSemaphore(two, nameA, 1), new RedisSemaphore(two, nameB, 1)];
      const held = await Promise.all(holders.map((s) => s.acquire()));
      // leaseMs is 10 s, so heartbeats come every 3.3 s: a grant within 1 s was pushed.
      const waiting = waiters.map((s) => s.acquire({ timeout: 1_000 }));
      await until("both queued", async () => {
        const snapshots = await Promise.all(holders.map((s) => s.inspect()));
        return snapshots.every((s) => s.waiters.length === 1);
      });
      for (const permit of held) await permit.release();
      const granted = await Promise.all(waiting);
      expect(granted[0]!.token).toBeGreaterThan(held[0]!.token);
      expect(granted[1]!.token).toBeGreaterThan(held[1]!.token);
      for (const permit of granted) await permit.release();
    } finally {
      one.disconnect();
      two.disconnect();
    }
  }, 30_000);

  it("works with a node-redis v5 cluster client too", async () => {
    const [nameA, nameB] = await namesOnDifferentNodes();
    const rootNodes = cluster.startupNodes.map((n) => ({ url: `redis://${n.host}:${n.port}` }));
    const one = createCluster({ rootNodes });
    const two = createCluster({ rootNodes });
    one.on("error", () => {});
    two.on("error", () => {});
    await Promise.all([one.connect(), two.connect()]);
    try {
      const holders = [new RedisSemaphore(one, `nr-${nameA}`, 1), new RedisSemaphore(one, `nr-${nameB}`, 1)];
      const waiters = [new RedisSemaphore(two, `nr-${nameA}`, 1), new RedisSemaphore(two, `nr-${nameB}`, 1)];
      const held = await Promise.all(holders.map((s) => s.acquire()));
      const waiting = waiters.map((s) => s.acquire({ timeout: 1_500 }));
      await until("both queued", async () => {
        const snapshots = await Promise.all(holders.map((s) => s.inspect()));
        return snapshots.every((s) => s.waiters.length === 1);
      });
      for (const permit of held) await permit.release();
      const granted = await Promise.all(waiting);
      for (const permit of granted) await permit.release();
    } finally {
      one.destroy();
      two.destroy();
    }
  }, 30_000);
});
