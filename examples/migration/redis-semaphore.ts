// Migrating from redis-semaphore: the `permits` side. docs/migration/redis-semaphore.md
// shows it next to the redis-semaphore original; test/platform/examples.test.ts runs it
// against a real redis-server on loopback.
import type { Redis } from "ioredis";
import { RedisLock, RedisSemaphore } from "permit-pool/redis";

/** new Semaphore(client, key, 3, options) → new RedisSemaphore(client, name, 3, options); run() releases for you. */
export async function callPartner(redis: Redis, call: () => Promise<string>): Promise<string> {
  // was: new Semaphore(redis, "partner-api", 3, { lockTimeout: 10_000, acquireTimeout: 5_000 })
  const sem = new RedisSemaphore(redis, "partner-api", 3, { leaseMs: 10_000 });
  try {
    return await sem.run(
      async (permit) => {
        // The lease is renewed while you hold the permit; if it is lost anyway
        // (a long GC pause, a partition), permit.signal aborts: stop the work.
        permit.signal.throwIfAborted();
        return call();
      },
      { timeout: 5_000 }, // was: acquireTimeout
    );
  } finally {
    await sem.close();
  }
}

/** Mutex → RedisLock; the fencing token lets the resource reject a stale holder. */
export async function exclusive(redis: Redis): Promise<number> {
  const lock = new RedisLock(redis, "nightly-job"); // was: new Mutex(redis, "nightly-job")
  try {
    const permit = await lock.acquire();
    const token = permit.token; // strictly increasing per lock: pass it to the store you write to
    await permit.release();
    return token;
  } finally {
    await lock.close();
  }
}
