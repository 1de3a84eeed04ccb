/**
 * Rate limiting: {@link RateLimiter} ("at most `limit` per `interval`") and
 * {@link Limiter} (a concurrency limit and a rate together).
 *
 * ## How the rate is kept: GCRA
 * The Generic Cell Rate Algorithm keeps one number of state, the *theoretical
 * arrival time* (TAT): the moment the limiter would be "empty" again if nothing
 * else arrived. With the emission interval `T = interval / limit` and the burst
 * tolerance `τ = burst × T`, a request of weight `w` arriving at `now` conforms
 * when `max(TAT, now) + w·T − τ ≤ now`, and then `TAT = max(TAT, now) + w·T`.
 * When it does not conform, the same formula says *exactly* how long it must
 * wait, so a waiter sleeps once for the right time instead of polling, and no
 * timer is created per call (async-sema's `RateLimit` makes one per call).
 *
 * ## What `limit`, `interval` and `burst` guarantee
 * Requests start at a sustained `limit / interval`, and from rest up to `burst`
 * units start at once. In any window of length `W` at most
 * `burst + floor(W × limit / interval)` units start. With the default
 * `burst: 1` that means **never more than `limit` in any window of `interval`**
 * (a sliding window — what an API's "100 requests a minute" means), with starts
 * spread evenly. A larger `burst` lets a rested limiter send `burst` at once, at
 * the price that one window of `interval` can then see up to
 * `limit + burst − 1`.
 *
 * ## Queue
 * Waiters are served strictly FIFO by reusing the core {@link Semaphore} as a
 * one-permit *gate*: the waiter holding the gate is the head of the queue and
 * is the only one with a timer (for its exact admission time, or its timeout if
 * that comes first). When it is admitted, aborted or times out, it passes the
 * gate on and the next waiter computes its own time. Abort, timeout and close
 * semantics are therefore the core's, decided in one place.
 *
 * @module
 */

import { channels } from "./diagnostics.js";
import { MAX_TIMEOUT, type Sleep, sleep } from "./wait.js";
import { ClosedError, invalidArgument, outOfRange, timeoutError } from "./errors.js";
import {
  type AcquireOptions,
  type LimiterCounters,
  type Permit,
  polyfillDispose,
  Semaphore,
  type SemaphoreStats,
} from "./semaphore.js";
import { checkFunction, checkInteger, checkOptions, checkRate, describe, readAcquireOptions } from "./validate.js";

/** Slack for floating-point sums of fractional emission intervals (ms): 1 µs, far above the rounding error of a clock reading of months. */
const EPSILON = 1e-3;
const RATE_KEYS: readonly string[] = ["limit", "interval", "burst", "name", "aging", "weights"];
const LIMITER_KEYS: readonly string[] = ["concurrency", "rate", "name", "aging", "weights"];

// Read the clock through the global each time so fake timers (which replace
// `performance`) are honoured. performance.now() is monotonic, unlike Date.now().
const now = (): number => globalThis.performance.now();

/** A rate: `limit` units per `interval` milliseconds, with an optional `burst`. */
export interface RateOptions {
  /** Units allowed per `interval`: an integer from 1 and up. */
  limit: number;
  /** Length of the interval in milliseconds: a finite number above 0. */
  interval: number;
  /**
   * How many units may start at once from rest: an integer from 1 and up. Also
   * the largest `weight` one request may ask for.
   * @defaultValue 1 — never more than `limit` in any window of `interval`.
   */
  burst?: number | undefined;
}

/** Options of the {@link RateLimiter} constructor. */
export interface RateLimiterOptions extends RateOptions {
  /** A name that identifies this limiter in errors. */
  name?: string | undefined;
  /**
   * The starvation bound for `priority`, in ms (see `SemaphoreOptions.aging`).
   * @defaultValue no aging: strict priority
   */
  aging?: number | undefined;
  /**
   * Each tenant's share of the rate (see `SemaphoreOptions.weights`),
   * counted in units of the rate.
   * @defaultValue every tenant weighs 1
   */
  weights?: ((tenant: string) => number) | undefined;
}

/** A plain snapshot of a rate limiter's state and counters, from `stats()`. */
export interface RateLimiterStats extends LimiterCounters {
  limit: number;
  interval: number;
  burst: number;
  /** Units that could start right now if nobody were queued. */
  available: number;
  /** Milliseconds until one more unit becomes available (0 when `available > 0`). */
  nextIn: number;
}

/**
 * Proof that a request was admitted by a {@link RateLimiter}. A rate is spent
 * when the request starts, so releasing gives nothing back to the rate; it
 * only tells the limiter the work is over (for `inUse` and `onIdle()`).
 * Release is idempotent, and the permit is disposable (`using`).
 *
 * @example
 * ```ts
 * import { RateLimiter } from "permit-pool";
 * const rate = new RateLimiter({ limit: 10, interval: 1_000 });
 * {
 *   using permit = await rate.acquire();
 *   console.log(permit.weight, rate.inUse); // 1 1
 * }
 * console.log(rate.inUse); // 0
 * ```
 */
export class RatePermit implements Disposable, AsyncDisposable {
  /** How many units of the rate this request used. */
  readonly weight: number;
  #limiter: RateLimiter | undefined;

  /** @internal */
  constructor(limiter: RateLimiter, weight: number) {
    this.#limiter = limiter;
    this.weight = weight;
  }

  /** Whether this permit has been released. */
  get released(): boolean {
    return this.#limiter === undefined;
  }

  /** Marks the work as over. Idempotent. */
  release(): void {
    const limiter = this.#limiter;
    if (limiter !== undefined) {
      this.#limiter = undefined;
      limiter._release(this.weight);
    }
  }

  /** Same as `release()`, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}

polyfillDispose(RatePermit.prototype);


function checkName(value: unknown): string | undefined {
  if (value !== undefined && typeof value !== "string") {
    throw invalidArgument(`Expected \`name\` to be a string, got ${describe(value)}`);
  }
  return value;
}

interface Parsed {
  weight: number;
  signal: AbortSignal | undefined;
  timeout: number | undefined;
  priority: number;
  tenant: string | undefined;
}

const NO_OPTIONS: Parsed = { weight: 1, signal: undefined, timeout: undefined, priority: 0, tenant: undefined };

function parseAcquire(options: AcquireOptions | undefined): Parsed {
  return options === undefined ? NO_OPTIONS : readAcquireOptions(options);
}


/**
 * Admits at most `limit` units per `interval` milliseconds (GCRA), queueing the
 * rest strictly FIFO. Same surface as {@link Semaphore}: `acquire`,
 * `tryAcquire`, `run`, `close`, `onIdle`, `stats`.
 *
 * See the module documentation for what `burst` allows. Bad input throws at
 * once: a `TypeError`/`RangeError` naming the option and its value.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "permit-pool";
 * // "100 requests a minute": one start every 600 ms, never 101 in any minute.
 * const rate = new RateLimiter({ limit: 100, interval: 60_000 });
 * const status = await rate.run(async () => 200);
 * console.log(status, rate.stats().acquired); // 200 1
 * ```
 */
export class RateLimiter {
  /** Units allowed per `interval`. */
  readonly limit: number;
  /** Interval in milliseconds. */
  readonly interval: number;
  /** Units that may start at once from rest; the largest weight of one request. */
  readonly burst: number;
  /** The name given in the options. */
  readonly name: string | undefined;
  /** Emission interval: milliseconds per unit. */
  readonly #step: number;
  /** Burst tolerance in milliseconds (`burst × step`). */
  readonly #tau: number;
  /** Theoretical arrival time: the whole GCRA state. */
  #tat = -Infinity;
  /** FIFO of waiters; whoever holds its one permit is the head. */
  readonly #gate: Semaphore;
  #sleeper: Sleep | undefined = undefined;
  #inUse = 0;
  #closed = false;
  #closeReason: unknown = undefined;
  #acquired = 0;
  #released = 0;
  #aborted = 0;
  #timedOut = 0;
  #maxQueued = 0;
  #idle: (() => void)[] | undefined = undefined;

  /**
   * @param options - `{ limit, interval, burst?, name? }`.
   * @throws TypeError | RangeError for a missing or bad option, or an unknown one.
   */
  constructor(options: RateLimiterOptions) {
    const { limit, interval, burst } = checkRate("options", options, RATE_KEYS);
    this.name = checkName(options.name);
    this.limit = limit;
    this.interval = interval;
    this.burst = burst;
    this.#step = interval / limit;
    this.#tau = burst * this.#step;
    this.#gate = new Semaphore(1, {
      name: this.name ?? "RateLimiter",
      ...(options.aging === undefined ? {} : { aging: options.aging }),
      ...(options.weights === undefined ? {} : { weights: options.weights }),
    });
    // The gate is how this limiter waits; the events are this limiter's own.
    this.#gate._mute();
    this.#gate._onIdle = () => this.#checkIdle();
  }

  /** Units that could start right now if nobody were queued. */
  get available(): number {
    const t = now();
    const backlog = Math.max(this.#tat, t) - t;
    return Math.max(0, Math.floor((this.#tau - backlog + EPSILON) / this.#step));
  }

  /** Waiters in the queue now (the head waiting for its time included). */
  get queued(): number {
    return this.#gate.queued + this.#gate.inUse;
  }

  /** Units admitted and not yet released. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits until `weight` units of the rate may start, and resolves to a
   * {@link RatePermit}. The rate is spent at that moment.
   *
   * **Fairness:** FIFO. A newcomer queues behind every waiter even when the
   * rate would admit it now, and a heavy waiter holds back lighter ones behind
   * it until its time comes (it is never starved).
   *
   * **Cancel safety:** aborting `signal` or reaching `timeout` loses your place
   * in the queue and spends nothing: the rate is only charged on admission. If
   * the head of the queue leaves, the next waiter takes over at once and
   * computes its own (possibly earlier) time. A signal aborted before the call
   * rejects even when the rate would admit now.
   *
   * @throws TypeError | RangeError synchronously for a bad weight, a weight
   *   above `burst`, a bad signal or timeout, or an unknown option.
   * @returns A promise of the permit; rejects with `signal.reason`, a
   *   `"TimeoutError"` `DOMException`, or the close reason ({@link ClosedError}
   *   by default).
   *
   * @example
   * ```ts
   * import { RateLimiter } from "permit-pool";
   * const rate = new RateLimiter({ limit: 2, interval: 100 });
   * const started: number[] = [];
   * const t0 = performance.now();
   * for (let i = 0; i < 3; i++) {
   *   (await rate.acquire({ timeout: 1_000 })).release();
   *   started.push(Math.round(performance.now() - t0));
   * }
   * console.log(started.length); // 3, about 50 ms apart
   * ```
   */
  acquire(options?: AcquireOptions): Promise<RatePermit> {
    const { weight, signal, timeout, priority, tenant } = parseAcquire(options);
    if (weight > this.burst) throw this.#tooHeavy(weight);
    if (this.#closed) return Promise.reject(this.#closedError());
    // An already-aborted signal fails even when the rate would admit: the
    // caller no longer wants to start (same rule as the Semaphore).
    if (signal?.aborted) {
      this.#aborted++;
      return Promise.reject(signal.reason);
    }
    // Fast path only when nobody waits: a newcomer never barges.
    if (this.#gate.inUse === 0 && this.#gate.queued === 0 && this.#wait(weight, now()) <= EPSILON) {
      return Promise.resolve(this.#grant(weight));
    }
    if (timeout === 0) {
      this.#timedOut++;
      return Promise.reject(timeoutError(0, this.#what(weight)));
    }
    return this.#queue(weight, signal, timeout, priority, tenant);
  }

  /**
   * Admits `weight` units only if the rate allows it now and nobody is queued.
   *
   * **Fairness:** never barges past queued waiters.
   *
   * @param weight - An integer from 1 up to `burst`. Defaults to 1.
   * @returns The permit, or `undefined` when it would have to wait (or the
   *   limiter is closed).
   * @throws TypeError | RangeError for a bad weight or one above `burst`.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "permit-pool";
   * const rate = new RateLimiter({ limit: 1, interval: 1_000 });
   * console.log(rate.tryAcquire() !== undefined, rate.tryAcquire()); // true undefined
   * ```
   */
  tryAcquire(weight?: number): RatePermit | undefined {
    const w = weight === undefined ? 1 : checkInteger("weight", weight);
    if (w > this.burst) throw this.#tooHeavy(w);
    if (this.#closed || this.#gate.inUse > 0 || this.#gate.queued > 0 || this.#wait(w, now()) > EPSILON) return undefined;
    return this.#grant(w);
  }

  /**
   * Waits for the rate, calls `fn(permit)`, releases however `fn` ends, and
   * returns what `fn` returned (awaited) or rethrows what it threw.
   *
   * **Fairness:** as `acquire`: FIFO, no barging.
   *
   * **Cancel safety:** while waiting, as `acquire`. If the signal aborts in the
   * same tick as the admission, `fn` is not called and the promise rejects with
   * `signal.reason` (the unit of rate is spent: the slot in time has passed).
   *
   * @throws TypeError | RangeError synchronously for bad arguments.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "permit-pool";
   * const rate = new RateLimiter({ limit: 5, interval: 1_000, burst: 5 });
   * const results = await Promise.all([1, 2, 3].map((n) => rate.run(async () => n * 2)));
   * console.log(results); // [2, 4, 6]
   * ```
   */
  run<T>(fn: (permit: RatePermit) => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    checkFunction("fn", fn);
    return runWith(this.acquire(options), fn, options?.signal);
  }

  /**
   * Closes the limiter: every waiter and every later `acquire` rejects with
   * `reason` (exactly that value), or with a new {@link ClosedError}.
   * Idempotent.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "permit-pool";
   * const rate = new RateLimiter({ limit: 1, interval: 60_000 });
   * rate.tryAcquire();
   * const waiting = rate.acquire();
   * rate.close();
   * await waiting.catch((error) => console.log(error.name)); // "ClosedError"
   * ```
   */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#sleeper?.cancel(this.#closedError());
    // Waiters still in the gate's queue reject with the gate's ClosedError,
    // which #queue replaces with ours (a new instance per waiter).
    this.#gate.close(reason);
    this.#checkIdle();
  }

  /**
   * Resolves when nothing is queued and every permit has been released.
   *
   * **Cancel safety:** nothing to cancel.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "permit-pool";
   * const rate = new RateLimiter({ limit: 100, interval: 1_000, burst: 10 });
   * for (let i = 0; i < 3; i++) void rate.run(async () => {});
   * await rate.onIdle();
   * console.log(rate.stats().acquired); // 3
   * ```
   */
  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => (this.#idle ??= []).push(resolve));
  }

  /**
   * A plain-object snapshot of the state and counters.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "permit-pool";
   * const rate = new RateLimiter({ limit: 3, interval: 1_000, burst: 3 });
   * rate.tryAcquire(2);
   * console.log(rate.stats().available); // 1
   * ```
   */
  stats(): RateLimiterStats {
    const gate = this.#gate.stats();
    const available = this.available;
    const t = now();
    const nextIn = available > 0 ? 0 : Math.max(0, this.#tat + this.#step - this.#tau - t);
    return {
      limit: this.limit,
      interval: this.interval,
      burst: this.burst,
      available,
      nextIn,
      inUse: this.#inUse,
      queued: gate.queued + gate.inUse,
      acquired: this.#acquired,
      released: this.#released,
      aborted: this.#aborted + gate.aborted,
      timedOut: this.#timedOut + gate.timedOut,
      maxQueued: this.#maxQueued,
      closed: this.#closed,
    };
  }

  /** @internal Called once per released permit. */
  _release(weight: number): void {
    this.#inUse -= weight;
    this.#released++;
    if (channels.released.hasSubscribers) channels.released.publish({ limiter: this, weight });
    if (this.#inUse === 0) this.#checkIdle();
  }

  /** Milliseconds until `weight` units conform (≤ 0: now). */
  #wait(weight: number, t: number): number {
    return Math.max(this.#tat, t) + weight * this.#step - this.#tau - t;
  }

  #grant(weight: number, start = now(), waitedMs = 0): RatePermit {
    this.#tat = Math.max(this.#tat, start) + weight * this.#step;
    this.#inUse += weight;
    this.#acquired++;
    if (channels.granted.hasSubscribers) channels.granted.publish({ limiter: this, weight, waitedMs });
    return new RatePermit(this, weight);
  }

  #publishAborted(weight: number, reason: unknown): void {
    if (channels.aborted.hasSubscribers) channels.aborted.publish({ limiter: this, weight, reason });
  }

  #publishTimedOut(weight: number): void {
    if (channels.timedOut.hasSubscribers) channels.timedOut.publish({ limiter: this, weight });
  }

  async #queue(
    weight: number,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    priority: number,
    tenant: string | undefined,
  ): Promise<RatePermit> {
    const infinite = timeout === undefined || timeout > MAX_TIMEOUT;
    const queuedAt = now();
    const deadline = infinite ? Infinity : queuedAt + timeout;
    let gate: Permit;
    // Fair share is counted in units of the rate: the gate's permit is one
    // unit, its place in the discipline costs `weight`.
    this.#gate._cost = weight;
    let acquiring: Promise<Permit>;
    try {
      acquiring = this.#gate.acquire({
        signal,
        ...(infinite ? {} : { timeout }),
        ...(priority === 0 ? {} : { priority }),
        ...(tenant === undefined ? {} : { tenant }),
      });
    } finally {
      this.#gate._cost = 0;
    }
    if (channels.queued.hasSubscribers) channels.queued.publish({ limiter: this, weight });
    const queued = this.#gate.queued + this.#gate.inUse;
    if (queued > this.#maxQueued) this.#maxQueued = queued;
    try {
      gate = await acquiring;
    } catch (error) {
      if (signal?.aborted && error === signal.reason) {
        this.#publishAborted(weight, error);
        throw error;
      }
      if (this.#closed && this.#closeReason === undefined) throw this.#closedError();
      if (error instanceof DOMException && error.name === "TimeoutError") {
        this.#publishTimedOut(weight);
        throw timeoutError(timeout ?? 0, this.#what(weight));
      }
      throw error;
    }
    try {
      // Admitted to the head in the same tick as the abort: the abort wins.
      if (signal?.aborted) {
        this.#aborted++;
        this.#publishAborted(weight, signal.reason);
        throw signal.reason;
      }
      let target: number | undefined;
      for (;;) {
        if (this.#closed) throw this.#closedError();
        const t = now();
        // The start is charged at the exact (fractional) time we slept for, so
        // rounding timers up to whole milliseconds does not drift the rate;
        // lateness beyond 1 ms is charged at the real time (never too early).
        const start = target === undefined ? t : Math.min(t, Math.max(target, t - 1));
        if (this.#wait(weight, start) <= EPSILON) return this.#grant(weight, start, t - queuedAt);
        const wait = this.#wait(weight, t);
        const left = deadline - t;
        if (left <= 0) {
          this.#timedOut++;
          this.#publishTimedOut(weight);
          throw timeoutError(timeout ?? 0, this.#what(weight));
        }
        target = t + wait;
        // Whole milliseconds, rounded up: a timer never fires before its time,
        // and the loop re-checks in case it fired early by the clock.
        await this.#sleep(Math.min(MAX_TIMEOUT, Math.ceil(Math.min(wait, left) - EPSILON)), signal, weight);
      }
    } finally {
      gate.release();
    }
  }

  /** The head's one timer: resolves after `ms`, rejects on abort or close. */
  #sleep(ms: number, signal: AbortSignal | undefined, weight: number): Promise<void> {
    const sleeping = sleep(ms, signal, () => {
      this.#aborted++;
      this.#publishAborted(weight, signal?.reason);
    });
    this.#sleeper = sleeping;
    const clear = (): void => {
      if (this.#sleeper === sleeping) this.#sleeper = undefined;
    };
    sleeping.promise.then(clear, clear);
    return sleeping.promise;
  }

  #isIdle(): boolean {
    return this.#inUse === 0 && this.#gate.inUse === 0 && this.#gate.queued === 0;
  }

  #checkIdle(): void {
    if (this.#idle === undefined || !this.#isIdle()) return;
    const idle = this.#idle;
    this.#idle = undefined;
    for (const resolve of idle) resolve();
  }

  #closedError(): unknown {
    return this.#closeReason !== undefined
      ? this.#closeReason
      : new ClosedError(this.name === undefined ? "The rate limiter is closed" : `The rate limiter "${this.name}" is closed`);
  }

  #tooHeavy(weight: number): RangeError {
    return outOfRange(
      `Expected \`weight\` to be at most the burst (${this.burst}), got ${describe(weight)}: ` +
        "such a request could never be admitted; raise `burst`",
    );
  }

  #what(weight: number): string {
    const units = weight === 1 ? "1 unit" : `${weight} units`;
    return this.name === undefined ? `${units} of the rate` : `${units} of the rate "${this.name}"`;
  }
}

async function runWith<P extends { release(): void }, T>(
  acquiring: Promise<P>,
  fn: (permit: P) => T | PromiseLike<T>,
  signal: AbortSignal | undefined,
): Promise<Awaited<T>> {
  const permit = await acquiring;
  // Admitted in the same tick as the abort: the abort wins and fn never starts.
  if (signal?.aborted) {
    permit.release();
    throw signal.reason;
  }
  try {
    return await fn(permit);
  } finally {
    permit.release();
  }
}

/** Options of the {@link Limiter} constructor. */
export interface LimiterOptions {
  /** How many may run at once: an integer from 1 and up. */
  concurrency: number;
  /** How many may start per interval: `{ limit, interval, burst? }` as for {@link RateLimiter}. */
  rate: RateOptions;
  /** A name that identifies this limiter in errors. */
  name?: string | undefined;
  /** The starvation bound for `priority` in both halves (see `SemaphoreOptions.aging`). */
  aging?: number | undefined;
  /** Each tenant's share in both halves (see `SemaphoreOptions.weights`). */
  weights?: ((tenant: string) => number) | undefined;
}

/** A snapshot of a {@link Limiter}: its two parts. */
export interface LimiterStats {
  concurrency: SemaphoreStats;
  rate: RateLimiterStats;
}

/**
 * A concurrency limit and a rate together: at most `concurrency` run at once
 * and at most `rate.limit` start per `rate.interval`. A request counts against
 * the rate when it starts, not when it asks.
 *
 * A request first takes its concurrency slot, then waits for the rate while
 * holding it (taking the rate first would let requests that waited for a slot
 * start in a bunch, breaking the rate). Both queues are FIFO, so the order of
 * starts is the order of calls.
 *
 * @example
 * ```ts
 * import { Limiter } from "permit-pool";
 * // never more than 3 at once, never more than 100 a minute
 * const limiter = new Limiter({ concurrency: 3, rate: { limit: 100, interval: 60_000 } });
 * const body = await limiter.run(async () => "response");
 * console.log(body); // "response"
 * ```
 */
export class Limiter {
  /** The concurrency half (introspect, resize). */
  readonly concurrency: Semaphore;
  /** The rate half (introspect). */
  readonly rate: RateLimiter;

  /**
   * @param options - `{ concurrency, rate: { limit, interval, burst? }, name? }`.
   * @throws TypeError | RangeError for a missing, bad or unknown option.
   */
  constructor(options: LimiterOptions) {
    checkOptions("options", options, LIMITER_KEYS);
    const name = checkName(options.name);
    const concurrency = checkInteger("concurrency", options.concurrency);
    const rate = checkRate("rate", options.rate, ["limit", "interval", "burst"]);
    const scheduling = {
      ...(options.aging === undefined ? {} : { aging: options.aging }),
      ...(options.weights === undefined ? {} : { weights: options.weights }),
    };
    this.concurrency = new Semaphore(concurrency, { ...(name === undefined ? {} : { name }), ...scheduling });
    this.rate = new RateLimiter({ ...rate, ...(name === undefined ? {} : { name }), ...scheduling });
  }

  /**
   * Waits for a concurrency slot, then for the rate, and resolves to the
   * concurrency {@link Permit}: release it when the work is over.
   *
   * **Fairness:** FIFO through both queues; starts happen in call order.
   *
   * **Cancel safety:** aborting (or the `timeout`, which covers both waits)
   * leaves whichever queue the request is in and gives back a concurrency slot
   * it already held; the rate is only spent on admission.
   *
   * @throws TypeError | RangeError synchronously for bad arguments, or a
   *   weight above the concurrency or the rate's burst.
   *
   * @example
   * ```ts
   * import { Limiter } from "permit-pool";
   * const limiter = new Limiter({ concurrency: 2, rate: { limit: 10, interval: 1_000 } });
   * const permit = await limiter.acquire({ timeout: 5_000 });
   * try {
   *   console.log(limiter.concurrency.inUse); // 1
   * } finally {
   *   permit.release();
   * }
   * ```
   */
  acquire(options?: AcquireOptions): Promise<Permit> {
    const { weight, signal, timeout, priority, tenant } = parseAcquire(options);
    if (weight > this.rate.burst) {
      // Check both limits before queueing anywhere.
      this.rate.tryAcquire(weight);
    }
    return this.#acquire(this.concurrency.acquire(options), weight, signal, timeout, priority, tenant);
  }

  async #acquire(
    slot: Promise<Permit>,
    weight: number,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    priority: number,
    tenant: string | undefined,
  ): Promise<Permit> {
    const start = timeout === undefined ? 0 : now();
    const permit = await slot;
    try {
      const left = timeout === undefined ? undefined : Math.max(0, timeout - (now() - start));
      (await this.rate.acquire({ weight, signal, timeout: left, priority, ...(tenant === undefined ? {} : { tenant }) })).release();
      return permit;
    } catch (error) {
      permit.release();
      throw error;
    }
  }

  /**
   * Admits now only if a slot is free, the rate allows it, and nobody waits.
   *
   * **Fairness:** never barges.
   *
   * @example
   * ```ts
   * import { Limiter } from "permit-pool";
   * const limiter = new Limiter({ concurrency: 1, rate: { limit: 1, interval: 1_000 } });
   * const permit = limiter.tryAcquire();
   * console.log(permit !== undefined, limiter.tryAcquire()); // true undefined
   * permit?.release();
   * ```
   */
  tryAcquire(weight?: number): Permit | undefined {
    const w = weight === undefined ? 1 : checkInteger("weight", weight);
    if (w > this.rate.burst) this.rate.tryAcquire(w); // throws the RangeError
    if (this.rate.closed || this.rate.queued > 0 || this.rate.available < w) return undefined;
    const permit = this.concurrency.tryAcquire(w);
    if (permit === undefined) return undefined;
    this.rate.tryAcquire(w)?.release();
    return permit;
  }

  /**
   * Acquires, calls `fn(permit)`, releases however `fn` ends, and returns its
   * result or rethrows its error.
   *
   * **Fairness:** as `acquire`.
   *
   * **Cancel safety:** as `acquire` while waiting; once `fn` runs the slot is
   * held until it settles, whatever the signal does.
   *
   * @example
   * ```ts
   * import { Limiter } from "permit-pool";
   * const limiter = new Limiter({ concurrency: 3, rate: { limit: 10, interval: 1_000, burst: 3 } });
   * const out = await Promise.all([1, 2, 3].map((n) => limiter.run(async () => n)));
   * console.log(out); // [1, 2, 3]
   * ```
   */
  run<T>(fn: (permit: Permit) => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    checkFunction("fn", fn);
    return runWith(this.acquire(options), fn, options?.signal);
  }

  /**
   * Closes both halves: waiters and later calls reject with `reason` (or a
   * {@link ClosedError}). Held permits still release. Idempotent.
   *
   * @example
   * ```ts
   * import { Limiter } from "permit-pool";
   * const limiter = new Limiter({ concurrency: 1, rate: { limit: 1, interval: 1_000 } });
   * limiter.close();
   * await limiter.acquire().catch((error) => console.log(error.name)); // "ClosedError"
   * ```
   */
  close(reason?: unknown): void {
    this.concurrency.close(reason);
    this.rate.close(reason);
  }

  /**
   * Resolves when nothing is held or queued in either half.
   *
   * **Cancel safety:** nothing to cancel.
   *
   * @example
   * ```ts
   * import { Limiter } from "permit-pool";
   * const limiter = new Limiter({ concurrency: 2, rate: { limit: 50, interval: 1_000 } });
   * void limiter.run(async () => {});
   * await limiter.onIdle();
   * ```
   */
  async onIdle(): Promise<void> {
    // The rate queue only fills from concurrency holders, so when the
    // semaphore is idle the rate queue is empty too.
    await this.concurrency.onIdle();
    await this.rate.onIdle();
  }

  /**
   * Snapshots of both halves.
   *
   * @example
   * ```ts
   * import { Limiter } from "permit-pool";
   * const limiter = new Limiter({ concurrency: 2, rate: { limit: 5, interval: 1_000 } });
   * console.log(limiter.stats().concurrency.capacity, limiter.stats().rate.limit); // 2 5
   * ```
   */
  stats(): LimiterStats {
    return { concurrency: this.concurrency.stats(), rate: this.rate.stats() };
  }
}
