/**
 * `permit-pool/redis`: the `permits` semaphore contract enforced across processes
 * and machines through Redis, Valkey or Redis Cluster.
 *
 * Pass the client you already have (ioredis, iovalkey or node-redis v5);
 * `permit-pool/redis` depends on none of them.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore } from "permit-pool/redis";
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "partner-api", 3); // was: new Semaphore(3)
 * const pages = await Promise.all([1, 2, 3, 4, 5].map((page) => sem.run(async () => page * 10)));
 * console.log(pages); // [10, 20, 30, 40, 50]
 * redis.disconnect();
 * ```
 *
 * @packageDocumentation
 */

// Types only (Symbol.dispose, Disposable) for projects whose lib lacks esnext.disposable.
import "../core/disposable.js";
export { ClosedError, LeaseLostError, PermitsError } from "../core/errors.js";
export { AdaptiveMismatchError, CapacityMismatchError, RedisCommandError, RedisUnavailableError } from "./errors.js";
export { RedisPermit } from "./permit.js";
export {
  RedisLock,
  RedisSemaphore,
  type RedisAdaptiveOptions,
  type RedisRunOptions,
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
export type { RedisClient } from "./client.js";
