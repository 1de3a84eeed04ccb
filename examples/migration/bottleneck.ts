// Migrating from Bottleneck: the `permits` side. docs/migration/bottleneck.md
// shows it next to the Bottleneck original; test/platform/examples.test.ts runs it.
import { Limiter, limitFunction } from "permit-pool";

/** maxConcurrent + minTime → concurrency + a rate of one per minTime. */
export function makeLimiter(): Limiter {
  // was: new Bottleneck({ maxConcurrent: 2, minTime: 50 })
  return new Limiter({ concurrency: 2, rate: { limit: 1, interval: 50 } });
}

/** limiter.schedule(fn) → limiter.run(fn). */
export async function scheduleAll(limiter: Limiter, jobs: (() => Promise<number>)[]): Promise<number[]> {
  return Promise.all(jobs.map((job) => limiter.run(job)));
}

/** limiter.wrap(fn) → limitFunction(fn, { concurrency }). */
export function wrapped(fn: (id: number) => Promise<string>): (id: number) => Promise<string> {
  return limitFunction(fn, { concurrency: 2 });
}
