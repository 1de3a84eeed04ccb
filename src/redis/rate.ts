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
 * Redis receives them, so the fleet's slots are claimed FIFO across
 * processes.
 *
 * ## Local waiters: a pool of reserved units, served by the core discipline
 * Within one process, a reservation that comes due does not necessarily go
 * to the waiter that made it. Every waiter, once its reservation has
 * landed, queues in a core `Semaphore` (the *gate*) whose free count is the
 * process's *due* units: a reservation coming due adds its weight to the
 * gate's capacity, and the gate hands the units out in its discipline —
 * FIFO, or aging, priority and fair share between tenants (src/core/schedule.ts)
 * when waiters ask for them. A granted gate permit is never released: the
 * units are spent. So each waiter is backed by a reservation of its own
 * weight (what the process claims from the fleet is unchanged), but a
 * priority-10 waiter takes the next unit due to this process even if a
 * priority-0 waiter reserved it. Plain FIFO waiters get exactly their own
 * slots (their reservations come due in their arrival order).
 *
 * Bookkeeping: `units due and unspent (gate.available) + units reserved and
 * not yet due = units of the queued waiters + debt`. A waiter that leaves
 * takes its weight out of that pool: its own reservation if not yet due
 * (refunded to Redis), else its units out of the gate, else — someone else
 * spent them — the latest reservations that fit (refunded), and what is
 * left is a *debt* that the next units to come due pay instead of being
 * handed out. Nothing is handed out before it came due, so a unit never
 * starts before a slot the fleet reserved for it; once nobody is queued
 * here, reservations still outstanding are given back.
 *
 * What that does to the fleet-wide bound: plain FIFO waiters, and waiters
 * that all weigh the same, start exactly in their reserved slots, so the
 * GCRA bound holds as before. When the discipline puts a heavier waiter
 * before lighter ones, the units that come due while it waits for enough of
 * them start together later; a window may then see up to (that weight − 1)
 * units more than `burst + W × limit / interval`.
 *
 * A waiter that gives up (signal, close) hands its reservation back if nobody
 * reserved after it; otherwise its slot goes unused — the fleet then runs a
 * little below the rate, never above it.
 *
 * @module
 */

import { ClosedError, invalidArgument, outOfRange, timeoutError } from "../core/errors.js";
import { type AcquireOptions, type LimiterCounters, type Permit, Semaphore, type TenantStats } from "../core/semaphore.js";
import {
  checkDuration,
  checkFunction,
  checkInteger,
  checkInterval,
  checkOptions,
  describe,
  readAcquireOptions,
  tenantWeight,
} from "../core/validate.js";
import { adapt, callScript, type RedisAdapter, type RedisClient } from "./client.js";
import { RedisCommandError } from "./errors.js";
import { MAX_TIMEOUT, type Sleep, sleep } from "../core/wait.js";
import { checkMs } from "./options.js";
import type { Script } from "./scripts.js";
import {
  pauseArgs,
  type RateShape,
  rateScripts,
  readPause,
  readReserve,
  readSettingsMismatch,
  refundArgs,
  type ReserveReply,
  reserveArgs,
} from "./rate-scripts.js";

/**
 * Options of the `RedisRateLimiter` constructor.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisRateLimiter, type RedisRateLimiterOptions } from "permit-pool/redis";
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
  /**
   * The starvation bound for `priority`, in ms (see `SemaphoreOptions.aging`),
   * among this process's waiters.
   * @defaultValue no aging: strict priority
   */
  aging?: number | undefined;
  /**
   * Each tenant's share of the units due to this process (see
   * `SemaphoreOptions.weights`), counted in units of the rate.
   * @defaultValue every tenant weighs 1
   */
  weights?: ((tenant: string) => number) | undefined;
}

/** A reservation of this process: its units, and whether they came due. */
interface Reservation {
  readonly weight: number;
  /** Names it in Redis, for a refund. */
  readonly tat: string;
  /** Until it comes due. */
  sleep: Sleep | undefined;
  due: boolean;
  /** Given back or dropped: counts no more. */
  gone: boolean;
}

/** Why a reservation's sleep was ended early (never seen by a caller). */
const DROPPED: unknown = Symbol("dropped");

/**
 * A snapshot of this process's view of a Redis rate limiter, from `stats()`.
 * The counters ({@link LimiterCounters}) are this instance's; `queued` counts
 * its waiters (reserving, or waiting for their units to come due).
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisRateLimiter, type RedisRateLimiterStats } from "permit-pool/redis";
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
  /**
   * Present once a waiter of this instance named a tenant: per tenant of
   * this process, `{ queued, inUse, granted, wait: { p50, p99 } }` as a
   * `Semaphore` reports them, in units of the rate (`inUse`: admitted and
   * not yet released; `wait`: from the reservation's reply to admission).
   */
  tenants?: Record<string, TenantStats>;
}

/**
 * Proof that a request was admitted by a {@link RedisRateLimiter}. The rate
 * is spent at admission; releasing only tells this process the work is over
 * (for `inUse` and `onIdle()`). Idempotent, disposable.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisRateLimiter } from "permit-pool/redis";
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
  /** A tenant's permit of the limiter's local queue, retired on release. */
  readonly #gate: Permit | undefined;

  /** @internal */
  constructor(limiter: RedisRateLimiter, weight: number, gate?: Permit) {
    this.#limiter = limiter;
    this.weight = weight;
    this.#gate = gate;
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
      limiter._release(this.weight, this.#gate);
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

const OPTION_KEYS: readonly string[] = ["limit", "interval", "burst", "prefix", "commandTimeoutMs", "aging", "weights"];

/**
 * Admits at most `limit` units per `interval` across every process that uses
 * the same Redis and `name` (GCRA on the server clock), slots claimed FIFO
 * across processes and served to this process's waiters FIFO or by
 * `priority` / `tenant` (docs/scheduling.md), with a shared pause for 429s. The surface of the in-process `RateLimiter`: `acquire`,
 * `tryAcquire`, `run`, `close`, `onIdle`, `stats` — `tryAcquire` returns a
 * promise — plus `pause(ms)` and `pausedFor()`.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisRateLimiter } from "permit-pool/redis";
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
  /** The rate's constants as the scripts take them. */
  readonly #rate: RateShape;
  readonly #commandTimeoutMs: number;
  /**
   * The local queue: capacity `burst` + every unit that came due, of which
   * `burst` are held from the start and every granted unit stays held, so
   * its free count is the units due and unspent (module notes).
   */
  readonly #gate: Semaphore;
  readonly #weights: ((tenant: string) => number) | undefined;
  /** Reservations not yet due, in the order Redis made them. */
  readonly #reservations = new Set<Reservation>();
  /** Units owed: the next units to come due pay this first. */
  #debt = 0;
  #inUse = 0;
  #pending = 0;
  /** Acquires whose reservation is on the wire. */
  #reserving = 0;
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
   * @param options - `{ limit, interval, burst?, prefix?, commandTimeoutMs?, aging?, weights? }`.
   *   Every process must use the same `limit`, `interval` and `burst`; a
   *   process that disagrees gets a `RedisCommandError` saying so.
   * @throws TypeError | RangeError for a bad client, name or option.
   */
  constructor(client: RedisClient, name: string, options: RedisRateLimiterOptions) {
    this.#adapter = adapt(client);
    if (typeof name !== "string" || name.length === 0 || name.length > 512 || /[{}\s]/.test(name)) {
      throw invalidArgument(
        `Expected \`name\` to be a non-empty string of at most 512 characters without \`{\`, \`}\` or whitespace, got ${describe(name)}`,
      );
    }
    checkOptions("options", options, OPTION_KEYS);
    this.limit = checkInteger("limit", options.limit);
    const interval = checkInterval("interval", options.interval);
    this.interval = interval;
    this.burst = options.burst === undefined ? 1 : checkInteger("burst", options.burst);
    const prefix = options.prefix ?? "permits:";
    if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
      throw invalidArgument(`Expected \`prefix\` to be a string without \`{\` or \`}\`, got ${describe(prefix)}`);
    }
    this.#commandTimeoutMs =
      options.commandTimeoutMs === undefined ? 5_000 : checkMs("commandTimeoutMs", options.commandTimeoutMs, 1);
    this.name = name;
    const step = interval / this.limit;
    this.#rate = { step, tau: this.burst * step, settings: `${this.limit}/${interval}/${this.burst}` };
    this.#key = [`${prefix}{${name}}:rate`];
    this.#weights = options.weights;
    this.#gate = new Semaphore(this.burst, {
      name,
      ...(options.aging === undefined ? {} : { aging: options.aging }),
      ...(options.weights === undefined ? {} : { weights: options.weights }),
    });
    this.#gate._mute(); // the events would be the gate's, not this limiter's
    this.#gate.tryAcquire(this.burst); // nothing is due yet
  }

  /** Units admitted here and not yet released. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Waiters of this instance: reserving, or waiting for units to come due. */
  get queued(): number {
    return this.#gate.queued + this.#reserving;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits until `weight` units of the fleet-wide rate may start.
   *
   * **Fairness:** each request reserves the next free slot of the fleet in
   * the order Redis receives it, so the fleet's slots are claimed FIFO
   * across processes, and a shared `pause()` holds everyone. Within this
   * process, the units as they come due go to the waiters in the core
   * discipline: FIFO by default (each waiter gets exactly its own slot);
   * with `priority`, `tenant` or the limiter's `aging` / `weights`, higher
   * priority first, aging as the starvation bound, and fair share between
   * tenants counted in units — among this process's waiters, not across
   * processes (docs/scheduling.md). A waiter that does not fit the units due
   * holds back the ones after it.
   *
   * **Cancel safety:** aborting `signal` (or `close()`) rejects at once with
   * `signal.reason` — also while the reservation is still on the wire — and
   * hands the reservation back if nobody reserved after it (if it was
   * already due, its units go to the next waiter here). A `timeout` shorter
   * than the wait Redis computes rejects at once with a `"TimeoutError"`
   * `DOMException` and reserves nothing (the wait is known in advance); a
   * waiter passed by higher-priority ones may still time out later, the
   * same way.
   *
   * @throws TypeError | RangeError synchronously for a bad weight, a weight
   *   above `burst`, a bad signal, timeout, priority or tenant, a `weights`
   *   answer that is not a finite number above 0, or an unknown option.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permit-pool/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "emails", { limit: 10, interval: 1_000 });
   * const permit = await rate.acquire({ timeout: 5_000, priority: 1, tenant: "acme" });
   * permit.release();
   * redis.disconnect();
   * ```
   */
  acquire(options?: AcquireOptions): Promise<RedisRatePermit> {
    let weight = 1;
    let signal: AbortSignal | undefined;
    let timeout: number | undefined;
    let priority = 0;
    let tenant: string | undefined;
    if (options !== undefined) ({ weight, signal, timeout, priority, tenant } = readAcquireOptions(options));
    if (weight > this.burst) throw this.#tooHeavy(weight);
    // Asked now, so that a bad answer throws before anything is sent; the
    // gate asks again when the waiter queues (a tenant's share is read
    // each time it starts waiting).
    if (tenant !== undefined && this.#weights !== undefined) tenantWeight(this.#weights, tenant);
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal?.aborted) {
      this.#aborted++;
      return Promise.reject(signal.reason);
    }
    return this.#acquire(weight, signal, timeout, priority, tenant);
  }

  async #acquire(
    weight: number,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    priority: number,
    tenant: string | undefined,
  ): Promise<RedisRatePermit> {
    const started = performance.now();
    const maxWait = timeout === undefined || !Number.isFinite(timeout) ? -1 : timeout;
    this.#pending++;
    this.#reserving++;
    if (this.queued > this.#maxQueued) this.#maxQueued = this.queued;
    let reply: ReserveReply;
    try {
      reply = await this.#reserve(weight, maxWait, signal);
    } finally {
      this.#pending--;
      this.#reserving--;
    }
    if (!reply.reserved) {
      this.#timedOut++;
      this.#checkIdle();
      throw timeoutError(timeout ?? 0, this.#what(weight));
    }
    if (this.#closed) {
      // Closed while the reservation was on the wire.
      this.#refund(weight, reply.tat);
      throw this.#closedError();
    }
    if (signal?.aborted) {
      // Aborted after the reply arrived, before this continuation ran.
      this.#aborted++;
      this.#refund(weight, reply.tat);
      throw signal.reason;
    }
    const reservation = this.#hold(weight, reply);
    // The timeout left, but never before the waiter's own slot: Redis said
    // that one is within the timeout (the gate's timer, 1 ms later, fires
    // after the reservation's). Passed by others, it may time out then.
    const left =
      timeout === undefined || timeout > MAX_TIMEOUT
        ? undefined
        : Math.max(timeout - (performance.now() - started), reply.waitMs > 0 ? Math.ceil(reply.waitMs) + 1 : 0);
    let granted: Permit;
    try {
      granted = await this.#gate.acquire({
        weight,
        signal,
        ...(left === undefined ? {} : { timeout: left }),
        ...(priority === 0 ? {} : { priority }),
        ...(tenant === undefined ? {} : { tenant }),
      });
    } catch (error) {
      this.#leave(reservation);
      if (signal?.aborted && error === signal.reason) {
        this.#aborted++;
        throw error;
      }
      if (this.#closed) throw this.#closedError();
      if (error instanceof DOMException && error.name === "TimeoutError") {
        this.#timedOut++;
        throw timeoutError(timeout ?? 0, this.#what(weight));
      }
      throw error;
    }
    if (signal?.aborted || this.#closed) {
      // Granted in the same tick as the abort or close: the abort wins, and
      // the units (due now) go back to the gate for the next waiter.
      granted.release();
      this.#leave(reservation);
      if (this.#closed) throw this.#closedError();
      this.#aborted++;
      throw signal!.reason;
    }
    // The granted gate permit stays held: those units are spent. A tenant's
    // is retired when the permit is released, so that the tenant's `inUse`
    // in the discipline falls back and an idle tenant is forgotten.
    this.#tidy();
    return this.#grant(weight, tenant === undefined ? undefined : granted);
  }

  /**
   * Sends RESERVE. An abort while it is on the wire rejects at once (as the
   * in-process limiter does); the reservation, if it lands, is given back.
   */
  #reserve(weight: number, maxWait: number, signal: AbortSignal | undefined): Promise<ReserveReply> {
    const call = this.#call(rateScripts.reserve, reserveArgs(this.#rate, weight, "reserve", maxWait)).then(readReserve);
    if (signal === undefined) return call;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#aborted++;
        reject(signal.reason);
        this.#pending++;
        call
          .then(
            (reply) => {
              if (reply.reserved) this.#refund(weight, reply.tat);
            },
            () => {},
          )
          .finally(() => {
            this.#pending--;
            this.#checkIdle();
          });
      };
      signal.addEventListener("abort", onAbort, { once: true });
      call.then(
        (reply) => {
          signal.removeEventListener("abort", onAbort);
          resolve(reply);
        },
        (error: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      );
    });
  }

  /** Keeps a landed reservation: due now (its units to the gate), or at its time. */
  #hold(weight: number, reply: ReserveReply & { reserved: true }): Reservation {
    const reservation: Reservation = { weight, tat: reply.tat, sleep: undefined, due: false, gone: false };
    if (reply.waitMs <= 0) {
      reservation.due = true;
      this.#credit(weight);
      return reservation;
    }
    this.#reservations.add(reservation);
    const sleeping = sleep(reply.waitMs);
    reservation.sleep = sleeping;
    sleeping.promise.then(
      () => {
        reservation.sleep = undefined;
        this.#reservations.delete(reservation);
        reservation.due = true;
        this.#credit(weight);
      },
      () => {},
    );
    return reservation;
  }

  /** `weight` units came due (or were handed back): the debt first, the rest to the gate. */
  #credit(weight: number): void {
    const pay = Math.min(this.#debt, weight);
    this.#debt -= pay;
    if (weight > pay) this.#gate.resize(this.#gate.capacity + weight - pay);
  }

  /**
   * A queued waiter left: `weight` units come out of the pool. Its own
   * reservation if it is not yet due (refunded); else units due and unspent;
   * else (someone else spent them) the latest reservations that fit in what
   * is left (refunded: the best chance of being last in Redis), and what
   * still does not fit is owed (the next units to come due pay it).
   */
  #leave(reservation: Reservation): void {
    let owed = reservation.weight;
    if (!reservation.gone && !reservation.due) {
      this.#drop(reservation);
      owed = 0;
    }
    reservation.gone = true;
    if (owed > 0) {
      const take = Math.min(this.#gate.available, owed);
      if (take > 0) this.#gate.resize(this.#gate.capacity - take);
      owed -= take;
    }
    if (owed > 0) {
      for (const other of [...this.#reservations].reverse()) {
        if (other.weight > owed) continue;
        this.#drop(other);
        owed -= other.weight;
        if (owed === 0) break;
      }
    }
    this.#debt += owed;
    this.#tidy();
  }

  /** Takes a reservation that is not yet due out of the pool, and refunds it. */
  #drop(reservation: Reservation): void {
    reservation.gone = true;
    reservation.sleep?.cancel(DROPPED);
    this.#reservations.delete(reservation);
    this.#refund(reservation.weight, reservation.tat);
  }

  /**
   * Once nobody is queued here, what is still reserved only pays a debt:
   * give it back (latest first, so that each refund can find itself last).
   */
  #tidy(): void {
    if (this.#gate.queued > 0) {
      this.#checkIdle();
      return;
    }
    for (const reservation of [...this.#reservations].reverse()) this.#drop(reservation);
    this.#debt = 0;
    const stale = this.#gate.available;
    if (stale > 0) this.#gate.resize(this.#gate.capacity - stale);
    this.#checkIdle();
  }

  /** Gives a reserved slot back if it is still the last one reserved. */
  #refund(weight: number, reserved: string): void {
    this.#pending++;
    void this.#call(rateScripts.refund, refundArgs(this.#rate, weight, reserved))
      .catch(() => {})
      .finally(() => {
        this.#pending--;
        this.#checkIdle();
      });
  }

  /**
   * Takes `weight` units only if the fleet-wide rate admits them now.
   *
   * **Fairness:** never barges: a slot reserved by a waiter is not free,
   * and nothing is taken while this instance has a waiter.
   *
   * **Cancel safety:** nothing is reserved unless admitted.
   *
   * @throws TypeError | RangeError synchronously for a bad weight or one above `burst`.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permit-pool/redis";
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
    // Never past a waiter of this process, even one whose units are due but
    // held back by a heavier one (Redis would not know).
    if (this.#closed || this.queued > 0) return undefined;
    const reply = readReserve(await this.#call(rateScripts.reserve, reserveArgs(this.#rate, w, "try", 0)));
    return reply.reserved ? this.#grant(w) : undefined;
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
   * import { RedisRateLimiter } from "permit-pool/redis";
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
   * import { RedisRateLimiter } from "permit-pool/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "partner-api", { limit: 100, interval: 60_000 });
   * await rate.pause(30_000); // everyone waits 30 s
   * console.log(await rate.pausedFor() > 29_000); // true
   * redis.disconnect();
   * ```
   */
  async pause(ms: number): Promise<number> {
    checkDuration("ms", ms);
    if (!Number.isFinite(ms)) throw outOfRange(`Expected \`ms\` to be a finite number of milliseconds, got ${describe(ms)}`);
    return readPause(await this.#call(rateScripts.pause, pauseArgs(ms)));
  }

  /**
   * Milliseconds left of the shared pause (0 when not paused).
   *
   * **Cancel safety:** read-only.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permit-pool/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "partner-api", { limit: 100, interval: 60_000 });
   * console.log(await rate.pausedFor()); // 0
   * redis.disconnect();
   * ```
   */
  async pausedFor(): Promise<number> {
    return readPause(await this.#call(rateScripts.pause, pauseArgs(0)));
  }

  /**
   * Rejects this instance's sleeping waiters and every later `acquire` with
   * `reason` (or a `ClosedError`). Admitted permits release normally.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisRateLimiter } from "permit-pool/redis";
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
    // Queued waiters reject with the gate's error, which #acquire replaces
    // with ours; each takes its reservation out as it goes.
    this.#gate.close(reason);
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
   * import { RedisRateLimiter } from "permit-pool/redis";
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
   * import { RedisRateLimiter } from "permit-pool/redis";
   * const redis = new Redis();
   * const rate = new RedisRateLimiter(redis, "jobs", { limit: 10, interval: 1_000 });
   * console.log(rate.stats().acquired); // 0
   * redis.disconnect();
   * ```
   */
  stats(): RedisRateLimiterStats {
    const tenants = this.#gate.stats().tenants;
    return {
      limit: this.limit,
      interval: this.interval,
      burst: this.burst,
      inUse: this.#inUse,
      queued: this.queued,
      acquired: this.#acquired,
      released: this.#released,
      aborted: this.#aborted,
      timedOut: this.#timedOut,
      maxQueued: this.#maxQueued,
      closed: this.#closed,
      ...(tenants === undefined ? undefined : { tenants }),
    };
  }

  /** @internal */
  _release(weight: number, gate: Permit | undefined): void {
    if (gate !== undefined) {
      // Spent units leave the gate's capacity before the permit's return
      // could hand them out again.
      this.#gate.resize(this.#gate.capacity - weight);
      gate.release();
    }
    this.#inUse -= weight;
    this.#released++;
    this.#checkIdle();
  }

  #grant(weight: number, gate?: Permit): RedisRatePermit {
    this.#inUse += weight;
    this.#acquired++;
    return new RedisRatePermit(this, weight, gate);
  }

  #call(script: Script, args: readonly (string | number)[]): Promise<unknown> {
    return callScript(this.#adapter, script, this.#key, args, this.#commandTimeoutMs, (message, error) => {
      const stored = readSettingsMismatch(message);
      if (stored === undefined) return undefined;
      return new RedisCommandError(
        `Rate limiter "${this.name}" has limit/interval/burst ${stored} in Redis, but this process uses ${this.#rate.settings}: ` +
          "use the same settings everywhere, or another name",
        { cause: error },
      );
    });
  }

  #isIdle(): boolean {
    return this.#inUse === 0 && this.#gate.queued === 0 && this.#reservations.size === 0 && this.#pending === 0;
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
    return outOfRange(
      `Expected \`weight\` to be at most \`burst\` (${this.burst}), got ${describe(weight)}: such a request could never start`,
    );
  }

  #what(weight: number): string {
    return `${weight === 1 ? "1 unit" : `${weight} units`} of the rate "${this.name}"`;
  }
}
