/**
 * `limit()`: a drop-in for p-limit, as a thin layer over {@link Semaphore}.
 *
 * @module
 */

import { abortError, invalidArgument, outOfRange } from "./errors.js";
import { type Permit, Semaphore } from "./semaphore.js";
import { checkFunction, checkOptions, describe } from "./validate.js";

/** Options of {@link limit}, as p-limit takes them. */
export interface LimitOptions {
  /** How many calls may run at once: an integer from 1 and up, or `Infinity`. */
  concurrency: number;
  /**
   * Whether `clearQueue()` rejects the pending calls with an `AbortError`, or
   * drops them without settling (the default, as in p-limit: code that starts
   * calls without awaiting them and then clears must not get unhandled
   * rejections). Pass `true` when something awaits the cleared calls and
   * should learn that they will never run.
   * @defaultValue false
   */
  rejectOnClear?: boolean | undefined;
}

/** The function `limit()` returns; call it like the function it limits. */
export interface LimitFunction {
  /**
   * Calls `fn(...args)` once fewer than `concurrency` calls are running, and
   * returns its (awaited) result or rejection. Calls start in the order they
   * were made (FIFO), and never inside this call: a call that fits counts in
   * `activeCount` at once and runs one microtask later, as in p-limit.
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
  /**
   * Drops every pending call: they never run, and their promises stay pending
   * (p-limit's default), or reject with an `AbortError` with
   * `rejectOnClear: true`. Running calls go on.
   */
  clearQueue(): void;
  /** `Promise.all` of `fn(item, index)` over `iterable`, each call limited. */
  map<T, R>(iterable: Iterable<T>, fn: (item: T, index: number) => R | PromiseLike<R>): Promise<Awaited<R>[]>;
}

const LIMIT_KEYS: readonly string[] = ["concurrency", "rejectOnClear"];
const CLEARED: unique symbol = Symbol("cleared");
const NEVER: Promise<never> = new Promise<never>(() => {});

function checkConcurrency(value: unknown): number {
  if (typeof value !== "number") {
    throw invalidArgument(`Expected \`concurrency\` to be a number from 1 and up, got ${describe(value)}`);
  }
  if (!((Number.isSafeInteger(value) || value === Number.POSITIVE_INFINITY) && value >= 1)) {
    throw outOfRange(`Expected \`concurrency\` to be an integer from 1 and up or \`Infinity\`, got ${describe(value)}`);
  }
  return value;
}

/** `Infinity` is kept for the getter; the semaphore gets the largest safe integer. */
function toCapacity(concurrency: number): number {
  return concurrency === Number.POSITIVE_INFINITY ? Number.MAX_SAFE_INTEGER : concurrency;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Calls `fn(...args)` with the permit held; releases however it ends. Called in a microtask, never inside `lim()`. */
function callHeld<Args extends unknown[], R>(
  fn: (...args: Args) => R | PromiseLike<R>,
  args: Args | undefined,
  permit: Permit,
): Awaited<R> | Promise<Awaited<R>> {
  let result: R | PromiseLike<R>;
  let then: unknown;
  try {
    result = args === undefined ? (fn as () => R)() : fn(...args);
    if (result !== null && (typeof result === "object" || typeof result === "function")) {
      then = (result as { then?: unknown }).then;
    }
  } catch (error) {
    permit.release();
    throw error;
  }
  if (typeof then === "function") return awaitHeld(result as PromiseLike<R>, permit);
  permit.release();
  return result as Awaited<R>;
}

/** `callHeld` for an async `fn`, in an async frame: settles a microtask after fn's promise, no thenable adoption. */
async function callAsyncLater<Args extends unknown[], R>(
  fn: (...args: Args) => R | PromiseLike<R>,
  args: Args | undefined,
  permit: Permit,
): Promise<Awaited<R>> {
  await RESOLVED; // one microtask: fn never runs inside the call
  try {
    return await (args === undefined ? (fn as () => R)() : fn(...args));
  } finally {
    permit.release();
  }
}

async function awaitHeld<R>(result: PromiseLike<R>, permit: Permit): Promise<Awaited<R>> {
  try {
    return await result;
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
 * As in p-limit, `fn` is never called inside `lim()` (a call that fits takes
 * its slot at once, so `activeCount` counts it, and runs one microtask later),
 * and `clearQueue()` drops pending calls without settling them unless
 * `rejectOnClear: true` is given.
 *
 * @param concurrency - An integer from 1 and up, `Infinity`, or `{ concurrency, rejectOnClear }`.
 * @throws TypeError | RangeError for a bad concurrency or an unknown option.
 *
 * @example
 * ```ts
 * import { limit } from "permit-pool";
 * const lim = limit(2);
 * const double = async (n: number) => n * 2;
 * const results = await Promise.all([1, 2, 3, 4].map((n) => lim(double, n)));
 * console.log(results); // [2, 4, 6, 8]
 * ```
 */
export function limit(concurrency: number | LimitOptions): LimitFunction {
  let rejectOnClear = false;
  let value: unknown = concurrency;
  if (typeof concurrency === "object" && concurrency !== null) {
    checkOptions("options", concurrency, LIMIT_KEYS);
    value = concurrency.concurrency;
    if (concurrency.rejectOnClear !== undefined) {
      if (typeof concurrency.rejectOnClear !== "boolean") {
        throw invalidArgument(`Expected \`rejectOnClear\` to be a boolean, got ${describe(concurrency.rejectOnClear)}`);
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
    // A free slot is taken now (activeCount counts this call at once, as in
    // p-limit), but fn runs in a microtask: p-limit "runs all tasks asynchronously".
    if (permit === undefined) return callQueued(fn, args);
    if ((fn as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === "AsyncFunction") return callAsyncLater(fn, args, permit);
    return RESOLVED.then(() => callHeld(fn, args, permit));
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
 * import { limitFunction } from "permit-pool";
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
