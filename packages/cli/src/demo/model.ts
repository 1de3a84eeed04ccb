/**
 * The demo's vocabulary: the approaches and what a measured run of one
 * looks like. No runtime imports, so the renderers can be tested alone.
 *
 * @module
 */

/**
 * The approaches, numbered in this order: the article's three, `limitFetch`,
 * and (5, only on request) the article's lock version with asyncio's lock
 * semantics, to separate what the article's code does from what its
 * JavaScript port does.
 */
export const APPROACHES = ["polled", "locked", "semaphore", "limitFetch", "lockedAsyncio"] as const;
/** One of {@link APPROACHES}. */
export type ApproachKey = (typeof APPROACHES)[number];
/** What `permits demo` runs without `--only`/`--all`: the four of the issue. */
export const DEFAULT_APPROACHES: readonly ApproachKey[] = ["polled", "locked", "semaphore", "limitFetch"];

/** Display names and the line of code each approach hinges on. */
export const APPROACH_INFO: Record<ApproachKey, { title: string; code: string }> = {
  polled: { title: "polled counter", code: "while (connections >= limit) await sleep(100); connections += 1" },
  locked: { title: "counter + Lock", code: "(same loop); { await using _ = await lock.acquire(); connections += 1 }" },
  semaphore: { title: "Semaphore", code: "await sem.run(async () => (await fetch(url)).text())" },
  limitFetch: { title: "limitFetch", code: "await (await limitFetch({ concurrency: limit })(url)).text()" },
  lockedAsyncio: {
    title: "Lock (asyncio)",
    code: "(same loop); { using _ = lock.tryAcquire() ?? await lock.acquire(); connections += 1 }",
  },
};

/** One wake-up of a polling loop: when, and whether it found the limit still full. */
export interface WakeUp {
  /** Milliseconds since the approach started. */
  at: number;
  /** True when the loop went back to sleep (the wake-up achieved nothing). */
  wasted: boolean;
}

/** What happened to one request, in milliseconds since the approach started. */
export interface Trace {
  /** 1-based request number. */
  id: number;
  /** When the request was asked for (all of them at 0, as in `asyncio.gather`). */
  queued: number;
  /** When it got past the limit and was sent; `undefined` if it never was. */
  started: number | undefined;
  /** When its body had been read (the request was done); `undefined` if it failed. */
  ended: number | undefined;
  /** Wake-ups of the polling loop, if the approach polls. */
  wakeUps: WakeUp[];
  /** Set when the request failed. */
  error?: string;
}

/** One request as the server saw it, in milliseconds since the approach started. */
export interface ServerSpan {
  /** The request number, or -1 when the server could not tell. */
  id: number;
  /** When its headers arrived. */
  start: number;
  /** When the response was completely written. */
  end: number;
}

/** The measured outcome of one approach. */
export interface ApproachRun {
  /** Which approach. */
  key: ApproachKey;
  /** The limit it was asked to hold. */
  limit: number;
  /** One trace per request, in request order. */
  traces: Trace[];
  /** What the server served, in arrival order. */
  server: ServerSpan[];
  /** The most requests the server served at once. */
  serverPeak: number;
  /** From the first request asked for to the last one done. */
  totalMs: number;
}
