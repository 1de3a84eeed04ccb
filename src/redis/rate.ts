/**
 * `RedisRateLimiter`: the in-process `RateLimiter` (GCRA) with its state in
 * Redis, so "at most 100 a minute" holds across a fleet — plus a shared pause
 * (`pause(ms)`, e.g. from a 429's `Retry-After`) that every process honours.
 *
 * ## How it works
 * The whole GCRA state is one number, the theoretical arrival time (TAT),
 * kept in a hash under the hash tag `{name}` together with the limiter's
 * settings and the shared pause (`blockedUntil`). One script, on the server
 * clock, decides each request and *reserves* its slot: it answers "start now"
 * or "start in exactly N ms", and the caller sleeps exactly that long — one
 * round trip per request, no polling. Reservations are taken in the order
 * Redis receives them, so waiting is FIFO across processes.
 *
 * A waiter that gives up (signal, close) hands its reservation back if nobody
 * reserved after it; otherwise its slot goes unused — the fleet then runs a
 * little below the rate, never above it.
 *
 * @module
 */

import { ClosedError, timeoutError } from "../core/errors.js";
import type { AcquireOptions, LimiterCounters } from "../core/semaphore.js";
import { checkDuration, checkFunction, checkInteger, checkOptions, describe, readAcquireOptions } from "../core/validate.js";
import { adapt, type RedisAdapter } from "./client.js";
import { RedisCommandError, RedisUnavailableError } from "./errors.js";
import { defineScript, type Script } from "./scripts.js";

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function f(n) return string.format('%.3f', n) end
`;

/**
 * RESERVE: KEYS[1] = state hash. ARGV = step ms, tau ms, weight, mode ("try" |
 * "reserve"), maxWait ms (-1: any), settings signature.
 * Returns {1, waitMs, reservedTat} (reserved; start after waitMs) or {0, waitMs}.
 */
const RESERVE: Script = defineScript(`${NOW}
local sig = redis.call('HGET', KEYS[1], 'settings')
if sig and sig ~= ARGV[6] then return redis.error_reply('PERMITS_RATE_SETTINGS ' .. sig) end
local step, tau, w = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
local arrival = math.max(now, blocked)
local newtat = math.max(tat, arrival) + w * step
local wait = math.max(arrival, newtat - tau) - now
if wait < 0.001 then wait = 0 end
if wait > 0 and (ARGV[4] == 'try' or (tonumber(ARGV[5]) >= 0 and wait > tonumber(ARGV[5]))) then
  return {0, f(wait)}
end
local stored = f(newtat)
redis.call('HSET', KEYS[1], 'tat', stored, 'settings', ARGV[6])
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(newtat, blocked) - now + tau) + 60000)
return {1, f(wait), stored}
`);

/** REFUND: ARGV = weight × step, reservedTat. Gives a reservation back if it is still the last one. */
const REFUND: Script = defineScript(`
if redis.call('HGET', KEYS[1], 'tat') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'tat', string.format('%.3f', tonumber(ARGV[2]) - tonumber(ARGV[1])))
  return 1
end
return 0
`);

/** PAUSE: ARGV = ms (0: only read). Extends the shared pause, never shortens it; returns ms left. */
const PAUSE: Script = defineScript(`${NOW}
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
local ms = tonumber(ARGV[1])
if ms > 0 and now + ms > blocked then
  blocked = now + ms
  redis.call('HSET', KEYS[1], 'blocked', f(blocked))
  if redis.call('PTTL', KEYS[1]) < ms + 60000 then redis.call('PEXPIRE', KEYS[1], math.ceil(ms) + 60000) end
end
return f(math.max(0, blocked - now))
`);

/**
 * Options of the `RedisRateLimiter` constructor.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisRateLimiter, type RedisRateLimiterOptions } from "permits/redis";
 * const options: RedisRateLimiterOptions = { limit: 100, interval: 60_000, burst: 10 };
 * const redis = new Redis();
 * const rate = new RedisRateLimiter(redis, "partner-api", options);
 * console.log(rate.burst); // 10
 * redis.disconnect();
 * ```
 */
export interface RedisRateLimiterOptions {
  /** Units allowed per `interval`, fleet-wide: an integer from 1 and up. */
  limit: number;
  /** Length of the interval in milliseconds: a finite number above 0. */
  interval: number;
  /**
   * How many units may start at once from rest (and the largest weight of
   * one request).
   * @defaultValue 1 — never more than `limit` in any window of `interval`.
   */
  burst?: number | undefined;
  /** Key prefix, before the `{name}` hash tag. @defaultValue `"permits:"` */
  prefix?: string | undefined;
  /** Deadline for one Redis command, in ms. @defaultValue 5_000 */
  commandTimeoutMs?: number | undefined;
}

/**
 * A snapshot of this process's view of a Redis rate limiter, from `stats()`.
 * The counters ({@link LimiterCounters}) are this instance's; `queued` counts
 * its waiters sleeping until their reserved time.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisRateLimiter, type RedisRateLimiterStats } from "permits/redis";
 * const redis = new Redis();
 * const rate = new RedisRateLimiter(redis, "partner-api", { limit: 5, interval: 1_000 });
 * const { acquired, queued }: RedisRateLimiterStats = rate.stats();
 * console.log(acquired, queued); // 0 0
 * redis.disconnect();
 * ```
 */
export interface RedisRateLimiterStats extends LimiterCounters {
  limit: number;
  interval: number;
  burst: number;
}

/**
 * Proof that a request was admitted by a {@link RedisRateLimiter}. The rate
 * is spent at admission; releasing only tells this process the work is over
 * (for `inUse` and `onIdle()`). Idempotent, disposable.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisRateLimiter } from "permits/redis";
 * const redis = new Redis();
 * const rate = new RedisRateLimiter(redis, "partner-api", { limit: 100, interval: 60_000 });
 * {
 *   using permit = await rate.acquire();
 *   console.log(permit.weight); // 1
 * }
 * redis.disconnect();
 * ```
 */
export class RedisRatePermit implements Disposable, AsyncDisposable {
  /** Units of the rate this request used. */
  readonly weight: number;
  #limiter: RedisRateLimiter | undefined;

  /** @internal */
  constructor(limiter: RedisRateLimiter, weight: number) {
    this.#limiter = limiter;
    this.weight = weight;
  }

  /** Whether `release()` was called. */
  get released(): boolean {
    return this.#limiter === undefined;
  }

  /** Marks the work as over. Idempotent; no round trip. */
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

const OPTION_KEYS: readonly string[] = ["limit", "interval", "burst", "prefix", "commandTimeoutMs"];

/**
 * Admits at most `limit` units per `interval` across every process that uses
 * the same Redis and `name` (GCRA on the server clock), FIFO, with a shared
 * pause for 429s. The surface of the in-process `RateLimiter`: `acquire`,
 * `tryAcquire`, `run`, `close`, `onIdle`, `stats` — `tryAcquire` returns a
 * promise — plus `pause(ms)` and `pausedFor()`.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisRateLimiter } from "permits/redis";
 * const redis = new Redis();
 * // "100 requests a minute" for the whole fleet
 * const rate = new RedisRateLimiter(redis, "partner-api", { limit: 100, interval: 60_000 });
 * const response = await rate.run(() => fetch("https://partner.example/orders"));
 * if (response.status === 429) await rate.pause(Number(response.headers.get("retry-after") ?? 1) * 1_000);
 * redis.disconnect();
 * ```
 */
export class RedisRateLimiter {
  /** The limiter's name: processes that use the same name share it. */
  readonly name: string;
  /** Units allowed per `interval`. */
  readonly limit: number;
  /** Interval in milliseconds. */
  readonly interval: number;
  /** Units that may start at once from rest; the largest weight of one request. */
  readonly burst: number;
  readonly #adapter: RedisAdapter;
  readonly #key: readonly string[];
  readonly #step: number;
  readonly #tau: number;
  readonly #settings: string;
  readonly #commandTimeoutMs: number;
  readonly #sleepers = new Set<() => void>();
  #inUse = 0;
  #pending = 0;
  #closed = false;
  #closeReason: unknown = undefined;
  #idle: (() => void)[] = [];
  #acquired = 0;
  #released = 0;
  #aborted = 0;
  #timedOut = 0;
  #maxQueued = 0;

  /**
   * @param client - A connected ioredis / iovalkey or node-redis v5 client.
   * @param name - Shared name: a non-empty string without `{`, `}` or whitespace.
   * @param options - `{ limit, interval, burst?, prefix?, commandTimeoutMs? }`.
   *   Every process must use the same `limit`, `interval` and `burst`; a
   *   process that disagrees gets a `RedisCommandError` saying so.
   * @throws TypeError | RangeError for a bad client, name or option.
   */
  constructor(client: unknown, name: string, options: RedisRateLimiterOptions) {
    this.#adapter = adapt(client);
    if (typeof name !== "string" || name.length === 0 || name.length > 512 || /[{}\s]/.test(name)) {
      throw new TypeError(
        `Expected \`name\` to be a non-empty string of at most 512 characters without \`{\`, \`}\` or whitespace, got ${describe(name)}`,
      );
    }
    checkOptions("options", options, OPTION_KEYS);
    this.limit = checkInteger("limit", options.limit);
    const interval = checkDuration("interval", options.interval);
    if (interval === 0 || !Number.isFinite(interval)) {
      throw new RangeError(`Expected \`interval\` to be a finite number of milliseconds above 0, got ${describe(interval)}`);
    }
    this.interval = interval;
    this.burst = options.burst === undefined ? 1 : checkInteger("burst", options.burst);
    const prefix = options.prefix ?? "permits:";
    if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
      throw new TypeError(`Expected \`prefix\` to be a string without \`{\` or \`}\`, got ${describe(prefix)}`);
    }
    this.#commandTimeoutMs =
      options.commandTimeoutMs === undefined ? 5_000 : checkInteger("commandTimeoutMs", options.commandTimeoutMs);
    this.name = name;
    this.#step = interval / this.limit;
    this.#tau = this.burst * this.#step;
    this.#settings = `${this.limit}/${interval}/${this.burst}`;
    this.#key = [`${prefix}{${name}}:rate`];
  }

  /** Units admitted here and not yet released. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Waiters of this instance (sleeping until their reserved time). */
  get queued(): number {
    return this.#sleepers.size;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits until `weight` units of the fleet-wide rate may start.
   *
   * **Fairness:** FIFO across processes: each request reserves the next free
   * slot in the order Redis receives it, so a newcomer never starts before
   * an earlier waiter, and a shared `pause()` holds everyone.
   *
   * **Cancel safety:** aborting `signal` (or `close()`) while sleeping rejects
   * at once with `signal.reason` and hands the reservation back if nobody
   * reserved after it. A `timeout` shorter than the wait Redis computes
   * rejects at once with a `"TimeoutError"` `DOMException` and reserves
   * nothing (the wait is known in advance).
   *
   * @throws TypeError | RangeError synchronously for a bad weight, a weight
   *   above `burst`, a bad signal or timeout, or an unknown option.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permits/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "emails", { limit: 10, interval: 1_000 });
   * const permit = await rate.acquire({ timeout: 5_000 });
   * permit.release();
   * redis.disconnect();
   * ```
   */
  acquire(options?: AcquireOptions): Promise<RedisRatePermit> {
    let weight = 1;
    let signal: AbortSignal | undefined;
    let timeout: number | undefined;
    if (options !== undefined) ({ weight, signal, timeout } = readAcquireOptions(options));
    if (weight > this.burst) throw this.#tooHeavy(weight);
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal?.aborted) {
      this.#aborted++;
      return Promise.reject(signal.reason);
    }
    return this.#acquire(weight, signal, timeout);
  }

  async #acquire(weight: number, signal: AbortSignal | undefined, timeout: number | undefined): Promise<RedisRatePermit> {
    const maxWait = timeout === undefined || !Number.isFinite(timeout) ? -1 : timeout;
    this.#pending++;
    let reply: string[];
    try {
      reply = (await this.#call(RESERVE, [this.#step, this.#tau, weight, "reserve", maxWait, this.#settings])) as string[];
    } finally {
      this.#pending--;
    }
    const [ok, wait, reserved] = [Number(reply[0]), Number(reply[1]), String(reply[2])];
    if (ok !== 1) {
      this.#timedOut++;
      this.#checkIdle();
      throw timeoutError(timeout ?? 0, this.#what(weight));
    }
    if (wait > 0) {
      try {
        await this.#sleep(wait, signal);
      } catch (reason) {
        this.#pending++;
        // Give the slot back if it is still the last one reserved.
        void this.#call(REFUND, [weight * this.#step, reserved])
          .catch(() => {})
          .finally(() => {
            this.#pending--;
            this.#checkIdle();
          });
        throw reason;
      }
    }
    if (this.#closed) {
      this.#checkIdle();
      throw this.#closedError();
    }
    return this.#grant(weight);
  }

  #sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: unknown): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#sleepers.delete(onClose);
        if (error === undefined) resolve();
        else reject(error);
      };
      const timer = setTimeout(() => done(), ms);
      const onAbort = (): void => {
        this.#aborted++;
        done(signal?.reason);
      };
      const onClose = (): void => done(this.#closedError());
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#sleepers.add(onClose);
      if (this.#sleepers.size > this.#maxQueued) this.#maxQueued = this.#sleepers.size;
    });
  }

  /**
   * Takes `weight` units only if the fleet-wide rate admits them now.
   *
   * **Fairness:** never barges: a slot reserved by a waiter is not free.
   *
   * **Cancel safety:** nothing is reserved unless admitted.
   *
   * @throws TypeError | RangeError synchronously for a bad weight or one above `burst`.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permits/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "probe", { limit: 1, interval: 10_000 });
   * const permit = await rate.tryAcquire();
   * console.log(permit === undefined ? "later" : "now");
   * redis.disconnect();
   * ```
   */
  async tryAcquire(weight?: number): Promise<RedisRatePermit | undefined> {
    const w = weight === undefined ? 1 : checkInteger("weight", weight);
    if (w > this.burst) throw this.#tooHeavy(w);
    if (this.#closed) return undefined;
    const reply = (await this.#call(RESERVE, [this.#step, this.#tau, w, "try", 0, this.#settings])) as string[];
    return Number(reply[0]) === 1 ? this.#grant(w) : undefined;
  }

  /**
   * Waits for the rate, calls `fn(permit)`, releases however `fn` ends, and
   * returns what `fn` returned or rethrows what it threw.
   *
   * **Fairness:** as `acquire`.
   *
   * **Cancel safety:** as `acquire` while waiting; if the signal aborted by
   * the time the slot comes, `fn` is not called (the slot is spent).
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permits/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "geocoder", { limit: 50, interval: 1_000, burst: 5 });
   * const place = await rate.run(async () => "Berlin");
   * console.log(place);
   * redis.disconnect();
   * ```
   */
  async run<T>(fn: (permit: RedisRatePermit) => T | PromiseLike<T>, options?: AcquireOptions): Promise<Awaited<T>> {
    checkFunction("fn", fn);
    const permit = await this.acquire(options);
    try {
      if (options?.signal?.aborted) throw options.signal.reason;
      return await fn(permit);
    } finally {
      permit.release();
    }
  }

  /**
   * Pauses the limiter for every process for `ms` from now (by the server's
   * clock), e.g. after a 429 with `Retry-After`. Extends a shorter pause,
   * never shortens a longer one. Requests that already reserved a slot inside
   * the pause still start then; new ones start after it.
   *
   * **Cancel safety:** one command; nothing to cancel.
   *
   * @returns The ms left of the shared pause after this call.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permits/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "partner-api", { limit: 100, interval: 60_000 });
   * await rate.pause(30_000); // everyone waits 30 s
   * console.log(await rate.pausedFor() > 29_000); // true
   * redis.disconnect();
   * ```
   */
  async pause(ms: number): Promise<number> {
    checkDuration("ms", ms);
    if (!Number.isFinite(ms)) throw new RangeError(`Expected \`ms\` to be a finite number of milliseconds, got ${describe(ms)}`);
    return Number(await this.#call(PAUSE, [ms]));
  }

  /**
   * Milliseconds left of the shared pause (0 when not paused).
   *
   * **Cancel safety:** read-only.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permits/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "partner-api", { limit: 100, interval: 60_000 });
   * console.log(await rate.pausedFor()); // 0
   * redis.disconnect();
   * ```
   */
  async pausedFor(): Promise<number> {
    return Number(await this.#call(PAUSE, [0]));
  }

  /**
   * Rejects this instance's sleeping waiters and every later `acquire` with
   * `reason` (or a `ClosedError`). Admitted permits release normally.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permits/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "jobs", { limit: 1, interval: 1_000 });
   * rate.close();
   * await rate.acquire().catch((error) => console.log(error.name)); // "ClosedError"
   * redis.disconnect();
   * ```
   */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (const wake of [...this.#sleepers]) wake();
    this.#checkIdle();
  }

  /**
   * Resolves when this instance has no waiters and every permit is released.
   *
   * **Cancel safety:** nothing to cancel.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permits/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "jobs", { limit: 10, interval: 1_000, burst: 10 });
   * void rate.run(async () => {});
   * await rate.onIdle();
   * redis.disconnect();
   * ```
   */
  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * A snapshot of this instance's counters (no round trip).
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permits/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "jobs", { limit: 10, interval: 1_000 });
   * console.log(rate.stats().acquired); // 0
   * redis.disconnect();
   * ```
   */
  stats(): RedisRateLimiterStats {
    return {
      limit: this.limit,
      interval: this.interval,
      burst: this.burst,
      inUse: this.#inUse,
      queued: this.#sleepers.size,
      acquired: this.#acquired,
      released: this.#released,
      aborted: this.#aborted,
      timedOut: this.#timedOut,
      maxQueued: this.#maxQueued,
      closed: this.#closed,
    };
  }

  /** @internal */
  _release(weight: number): void {
    this.#inUse -= weight;
    this.#released++;
    this.#checkIdle();
  }

  #grant(weight: number): RedisRatePermit {
    this.#inUse += weight;
    this.#acquired++;
    return new RedisRatePermit(this, weight);
  }

  #call(script: Script, args: readonly (string | number)[]): Promise<unknown> {
    const adapter = this.#adapter;
    const down = adapter.down;
    if (down !== undefined) {
      return Promise.reject(new RedisUnavailableError(`Redis at ${adapter.server} is unavailable: ${down}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new RedisUnavailableError(`Redis at ${adapter.server} did not answer within ${this.#commandTimeoutMs} ms`)),
        this.#commandTimeoutMs,
      );
      adapter.run(script, this.#key, args).then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          const message = error instanceof Error ? error.message : String(error);
          const settings = /PERMITS_RATE_SETTINGS (\S+)/.exec(message);
          if (settings !== null) {
            reject(
              new RedisCommandError(
                `Rate limiter "${this.name}" has limit/interval/burst ${settings[1]} in Redis, but this process uses ${this.#settings}: ` +
                  "use the same settings everywhere, or another name",
                { cause: error },
              ),
            );
          } else if (/^(ERR|WRONGTYPE|NOSCRIPT)/.test(message)) {
            reject(new RedisCommandError(`Redis at ${adapter.server} refused a command: ${message}`, { cause: error }));
          } else {
            reject(new RedisUnavailableError(`Redis at ${adapter.server} is unavailable: ${message}`, { cause: error }));
          }
        },
      );
    });
  }

  #isIdle(): boolean {
    return this.#inUse === 0 && this.#sleepers.size === 0 && this.#pending === 0;
  }

  #checkIdle(): void {
    if (!this.#isIdle() || this.#idle.length === 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  #closedError(): unknown {
    return this.#closeReason !== undefined ? this.#closeReason : new ClosedError(`The rate limiter "${this.name}" is closed`);
  }

  #tooHeavy(weight: number): RangeError {
    return new RangeError(
      `Expected \`weight\` to be at most \`burst\` (${this.burst}), got ${describe(weight)}: such a request could never start`,
    );
  }

  #what(weight: number): string {
    return `${weight === 1 ? "1 unit" : `${weight} units`} of the rate "${this.name}"`;
  }
}
