/**
 * The seed article's scenario — N requests to one server, at most `limit` at
 * once — ported four ways, each as the article writes it, with tracing that
 * never adds an `await` (so the tracing cannot change the interleaving it
 * measures).
 *
 * Ported line by line:
 * 1. `polled`: `while connections >= limit: await sleep(0.1)`, then `connections += 1`.
 * 2. `locked`: the same loop, then `async with connections_lock: connections += 1`
 *    — the check stays outside the lock, exactly as in the article.
 *    `async with lock:` becomes `await using _ = await lock.acquire()`.
 * 3. `semaphore`: `async with sem:` becomes `await sem.run(...)`.
 * 4. `limitFetch`: the limit moves into `fetch` itself (`permit-pool/http`).
 *
 * @module
 */
import { Lock, Semaphore } from "permit-pool";
import { limitFetch } from "permit-pool/http";
import type { ApproachKey, ApproachRun, ServerSpan, Trace } from "./model.js";
import { REQUEST_ID_HEADER, type DemoServer } from "./server.js";

export { APPROACH_INFO, APPROACHES, DEFAULT_APPROACHES, type ApproachKey, type ApproachRun, type ServerSpan, type Trace, type WakeUp } from "./model.js";

/** What every approach gets to work with. */
export interface ScenarioContext {
  /** The server's URL. */
  url: string;
  /** How many requests to make. */
  requests: number;
  /** The limit on simultaneous requests. */
  limit: number;
  /** Sleep of the polling loops, in ms (the article's `asyncio.sleep(0.1)`). */
  poll: number;
  /** The `fetch` to call; the global one by default (tests pass a fake driven by fake timers). */
  fetch?: typeof fetch;
}

/** What {@link runApproach} needs of the server: its records since the last reset. */
export type ServerProbe = Pick<DemoServer, "reset" | "served" | "peak">;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const requestInit = (id: number): RequestInit => ({ headers: { [REQUEST_ID_HEADER]: String(id) } });

type Clock = () => number;

/** Runs `makeRequest` for every trace at once, like `asyncio.gather(*(make_request() for _ in range(n)))`. */
async function gather(traces: Trace[], makeRequest: (trace: Trace) => Promise<void>): Promise<void> {
  await Promise.all(
    traces.map((trace) =>
      makeRequest(trace).catch((error: unknown) => {
        trace.error = error instanceof Error ? error.message : String(error);
      }),
    ),
  );
}

/** 1. The article's first version: a counter and a polling loop. */
async function polled(ctx: ScenarioContext, traces: Trace[], now: Clock): Promise<void> {
  const fetch = ctx.fetch ?? globalThis.fetch;
  let connections = 0;
  await gather(traces, async (trace) => {
    while (connections >= ctx.limit) {
      await sleep(ctx.poll);
      trace.wakeUps.push({ at: now(), wasted: connections >= ctx.limit });
    }
    connections += 1;
    trace.started = now();
    const response = await fetch(ctx.url, requestInit(trace.id));
    await response.text();
    connections -= 1;
    trace.ended = now();
  });
}

/** 2. The article's second version: the same loop, the counter changed under a Lock (checked outside it). */
async function locked(ctx: ScenarioContext, traces: Trace[], now: Clock): Promise<void> {
  const fetch = ctx.fetch ?? globalThis.fetch;
  let connections = 0;
  const connectionsLock = new Lock();
  await gather(traces, async (trace) => {
    while (connections >= ctx.limit) {
      await sleep(ctx.poll);
      trace.wakeUps.push({ at: now(), wasted: connections >= ctx.limit });
    }
    {
      // `async with connections_lock:` — in JavaScript this `await` always yields, even for a free lock.
      await using _held = await connectionsLock.acquire();
      connections += 1;
    }
    trace.started = now();
    const response = await fetch(ctx.url, requestInit(trace.id));
    await response.text();
    {
      await using _held = await connectionsLock.acquire();
      connections -= 1;
    }
    trace.ended = now();
  });
}

/**
 * 5. The article's second version with asyncio's lock semantics: `asyncio.Lock`
 * takes a free lock without suspending the coroutine, so in Python nothing runs
 * between the check and the increment. `tryAcquire()` is that fast path here.
 */
async function lockedAsyncio(ctx: ScenarioContext, traces: Trace[], now: Clock): Promise<void> {
  const fetch = ctx.fetch ?? globalThis.fetch;
  let connections = 0;
  const connectionsLock = new Lock();
  await gather(traces, async (trace) => {
    while (connections >= ctx.limit) {
      await sleep(ctx.poll);
      trace.wakeUps.push({ at: now(), wasted: connections >= ctx.limit });
    }
    {
      using _held = connectionsLock.tryAcquire() ?? (await connectionsLock.acquire());
      connections += 1;
    }
    trace.started = now();
    const response = await fetch(ctx.url, requestInit(trace.id));
    await response.text();
    {
      using _held = connectionsLock.tryAcquire() ?? (await connectionsLock.acquire());
      connections -= 1;
    }
    trace.ended = now();
  });
}

/** 3. The article's third version: a Semaphore. */
async function semaphore(ctx: ScenarioContext, traces: Trace[], now: Clock): Promise<void> {
  const fetch = ctx.fetch ?? globalThis.fetch;
  const sem = new Semaphore(ctx.limit);
  await gather(traces, async (trace) => {
    await sem.run(async () => {
      trace.started = now();
      const response = await fetch(ctx.url, requestInit(trace.id));
      await response.text();
    });
    trace.ended = now();
  });
}

/** 4. The limit inside `fetch`: `permit-pool/http`'s limitFetch, whose inner fetch marks when a request really starts. */
async function limitedFetch(ctx: ScenarioContext, traces: Trace[], now: Clock): Promise<void> {
  const fetch = ctx.fetch ?? globalThis.fetch;
  const byId = new Map(traces.map((trace) => [String(trace.id), trace]));
  const tracingFetch: typeof fetch = (input, init) => {
    const id = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).get(REQUEST_ID_HEADER);
    const trace = id === null ? undefined : byId.get(id);
    if (trace) trace.started = now();
    return fetch(input, init);
  };
  const limited = limitFetch({ concurrency: ctx.limit, fetch: tracingFetch });
  await gather(traces, async (trace) => {
    const response = await limited(ctx.url, requestInit(trace.id));
    await response.text();
    trace.ended = now();
  });
}

const RUNNERS: Record<ApproachKey, (ctx: ScenarioContext, traces: Trace[], now: Clock) => Promise<void>> = {
  polled,
  locked,
  semaphore,
  limitFetch: limitedFetch,
  lockedAsyncio,
};

/**
 * Runs one approach against `server` and measures it. The server's records
 * are reset first, so its peak is this approach's alone.
 */
export async function runApproach(key: ApproachKey, ctx: ScenarioContext, server: ServerProbe): Promise<ApproachRun> {
  server.reset();
  const traces: Trace[] = Array.from({ length: ctx.requests }, (_, i) => ({
    id: i + 1,
    queued: 0,
    started: undefined,
    ended: undefined,
    wakeUps: [],
  }));
  const t0 = performance.now();
  const now: Clock = () => performance.now() - t0;
  await RUNNERS[key](ctx, traces, now);
  const totalMs = now();
  const server_: ServerSpan[] = server.served.map((s) => ({ id: s.id, start: s.start - t0, end: (s.end ?? performance.now()) - t0 }));
  return { key, limit: ctx.limit, traces, server: server_, serverPeak: server.peak, totalMs };
}

/**
 * Two rounds of `limit` requests outside any measurement, so that loading
 * `fetch`, compiling its code and opening connections is not charged to
 * whichever approach happens to run first.
 */
export async function warmUp(url: string, limit: number): Promise<void> {
  for (let round = 0; round < 2; round++) {
    await Promise.all(
      Array.from({ length: Math.min(limit, 16) }, async () => {
        const response = await fetch(url, requestInit(0));
        await response.text();
      }),
    );
  }
}
