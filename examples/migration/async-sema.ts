// Migrating from async-sema: the `permits` side. docs/migration/async-sema.md
// shows it next to the async-sema original; test/platform/examples.test.ts runs it.
import { RateLimiter, Semaphore } from "permit-pool";

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

/**
 * A token pool — new Sema(n, { initFn }), where acquire() hands out a token
 * (a connection, a buffer) and release(token) takes it back — is a Semaphore
 * next to an array of the tokens: a permit guarantees a free token, so pop()
 * never comes back empty, and the token goes back however `fn` ends.
 */
export function tokenPool<T>(tokens: readonly T[]): <R>(fn: (token: T) => Promise<R>) => Promise<R> {
  const free = [...tokens];
  const sem = new Semaphore(free.length); // was: new Sema(tokens.length, { initFn: () => tokens.pop() })
  return (fn) =>
    sem.run(async () => {
      const token = free.pop() as T; // was: const token = await sema.acquire()
      try {
        return await fn(token);
      } finally {
        free.push(token); // was: sema.release(token)
      }
    });
}
