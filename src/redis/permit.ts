/**
 * {@link RedisPermit}: permits held in a `RedisSemaphore`, with a lease and
 * a fencing token. It calls back into its semaphore only through
 * {@link PermitOwner}, so it imports nothing of it.
 * @module
 */
import type { LeaseLostError } from "../core/errors.js";

/** How a permit ended, as the release script reads its id's mark (adaptive semaphores only). */
export const SUCCESS = "+";
export const DROP = "-";
export const IGNORE = "*";

// The platform's own accessors, for the clock-checking ones a permit's signal gets.
// eslint-disable-next-line @typescript-eslint/unbound-method -- always called with .call(signal)
const ABORTED = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted")?.get as
  | ((this: AbortSignal) => boolean)
  | undefined;
// eslint-disable-next-line @typescript-eslint/unbound-method -- always called with .call(signal)
const REASON = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "reason")?.get as
  | ((this: AbortSignal) => unknown)
  | undefined;
const THROW_IF_ABORTED = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "throwIfAborted")?.value as
  | ((this: AbortSignal) => void)
  | undefined;

/**
 * What a permit calls back on its semaphore.
 * @internal
 */
export interface PermitOwner {
  /** The permit's local lease deadline has passed: declare it lost now. */
  _expire(permit: RedisPermit): void;
  /** Give the permit back, with how it ended (`SUCCESS`, `DROP` or `IGNORE`). */
  _release(permit: RedisPermit, outcome: string): Promise<void>;
}

/**
 * Permits held in a {@link RedisSemaphore}, with a lease that is renewed
 * automatically while held and a fencing token.
 *
 * Release it exactly once — `release()`, `using`/`await using`, or let
 * `run()` do it. Releasing again does nothing, so it never frees anyone
 * else's permits.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore } from "permit-pool/redis";
 * const redis = new Redis();
 * const sem = new RedisSemaphore(redis, "partner-api", 3);
 * {
 *   await using permit = await sem.acquire();
 *   // pass the token to the resource so it can refuse a stale holder
 *   await fetch("https://partner.example/orders", {
 *     headers: { "x-fencing-token": String(permit.token) },
 *     signal: permit.signal, // aborts if the lease is lost
 *   });
 * }
 * redis.disconnect();
 * ```
 */
export class RedisPermit implements Disposable, AsyncDisposable {
  /** How many units of capacity this permit holds. */
  readonly weight: number;
  /**
   * Fencing token: strictly increasing across every grant of this semaphore,
   * in every process. Hand it to the resource you protect so it can reject a
   * request from a holder whose lease already ran out.
   */
  readonly token: number;
  /** This permit's id in Redis (as shown by `inspect()`). */
  readonly id: string;
  #controller: AbortController | undefined;
  #lost: LeaseLostError | undefined;
  readonly #sem: PermitOwner;
  #released = false;
  #releasing: Promise<void> | undefined;
  /**
   * @internal Local deadline of the lease (performance.now() ms): the server
   * cannot have ended the lease before it. Past it the permit is lost,
   * whatever is on the wire.
   */
  _deadline: number;

  /** @internal */
  constructor(sem: PermitOwner, id: string, weight: number, token: number, deadline: number) {
    this.#sem = sem;
    this.id = id;
    this.weight = weight;
    this.token = token;
    this._deadline = deadline;
  }

  /**
   * Whether the permit is held and its lease surely still valid: not
   * released, not lost, and before the lease's local deadline. Check it
   * right before each write to the resource the permit protects — it reads
   * the clock, so it is right even after an event loop that was blocked
   * past the lease, before any timer has run. Once false it stays false.
   *
   * The local deadline is taken from when the command that set or renewed
   * the lease was *sent*, minus a margin for clock drift (1 % of the lease
   * plus 2 ms), so it never runs past the server's.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permit-pool/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "ledger", 1);
   * const permit = await sem.acquire();
   * for (const entry of ["a", "b", "c"]) {
   *   if (!permit.valid) break; // the lease may have run out: stop writing
   *   console.log("writing", entry, "with token", permit.token);
   * }
   * await permit.release();
   * redis.disconnect();
   * ```
   */
  get valid(): boolean {
    this.#check();
    return !this.#released && this.#lost === undefined;
  }

  /**
   * Aborts (with a `LeaseLostError`) if the lease is lost while the permit is
   * held: the holder stalled past `leaseMs`, Redis forgot it, or Redis could
   * not be reached to renew it before the lease's local deadline (see
   * {@link RedisPermit.valid}). A timer aborts it at that deadline whatever
   * is in flight, and reading `signal.aborted` (or `reason`, or calling
   * `throwIfAborted()`) checks the clock, so it is true as soon as the
   * deadline has passed even if that timer has not run yet. Pass it to the
   * work that the permit protects. Never aborts because of `release()`.
   */
  get signal(): AbortSignal {
    // Made on first use: most permits never need one.
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      if (this.#lost !== undefined) controller.abort(this.#lost);
      else if (ABORTED !== undefined && REASON !== undefined && THROW_IF_ABORTED !== undefined) {
        const signal = controller.signal;
        const check = (): void => this.#check();
        Object.defineProperties(signal, {
          aborted: {
            configurable: true,
            get(): boolean {
              check();
              return ABORTED.call(signal);
            },
          },
          reason: {
            configurable: true,
            get(): unknown {
              check();
              return REASON.call(signal);
            },
          },
          throwIfAborted: {
            configurable: true,
            writable: true,
            value(): void {
              check();
              THROW_IF_ABORTED.call(signal);
            },
          },
        });
      }
    }
    this.#check();
    return this.#controller.signal;
  }

  /** Past the deadline and still believed held: lost now. */
  #check(): void {
    if (this.#lost === undefined && !this.#released && performance.now() >= this._deadline) this.#sem._expire(this);
  }

  /** Whether `release()` was called. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Gives the permits back; in Redis the freed permits go straight to the
   * head of the queue. Idempotent. The returned promise resolves once Redis
   * has it (it never rejects: if Redis is unreachable the lease runs out on
   * its own); you need not await it — a later command on the same client is
   * ordered after it anyway. On an adaptive semaphore it is a success
   * sample (see {@link RedisPermit.drop}).
   */
  release(): Promise<void> {
    return this.#end(SUCCESS);
  }

  /**
   * Releases with an overload signal (a timeout, a 429/503, a rejection by
   * the resource). On an adaptive semaphore the release script lowers the
   * fleet's one limit (×`backoff`), once per congestion event: a drop of a
   * permit granted before the last decrease does not lower it again. On a
   * semaphore without `adaptive` it is `release()`. Whichever of
   * `release`, `drop` and `ignore` comes first ends the permit; later calls
   * do nothing.
   *
   * @example
   * ```ts
   * import { Redis } from "ioredis";
   * import { RedisSemaphore } from "permit-pool/redis";
   * const redis = new Redis();
   * const sem = new RedisSemaphore(redis, "partner-api", { adaptive: { initial: 8, max: 64 } });
   * const permit = await sem.acquire();
   * const response = await fetch("https://partner.example/orders");
   * if (response.status === 503 || response.status === 429) await permit.drop();
   * else if (response.status >= 400) await permit.ignore(); // not about load
   * else await permit.release(); // a success
   * redis.disconnect();
   * ```
   */
  drop(): Promise<void> {
    return this.#end(DROP);
  }

  /**
   * Releases without a sample (an outcome that says nothing about load,
   * such as a 404). On a semaphore without `adaptive` it is `release()`.
   */
  ignore(): Promise<void> {
    return this.#end(IGNORE);
  }

  #end(outcome: string): Promise<void> {
    if (!this.#released) {
      this.#released = true;
      this.#releasing = this.#sem._release(this, outcome);
    }
    return this.#releasing ?? Promise.resolve();
  }

  /** Same as `release()`, for `using` (does not wait for Redis). */
  [Symbol.dispose](): void {
    void this.release();
  }

  /** Same as `release()`, for `await using` (waits until Redis has it). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  /** @internal */
  _lose(error: LeaseLostError): void {
    if (this.#lost !== undefined) return;
    this.#lost = error;
    this.#controller?.abort(error);
  }
}
