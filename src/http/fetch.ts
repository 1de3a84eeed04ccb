/**
 * `limitFetch`: a drop-in `fetch` with a global and a per-origin concurrency
 * limit, an optional per-origin rate, and 429/503 `Retry-After` handling.
 * Web APIs only: works with the global `fetch` of Node, Deno, Bun and browsers.
 *
 * @module
 */

import { checkDuration, checkFunction, checkInteger, checkOptions, describe } from "../core/validate.js";
import { MAX_TIMEOUT, sleep } from "../core/wait.js";
import { errorOutcome, statusOutcome } from "./adaptive.js";
import { type HttpLimitOptions, HttpLimits, type HttpLimitStats, type Lease, readOrder, type RequestOrder, RETRY_STATUSES } from "./limits.js";
import { invalidArgument } from "../core/errors.js";

/**
 * The shape of `fetch`. (`string | URL | Request` is what the DOM lib calls
 * `RequestInfo | URL`, spelled out so that projects without the DOM lib, which
 * get `Request` from @types/node, compile too.)
 */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Options of {@link limitFetch}. */
export interface LimitFetchOptions extends HttpLimitOptions {
  /**
   * How many times a 429 or 503 response is retried (each retry waits its turn
   * through the limits again, at the back of the queue). `0` turns retries off.
   * Requests whose body is a `ReadableStream` are never retried (it cannot be
   * replayed).
   * @defaultValue 2
   */
  retries?: number | undefined;
  /**
   * Base of the exponential back-off (ms) for a 429/503 *without*
   * `Retry-After`: retry `n` waits a random time in
   * `[0, min(maxRetryDelay, retryDelay × 2ⁿ⁻¹)]` ("full jitter", so a crowd of
   * clients does not retry in step). With `Retry-After`, the retry waits
   * exactly for the origin's pause instead.
   * @defaultValue 250
   */
  retryDelay?: number | undefined;
  /**
   * Cap of one back-off wait (ms).
   * @defaultValue 30_000
   */
  maxRetryDelay?: number | undefined;
  /**
   * The escape for bodies nobody reads: a response holds its slots until its
   * body is read to the end, cancelled, or errors; if the body is left unread
   * for this many milliseconds (counted from the response, and again after each
   * chunk handed to the reader), it is cancelled — closing the connection — and
   * the slots are released; a later read fails with a `"TimeoutError"`
   * `DOMException`. Time spent waiting on the network does not count. `Infinity`
   * turns it off. On Node an unread body alone does not keep the process alive,
   * but while any request waits for a slot, the body timers do: the waiter is
   * served once the timeout frees the slot, instead of the process exiting
   * with the waiter unsettled.
   * @defaultValue 30_000
   */
  bodyTimeout?: number | undefined;
  /**
   * The `fetch` to call.
   * @defaultValue `globalThis.fetch`, looked up at each call (so test mocks apply)
   */
  fetch?: FetchFunction | undefined;
}

/** A snapshot of a {@link LimitedFetch}, from `stats()`. */
export type LimitFetchStats = HttpLimitStats;

/**
 * `fetch`'s options plus the request's place in the queues of a
 * {@link limitFetch}: `priority` and `tenant`, which are not passed on.
 *
 * @example
 * ```ts
 * import { limitFetch, type LimitedRequestInit } from "permit-pool/http";
 * const fetch4 = limitFetch({ concurrency: 4, weights: (t) => (t === "enterprise" ? 4 : 1) });
 * const init: LimitedRequestInit = { priority: 10, tenant: "enterprise" };
 * console.log(typeof fetch4, init.priority); // "function" 10
 * ```
 */
export type LimitedRequestInit = Omit<RequestInit, "priority"> & {
  /**
   * An integer: higher is served first at every gate (see the core's
   * `AcquireOptions.priority`). `fetch`'s own hints `"high"`, `"low"` and
   * `"auto"` are passed on to `fetch` and count as 0 here.
   * @defaultValue 0
   */
  priority?: number | "high" | "low" | "auto" | undefined;
  /**
   * Who the request is for: requests of different tenants share every gate
   * fairly, by the limiter's `weights` (see the core's `AcquireOptions.tenant`).
   */
  tenant?: string | undefined;
};

/** What {@link limitFetch} returns: a `fetch` with `stats()` and `close()`. */
export interface LimitedFetch extends FetchFunction {
  /** `fetch`, with the request's `priority` and `tenant` (see {@link LimitedRequestInit}). */
  (input: string | URL | Request, init?: LimitedRequestInit): Promise<Response>;
  /**
   * A snapshot: requests in flight and queued (overall and per origin), pauses
   * with the time left, retries, body timeouts, the global semaphore, and the
   * adaptive limits (`adaptive`, and `origins[origin].adaptive`) when
   * `concurrency` or `perOrigin` is adaptive.
   */
  stats(): LimitFetchStats;
  /**
   * Rejects every waiting request, and every later call, with `reason` (or a
   * `ClosedError`). Requests in flight finish normally.
   */
  close(reason?: unknown): void;
}

const OPTION_KEYS: readonly string[] = [
  "concurrency",
  "perOrigin",
  "rate",
  "retries",
  "retryDelay",
  "maxRetryDelay",
  "maxRetryAfter",
  "bodyTimeout",
  "rateLimitHeaders",
  "fetch",
  "aging",
  "weights",
];


/** Statuses that mean "not now": retried, and paused on when they carry Retry-After. */

const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

/**
 * Wraps `fetch` so that requests wait their turn: at most `concurrency` in
 * flight overall, at most `perOrigin` per origin, at most `rate` starts per
 * origin; a 429/503 with `Retry-After` (seconds or an HTTP-date) pauses that
 * origin for new and retried requests alike, and the request is retried up to
 * `retries` times.
 *
 * The returned function has `fetch`'s signature and behaviour; the request's
 * own `signal` also takes it out of the queue at once.
 *
 * **When a request stops counting.** A request holds its slots from the moment
 * it starts until its response *body* is done, not just until the headers
 * arrive: the connection is busy until then. The response's body is wrapped in
 * a stream that watches for the end of the body, an error, `body.cancel()`, or
 * the request's signal aborting. A response without a body (HEAD, 204, 304)
 * releases at once. A body nobody reads is cancelled after `bodyTimeout` (30 s
 * by default) so it cannot hold a slot forever — read or cancel your bodies
 * (`await res.body?.cancel()`) to release promptly.
 *
 * **Fairness:** waiting is FIFO at every gate (per origin, global, rate); a
 * retried request re-joins at the back. Origins do not wait for each other,
 * except through the global limit.
 *
 * **Cancel safety:** aborting the request's signal while it waits removes it
 * from whatever queue it is in and rejects with `signal.reason`, as `fetch`
 * does; while the response body is read, aborting errors the body and releases
 * the slots.
 *
 * @throws TypeError | RangeError synchronously for a bad or unknown option.
 *
 * @example
 * ```ts
 * import { limitFetch } from "permit-pool/http";
 * // never more than 3 requests in flight, 100 a minute per origin, back off on 429
 * const fetch3 = limitFetch({ concurrency: 3, rate: { limit: 100, interval: 60_000 }, retries: 3 });
 * const urls = ["https://example.com/a", "https://example.com/b"];
 * const pages = await Promise.all(urls.map(async (url) => (await fetch3(url)).text()));
 * console.log(pages.length, fetch3.stats().inFlight); // 2 0
 * ```
 */
export function limitFetch(options: LimitFetchOptions = {}): LimitedFetch {
  checkOptions("options", options, OPTION_KEYS);
  const retries = options.retries === undefined ? 2 : checkInteger("retries", options.retries, 0);
  const retryDelay = options.retryDelay === undefined ? 250 : checkDuration("retryDelay", options.retryDelay);
  const maxRetryDelay =
    options.maxRetryDelay === undefined ? 30_000 : checkDuration("maxRetryDelay", options.maxRetryDelay);
  const bodyTimeout = options.bodyTimeout === undefined ? 30_000 : checkDuration("bodyTimeout", options.bodyTimeout);
  if (options.fetch !== undefined) checkFunction("fetch", options.fetch);
  const inner = options.fetch;
  const limits = new HttpLimits(options);

  async function limitedFetch(input: RequestInfo | URL, init?: LimitedRequestInit): Promise<Response> {
    // The request's place in the queues; not passed on to `fetch` (a string
    // priority is fetch's own hint: passed on, and counted as 0 here).
    const order = readOrder(init);
    if (order !== undefined && init !== undefined) {
      const { priority, tenant: _tenant, ...rest } = init;
      init = typeof priority === "string" ? { ...rest, priority } : rest;
    }
    const isRequest = typeof Request !== "undefined" && input instanceof Request;
    const origin = originOf(isRequest ? input.url : input instanceof URL ? input.href : (input as string));
    const signal = init?.signal ?? (isRequest ? input.signal : undefined) ?? undefined;
    // A body that is a stream can only be sent once.
    const replayable =
      !(init?.body instanceof ReadableStream) && !(isRequest && init?.body === undefined && input.bodyUsed);
    const doFetch = inner ?? globalThis.fetch;
    for (let attempt = 0; ; attempt++) {
      // Fast path first, so when nothing waits the inner fetch starts in this
      // very tick — the tick the rate is charged in.
      const lease = limits.tryAdmit(origin, signal) ?? (await waitForSlot(origin, signal, order));
      let response: Response;
      try {
        const canRetry = replayable && attempt < retries;
        // Keep the original Request unused for the attempts after this one.
        const sent = canRetry && isRequest && input.body !== null ? input.clone() : input;
        response = await doFetch(sent, init as RequestInit | undefined);
      } catch (error) {
        lease.settle(errorOutcome(error));
        lease.release();
        throw error;
      }
      const status = response.status;
      const { retryAfter, paused: pause } = limits.respond(origin, status, response.headers);
      // The adaptive sample ends at the headers, after the pause is known (a
      // 429/503 that brought one is discarded by it); the slots stay held until the body is done.
      lease.settle(statusOutcome(status));
      const retry =
        RETRY_STATUSES.has(status) &&
        replayable &&
        attempt < retries &&
        !signal?.aborted &&
        (retryAfter === undefined || retryAfter <= limits.maxRetryAfter);
      if (!retry) return track(response, lease, signal);
      // Throw the refusal away (this also frees the connection), then retry.
      await response.body?.cancel().catch(() => {});
      lease.release();
      limits.countRetry(origin);
      if (pause === undefined) {
        const cap = Math.min(maxRetryDelay, retryDelay * 2 ** attempt);
        await sleep(Math.random() * cap, signal).promise;
      }
      // With Retry-After, admit() waits for the origin's pause.
    }
  }

  // Body timers are unref'd, so that an unread body alone never keeps a process
  // alive — except while someone waits: then the slot that body holds may be the
  // only way forward, and a process left with nothing else to do would exit with
  // the waiter's promise unsettled (code 13 for a top-level await). So while
  // `waiting > 0`, every armed body timer is ref'd.
  let waiting = 0;
  const bodyTimers = new Set<ReturnType<typeof setTimeout>>();
  const refTimers = (ref: boolean): void => {
    for (const timer of bodyTimers) (timer as { ref?: () => void; unref?: () => void })[ref ? "ref" : "unref"]?.();
  };
  async function waitForSlot(origin: string, signal: AbortSignal | undefined, order: RequestOrder | undefined): Promise<Lease> {
    if (waiting++ === 0) refTimers(true);
    try {
      return await limits.admit(origin, signal, order);
    } finally {
      if (--waiting === 0) refTimers(false);
    }
  }

  /** Holds the lease until the body is done, cancelled, errored, aborted or idle too long. */
  function track(response: Response, lease: Lease, signal: AbortSignal | null | undefined): Response {
    const body = response.body;
    if (body === null || NULL_BODY_STATUSES.has(response.status)) {
      lease.release();
      return response;
    }
    const reader = body.getReader();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let finished = false;
    const token = {};
    const finish = (): void => {
      if (finished) return;
      finished = true;
      registry?.unregister(token);
      disarm();
      signal?.removeEventListener("abort", onAbort);
      lease.release();
    };
    const disarm = (): void => {
      if (timer !== undefined) {
        clearTimeout(timer);
        bodyTimers.delete(timer);
      }
      timer = undefined;
    };
    const arm = (): void => {
      if (finished || !(bodyTimeout <= MAX_TIMEOUT)) return;
      timer = setTimeout(onIdle, bodyTimeout);
      bodyTimers.add(timer);
      // Node: an unread body alone must not keep the process alive; a waiter does (see waitForSlot).
      if (waiting === 0) (timer as { unref?: () => void }).unref?.();
    };
    const onIdle = (): void => {
      if (timer !== undefined) bodyTimers.delete(timer);
      timer = undefined;
      limits.bodyTimeouts++;
      const error = new DOMException(
        `The response body of ${response.url || "a request"} was not read for ${bodyTimeout} ms, so it was ` +
          "cancelled to free its connection (raise `bodyTimeout`, or read or cancel bodies sooner)",
        "TimeoutError",
      );
      finish();
      reader.cancel(error).catch(() => {});
      controller.error(error);
    };
    // fetch errors the body on abort; release now rather than at the next read.
    const onAbort = (): void => finish();
    signal?.addEventListener("abort", onAbort);
    const stream = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c;
          arm();
        },
        async pull(c) {
          disarm();
          try {
            const { done, value } = await reader.read();
            if (done) {
              finish();
              c.close();
            } else {
              c.enqueue(value);
              arm();
            }
          } catch (error) {
            finish();
            c.error(error);
          }
        },
        cancel(reason) {
          finish();
          return reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
    const wrapped = new Response(stream, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    // Keep what a constructed Response cannot take as options.
    Object.defineProperties(wrapped, {
      url: { value: response.url },
      redirected: { value: response.redirected },
      type: { value: response.type },
    });
    // Best effort: a Response dropped unread is cancelled when collected.
    registry?.register(wrapped, () => {
      if (finished) return;
      finish();
      reader.cancel(new DOMException("The response was garbage-collected unread", "AbortError")).catch(() => {});
    }, token);
    return wrapped;
  }

  const result = limitedFetch as LimitedFetch;
  result.stats = () => limits.stats();
  result.close = (reason?: unknown) => limits.close(reason);
  return result;
}

const registry: FinalizationRegistry<() => void> | undefined =
  typeof FinalizationRegistry === "function" ? new FinalizationRegistry((cleanup) => cleanup()) : undefined;

function originOf(href: string): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(href, base);
  } catch {
    throw invalidArgument(`Failed to parse URL from ${describe(href)}`);
  }
  return url.origin;
}

