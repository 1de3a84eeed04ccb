/**
 * `limit()`: a drop-in for p-limit, as a thin layer over {@link Semaphore}.
 *
 * @module
 */

import { abortError } from "./errors.js";
import { type Permit, Semaphore } from "./semaphore.js";
import { checkFunction, checkOptions, describe } from "./validate.js";

/** Options of {@link limit}, as p-limit takes them. */
export interface LimitOptions {
  /** How many calls may run at once: an integer from 1 and up, or `Infinity`. */
  concurrency: number;
  /**
   * Whether `clearQueue()` rejects the pending calls with an `AbortError`
   * (the default here) or drops them without settling (p-limit's default,
   * which leaves `await`s hanging forever; pass `false` only to keep that).
   * @defaultValue true
   */
  rejectOnClear?: boolean | undefined;
}

/** The function `limit()` returns; call it like the function it limits. */
export interface LimitFunction {
  /**
   * Calls `fn(...args)` once fewer than `concurrency` calls are running, and
   * returns its (awaited) result or rejection. Calls start in the order they
   * were made (FIFO).
   *
   * **Cancel safety:** a pending call can only be cancelled through
   * `clearQueue()`; a running one is never interrupted.
   */
  <Args extends unknown[], R>(fn: (...args: Args) => R | PromiseLike<R>, ...args: Args): Promise<Awaited<R>>;
  /** Calls running now. */
  readonly activeCount: number;
  /** Calls waiting to start. */
  readonly pendingCount: number;
  /**
   * The limit. Setting it validates like p-limit (an integer from 1 and up, or
   * `Infinity`); growing starts waiting calls at once, shrinking lets running
   * calls finish.
   */
  concurrency: number;
  /** Rejects every pending call with an `AbortError` (see `rejectOnClear`); running calls go on. */
  clearQueue(): void;
  /** `Promise.all` of `fn(item, index)` over `iterable`, each call limited. */
  map<T, R>(iterable: Iterable<T>, fn: (item: T, index: number) => R | PromiseLike<R>): Promise<Awaited<R>[]>;
}

const LIMIT_KEYS: readonly string[] = ["concurrency", "rejectOnClear"];
const CLEARED: unique symbol = Symbol("cleared");
const NEVER: Promise<never> = new Promise<never>(() => {});

function checkConcurrency(value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`Expected \`concurrency\` to be a number from 1 and up, got ${describe(value)}`);
  }
  if (!((Number.isSafeInteger(value) || value === Number.POSITIVE_INFINITY) && value >= 1)) {
    throw new RangeError(`Expected \`concurrency\` to be an integer from 1 and up or \`Infinity\`, got ${describe(value)}`);
  }
  return value;
}

/** `Infinity` is kept for the getter; the semaphore gets the largest safe integer. */
function toCapacity(concurrency: number): number {
  return concurrency === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : concurrency;
}

async function callHeld<Args extends unknown[], R>(
  fn: (...args: Args) => R | PromiseLike<R>,
  args: Args | undefined,
  permit: Permit,
): Promise<Awaited<R>> {
  try {
    return await (args === undefined ? (fn as () => R)() : fn(...args));
  } finally {
    permit.release();
  }
}

/**
 * Runs at most `concurrency` calls at once; the others wait, first in first
 * out. Compatible with p-limit (`limit(fn, ...args)`, `activeCount`,
 * `pendingCount`, a settable `concurrency`, `clearQueue()`, `map()`), on the
 * same {@link Semaphore} as everything else here.
 *
 * Differences from p-limit, on purpose: a call that fits starts synchronously
 * (no extra tick), and `clearQueue()` rejects pending calls with an
 * `AbortError` instead of leaving them unsettled.
 *
 * @param concurrency - An integer from 1 and up, `Infinity`, or `{ concurrency, rejectOnClear }`.
 * @throws TypeError | RangeError for a bad concurrency or an unknown option.
 *
 * @example
 * ```ts
 * import { limit } from "permits";
 * const lim = limit(2);
 * const double = async (n: number) => n * 2;
 * const results = await Promise.all([1, 2, 3, 4].map((n) => lim(double, n)));
 * console.log(results); // [2, 4, 6, 8]
 * ```
 */
export function limit(concurrency: number | LimitOptions): LimitFunction {
  let rejectOnClear = true;
  let value: unknown = concurrency;
  if (typeof concurrency === "object" && concurrency !== null) {
    checkOptions("options", concurrency, LIMIT_KEYS);
    value = concurrency.concurrency;
    if (concurrency.rejectOnClear !== undefined) {
      if (typeof concurrency.rejectOnClear !== "boolean") {
        throw new TypeError(`Expected \`rejectOnClear\` to be a boolean, got ${describe(concurrency.rejectOnClear)}`);
      }
      rejectOnClear = concurrency.rejectOnClear;
    }
  }
  let current = checkConcurrency(value);
  const sem = new Semaphore(toCapacity(current));

  async function callQueued<Args extends unknown[], R>(
    fn: (...args: Args) => R | PromiseLike<R>,
    args: Args | undefined,
  ): Promise<Awaited<R>> {
    let permit: Permit;
    try {
      permit = await sem.acquire();
    } catch (error) {
      if (error === CLEARED) return NEVER;
      throw error;
    }
    try {
      return await (args === undefined ? (fn as () => R)() : fn(...args));
    } finally {
      permit.release();
    }
  }

  // A plain function reading `arguments`, so the common call without extra
  // arguments allocates no rest array and makes no spread call.
  function call(fn: (...args: unknown[]) => unknown): Promise<unknown> {
    checkFunction("fn", fn);
    // eslint-disable-next-line prefer-rest-params -- see above
    const args = arguments.length > 1 ? (Array.prototype.slice.call(arguments, 1) as unknown[]) : undefined;
    const permit = sem.tryAcquire();
    return permit === undefined ? callQueued(fn, args) : callHeld(fn, args, permit);
  }
  const lim = call as unknown as LimitFunction;

  Object.defineProperties(lim, {
    activeCount: { get: () => sem.inUse },
    pendingCount: { get: () => sem.queued },
    concurrency: {
      get: () => current,
      set: (next: unknown) => {
        current = checkConcurrency(next);
        sem.resize(toCapacity(current));
      },
    },
    clearQueue: {
      value: () => {
        sem._clear(rejectOnClear ? abortError("The call was cleared from the queue by clearQueue()") : CLEARED);
      },
    },
    map: {
      value: <T, R>(iterable: Iterable<T>, fn: (item: T, index: number) => R | PromiseLike<R>) => {
        checkFunction("fn", fn);
        return Promise.all(Array.from(iterable, (item, index) => lim(fn, item, index)));
      },
    },
  });
  return lim;
}

/**
 * Wraps `fn` so that at most `concurrency` of its calls run at once
 * (p-limit's `limitFunction`).
 *
 * @example
 * ```ts
 * import { limitFunction } from "permits";
 * const square = limitFunction(async (n: number) => n * n, { concurrency: 2 });
 * console.log(await Promise.all([1, 2, 3].map((n) => square(n)))); // [1, 4, 9]
 * ```
 */
export function limitFunction<Args extends unknown[], R>(
  fn: (...args: Args) => R | PromiseLike<R>,
  options: LimitOptions,
): ((...args: Args) => Promise<Awaited<R>>) & Pick<LimitFunction, "clearQueue"> {
  checkFunction("fn", fn);
  const lim = limit(options);
  const limited = (...args: Args): Promise<Awaited<R>> => lim(fn, ...args);
  return Object.assign(limited, { clearQueue: () => lim.clearQueue() });
}
