/**
 * How a Redis error reply is classified, the same for every Redis limiter
 * (one `callScript` in src/redis/client.ts): replies that mean "not now"
 * (OOM, READONLY, …) are a `RedisUnavailableError` whose message says what
 * to change; a reply that means "never, as sent" is a `RedisCommandError`.
 * Real servers: a primary made full with `maxmemory 1` + `noeviction`, and a
 * replica of it (which answers READONLY to a write). ioredis and node-redis.
 */
import { Redis } from "ioredis";
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisCommandError, RedisRateLimiter, RedisSemaphore, RedisUnavailableError, type RedisClient } from "../../src/redis/index.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";

let primary: RedisServer;
let replica: RedisServer;
const clients: { disconnect(): unknown }[] = [];
let n = 0;
const fresh = (): string => `reply-${n++}-${Date.now()}`;

beforeAll(async () => {
  primary = await startRedisServer();
  replica = await startRedisServer({ replicaOf: primary.port });
});

afterAll(async () => {
  for (const client of clients.splice(0)) await client.disconnect();
  await replica.stop();
  await primary.stop();
});

type Family = "ioredis" | "node-redis";

async function connect(server: RedisServer, family: Family): Promise<RedisClient> {
  if (family === "ioredis") {
    const client = new Redis(server.port, server.host);
    clients.push(client);
    return client;
  }
  const client = createClient({ url: server.url });
  client.on("error", () => {});
  await client.connect();
  clients.push({ disconnect: () => client.destroy() });
  return client;
}

/** What each limiter's first call rejects with. */
async function failures(client: RedisClient): Promise<Record<string, unknown>> {
  const sem = new RedisSemaphore(client, fresh(), 2, { restartGuard: false });
  const rate = new RedisRateLimiter(client, fresh(), { limit: 5, interval: 1_000 });
  const out: Record<string, unknown> = {
    "RedisSemaphore.acquire": await sem.acquire().then(() => "granted", (e: unknown) => e),
    "RedisSemaphore.tryAcquire": await sem.tryAcquire().then(() => "granted", (e: unknown) => e),
    "RedisRateLimiter.acquire": await rate.acquire().then(() => "granted", (e: unknown) => e),
    "RedisRateLimiter.tryAcquire": await rate.tryAcquire().then(() => "granted", (e: unknown) => e),
    "RedisRateLimiter.pause": await rate.pause(1_000).then(() => "paused", (e: unknown) => e),
  };
  await sem.close();
  rate.close();
  await sem.onIdle();
  await rate.onIdle();
  return out;
}

function expectUnavailable(got: Record<string, unknown>, reply: RegExp, hint: RegExp): void {
  for (const [call, error] of Object.entries(got)) {
    expect(error, call).toBeInstanceOf(RedisUnavailableError);
    const message = (error as Error).message;
    expect(message, call).toMatch(reply);
    expect(message, call).toMatch(hint);
    expect((error as Error).cause, call).toBeInstanceOf(Error);
  }
}

describe.each<Family>(["ioredis", "node-redis"])("reply errors with %s: every Redis limiter classifies them alike", (family) => {
  it("a full server (OOM under maxmemory with noeviction) is 'unavailable', and the message says which setting to change", async () => {
    const client = await connect(primary, family);
    await primary.cli("CONFIG", "SET", "maxmemory-policy", "noeviction");
    await primary.cli("CONFIG", "SET", "maxmemory", "1");
    try {
      expectUnavailable(await failures(client), /OOM/, /raise `maxmemory`/);
    } finally {
      await primary.cli("CONFIG", "SET", "maxmemory", "0");
    }
  });

  it("a replica (READONLY, e.g. still connected to the old primary after a failover) is 'unavailable', and the message says so", async () => {
    const client = await connect(replica, family);
    expectUnavailable(await failures(client), /READONLY/, /reaches a replica, not the primary/);
  });

  it("a reply that will never succeed as sent (a key of the wrong type) is a RedisCommandError in both", async () => {
    const client = await connect(primary, family);
    const name = fresh();
    await primary.cli("SET", `permits:{${name}}:rate`, "not a hash");
    await primary.cli("SET", `permits:{${name}}:meta`, "not a hash");
    const rate = new RedisRateLimiter(client, name, { limit: 5, interval: 1_000 });
    const sem = new RedisSemaphore(client, name, 2, { restartGuard: false });
    for (const error of [await rate.acquire().catch((e: unknown) => e), await sem.acquire().catch((e: unknown) => e)]) {
      expect(error).toBeInstanceOf(RedisCommandError);
      expect((error as Error).message).toMatch(/WRONGTYPE/);
    }
    await sem.close();
    rate.close();
  });
});
