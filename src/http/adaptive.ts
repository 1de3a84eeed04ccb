/**
 * Adaptive concurrency for `limitFetch` and `limitInterceptor`: one
 * {@link AdaptiveGate} per adaptive gate (the global one, and one per origin
 * with `perOrigin: "adaptive"`), and the rules that turn a response (or a
 * failure) into a sample.
 *
 * ## Why a gate is two objects
 * The HTTP contract holds a request's slot until its response *body* is done,
 * but the sample the controller needs is one attempt's time from sending it
 * to its response headers — neither the time it waited in the queue or in a
 * `Retry-After` pause, nor the time the caller takes to read the body. An
 * {@link AdaptiveSemaphore}'s permit samples from its grant to its release,
 * so a gate keeps the two apart:
 * - admission is an ordinary {@link Semaphore}, the same gate a static limit
 *   uses (FIFO, priorities, tenants, cancellation), held until the body is done;
 * - the controller is an `AdaptiveSemaphore` that nobody ever waits on: a
 *   permit is taken from it (`tryAcquire`) when the attempt is sent, and ended
 *   at the headers with `release()` (success), `drop()` or `ignore()`; a
 *   second one, without a sample, covers the body (so the controller sees as
 *   many requests in use as the gate does). Its capacity (the limit, or half
 *   of it during a no-load probe, or `max` with `enforce: false`) is copied to
 *   the admission semaphore after every sample.
 * Shrinking the admission semaphore never revokes a slot (the Semaphore's
 * `resize` contract), so requests already admitted finish normally.
 *
 * Not exported from the package's entry points.
 *
 * @module
 */

import { type AdaptivePermit, AdaptiveSemaphore, type AdaptiveSemaphoreOptions, type AdaptiveSemaphoreStats } from "../core/adaptive.js";
import { invalidArgument } from "../core/errors.js";
import { Semaphore, type SemaphoreOptions, type SemaphoreStats } from "../core/semaphore.js";
import { describe } from "../core/validate.js";

/** How an attempt's outcome feeds the controller: a success sample, an overload signal, or nothing. */
export type Outcome = "success" | "drop" | "ignore";

/**
 * The statuses that are overload signals: 429 and 503 (the server says "too
 * much"), and 502 and 504 (a gateway says its upstream failed or timed out —
 * the same signals as a reset or a timeout, one hop further away).
 */
export const DROP_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * A status → outcome: below 400 (2xx, 3xx) a success; 429, 502, 503, 504 a
 * drop; any other 4xx or 5xx ignored — a 404 or a 500 says something about
 * the request or the application, not about load, and counting it as a drop
 * would let one broken endpoint pull the limit down to `min`.
 */
export function statusOutcome(status: number): Outcome {
  if (status < 400) return "success";
  return DROP_STATUSES.has(status) ? "drop" : "ignore";
}

/** Network error codes that are overload signals: resets and timeouts (Node, undici). */
const DROP_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
]);

/**
 * A failure before the headers → outcome: a timeout (an error named
 * `"TimeoutError"`, such as `AbortSignal.timeout`'s, or an undici connect or
 * headers timeout) or a connection reset is a drop; anything else — an abort
 * by the caller, a refused connection (nothing listens: the server is down,
 * not overloaded), a DNS failure, a bad URL — is ignored. `fetch` wraps
 * network errors (`TypeError: fetch failed`), so causes are followed a few
 * levels down.
 */
export function errorOutcome(error: unknown): Outcome {
  let current = error;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const { name, code, cause } = current as { name?: unknown; code?: unknown; cause?: unknown };
    if (name === "TimeoutError") return "drop";
    if (typeof code === "string" && DROP_CODES.has(code)) return "drop";
    current = cause;
  }
  return "ignore";
}

/** The controller's part of `stats()` for an adaptive gate: the limit and how it got there. */
export type AdaptiveLimitStats = Omit<AdaptiveSemaphoreStats, keyof SemaphoreStats> & {
  /** The concurrency enforced now: `limit`, except during a no-load probe (half) or with `enforce: false` (`max`). */
  capacity: number;
};

/**
 * Reads `concurrency` or `perOrigin`: `"adaptive"` (default options) or an
 * options object → the AdaptiveSemaphore options; a number or a function →
 * `undefined` (a static limit, checked by the caller). An options object is
 * checked by building a throwaway AdaptiveSemaphore, so its messages are the
 * core's, prefixed with the HTTP option's name.
 */
export function adaptiveOptions(name: string, value: unknown): AdaptiveSemaphoreOptions | undefined {
  if (value === "adaptive") return {};
  if (typeof value === "string") {
    throw invalidArgument(
      `Expected \`${name}\` to be an integer from 1 and up, "adaptive", or AdaptiveSemaphore options ` +
        `({ algorithm, initial, min, max, … }), got ${describe(value)}`,
    );
  }
  if (typeof value !== "object" || value === null) return undefined;
  try {
    new AdaptiveSemaphore(value);
  } catch (error) {
    if (error instanceof Error) error.message = `Invalid \`${name}\` (AdaptiveSemaphore options): ${error.message}`;
    throw error;
  }
  return { ...(value as AdaptiveSemaphoreOptions) };
}

/** One adaptive gate: admission by a plain Semaphore, limit from an AdaptiveSemaphore (see the module doc). */
export class AdaptiveGate {
  readonly sem: Semaphore;
  readonly controller: AdaptiveSemaphore;

  constructor(options: AdaptiveSemaphoreOptions, name: string, scheduling: Omit<SemaphoreOptions, "name">) {
    const { name: own, ...rest } = options;
    this.controller = new AdaptiveSemaphore(rest);
    // Named after it is built: the name is for its `permits:limit` messages,
    // while its inner semaphore stays unnamed, so that its one-per-attempt
    // permits on `permits:granted`/`released` are not counted as the gate's
    // requests (the admission semaphore below carries the name for those).
    (this.controller as { name: string | undefined }).name = own ?? name;
    this.sem = new Semaphore(this.controller.capacity, { ...scheduling, name: own ?? name });
  }

  /**
   * Starts one attempt's sample (the attempt is being sent now). `undefined`
   * when the controller has no room: the limit fell between this request's
   * admission and its send, so more attempts than the new limit await
   * headers; this one goes unsampled (it ran under the old limit anyway).
   */
  start(): AdaptivePermit | undefined {
    return this.controller.tryAcquire();
  }

  /**
   * Ends a sample and brings the admission capacity to the controller's.
   * With `body`, the request goes on holding its slot (reading its body): it
   * then takes a body-phase permit of the controller, so that the
   * controller's in-use count — its measure of whether the limit was used,
   * which decides whether it may grow — counts requests reading their bodies,
   * as the admission gate does, and not only those awaiting headers. The
   * body-phase permit carries no sample (see {@link AdaptiveGate.endBody}).
   */
  end(permit: AdaptivePermit, outcome: Outcome, body: boolean): AdaptivePermit | undefined {
    if (outcome === "success") permit.release();
    else if (outcome === "drop") permit.drop();
    else permit.ignore();
    this.sync();
    // Taken after the sample, so the sample sees this request once. None when
    // the limit just fell below what is held (it only matters for growth).
    return body ? this.controller.tryAcquire() : undefined;
  }

  /** Ends a body-phase permit: released without a sample, and kept out of `ignored`. */
  endBody(permit: AdaptivePermit): void {
    this.#bodies++;
    permit.ignore();
  }

  /** Body-phase permits ended (each counted by the controller as ignored; subtracted in `stats()`). */
  #bodies = 0;

  /** A `Retry-After` pause of `ms`: the controller resumes at half the pre-pause limit. */
  retryAfter(ms: number): void {
    this.controller.retryAfter(ms);
    this.sync();
  }

  sync(): void {
    const capacity = this.controller.capacity;
    if (capacity !== this.sem.capacity) this.sem.resize(capacity);
  }

  /** Nothing held, queued or being sampled: safe to forget. */
  get idle(): boolean {
    return this.sem.inUse === 0 && this.sem.queued === 0 && this.controller.inUse === 0;
  }

  stats(): AdaptiveLimitStats {
    const s = this.controller.stats();
    return {
      capacity: this.sem.capacity,
      limit: s.limit,
      algorithm: s.algorithm,
      enforced: s.enforced,
      phase: s.phase,
      successes: s.successes,
      drops: s.drops,
      ignored: s.ignored - this.#bodies,
      windows: s.windows,
      skippedWindows: s.skippedWindows,
      rttNoLoad: s.rttNoLoad,
      rttWindow: s.rttWindow,
      rttSmoothed: s.rttSmoothed,
      history: s.history,
    };
  }

  close(reason: unknown): void {
    this.sem.close(reason);
    this.controller.close(reason);
  }
}
