/** Small tools shared by the core tests. Not a test file (vitest runs *.test.ts only). */
import { getEventListeners } from "node:events";
import { expect, vi } from "vitest";

/**
 * Let every pending microtask (promise reaction) run: a macrotask turn drains the
 * microtask queue completely, however many `await` hops the code under test takes.
 * `setImmediate` is never faked by `useFakeClock`, so this works with fake timers too.
 */
export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Fake only the clock the core may use for timeouts. `setImmediate` stays real so that
 * `flush()` keeps working, and `vi.getTimerCount()` counts exactly the timers we care about.
 */
export function useFakeClock(): void {
  vi.useFakeTimers({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"],
  });
}

export interface Tracked<T> {
  readonly promise: Promise<T>;
  state: "pending" | "fulfilled" | "rejected";
  value: T | undefined;
  reason: unknown;
  /** How many times a settle handler ran — a promise can only settle once, so this guards the harness. */
  settles: number;
}

/** Observe a promise without awaiting it (and without leaving a rejection unhandled). */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { promise, state: "pending", value: undefined, reason: undefined, settles: 0 };
  promise.then(
    (value) => {
      t.settles++;
      t.state = "fulfilled";
      t.value = value;
    },
    (reason: unknown) => {
      t.settles++;
      t.state = "rejected";
      t.reason = reason;
    },
  );
  return t;
}

/** The value of a tracked promise that must have fulfilled. */
export function held<T>(t: Tracked<T>): T {
  expect(t.state, "expected the promise to be fulfilled").toBe("fulfilled");
  return t.value as T;
}

/** The error `fn` throws synchronously, or `undefined` (a returned promise is not awaited). */
export function syncError(fn: () => unknown): unknown {
  try {
    const result = fn();
    // Do not leave a rejected promise unhandled if `fn` returned one instead of throwing.
    if (result instanceof Promise) result.catch(() => {});
  } catch (error) {
    return error;
  }
  return undefined;
}

/** The error `fn` throws or rejects with, or `undefined` if it succeeds. */
export async function anyError(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

export const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, "abort").length;

/** A promise with its resolve/reject exposed (Promise.withResolvers is Node 22+). */
export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void; reject(reason: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Checks that an error names what was wrong: the argument and its value. */
export function expectNamesArgument(error: unknown, argument: string, value: unknown): void {
  expect(error).toBeInstanceOf(Error);
  const message = (error as Error).message;
  expect(message).toContain(argument);
  expect(message).toContain(typeof value === "string" ? value : String(value));
}
