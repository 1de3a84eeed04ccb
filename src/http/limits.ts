/**
 * The admission logic shared by `limitFetch` and `limitInterceptor`: a global
 * {@link Semaphore}, a per-origin {@link KeyedSemaphore}, an optional
 * per-origin {@link RateLimiter}, and per-origin pauses (from `Retry-After` or
 * rate-limit headers). Web APIs only, so it runs wherever `fetch` does.
 *
 * Order of the gates for one request, and why:
 * 1. its origin's slot (`perOrigin`) — waiting here holds nothing anyone else needs;
 * 2. the origin's pause, if any — waited out holding only the origin slot;
 * 3. a global slot (`concurrency`);
 * 4. the origin's rate — last, so the rate is charged when the request really
 *    starts (charging it earlier would let requests held up at the global gate
 *    start in a bunch). The price: a request waiting for its origin's rate holds
 *    a global slot, at most `perOrigin` of them per origin.
 * A pause that begins while a request waits at 3 or 4 sends it back to 2 (its
 * global slot is given back first).
 *
 * @internal
 * @module
 */

import { ClosedError } from "../core/errors.js";
import { KeyedSemaphore } from "../core/keyed.js";
import { RateLimiter, type RateLimiterStats, type RateOptions } from "../core/rate.js";
import { type LimiterCounters, type Permit, Semaphore, type SemaphoreStats } from "../core/semaphore.js";
import { checkDuration, checkInteger, describe } from "../core/validate.js";

const now = (): number => globalThis.performance.now();

/** Limits shared by `limitFetch` and `limitInterceptor`. */
export interface HttpLimitOptions {
  /**
   * Requests in flight at once across all origins: an integer from 1 and up.
   * @defaultValue no global limit
   */
  concurrency?: number | undefined;
  /**
   * Requests in flight at once per origin (`https://api.example.com:443`): an
   * integer from 1 and up, or a function from the origin to its limit.
   * @defaultValue no per-origin limit
   */
  perOrigin?: number | ((origin: string) => number) | undefined;
  /**
   * A rate per origin, `{ limit, interval, burst? }` as for `RateLimiter`
   * (e.g. `{ limit: 100, interval: 60_000 }`): each origin gets its own.
   *
   * Or a function from the origin to a rate shared with other processes
   * ({@link SharedRate}, e.g. a `RedisRateLimiter` from `permits/redis`):
   * every process then draws on one quota, and a 429/503 `Retry-After` (or
   * a rate-limit header) seen by one process pauses the origin for all of
   * them through the shared rate's `pause(ms)`. The function is called when
   * an origin becomes active (again, after it went quiet); what it returns
   * is the caller's to close.
   * @defaultValue no rate limit
   */
  rate?: RateOptions | ((origin: string) => SharedRate) | undefined;
  /**
   * The longest pause (ms) a `Retry-After` or rate-limit header may impose on
   * an origin; longer requests are cut to this (and `limitFetch` then returns
   * the 429/503 instead of retrying). Protects a batch from a server asking
   * for hours.
   * @defaultValue 60_000
   */
  maxRetryAfter?: number | undefined;
  /**
   * Pause an origin when a response says its quota is used up
   * (`RateLimit`, `RateLimit-Remaining`/`-Reset`, `X-RateLimit-Remaining`/`-Reset`
   * with remaining 0), until the reset it gives.
   * @defaultValue true
   */
  rateLimitHeaders?: boolean | undefined;
}

/**
 * A rate limiter shared beyond this process, as `limitFetch` and
 * `limitInterceptor` use it: `RedisRateLimiter` from `permits/redis` is one.
 * Each request takes (and at once releases) one unit before it is sent; a
 * pause this process learns of (`Retry-After`, rate-limit headers) is passed
 * on with `pause(ms)`, and the rate's own `acquire` makes every process wait
 * it out.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { limitFetch } from "permits/http";
 * import { RedisRateLimiter } from "permits/redis";
 * const redis = new Redis();
 * const fetch = limitFetch({
 *   perOrigin: 4,
 *   // one quota and one 429 pause per origin for every process
 *   rate: (origin) => new RedisRateLimiter(redis, `api:${origin}`, { limit: 100, interval: 60_000 }),
 * });
 * console.log(typeof fetch); // function
 * redis.disconnect();
 * ```
 */
export interface SharedRate {
  /** Waits for one unit of the rate (and out any shared pause). */
  acquire(options?: { signal?: AbortSignal | undefined }): Promise<{ release(): void }>;
  /** Pauses the rate for every process for `ms` (never shortening a longer pause). */
  pause(ms: number): Promise<unknown>;
  /** A snapshot for {@link OriginStats}, if the rate has one. */
  stats?(): SharedRateStats;
}

/** What {@link OriginStats} shows of a {@link SharedRate}: this process's counters and the settings. */
export interface SharedRateStats extends LimiterCounters {
  limit: number;
  interval: number;
  burst: number;
}

/** A snapshot of one origin, in {@link HttpLimitStats}. */
export interface OriginStats {
  /** Requests admitted and not finished (their body not yet consumed). */
  inFlight: number;
  /** Requests waiting for admission. */
  queued: number;
  /** Milliseconds left of the current pause (0 when not paused). */
  pausedFor: number;
  /** Pauses imposed on this origin since it became active. */
  pauses: number;
  /** Retries sent to this origin since it became active. */
  retries: number;
  /** The origin's rate limiter, when a `rate` is set (for a shared rate, if it has `stats()`). */
  rate?: RateLimiterStats | SharedRateStats;
}

/** A snapshot of the limits, from `stats()`. */
export interface HttpLimitStats {
  /** Requests admitted and not finished, all origins. */
  inFlight: number;
  /** Requests waiting for admission, all origins. */
  queued: number;
  /** Retries sent since creation. */
  retries: number;
  /** Pauses imposed since creation (`Retry-After` or rate-limit headers). */
  pauses: number;
  /** Responses whose body was cancelled by `bodyTimeout` (limitFetch only). */
  bodyTimeouts: number;
  /** The global semaphore, when `concurrency` is set. */
  global?: SemaphoreStats;
  /** Active origins (in flight, queued, paused, or with a rate still recovering). */
  origins: Record<string, OriginStats>;
}

/** What a request holds while it runs. Releasing twice does nothing. */
export interface Lease {
  release(): void;
}

interface PauseWaiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

class Origin {
  refs = 0;
  inFlight = 0;
  queued = 0;
  pausedUntil = 0;
  pauses = 0;
  retries = 0;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  readonly waiters = new Set<PauseWaiter>();
  constructor(
    readonly name: string,
    readonly rate: RateLimiter | undefined,
    readonly shared: SharedRate | undefined,
  ) {}
}

/** Checks the shared options; returns the validated values. */
export function checkHttpLimitOptions(options: HttpLimitOptions): void {
  if (options.concurrency !== undefined) checkInteger("concurrency", options.concurrency);
  if (options.perOrigin !== undefined && typeof options.perOrigin !== "function") {
    checkInteger("perOrigin", options.perOrigin);
  }
  if (options.rate !== undefined && typeof options.rate !== "function") {
    if (typeof options.rate !== "object" || options.rate === null) {
      throw new TypeError(
        "Expected `rate` to be an object like { limit, interval, burst? } or a function from the origin to a shared rate, " +
          `got ${describe(options.rate)}`,
      );
    }
    // Validate once, with the RateLimiter's own messages.
    new RateLimiter(options.rate).close();
  }
  if (options.maxRetryAfter !== undefined) checkDuration("maxRetryAfter", options.maxRetryAfter);
  if (options.rateLimitHeaders !== undefined && typeof options.rateLimitHeaders !== "boolean") {
    throw new TypeError(`Expected \`rateLimitHeaders\` to be a boolean, got ${describe(options.rateLimitHeaders)}`);
  }
}

function sharedRateOf(factory: (origin: string) => SharedRate, origin: string): SharedRate {
  const rate = factory(origin);
  if (typeof rate !== "object" || rate === null || typeof rate.acquire !== "function" || typeof rate.pause !== "function") {
    throw new TypeError(
      `Expected \`rate("${origin}")\` to return a shared rate (an object with \`acquire\` and \`pause\`, such as a RedisRateLimiter), got ${describe(rate)}`,
    );
  }
  return rate;
}

/** @internal The shared admission core. */
export class HttpLimits {
  readonly maxRetryAfter: number;
  readonly rateLimitHeaders: boolean;
  readonly #global: Semaphore | undefined;
  readonly #perOrigin: KeyedSemaphore<string> | undefined;
  readonly #rate: RateOptions | undefined;
  readonly #sharedRate: ((origin: string) => SharedRate) | undefined;
  readonly #origins = new Map<string, Origin>();
  #inFlight = 0;
  #queued = 0;
  #closed = false;
  #closeReason: unknown = undefined;
  /** Counters the fetch wrapper and interceptor add to. */
  retries = 0;
  pauses = 0;
  bodyTimeouts = 0;

  constructor(options: HttpLimitOptions) {
    checkHttpLimitOptions(options);
    this.#global = options.concurrency === undefined ? undefined : new Semaphore(options.concurrency, { name: "http" });
    this.#perOrigin =
      options.perOrigin === undefined ? undefined : new KeyedSemaphore<string>(options.perOrigin, { name: "http" });
    const rate = options.rate;
    this.#rate = rate === undefined || typeof rate === "function" ? undefined : { ...rate };
    this.#sharedRate = typeof rate === "function" ? rate : undefined;
    this.maxRetryAfter = options.maxRetryAfter ?? 60_000;
    this.rateLimitHeaders = options.rateLimitHeaders ?? true;
  }

  /**
   * Waits through the gates (see the module doc) and resolves to a lease that
   * holds the slots until released.
   */
  async admit(originName: string, signal: AbortSignal | undefined): Promise<Lease> {
    if (this.#closed) throw this.#closedError();
    const origin = this.#get(originName);
    origin.refs++;
    origin.queued++;
    this.#queued++;
    let local: Permit | undefined;
    let global: Permit | undefined;
    let admitted = false;
    try {
      if (this.#perOrigin !== undefined) local = await this.#perOrigin.acquire(originName, { signal });
      for (;;) {
        if (now() < origin.pausedUntil) await this.#waitPause(origin, signal);
        if (this.#global !== undefined) global = await this.#global.acquire({ signal });
        const rate = origin.rate ?? origin.shared;
        if (rate !== undefined && now() >= origin.pausedUntil) {
          (await rate.acquire({ signal })).release();
        }
        if (now() >= origin.pausedUntil) break;
        // Paused while we waited: give the global slot back and wait the pause out.
        global?.release();
        global = undefined;
      }
      if (signal?.aborted) throw signal.reason;
      admitted = true;
    } finally {
      origin.queued--;
      this.#queued--;
      if (!admitted) {
        global?.release();
        local?.release();
        origin.refs--;
        this.#maybeDrop(origin);
      }
    }
    return this.#lease(origin, local, global);
  }

  /**
   * The synchronous fast path: a lease now if every gate is open and nobody
   * waits at any of them (never barges), else `undefined` and nothing held.
   * Lets `limitFetch` call the inner `fetch` in the same tick as the rate is
   * charged.
   */
  tryAdmit(originName: string, signal: AbortSignal | undefined): Lease | undefined {
    // Anyone between gates in admit() (even for a microtask) goes first; a
    // shared rate answers only asynchronously.
    if (this.#closed || signal?.aborted || this.#queued > 0 || this.#sharedRate !== undefined) return undefined;
    const origin = this.#get(originName);
    let local: Permit | undefined;
    let global: Permit | undefined;
    if (
      now() >= origin.pausedUntil &&
      (this.#perOrigin === undefined || (local = this.#perOrigin.tryAcquire(originName)) !== undefined) &&
      (this.#global === undefined || (global = this.#global.tryAcquire()) !== undefined)
    ) {
      const rate = origin.rate?.tryAcquire();
      if (origin.rate === undefined || rate !== undefined) {
        rate?.release();
        origin.refs++;
        return this.#lease(origin, local, global);
      }
    }
    global?.release();
    local?.release();
    this.#maybeDrop(origin);
    return undefined;
  }

  #lease(origin: Origin, local: Permit | undefined, global: Permit | undefined): Lease {
    origin.inFlight++;
    this.#inFlight++;
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        global?.release();
        local?.release();
        origin.inFlight--;
        this.#inFlight--;
        origin.refs--;
        this.#maybeDrop(origin);
      },
    };
  }

  /** Pauses an origin for `ms` (never shortens a longer pause). Returns the pause applied. */
  pause(originName: string, ms: number): number {
    const applied = Math.min(ms, this.maxRetryAfter);
    if (!(applied > 0)) return 0;
    const origin = this.#get(originName);
    const until = now() + applied;
    if (until > origin.pausedUntil) {
      origin.pausedUntil = until;
      origin.pauses++;
      this.pauses++;
      if (origin.waiters.size > 0) this.#schedule(origin);
      // Every other process learns through the shared rate. If that fails
      // (Redis down), this process still keeps the pause.
      if (origin.shared !== undefined) void origin.shared.pause(applied).catch(() => {});
    }
    this.#maybeDrop(origin);
    return applied;
  }

  /** Counts a retry against an origin. */
  countRetry(originName: string): void {
    this.retries++;
    const origin = this.#origins.get(originName);
    if (origin !== undefined) origin.retries++;
  }

  /** Milliseconds left of an origin's pause (0 when not paused). */
  pausedFor(originName: string): number {
    const origin = this.#origins.get(originName);
    return origin === undefined ? 0 : Math.max(0, origin.pausedUntil - now());
  }

  stats(): HttpLimitStats {
    // Forget origins that went quiet since (a rate recovers without an event).
    this.#sweep();
    const origins: Record<string, OriginStats> = {};
    const t = now();
    for (const origin of this.#origins.values()) {
      const entry: OriginStats = {
        inFlight: origin.inFlight,
        queued: origin.queued,
        pausedFor: Math.max(0, origin.pausedUntil - t),
        pauses: origin.pauses,
        retries: origin.retries,
      };
      if (origin.rate !== undefined) entry.rate = origin.rate.stats();
      else if (origin.shared?.stats !== undefined) entry.rate = origin.shared.stats();
      origins[origin.name] = entry;
    }
    const stats: HttpLimitStats = {
      inFlight: this.#inFlight,
      queued: this.#queued,
      retries: this.retries,
      pauses: this.pauses,
      bodyTimeouts: this.bodyTimeouts,
      origins,
    };
    if (this.#global !== undefined) stats.global = this.#global.stats();
    return stats;
  }

  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#global?.close(reason);
    this.#perOrigin?.close(reason);
    for (const origin of this.#origins.values()) {
      origin.rate?.close(reason);
      for (const waiter of [...origin.waiters]) this.#settle(origin, waiter, this.#closedError());
    }
  }

  #get(name: string): Origin {
    let origin = this.#origins.get(name);
    if (origin === undefined) {
      // Quiet origins are dropped lazily: memory stays bounded by the active
      // origins plus at most 64 recently quiet ones.
      if (this.#origins.size >= 64) this.#sweep();
      origin = new Origin(
        name,
        this.#rate === undefined ? undefined : new RateLimiter(this.#rate),
        this.#sharedRate === undefined ? undefined : sharedRateOf(this.#sharedRate, name),
      );
      this.#origins.set(name, origin);
    }
    return origin;
  }

  /** Forget an origin when nothing about it differs from a fresh one. */
  #maybeDrop(origin: Origin): void {
    if (origin.refs > 0 || origin.waiters.size > 0 || now() < origin.pausedUntil) return;
    const rate = origin.rate;
    if (rate !== undefined && (rate.queued > 0 || rate.available < rate.burst)) return;
    if (this.#origins.get(origin.name) === origin) this.#origins.delete(origin.name);
  }

  #sweep(): void {
    for (const origin of [...this.#origins.values()]) this.#maybeDrop(origin);
  }

  #waitPause(origin: Origin, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const waiter: PauseWaiter = { resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => this.#settle(origin, waiter, signal.reason);
        signal.addEventListener("abort", waiter.onAbort);
      }
      origin.waiters.add(waiter);
      if (origin.timer === undefined) this.#schedule(origin);
    });
  }

  /** One timer per paused origin, and only while someone waits for it. */
  #schedule(origin: Origin): void {
    if (origin.timer !== undefined) clearTimeout(origin.timer);
    origin.timer = setTimeout(() => {
      origin.timer = undefined;
      if (now() < origin.pausedUntil) {
        this.#schedule(origin);
        return;
      }
      // Wake in arrival order; each goes on through the gates.
      for (const waiter of [...origin.waiters]) this.#settle(origin, waiter, undefined);
      this.#maybeDrop(origin);
    }, Math.max(1, Math.ceil(origin.pausedUntil - now())));
  }

  #settle(origin: Origin, waiter: PauseWaiter, error: unknown): void {
    if (!origin.waiters.delete(waiter)) return;
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener("abort", waiter.onAbort);
    if (origin.waiters.size === 0 && origin.timer !== undefined) {
      clearTimeout(origin.timer);
      origin.timer = undefined;
    }
    if (error === undefined) waiter.resolve();
    else waiter.reject(error);
  }

  #closedError(): unknown {
    return this.#closeReason !== undefined ? this.#closeReason : new ClosedError("The HTTP limiter is closed");
  }
}
