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
 * An adaptive gate (`concurrency` or `perOrigin` set to `"adaptive"` or to
 * AdaptiveSemaphore options) is the same gate with a moving capacity (see
 * ./adaptive.ts): a request's sample starts when its lease is made — after
 * every gate, just before it is sent — and ends at `lease.settle(outcome)`,
 * at the headers; the slots are still held until `lease.release()`.
 *
 * Not exported from the package's entry points. (Not tagged internal here:
 * `stripInternal` would drop the first declaration below with the tag.)
 *
 * @module
 */

import type { AdaptivePermit, AdaptiveSemaphoreOptions } from "../core/adaptive.js";
import { ClosedError, invalidArgument } from "../core/errors.js";
import { KeyedSemaphore } from "../core/keyed.js";
import { RateLimiter, type RateLimiterStats, type RateOptions } from "../core/rate.js";
import { type AcquireOptions, type LimiterCounters, type Permit, Semaphore, type SemaphoreStats } from "../core/semaphore.js";
import { checkAging, checkDuration, checkFunction, checkInteger, checkPriority, checkRate, checkTenant, describe } from "../core/validate.js";

import { type Sleep, sleep } from "../core/wait.js";
import { AdaptiveGate, type AdaptiveLimitStats, adaptiveOptions, type Outcome } from "./adaptive.js";
import { type HeaderGetter, parseRateLimitExhausted, parseRetryAfter } from "./headers.js";

const now = (): number => globalThis.performance.now();
/** Per-origin adaptive limits remembered (learned limits outlive a quiet spell); the least recently used idle ones go first. */
const ADAPTIVE_ORIGINS = 256;

/** The statuses that say "too much, come back later": a `Retry-After` on them pauses the origin. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 503]);
/** Limits shared by `limitFetch` and `limitInterceptor`. */
export interface HttpLimitOptions {
  /**
   * Requests in flight at once across all origins: an integer from 1 and up,
   * or `"adaptive"` — the limit finds itself from the responses (an
   * {@link AdaptiveSemaphore} with its defaults: gradient2, from 4, between 1
   * and 1000) — or the options of that AdaptiveSemaphore
   * (`{ algorithm, initial, min, max, … }`). Samples: a 2xx/3xx is a success
   * measured from sending the attempt to its headers (not the queue, not a
   * `Retry-After` pause, not the body); 429, 502, 503, 504, timeouts and
   * connection resets are drops; other statuses and errors say nothing about
   * load. After a `Retry-After` the limit resumes at half its pre-pause value.
   * `stats().adaptive` shows the limit. See docs/http.md, "Adaptive concurrency".
   * @defaultValue no global limit
   * @example
   * ```ts
   * import { limitFetch } from "permit-pool/http";
   * const fetchAuto = limitFetch({ concurrency: { algorithm: "aimd", initial: 8, max: 64 } });
   * console.log(fetchAuto.stats().adaptive?.limit); // 8
   * ```
   */
  concurrency?: number | "adaptive" | AdaptiveSemaphoreOptions | undefined;
  /**
   * Requests in flight at once per origin (`https://api.example.com:443`): an
   * integer from 1 and up, a function from the origin to its limit, or
   * `"adaptive"` / AdaptiveSemaphore options — each origin then gets its own
   * adaptive limit (as for `concurrency`), remembered while the origin is
   * quiet (the 256 most recently used origins), and shown in
   * `stats().origins[origin].adaptive`. A `Retry-After` halves that origin's
   * limit only.
   * @defaultValue no per-origin limit
   * @example
   * ```ts
   * import { limitFetch } from "permit-pool/http";
   * const fetchAuto = limitFetch({ concurrency: 64, perOrigin: "adaptive" });
   * console.log(typeof fetchAuto); // "function"
   * ```
   */
  perOrigin?: number | ((origin: string) => number) | "adaptive" | AdaptiveSemaphoreOptions | undefined;
  /**
   * A rate per origin, `{ limit, interval, burst? }` as for `RateLimiter`
   * (e.g. `{ limit: 100, interval: 60_000 }`): each origin gets its own.
   *
   * Or a function from the origin to a rate shared with other processes
   * ({@link SharedRate}, e.g. a `RedisRateLimiter` from `permit-pool/redis`):
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
  /**
   * The starvation bound for a request's `priority`, in ms, at every gate
   * (see `SemaphoreOptions.aging` in the core).
   * @defaultValue no aging: strict priority
   */
  aging?: number | undefined;
  /**
   * Each tenant's share at every gate (see `SemaphoreOptions.weights`): a
   * request's `tenant` is given per request.
   * @defaultValue every tenant weighs 1
   */
  weights?: ((tenant: string) => number) | undefined;
}

/**
 * A rate limiter shared beyond this process, as `limitFetch` and
 * `limitInterceptor` use it: `RedisRateLimiter` from `permit-pool/redis` is one.
 * Each request takes (and at once releases) one unit before it is sent; a
 * pause this process learns of (`Retry-After`, rate-limit headers) is passed
 * on with `pause(ms)`, and the rate's own `acquire` makes every process wait
 * it out.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { limitFetch } from "permit-pool/http";
 * import { RedisRateLimiter } from "permit-pool/redis";
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

/** Whole milliseconds from `t` until `until`, rounded up so a pause still running never reads 0; 0 once it is over. */
function msLeft(until: number, t: number): number {
  return until > t ? Math.ceil(until - t) : 0;
}

/** A snapshot of one origin, in {@link HttpLimitStats}. */
export interface OriginStats {
  /** Requests admitted and not finished (their body not yet consumed). */
  inFlight: number;
  /** Requests waiting for admission. */
  queued: number;
  /** Whole milliseconds left of the current pause, rounded up (0 when not paused). */
  pausedFor: number;
  /** Pauses imposed on this origin since it became active. */
  pauses: number;
  /** Retries sent to this origin since it became active. */
  retries: number;
  /** The origin's rate limiter, when a `rate` is set (for a shared rate, if it has `stats()`). */
  rate?: RateLimiterStats | SharedRateStats;
  /** The origin's adaptive limit, with `perOrigin: "adaptive"` (or options). */
  adaptive?: AdaptiveLimitStats;
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
  /** The global semaphore, when `concurrency` is set (its `capacity` is the adaptive limit enforced now, if adaptive). */
  global?: SemaphoreStats;
  /** The global adaptive limit, with `concurrency: "adaptive"` (or options). */
  adaptive?: AdaptiveLimitStats;
  /**
   * Active origins (in flight, queued, paused, or with a rate still
   * recovering), and with an adaptive `perOrigin` every origin whose limit is
   * remembered.
   */
  origins: Record<string, OriginStats>;
}

/** What a request holds while it runs. Releasing twice does nothing. */
export interface Lease {
  /**
   * Ends the attempt's adaptive samples (at its response headers, or a
   * failure before them); the slots stay held. Only the first call counts;
   * `release()` without it ignores the attempt.
   */
  settle(outcome: Outcome): void;
  release(): void;
}

class Origin {
  refs = 0;
  inFlight = 0;
  queued = 0;
  pausedUntil = 0;
  pauses = 0;
  retries = 0;
  /** The requests waiting out this origin's pause (the core's one timed wait each). */
  readonly sleepers = new Set<Sleep>();
  constructor(
    readonly name: string,
    readonly rate: RateLimiter | undefined,
    readonly shared: SharedRate | undefined,
  ) {}
}

/** A request's place in the queues: its priority and tenant (see the core's `AcquireOptions`). */
export interface RequestOrder {
  priority: number;
  tenant: string | undefined;
}

/** Reads `priority` (a number; fetch's string hints "high" | "low" | "auto" count as 0) and `tenant` off a request's options. */
export function readOrder(options: { priority?: unknown; tenant?: unknown } | null | undefined): RequestOrder | undefined {
  if (options === undefined || options === null) return undefined;
  const { priority, tenant } = options;
  if (priority === undefined && tenant === undefined) return undefined;
  return {
    priority: priority === undefined || typeof priority === "string" ? 0 : checkPriority(priority),
    tenant: tenant === undefined ? undefined : checkTenant(tenant),
  };
}

function orderOptions(signal: AbortSignal | undefined, order: RequestOrder | undefined): AcquireOptions {
  if (order === undefined) return { signal };
  return { signal, priority: order.priority, ...(order.tenant === undefined ? {} : { tenant: order.tenant }) };
}

/** Checks the shared options; returns the adaptive ones, validated. */
export function checkHttpLimitOptions(options: HttpLimitOptions): {
  concurrency: AdaptiveSemaphoreOptions | undefined;
  perOrigin: AdaptiveSemaphoreOptions | undefined;
} {
  if (options.aging !== undefined) checkAging(options.aging);
  if (options.weights !== undefined) checkFunction("weights", options.weights);
  const concurrency = adaptiveOptions("concurrency", options.concurrency);
  if (concurrency === undefined && options.concurrency !== undefined) checkInteger("concurrency", options.concurrency);
  const perOrigin = adaptiveOptions("perOrigin", options.perOrigin);
  if (perOrigin === undefined && options.perOrigin !== undefined && typeof options.perOrigin !== "function") {
    checkInteger("perOrigin", options.perOrigin);
  }
  if (options.rate !== undefined && typeof options.rate !== "function") {
    if (typeof options.rate !== "object" || options.rate === null) {
      throw invalidArgument(
        "Expected `rate` to be an object like { limit, interval, burst? } or a function from the origin to a shared rate, " +
          `got ${describe(options.rate)}`,
      );
    }
    // The RateLimiter's own checks and messages, without building one.
    checkRate("rate", options.rate, ["limit", "interval", "burst"]);
  }
  if (options.maxRetryAfter !== undefined) checkDuration("maxRetryAfter", options.maxRetryAfter);
  if (options.rateLimitHeaders !== undefined && typeof options.rateLimitHeaders !== "boolean") {
    throw invalidArgument(`Expected \`rateLimitHeaders\` to be a boolean, got ${describe(options.rateLimitHeaders)}`);
  }
  return { concurrency, perOrigin };
}

function sharedRateOf(factory: (origin: string) => SharedRate, origin: string): SharedRate {
  const rate = factory(origin);
  if (typeof rate !== "object" || rate === null || typeof rate.acquire !== "function" || typeof rate.pause !== "function") {
    throw invalidArgument(
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
  /** The global gate's controller, when `concurrency` is adaptive (`#global` is then its admission semaphore). */
  readonly #globalGate: AdaptiveGate | undefined;
  readonly #perOrigin: KeyedSemaphore<string> | undefined;
  /** With an adaptive `perOrigin`: its options, and one gate per origin (most recently used last). */
  readonly #originAdaptive: AdaptiveSemaphoreOptions | undefined;
  readonly #originGates = new Map<string, AdaptiveGate>();
  readonly #scheduling: { aging?: number; weights?: (tenant: string) => number };
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
    const adaptive = checkHttpLimitOptions(options);
    const scheduling = {
      ...(options.aging === undefined ? {} : { aging: options.aging }),
      ...(options.weights === undefined ? {} : { weights: options.weights }),
    };
    this.#scheduling = scheduling;
    this.#globalGate = adaptive.concurrency === undefined ? undefined : new AdaptiveGate(adaptive.concurrency, "http", scheduling);
    this.#global =
      this.#globalGate?.sem ??
      (options.concurrency === undefined ? undefined : new Semaphore(options.concurrency as number, { name: "http", ...scheduling }));
    this.#originAdaptive = adaptive.perOrigin;
    this.#perOrigin =
      options.perOrigin === undefined || adaptive.perOrigin !== undefined
        ? undefined
        : new KeyedSemaphore<string>(options.perOrigin as number | ((origin: string) => number), { name: "http", ...scheduling });
    const rate = options.rate;
    this.#rate = rate === undefined || typeof rate === "function" ? undefined : { ...rate, ...scheduling };
    this.#sharedRate = typeof rate === "function" ? rate : undefined;
    this.maxRetryAfter = options.maxRetryAfter ?? 60_000;
    this.rateLimitHeaders = options.rateLimitHeaders ?? true;
  }

  /**
   * Waits through the gates (see the module doc) and resolves to a lease that
   * holds the slots until released.
   */
  async admit(originName: string, signal: AbortSignal | undefined, order?: RequestOrder): Promise<Lease> {
    if (this.#closed) throw this.#closedError();
    const origin = this.#get(originName);
    origin.refs++;
    origin.queued++;
    this.#queued++;
    let local: Permit | undefined;
    let global: Permit | undefined;
    let admitted = false;
    try {
      const options = orderOptions(signal, order);
      if (this.#perOrigin !== undefined) local = await this.#perOrigin.acquire(originName, options);
      else if (this.#originAdaptive !== undefined) local = await this.#gateOf(originName).sem.acquire(options);
      for (;;) {
        if (now() < origin.pausedUntil) await this.#waitPause(origin, signal);
        if (this.#global !== undefined) global = await this.#global.acquire(options);
        if (origin.rate !== undefined && now() >= origin.pausedUntil) {
          (await origin.rate.acquire(options)).release();
        } else if (origin.shared !== undefined && now() >= origin.pausedUntil) {
          (await origin.shared.acquire({ signal })).release();
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
      (this.#originAdaptive === undefined || (local = this.#gateOf(originName).sem.tryAcquire()) !== undefined) &&
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
    // The samples start here, after every gate: the attempt is sent next.
    const globalGate = this.#globalGate;
    const originGate = this.#originAdaptive === undefined ? undefined : this.#originGates.get(origin.name);
    let globalSample = globalGate?.start();
    let originSample = originGate?.start();
    let globalBody: AdaptivePermit | undefined;
    let originBody: AdaptivePermit | undefined;
    // `body`: the slots stay held after this (settled at the headers, not at release).
    const settle = (outcome: Outcome, body: boolean): void => {
      if (globalSample !== undefined) {
        const sample = globalSample;
        globalSample = undefined;
        globalBody = globalGate?.end(sample, outcome, body);
      }
      if (originSample !== undefined) {
        const sample = originSample;
        originSample = undefined;
        originBody = originGate?.end(sample, outcome, body);
      }
    };
    return {
      settle: (outcome) => {
        if (!done) settle(outcome, true);
      },
      release: () => {
        if (done) return;
        done = true;
        settle("ignore", false);
        if (globalBody !== undefined) globalGate?.endBody(globalBody);
        if (originBody !== undefined) originGate?.endBody(originBody);
        global?.release();
        local?.release();
        origin.inFlight--;
        this.#inFlight--;
        origin.refs--;
        this.#maybeDrop(origin);
      },
    };
  }

  /**
   * The response → pause policy, written once for `limitFetch` and the
   * interceptor: a 429 or 503 with `Retry-After` pauses the origin for it,
   * and so do rate-limit headers that say the quota is spent (when
   * `rateLimitHeaders` is on). Returns the `Retry-After` asked for (ms; for
   * the retry decision) and the pause it applied (capped by `maxRetryAfter`).
   */
  respond(originName: string, status: number, headers: HeaderGetter): { retryAfter?: number; paused?: number } {
    const out: { retryAfter?: number; paused?: number } = {};
    if (RETRY_STATUSES.has(status)) {
      const retryAfter = parseRetryAfter(headers.get("retry-after"));
      if (retryAfter !== undefined) {
        out.retryAfter = retryAfter;
        out.paused = this.pause(originName, retryAfter);
        this.#adaptToPause(originName, out.paused);
      }
    }
    if (this.rateLimitHeaders) {
      const reset = parseRateLimitExhausted(headers);
      if (reset !== undefined) this.pause(originName, reset);
    }
    return out;
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
      // Every other process learns through the shared rate. If that fails
      // (Redis down), this process still keeps the pause.
      if (origin.shared !== undefined) void origin.shared.pause(applied).catch(() => {});
    }
    this.#maybeDrop(origin);
    return applied;
  }

  /**
   * A `Retry-After` pause of `ms` on an origin, for the adaptive limits: the
   * controller that owns the origin resumes at half its pre-pause limit (and
   * discards the burst's outcomes). That is the origin's own limit when
   * `perOrigin` is adaptive — the global limit then takes the 429/503 as one
   * drop, as any other origin's, instead of halving for every origin — and
   * otherwise the global limit.
   */
  #adaptToPause(originName: string, ms: number): void {
    if (!(ms > 0)) return;
    if (this.#originAdaptive !== undefined) this.#gateOf(originName).retryAfter(ms);
    else this.#globalGate?.retryAfter(ms);
  }

  /** The origin's adaptive gate (made on first use; the least recently used idle ones are forgotten beyond 256). */
  #gateOf(originName: string): AdaptiveGate {
    const gates = this.#originGates;
    let gate = gates.get(originName);
    if (gate !== undefined) {
      // Most recently used last.
      gates.delete(originName);
      gates.set(originName, gate);
      return gate;
    }
    if (gates.size >= ADAPTIVE_ORIGINS) {
      for (const [name, old] of gates) {
        if (gates.size < ADAPTIVE_ORIGINS) break;
        if (old.idle) gates.delete(name);
      }
    }
    gate = new AdaptiveGate(this.#originAdaptive ?? {}, `http:${originName}`, this.#scheduling);
    if (this.#closed) gate.close(this.#closedError());
    gates.set(originName, gate);
    return gate;
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
    return origin === undefined ? 0 : msLeft(origin.pausedUntil, now());
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
        pausedFor: msLeft(origin.pausedUntil, t),
        pauses: origin.pauses,
        retries: origin.retries,
      };
      if (origin.rate !== undefined) entry.rate = origin.rate.stats();
      else if (origin.shared?.stats !== undefined) entry.rate = origin.shared.stats();
      origins[origin.name] = entry;
    }
    for (const [name, gate] of this.#originGates) {
      origins[name] ??= { inFlight: 0, queued: 0, pausedFor: 0, pauses: 0, retries: 0 };
      (origins[name]).adaptive = gate.stats();
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
    if (this.#globalGate !== undefined) stats.adaptive = this.#globalGate.stats();
    return stats;
  }

  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#global?.close(reason);
    this.#globalGate?.controller.close(reason);
    this.#perOrigin?.close(reason);
    for (const gate of this.#originGates.values()) gate.close(reason);
    for (const origin of this.#origins.values()) {
      origin.rate?.close(reason);
      for (const sleeping of [...origin.sleepers]) sleeping.cancel(this.#closedError());
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
    if (origin.refs > 0 || origin.sleepers.size > 0 || now() < origin.pausedUntil) return;
    const rate = origin.rate;
    if (rate !== undefined && (rate.queued > 0 || rate.available < rate.burst)) return;
    if (this.#origins.get(origin.name) === origin) this.#origins.delete(origin.name);
  }

  #sweep(): void {
    for (const origin of [...this.#origins.values()]) this.#maybeDrop(origin);
  }

  /**
   * Waits out an origin's pause with the core's timed wait (any length: a
   * pause past setTimeout's 24.8 days is slept in steps; an abort rejects at
   * once with the signal's reason; close() cancels it). A pause extended
   * while it sleeps (a later `Retry-After`) is seen on waking.
   */
  async #waitPause(origin: Origin, signal: AbortSignal | undefined): Promise<void> {
    while (now() < origin.pausedUntil) {
      const sleeping = sleep(Math.max(1, origin.pausedUntil - now()), signal);
      origin.sleepers.add(sleeping);
      try {
        await sleeping.promise;
      } finally {
        origin.sleepers.delete(sleeping);
      }
    }
  }

  #closedError(): unknown {
    return this.#closeReason !== undefined ? this.#closeReason : new ClosedError("The HTTP limiter is closed");
  }
}
