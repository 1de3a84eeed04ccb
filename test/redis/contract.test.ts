/**
 * The core semaphore contract (test/contract/semaphore-contract.ts), run
 * unchanged against RedisSemaphore on a real redis-server, through each
 * supported client: ioredis, iovalkey and node-redis v5.
 */
import { Redis } from "ioredis";
import { Redis as Valkey } from "iovalkey";
import { createClient } from "redis";
import { afterAll, beforeAll } from "vitest";
import { RedisSemaphore } from "../../src/redis/index.js";
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
