// Migrating from p-queue: the `permits` side. docs/migration/p-queue.md shows it
// next to the p-queue original; test/platform/examples.test.ts runs it.
import { Limiter, Semaphore } from "permit-pool";

/** queue.add(fn) → sem.run(fn); queue.onIdle() → sem.onIdle(); size/pending → queued/inUse. */
export async function crawl(urls: string[], fetchText: (url: string) => Promise<string>): Promise<string[]> {
  const sem = new Semaphore(2); // was: new PQueue({ concurrency: 2 })
  const results: string[] = [];
  for (const url of urls) {
    // was: void queue.add(async () => { ... })
    void sem.run(async () => {
      results.push(await fetchText(url));
    });
  }
  await sem.onIdle(); // was: await queue.onIdle()
  return results;
}

/** queue.add(fn, { signal }) → sem.run(fn, { signal }); p-queue's `timeout` bounds the task, ours bounds the wait. */
export async function cancellable(signal: AbortSignal): Promise<string> {
  const sem = new Semaphore(1);
  return sem.run(async () => "done", { signal, timeout: 1_000 });
}

/** intervalCap + interval → a Limiter: concurrency and a rate together. */
export function rateLimited(): Limiter {
  // was: new PQueue({ concurrency: 2, intervalCap: 10, interval: 1000 })
  return new Limiter({ concurrency: 2, rate: { limit: 10, interval: 1_000 } });
}

/** queue.add(fn, { priority }) → sem.run(fn, { priority }): higher first, equal priorities in order. */
export async function urgentFirst(): Promise<string[]> {
  const sem = new Semaphore(1); // was: new PQueue({ concurrency: 1 })
  const order: string[] = [];
  const busy = await sem.acquire();
  const jobs = [
    sem.run(() => void order.push("batch"), { priority: 0 }), // was: queue.add(fn, { priority: 0 })
    sem.run(() => void order.push("interactive"), { priority: 10 }), // was: queue.add(fn, { priority: 10 })
  ];
  busy.release();
  await Promise.all(jobs);
  return order;
}
