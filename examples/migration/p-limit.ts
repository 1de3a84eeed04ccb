// Migrating from p-limit: the `permits` side. docs/migration/p-limit.md shows it
// next to the p-limit original; test/platform/examples.test.ts runs it.
import { limit, map } from "permit-pool";

/** p-limit's own call shape: `limit(fn, ...args)`. Only the import changes. */
export async function fetchAll(urls: string[], fetchText: (url: string) => Promise<string>): Promise<string[]> {
  const lim = limit(2); // was: pLimit(2)
  return Promise.all(urls.map((url) => lim(fetchText, url)));
}

/** The same introspection and control: activeCount, pendingCount, a settable concurrency, clearQueue(). */
export function controls(): { active: number; pending: number; concurrency: number } {
  const lim = limit(1);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  void lim(() => sleep(10));
  const queued = lim(() => sleep(10));
  lim.concurrency = 2; // grows at once: the queued call starts
  const state = { active: lim.activeCount, pending: lim.pendingCount, concurrency: lim.concurrency };
  lim.clearQueue(); // pending calls are dropped, as in p-limit (rejectOnClear: true makes them reject)
  void queued;
  return state;
}

/**
 * Beyond p-limit: for large or lazy inputs use map(). It reads the input only
 * as fast as slots free up, keeps results in input order, and on the first
 * error aborts the others (through `signal`) and rejects.
 */
export async function fetchAllLazily(
  urls: Iterable<string> | AsyncIterable<string>,
  fetchText: (url: string, signal: AbortSignal) => Promise<string>,
  signal?: AbortSignal,
): Promise<string[]> {
  return map(urls, (url, _index, context) => fetchText(url, context.signal), { concurrency: 2, signal });
}
