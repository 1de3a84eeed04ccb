/**
 * `map()`: bounded-concurrency mapping over sync or async iterables, on a
 * {@link Semaphore}.
 *
 * @module
 */

import { type Permit, Semaphore } from "./semaphore.js";
import { checkFunction, checkInteger, checkOptions, checkSignal, describe } from "./validate.js";
import { invalidArgument } from "./errors.js";

/** Options of {@link map}. */
export interface MapOptions {
  /**
   * How many callbacks may run at once: an integer from 1 and up.
   * @defaultValue 16
   */
  concurrency?: number | undefined;
  /** Stops the whole map: no new callback starts, and the promise rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/** What a {@link map} callback receives besides the item and its index. */
export interface MapContext {
  /** Aborts when the map fails (with the first error) or its own signal aborts. */
  readonly signal: AbortSignal;
}

const MAP_KEYS: readonly string[] = ["concurrency", "signal"];

type AnyIterator<T> = Iterator<T> | AsyncIterator<T>;

/**
 * Calls `fn(item, index, { signal })` for every item of `input`, at most
 * `concurrency` at once, and resolves to the results **in input order**.
 *
 * - The input is read lazily: the next item is pulled only when a slot is
 *   free, so at most one item is read ahead of the running callbacks (an
 *   endless generator is fine).
 * - The first error (a callback's, or the iterator's) rejects the map with
 *   that very error object, aborts `signal` for the callbacks still running,
 *   closes the iterator (`return()`), and no new callback starts.
 *
 * **Cancel safety:** aborting `options.signal` rejects with its reason at
 * once and aborts the callbacks' `signal`; callbacks already running are not
 * awaited, so pass the signal on to their work.
 *
 * **Fairness:** callbacks start in input order.
 *
 * @throws TypeError | RangeError synchronously for bad arguments.
 *
 * @example
 * ```ts
 * import { map } from "permit-pool";
 * const lengths = await map(["a", "bb", "ccc"], async (word) => word.length, { concurrency: 2 });
 * console.log(lengths); // [1, 2, 3]
 * ```
 */
export function map<T, R>(
  input: Iterable<T> | AsyncIterable<T>,
  fn: (item: T, index: number, context: MapContext) => R | PromiseLike<R>,
  options?: MapOptions,
): Promise<Awaited<R>[]> {
  let concurrency = 16;
  let outer: AbortSignal | undefined;
  if (options !== undefined) {
    checkOptions("options", options, MAP_KEYS);
    if (options.concurrency !== undefined) concurrency = checkInteger("concurrency", options.concurrency);
    if (options.signal !== undefined) outer = checkSignal("signal", options.signal);
  }
  checkFunction("fn", fn);
  let iterator: AnyIterator<T>;
  let isAsync: boolean;
  if (input != null && typeof (input as AsyncIterable<T>)[Symbol.asyncIterator] === "function") {
    iterator = (input as AsyncIterable<T>)[Symbol.asyncIterator]();
    isAsync = true;
  } else if (input != null && typeof (input as Iterable<T>)[Symbol.iterator] === "function") {
    iterator = (input as Iterable<T>)[Symbol.iterator]();
    isAsync = false;
  } else {
    throw invalidArgument(`Expected \`input\` to be an iterable or async iterable, got ${describe(input)}`);
  }
  if (outer?.aborted) return Promise.reject(outer.reason);

  return new Promise<Awaited<R>[]>((resolve, reject) => {
    const slots = new Semaphore(concurrency);
    const controller = new AbortController();
    const context: MapContext = { signal: controller.signal };
    const results: Awaited<R>[] = [];
    let failed = false;
    let readDone = false;
    let running = 0;

    const onOuterAbort = (): void => fail(outer!.reason);
    outer?.addEventListener("abort", onOuterAbort, { once: true });

    function fail(error: unknown): void {
      if (failed) return;
      failed = true;
      outer?.removeEventListener("abort", onOuterAbort);
      controller.abort(error);
      slots.close(error); // wakes the reading loop if it waits for a slot
      reject(error);
    }

    function finishIfDone(): void {
      if (readDone && running === 0 && !failed) {
        outer?.removeEventListener("abort", onOuterAbort);
        resolve(results);
      }
    }

    async function runOne(item: T, index: number, permit: Permit): Promise<void> {
      try {
        results[index] = await fn(item, index, context);
      } catch (error) {
        fail(error);
      } finally {
        permit.release();
        running--;
        finishIfDone();
      }
    }

    async function read(): Promise<void> {
      let index = 0;
      let exhausted = false;
      let reading = false;
      try {
        for (;;) {
          const permit = slots.tryAcquire() ?? (await slots.acquire());
          if (failed) break;
          reading = true;
          const step = isAsync ? await (iterator as AsyncIterator<T>).next() : (iterator as Iterator<T>).next();
          reading = false;
          if (failed || step.done === true) {
            exhausted = step.done === true;
            permit.release();
            break;
          }
          running++;
          void runOne(step.value, index++, permit);
        }
      } catch (error) {
        exhausted = reading; // an iterator whose next() threw is finished
        fail(error);
      }
      if (!exhausted) {
        try {
          await iterator.return?.();
        } catch {
          // The map already failed with the first error; a second one from
          // closing the iterator has nowhere better to go.
        }
      }
      readDone = true;
      finishIfDone();
    }

    void read();
  });
}
