/**
 * `permits/redis`: the `permits` semaphore contract enforced across processes
 * and machines through Redis, Valkey or Redis Cluster.
 *
 * Pass the client you already have (ioredis, iovalkey or node-redis v5);
 * `permits/redis` depends on none of them.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore } from "permits/redis";
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "partner-api", 3); // was: new Semaphore(3)
 * const pages = await Promise.all([1, 2, 3, 4, 5].map((page) => sem.run(async () => page * 10)));
 * console.log(pages); // [10, 20, 30, 40, 50]
 * redis.disconnect();
 * ```
 *
 * @packageDocumentation
 */

export { ClosedError, LeaseLostError, PermitsError } from "../core/errors.js";
export { CapacityMismatchError, RedisCommandError, RedisUnavailableError } from "./errors.js";
export {
  RedisLock,
  RedisPermit,
  RedisSemaphore,
  type RedisSemaphoreOptions,
  type RedisSemaphoreSnapshot,
  type RedisSemaphoreStats,
} from "./semaphore.js";
export {
  RedisRateLimiter,
  RedisRatePermit,
  type RedisRateLimiterOptions,
  type RedisRateLimiterStats,
} from "./rate.js";
export type { AcquireOptions } from "../core/semaphore.js";
