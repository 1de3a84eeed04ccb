/**
 * Type tests of the client parameter of permit-pool/redis: every supported
 * client fits `RedisClient`; an object that is no Redis client does not, so
 * `new RedisSemaphore({}, …)` fails at compile time, not at run time.
 */
import { Cluster as IoredisCluster, Redis as Ioredis } from "ioredis";
import { Cluster as ValkeyCluster, Redis as Valkey } from "iovalkey";
import { createClient, createCluster } from "redis";
import { describe, expectTypeOf, test } from "vitest";
import { RedisLock, RedisRateLimiter, RedisSemaphore, type RedisClient } from "../../src/redis/index.js";

describe("RedisClient", () => {
  test("ioredis and iovalkey clients, standalone and Cluster, fit", () => {
    expectTypeOf<Ioredis>().toExtend<RedisClient>();
    expectTypeOf<IoredisCluster>().toExtend<RedisClient>();
    expectTypeOf<Valkey>().toExtend<RedisClient>();
    expectTypeOf<ValkeyCluster>().toExtend<RedisClient>();
  });

  test("node-redis v5 clients, createClient and createCluster, fit", () => {
    expectTypeOf<ReturnType<typeof createClient>>().toExtend<RedisClient>();
    expectTypeOf<ReturnType<typeof createCluster>>().toExtend<RedisClient>();
  });

  test("objects that are no Redis client do not fit", () => {
    expectTypeOf<object>().not.toExtend<RedisClient>();
    expectTypeOf<{ get(key: string): Promise<string | null> }>().not.toExtend<RedisClient>();
    // Half an ioredis client: no `status`, so the adapter could not tell it is connected.
    expectTypeOf<{ evalsha(): unknown; eval(): unknown; duplicate(): unknown }>().not.toExtend<RedisClient>();
  });

  test("the constructors take a RedisClient and refuse anything else", () => {
    expectTypeOf<ConstructorParameters<typeof RedisSemaphore>[0]>().toEqualTypeOf<RedisClient>();
    expectTypeOf<ConstructorParameters<typeof RedisLock>[0]>().toEqualTypeOf<RedisClient>();
    expectTypeOf<ConstructorParameters<typeof RedisRateLimiter>[0]>().toEqualTypeOf<RedisClient>();
    const never = (): void => {
      // @ts-expect-error `{}` is no Redis client
      void new RedisSemaphore({}, "jobs", 3);
      // @ts-expect-error `{}` is no Redis client
      void new RedisLock({}, "jobs");
      // @ts-expect-error `{}` is no Redis client
      void new RedisRateLimiter({}, "jobs", { limit: 10, interval: 1_000 });
      void new RedisSemaphore(new Ioredis({ lazyConnect: true }), "jobs", 3);
      void new RedisLock(createClient(), "jobs");
    };
    expectTypeOf(never).toBeFunction();
  });
});

describe("RedisSemaphore with adaptive", () => {
  test("the options take the capacity's place; a capacity with adaptive, or options without it, do not compile", () => {
    const never = (redis: Ioredis): void => {
      void new RedisSemaphore(redis, "api", { adaptive: { algorithm: "aimd", initial: 8, max: 64 }, leaseMs: 5_000 });
      void new RedisSemaphore(redis, "api", 3, { leaseMs: 5_000 });
      // @ts-expect-error options without `adaptive` are no capacity
      void new RedisSemaphore(redis, "api", { leaseMs: 5_000 });
      // @ts-expect-error only "aimd" runs on Redis
      void new RedisSemaphore(redis, "api", { adaptive: { algorithm: "gradient2" } });
      // @ts-expect-error a lock has no adaptive limit
      void new RedisLock(redis, "lock", { adaptive: {} });
    };
    void never;
  });

  test("permits end with release, drop or ignore; run() takes isDrop", () => {
    const sem = null as unknown as RedisSemaphore;
    expectTypeOf(sem.limit).toEqualTypeOf<number>();
    void sem.run(() => 1, { isDrop: (error) => error instanceof TypeError, timeout: 1_000 });
    void sem.acquire().then(async (permit) => {
      expectTypeOf(permit.drop()).toEqualTypeOf<Promise<void>>();
      expectTypeOf(permit.ignore()).toEqualTypeOf<Promise<void>>();
      await permit.release();
    });
  });
});
