/**
 * The core semaphore contract (test/contract/semaphore-contract.ts), run
 * unchanged against RedisSemaphore on a real redis-server, through each
 * supported client: ioredis, iovalkey and node-redis v5; and the scheduling
 * contract (test/contract/scheduling-contract.ts: priority, fair share),
 * and the FIFO contract again on a semaphore whose queue is scheduled.
 */
import { Redis } from "ioredis";
import { Redis as Valkey } from "iovalkey";
import { createClient } from "redis";
import { afterAll, beforeAll } from "vitest";
import { RedisSemaphore, type RedisPermit } from "../../src/redis/index.js";
import { schedulingContract } from "../contract/scheduling-contract.js";
import { semaphoreContract, type SemaphoreLike } from "../contract/semaphore-contract.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";

let server: RedisServer;
let ioredis: Redis;
let valkey: Valkey;
let nodeRedis: ReturnType<typeof createClient>;
let n = 0;

beforeAll(async () => {
  server = await startRedisServer();
  ioredis = new Redis(server.port, server.host);
  valkey = new Valkey(server.port, server.host);
  nodeRedis = createClient({ url: server.url });
  nodeRedis.on("error", () => {});
  await nodeRedis.connect();
  await Promise.all([ioredis.ping(), valkey.ping()]);
});

afterAll(async () => {
  ioredis.disconnect();
  valkey.disconnect();
  nodeRedis.destroy();
  await server.stop();
});

for (const [label, client] of [
  ["ioredis", () => ioredis],
  ["iovalkey", () => valkey],
  ["node-redis", () => nodeRedis],
] as const) {
  semaphoreContract(`RedisSemaphore (${label})`, async (capacity) => {
    const sem = new RedisSemaphore(client(), `contract-${label}-${n++}`, capacity, { leaseMs: 5_000 });
    return {
      sem: sem as unknown as SemaphoreLike,
      async dispose() {
        await sem.close();
      },
    };
  });
}

// Priority and fair share, decided in the scripts. Each waiter is queued
// only once the one before it surely is (a few ms: one round trip).
schedulingContract(
  "RedisSemaphore",
  async (capacity, options) => {
    const sem = new RedisSemaphore(ioredis, `sched-${n++}`, capacity, { leaseMs: 5_000, ...options });
    return {
      sem,
      async dispose() {
        await sem.close();
      },
    };
  },
  15,
);

// The FIFO contract holds on the scheduled path too: every waiter of one
// tenant at priority 0 goes through the serving order (not the plain FIFO),
// where it must keep arrival order, head-of-line blocking and cancellation.
semaphoreContract("RedisSemaphore, scheduled queue (one tenant)", async (capacity) => {
  const sem = new RedisSemaphore(ioredis, `sched-fifo-${n++}`, capacity, { leaseMs: 5_000, weights: () => 2 });
  const withTenant = <O extends object>(options?: O) => ({ tenant: "t", ...options });
  const wrapped = {
    get capacity() {
      return sem.capacity;
    },
    stats: () => sem.stats(),
    acquire: (options?: Parameters<RedisSemaphore["acquire"]>[0]) => sem.acquire(withTenant(options)),
    tryAcquire: (weight?: number) => sem.tryAcquire(weight),
    run: <T>(fn: (permit: RedisPermit) => T | PromiseLike<T>, options?: Parameters<RedisSemaphore["run"]>[1]) =>
      sem.run(fn, withTenant(options)),
    close: (reason?: unknown) => sem.close(reason),
    onIdle: () => sem.onIdle(),
  };
  return {
    sem: wrapped as unknown as SemaphoreLike,
    async dispose() {
      await sem.close();
    },
  };
});

// The contract on the adaptive path: a limit pinned by `min` = `max` never
// moves, so every rule of the fixed semaphore must hold while every release
// goes through the marked, sampling release script and the limit rides on
// every reply and message.
semaphoreContract("RedisSemaphore with adaptive (min = max: a pinned limit)", async (capacity) => {
  const sem = new RedisSemaphore(ioredis, `adaptive-${n++}`, {
    adaptive: { initial: capacity, min: capacity, max: capacity },
    leaseMs: 5_000,
  });
  return {
    sem: sem as unknown as SemaphoreLike,
    async dispose() {
      await sem.close();
    },
  };
});
