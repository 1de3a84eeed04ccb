// Migrating from async-sema: the `permits` side. docs/migration/async-sema.md
// shows it next to the async-sema original; test/platform/examples.test.ts runs it.
import { RateLimiter, Semaphore } from "permits";

/** acquire()/release() in try/finally → a Permit released by `using` (or by run()). */
export async function withPermit(sem: Semaphore, work: () => Promise<number>): Promise<number> {
  // was: await sema.acquire(); try { return await work(); } finally { sema.release(); }
  using _permit = await sem.acquire();
  return await work();
}

/** nrWaiting() → queued; tryAcquire() stays, and never jumps the queue. */
export function introspect(sem: Semaphore): { waiting: number; free: number } {
  return { waiting: sem.queued, free: sem.available }; // was: sema.nrWaiting()
}

/** RateLimit(5) (5 per second) → a RateLimiter you acquire from the same way. */
export async function rateLimitedLoop(n: number): Promise<number> {
  const rate = new RateLimiter({ limit: 5, interval: 1_000, burst: 5 }); // was: const lim = RateLimit(5)
  let done = 0;
  for (let i = 0; i < n; i++) {
    await rate.acquire(); // was: await lim()
    done++;
  }
  return done;
}
